/* core/export/artifact.h: a checkpoint directory as a self-describing ONNX artefact.
 *
 * Beside OUT.onnx (and OUT.onnx.data when the weights are external) it writes
 *   - the checkpoint's tokenizer files and config.json, copied (those present of vocab.txt,
 *     vocab.json, merges.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json);
 *   - qaprune.json: {"format": "qaprune onnx v1", the file names, family, opset, IR version,
 *     inputs and outputs with their axes, the pruned structure (heads and FFN width of every
 *     layer, kept / total, sparsity), the strategy, F1 and speedup when known (null when
 *     not), and the window settings (max_seq_len, doc_stride) the model was trained with}.
 * Every file is written atomically; a failure leaves no partial OUT.onnx. */
#ifndef QAPRUNE_EXPORT_ARTIFACT_H
#define QAPRUNE_EXPORT_ARTIFACT_H

#include "core/export/onnx.h"

/* What the caller knows about the model beyond its checkpoint. NULL / NAN fields are taken
 * from the checkpoint directory when it says (qaprune.json "prune" for the strategy,
 * eval.json "f1" for F1, qaprune.json "dev" for a teacher), else recorded as null. */
typedef struct {
    const char *strategy;
    double f1;
    double speedup;
} ExportMeta;

void export_meta_init(ExportMeta *meta); /* all unknown */

/* Loads the checkpoint in model_dir, writes onnx_path (its directory created if missing;
 * it must not be model_dir itself) and the files above. info may be NULL. Returns QA_OK or
 * QA_ERR with one line naming the file and the field. */
int export_artifact(const char *model_dir, const char *onnx_path, const OnnxExportOpts *opts,
                    const ExportMeta *meta, OnnxExportInfo *info);

#endif
