/* core/model/bert.h: a BERT-family encoder with a QA head, gates, forward and backward.
 *
 * The math is Hugging Face BertForQuestionAnswering: embeddings (word + position + token
 * type) -> LayerNorm -> dropout; L post-LN layers of multi-head self-attention and a GELU(erf)
 * FFN; QA head Linear(C, 2) giving start and end logits. The other families are the same
 * encoder with a few differences, each a property of the config (BertFamily below):
 *   - RoBERTa: position ids start at padding_idx + 1 (position_offset), one token type;
 *   - DistilBERT: no token type embeddings (type_vocab_size 0), no dropout after the
 *     attention output projection, dropout (qa_dropout) before the QA head, optionally fixed
 *     sinusoidal position embeddings that are not trained (frozen_positions);
 *   - ELECTRA: embedding tables of width E = embedding_size, LayerNorm over E, then
 *     embeddings_project Linear(E, C) into the encoder when E != C.
 * Two additions for pruning:
 *   - a gate per attention head scales that head's context vector before the output
 *     projection, and a gate per FFN neuron scales the neuron after GELU;
 *   - every layer has its own number of heads and FFN width (ragged shapes), which is what
 *     a physically pruned model is. A layer may have 0 heads or 0 neurons (its residual
 *     path and output bias remain), as Hugging Face gives after pruning all of them.
 * Optionally (num_answer_types > 0, Natural Questions) an answer-type head Linear(C, NT) on
 * the first token's final hidden state gives NT type logits per sequence (BERT-joint's
 * none/long/short/yes/no classifier), beside the start/end head; tensors
 * answer_type_outputs.weight [NT,C] and .bias [NT], in the same parameter table.
 * Shape letters as in core/model/ops.h. Parameters live in one allocation laid out by a single
 * table (bert.c) that also gives Hugging Face names, shapes and weight-decay groups. */
#ifndef QAPRUNE_BERT_H
#define QAPRUNE_BERT_H

#include <stddef.h>
#include <stdint.h>

#define BERT_MAX_LAYERS 48
#define BERT_MAX_HEADS 64

/* The model families (Hugging Face model_type). A family fixes the tensor names and where
 * dropout sits; everything else is in the numbers of BertConfig. */
typedef enum {
    BERT_FAMILY_BERT,
    BERT_FAMILY_ROBERTA,
    BERT_FAMILY_DISTILBERT,
    BERT_FAMILY_ELECTRA,
    BERT_N_FAMILIES
} BertFamily;

typedef struct {
    BertFamily family;
    const char *model_type;   /* config.json "model_type" */
    const char *architecture; /* config.json "architectures"[0] of its QA model */
    const char *prefix;       /* name prefix of the encoder's tensors ("bert.", ...) */
    int distil_names;         /* tensors named as DistilBERT's (q_lin, sa_layer_norm, ...) */
    int attn_output_dropout;  /* hidden dropout after the attention output projection */
} BertFamilyInfo;

/* The family's description (static storage). */
const BertFamilyInfo *bert_family(BertFamily f);
/* The family whose model_type is s, or NULL when none is. */
const BertFamilyInfo *bert_family_find(const char *model_type);
/* The supported model_types as a list for error messages: "bert", "roberta", ... */
const char *bert_family_list(void);

typedef struct {
    BertFamily family;
    int vocab_size, max_position;
    int type_vocab_size;   /* TV; 0 = no token type embeddings (DistilBERT): types ignored */
    int embedding_size;    /* E, width of the embedding tables; 0 = C. Only ELECTRA may differ
                              from C, and then embeddings_project maps E -> C */
    int frozen_positions;  /* position embeddings are fixed sinusoids, never trained
                              (DistilBERT sinusoidal_pos_embds) */
    float qa_dropout;      /* dropout before the QA head (DistilBERT qa_dropout); 0 = none */
    int hidden_size;       /* C */
    int num_layers;        /* L */
    int num_heads;         /* nominal heads per layer (before pruning); HS = C / num_heads */
    int intermediate_size; /* nominal FFN width (before pruning) */
    float layer_norm_eps;  /* 1e-12 for BERT, 1e-5 for RoBERTa */
    int position_offset;   /* position id of token 0: 0 for BERT, padding_idx + 1 for RoBERTa */
    int num_answer_types;  /* NT: logits of the answer-type head; 0 = no such head */
    float hidden_dropout, attention_dropout; /* used only by training forwards */
    int heads[BERT_MAX_LAYERS];              /* heads kept in each layer */
    int ffn[BERT_MAX_LAYERS];                /* FFN neurons kept in each layer */
    /* head_ids[l][j]: original (unpruned) index of layer l's j-th kept head. */
    int8_t head_ids[BERT_MAX_LAYERS][BERT_MAX_HEADS];
} BertConfig;

/* Fills an unpruned configuration (every layer num_heads heads and intermediate_size
 * neurons), BERT defaults for the rest (family BERT, two token types, E = C, eps 1e-12,
 * dropout 0.1, position offset 0). */
void bert_config_init(BertConfig *cfg, int vocab_size, int max_position, int num_layers,
                      int hidden_size, int num_heads, int intermediate_size);
/* Checks every field; returns QA_OK or QA_ERR with a line naming the field and value. */
int bert_config_check(const BertConfig *cfg);
int bert_head_size(const BertConfig *cfg);
int bert_embedding_size(const BertConfig *cfg); /* E: embedding_size, or C when 0 */
/* Checks that windows of max_seq_len tokens fit the position embeddings (max_seq_len +
 * position_offset <= max_position); QA_ERR with one line naming who (a model directory),
 * max_seq_len and max_position_embeddings otherwise. */
int bert_check_seq_len(const BertConfig *cfg, int max_seq_len, const char *who);
/* The Hugging Face name of layer l's FFN input weight, whose rows are the layer's FFN width
 * ("bert.encoder.layer.3.intermediate.dense.weight", "distilbert.transformer.layer.3.ffn.lin1.weight"). */
void bert_ffn_weight_name(const BertConfig *cfg, int layer, char *buf, size_t n);
int bert_total_heads(const BertConfig *cfg); /* sum of heads[l] */
int bert_total_ffn(const BertConfig *cfg);   /* sum of ffn[l] */

/* The per-layer slice of everything ragged; the one helper forward, backward, pruning and
 * the gate arrays all use. head_off / ffn_off index the flat gate arrays. */
typedef struct {
    int NH, HS, A, F;
    int head_off, ffn_off;
} BertSlice;
BertSlice bert_slice(const BertConfig *cfg, int layer);

typedef struct {
    float *qw, *kw, *vw; /* [A,C] each, consecutive: together the fused QKV weight [3A,C] */
    float *qb, *kb, *vb; /* [A] each, consecutive: the fused QKV bias [3A] */
    float *ow, *ob;      /* attention output dense [C,A], [C] */
    float *ln1w, *ln1b;  /* attention output LayerNorm [C] */
    float *f1w, *f1b;    /* intermediate dense [F,C], [F] */
    float *f2w, *f2b;    /* output dense [C,F], [C] */
    float *ln2w, *ln2b;  /* output LayerNorm [C] */
} BertLayerWeights;

typedef struct {
    float *wte, *wpe, *wtt; /* [V,E], [P,E], [TV,E]; wtt NULL without token types */
    float *lnew, *lneb;     /* embeddings LayerNorm [E] */
    float *projw, *projb;   /* ELECTRA embeddings_project [C,E], [C]; NULL when E = C */
    BertLayerWeights layer[BERT_MAX_LAYERS];
    float *qaw, *qab;       /* QA head [2,C], [2] */
    float *typew, *typeb;   /* answer-type head [NT,C], [NT]; NULL when NT = 0 */
} BertWeights;

/* One parameter tensor, from the table: Hugging Face name (with the family's prefix), shape,
 * place in the flat allocation (in floats), whether AdamW applies weight decay to it and
 * whether it is trained at all. */
typedef struct {
    char name[96];
    int prefix_len; /* name + prefix_len is the name without the family prefix */
    int layer; /* -1 for tensors outside the encoder layers */
    int ndim;
    int shape[2];
    size_t offset, numel;
    int decay;
    int trainable; /* 0: fixed (DistilBERT's sinusoidal positions): no gradient, no update */
} BertTensor;

typedef struct {
    int B, T;
    const int32_t *ids, *types, *mask; /* [B,T] each; mask 1 = real token, 0 = padding;
                                          types ignored (may be NULL) when TV = 0 */
} BertBatch;

/* Gate values in [0,1], layer-major: head[bert_slice(l).head_off + h], ffn[... .ffn_off + f].
 * A NULL pointer means all gates of that kind are 1 (and costs nothing). */
typedef struct {
    const float *head; /* [bert_total_heads] */
    const float *ffn;  /* [bert_total_ffn] */
} BertGates;

typedef struct BertModel BertModel;

/* Returns a new model with zeroed parameters in *out (free with bert_free), or QA_ERR. */
int bert_create(const BertConfig *cfg, BertModel **out);
void bert_free(BertModel *m); /* accepts NULL */
const BertConfig *bert_config(const BertModel *m);
/* Sets the dropout probabilities used by later training forwards (each in [0, 1)). */
void bert_set_dropout(BertModel *m, float hidden, float attention);

/* Precision of inference forwards (training: bert_set_train_precision). BERT_BF16: the
 * linear layers' GEMMs take bf16 weights and inputs with fp32 accumulation (oneDNN); the
 * weights are converted once, by the first inference forward after this call, after
 * bert_params() or after a training forward (the cases that can change them); the two
 * attention products take bf16 Q, K, V and probabilities; the QA head, embeddings,
 * LayerNorm, softmax and GELU stay fp32. Returns QA_ERR when memory for the bf16 copy runs
 * out. */
typedef enum { BERT_FP32, BERT_BF16 } BertPrecision;
int bert_set_precision(BertModel *m, BertPrecision p);
BertPrecision bert_precision(const BertModel *m);
/* Precision of training forwards and backwards (default fp32). BERT_BF16: the encoder's
 * linear layers in bf16 both ways (forward as above; din and dW from bf16 operands with fp32
 * accumulation, matmul_backward_bf16) and the attention products too (Q, K, V, the dropped-
 * out probabilities and the score gradients in bf16, attention_backward_bf16); the weights
 * converted again before every training forward, the fp32 weights the master copy the
 * optimizer updates; the QA head, LayerNorm, softmax, GELU, dropout and all gradients' sums
 * outside the GEMMs stay fp32. The forward keeps each linear layer's input, gelu' and the
 * attention's Q, K, V and probabilities before and after dropout in bf16 for the backward
 * (N x (2C + 4A + 2F) x 2 bytes plus 4 bytes per attention score, per layer), which then
 * rebuilds nothing but the attention context when head-gate gradients are asked for. */
int bert_set_train_precision(BertModel *m, BertPrecision p);
BertPrecision bert_train_precision(const BertModel *m);
/* "fp32" / "bf16": returns 0 and sets *out, or -1 for another name. */
int bert_precision_parse(const char *name, BertPrecision *out);
const char *bert_precision_name(BertPrecision p); /* static string */

/* Parameters: the flat array (borrowed; handing it out marks the bf16 copy stale), its
 * size, the weights' pointer struct, the table. */
float *bert_params(BertModel *m);
size_t bert_num_params(const BertModel *m);
const BertWeights *bert_weights(const BertModel *m);
int bert_num_tensors(const BertModel *m);
const BertTensor *bert_tensor(const BertModel *m, int i);
const BertTensor *bert_find_tensor(const BertModel *m, const char *hf_name); /* NULL if none */

/* Gradients (same layout as the parameters), allocated on first use; NULL before. */
float *bert_grads(BertModel *m);
const BertWeights *bert_grad_weights(const BertModel *m);

/* BERT initialisation: weights ~ N(0, std) (std 0.02 in BERT), biases 0, LayerNorm 1 / 0. */
void bert_init_random(BertModel *m, uint64_t seed, float std);
/* Glorot & Bengio (2010) initialisation of the linear layers, U(-a, a) with
 * a = sqrt(6 / (fan_in + fan_out)); embeddings N(0, 0.02); biases 0; LayerNorm 1 / 0.
 * Larger than BERT's 0.02 at these widths (the embedded default's teacher uses it). */
void bert_init_xavier(BertModel *m, uint64_t seed);
/* Overwrites the position embeddings with the sinusoids of Vaswani et al. (2017), scaled to
 * the RMS of the N(0, 0.02) word embeddings; they stay trainable. Their dot products depend
 * only on the distance between two positions, which attention can use from the first step. */
void bert_init_sinusoid_positions(BertModel *m);
/* Sets the position embeddings to DistilBERT's fixed sinusoids (create_sinusoidal_embeddings:
 * row p, column j = sin or cos (j even / odd) of p / 10000^(2 floor(j/2) / E), amplitude 1).
 * The init functions call it themselves for a model with frozen_positions. */
void bert_set_fixed_positions(BertModel *m);

/* The position ids of a batch ids [B,T] into pos [B,T]: t for BERT (position_offset 0); for
 * RoBERTa (position_offset = padding_idx + 1) transformers' create_position_ids_from_input_ids,
 * padding_idx + the count of non-padding ids up to and including t, and padding_idx itself
 * where ids[t] is padding_idx, so padded positions match Hugging Face's too. */
void bert_position_ids(int32_t *pos, const int32_t *ids, int B, int T, int position_offset);

/* Runs the model on a batch. train = 1 keeps every activation for bert_backward and applies
 * dropout drawn from seed; train = 0 keeps only what the next layer needs. Returns QA_ERR on
 * an out-of-range token id, type id or length (naming it) or when memory runs out. */
int bert_forward(BertModel *m, const BertBatch *batch, const BertGates *gates, int train,
                 uint64_t seed);
/* The last forward's logits, [B*T] each; borrowed, valid until the next forward. */
const float *bert_start_logits(const BertModel *m);
const float *bert_end_logits(const BertModel *m);
/* The last forward's answer-type logits, [B*NT] (row b: sequence b's first token); NULL when
 * the model has no type head. Borrowed, valid until the next forward. */
const float *bert_type_logits(const BertModel *m);

/* Backpropagates dstart, dend ([B*T], gradients of the loss with respect to the last
 * training forward's logits). Accumulates into the parameter gradients (allocated zeroed on
 * first use) and, when not NULL, into dhead_gates / dffn_gates (layouts as BertGates).
 * param_grads = 0 skips the weight gradients (enough for gate importance). Returns QA_ERR
 * when memory runs out. */
int bert_backward(BertModel *m, const float *dstart, const float *dend, float *dhead_gates,
                  float *dffn_gates, int param_grads);
/* bert_backward with dtype ([B*NT], the loss gradient of the type logits; NULL for none)
 * flowing back through the answer-type head as well. */
int bert_backward_typed(BertModel *m, const float *dstart, const float *dend, const float *dtype,
                        float *dhead_gates, float *dffn_gates, int param_grads);
void bert_zero_grad(BertModel *m);

/* Returns in *out a new, physically smaller model keeping the heads and neurons whose keep
 * flag is non-zero (layouts as BertGates): rows of Q, K, V and W1 and columns of O and W2
 * removed, their biases with them. Free with bert_free. */
int bert_prune(const BertModel *m, const uint8_t *keep_heads, const uint8_t *keep_ffn,
               BertModel **out);

/* Matmul FLOPs of one forward (2 per multiply-add, the same count as the PyTorch baseline):
 * per layer 2N*C*3A + 2N*A*C + 4N*C*F + 4B*NH*T*T*HS, plus the QA head 4N*C, ELECTRA's
 * projection 2N*E*C and the answer-type head 2B*C*NT. */
double bert_forward_flops(const BertConfig *cfg, int B, int T);
/* Parameter count of the pruned shape (what the tensors hold). */
size_t bert_config_num_params(const BertConfig *cfg);

#endif
