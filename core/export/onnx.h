/* core/export/onnx.h: a BertModel of any family (BERT, RoBERTa, DistilBERT, ELECTRA; pruned
 * or not) as a standard ONNX graph.
 *
 * The graph computes exactly what bert_forward computes in inference (core/model/bert.h):
 *   inputs   input_ids [B,T] int64, attention_mask [B,T] int64 (1 = token, 0 = padding),
 *            token_type_ids [B,T] int64 for the families whose Hugging Face models take
 *            it (BERT, ELECTRA; RoBERTa's one type is a constant, DistilBERT has none);
 *   outputs  start_logits [B,T], end_logits [B,T] float;
 * B ("batch") and T ("sequence") symbolic unless fixed by the options. Every layer is its own
 * nodes with its own shapes, so ragged pruned models need nothing special; a layer with 0
 * heads is x + bo (its attention output bias) and one with 0 FFN neurons is a + b2, which is
 * what such a layer computes. Attention masking is additive with the float minimum (as
 * Hugging Face), which gives masked keys probability 0 as bert_forward does. Positions are
 * position_offset + t (RoBERTa: padding_idx + 1 + t, what Hugging Face gives right-padded
 * input); ELECTRA's embeddings_project follows the embedding LayerNorm when E != C. GELU is the exact erf form; LayerNormalization is the opset-17 operator, or its
 * decomposition (ReduceMean, Sub, Mul, Add, Sqrt, Div) for opset 13 to 16.
 * Linear weights are stored transposed ([in, out]) for MatMul, Q, K and V fused into one
 * [C, 3A] MatMul per layer; initializers carry the Hugging Face tensor names (".T" when
 * transposed, "qkv" for the fused weight). */
#ifndef QAPRUNE_ONNX_H
#define QAPRUNE_ONNX_H

#include <stddef.h>

#include "core/model/bert.h"

#define ONNX_OPSET_MIN 13     /* Split/Squeeze/Unsqueeze with tensor inputs, Softmax-13 */
#define ONNX_OPSET_MAX 17     /* ONNX 1.12 (Debian 12) knows opsets up to 17 */
#define ONNX_IR_VERSION 8     /* ONNX 1.12's IR version */

typedef struct {
    int opset;                     /* ONNX_OPSET_MIN .. ONNX_OPSET_MAX; default 17 */
    int dynamic_batch, dynamic_seq; /* 1 (default): symbolic axis; 0: fixed at batch / seq */
    int batch, seq;                /* sizes of the axes that are not dynamic */
    int force_external;            /* 1: weights in PATH.data whatever the size */
    size_t external_above;         /* bytes past which weights go external; 0: ~2 GB */
} OnnxExportOpts;

void onnx_export_opts_default(OnnxExportOpts *o);

/* What an export wrote. */
typedef struct {
    const char *family; /* the model_type: "bert", "roberta", ... (static string) */
    int token_types;    /* 1 when the graph has the token_type_ids input */
    int nodes, initializers;
    size_t weight_bytes;
    int external; /* 1 when the weights went to PATH.data */
} OnnxExportInfo;

/* Writes m as an ONNX model to path (atomically; PATH.data beside it when external). info
 * may be NULL. Returns QA_OK, or QA_ERR with one line naming the path or the option. */
int onnx_export_model(const BertModel *m, const char *path, const OnnxExportOpts *o,
                      OnnxExportInfo *info);

#endif
