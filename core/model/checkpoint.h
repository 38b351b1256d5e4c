/* core/model/checkpoint.h: model checkpoints in the Hugging Face layout.
 *
 * A checkpoint is a directory holding
 *   config.json        the config as transformers writes it for Bert-, Roberta-, DistilBert-
 *                      or ElectraForQuestionAnswering ("model_type" bert, roberta,
 *                      distilbert, electra; anything else is refused naming the field);
 *   model.safetensors  the parameters under their Hugging Face names (F32 when we write;
 *                      F32, F16, BF16 or F64 accepted on read);
 *   vocab.txt          the WordPiece vocabulary, one token per line (copied, not parsed).
 *
 * Pruning is recorded the way transformers records it, so a checkpoint we write loads there:
 *   - removed heads in config.json "pruned_heads": {"layer": [original head indices]}, as
 *     PreTrainedModel.prune_heads() stores them;
 *   - the per-layer FFN width only in the tensor shapes (rows of
 *     encoder.layer.N.intermediate.dense.weight, DistilBERT's transformer.layer.N.ffn.lin1);
 *     config.json has no key for it.
 * We also write an informational key "qaprune": {"heads_per_layer": [...],
 * "ffn_per_layer": [...]}; on read it is only cross-checked against the above.
 *
 * The families (BertConfig.family; names from the parameter table of bert.c):
 *   - RoBERTa: tensors under "roberta.", position ids from pad_token_id + 1
 *     (BertConfig.position_offset);
 *   - DistilBERT: its own config keys (dim, n_layers, n_heads, hidden_dim, activation,
 *     dropout, attention_dropout, qa_dropout, sinusoidal_pos_embds) and tensor names
 *     (distilbert.transformer.layer.N.attention.q_lin, sa_layer_norm, ffn.lin1,
 *     output_layer_norm), no token types; with sinusoidal_pos_embds a file may lack the
 *     position table, which is then computed;
 *   - ELECTRA: "electra." tensors and embedding_size; electra.embeddings_project when it
 *     differs from hidden_size.
 * Keys transformers' config classes default (layer_norm_eps 1e-12, type_vocab_size 2,
 * dropouts 0.1) may be absent; structural ones (sizes, model_type, activation) may not.
 *
 * Every failure returns QA_ERR with one qa_error() line naming the file, the key or tensor,
 * and the bad value; nothing partial is returned. */
#ifndef QAPRUNE_CHECKPOINT_H
#define QAPRUNE_CHECKPOINT_H

#include "core/model/bert.h"

/* Parses and validates config.json (path is the checkpoint directory or the file itself)
 * into *cfg (caller-owned). Heads come from pruned_heads; FFN widths from the "qaprune" key
 * when present, else intermediate_size for every layer (only the tensors know for sure:
 * checkpoint_load() takes them from there). Returns QA_OK or QA_ERR. */
int checkpoint_read_config(const char *path, BertConfig *cfg);

/* Reads dir/config.json and dir/model.safetensors. On success returns QA_OK and sets *out to
 * a new model (free with bert_free()); on failure returns QA_ERR and sets *out to NULL.
 * Checks every tensor of the model's table for presence and exact shape, rejects unknown
 * extra tensors (the unused pooler and the position_ids buffer are skipped silently). */
int checkpoint_load(const char *dir, BertModel **out);

/* Writes m into dir (created if missing, parent must exist): config.json, model.safetensors
 * (F32) and vocab.txt copied from vocab_src_path. Each file is written to a temporary name,
 * fsynced and renamed over the old one, so each is either old or new, never torn.
 * Returns QA_OK or QA_ERR. */
int checkpoint_save(const BertModel *m, const char *dir, const char *vocab_src_path);

#endif
