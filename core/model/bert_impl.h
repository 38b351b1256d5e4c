/* core/model/bert_impl.h: the model's private parts, shared by bert.c (parameter table,
 * layout, pruning) and bert_run.c (activations, forward, backward). Nothing outside
 * core/model/bert*.c includes it. */
#ifndef QAPRUNE_BERT_IMPL_H
#define QAPRUNE_BERT_IMPL_H

#include "core/model/bert.h"
#include "core/model/ops.h"

/* Activations of one layer, kept for backward (training) or shared by all layers
 * (inference, where only the next layer's input matters). probs, ctx, ctxg and hg are shared
 * by all layers in training too: backward rebuilds them per layer (bert_run.c plan_acts),
 * except in bf16 training, which keeps bf16 copies instead (xh ... hgh). */
typedef struct {
    float *qkv;                /* [N,3A] */
    float *probs;              /* [B,NH,T,T] softmax before dropout (bf16: the softmax's
                                  fp32 scratch; what backward reads is in attn_keep) */
    float *ctx, *ctxg;         /* [N,A] context before / after the head gates */
    float *attn_res;           /* [N,C] LayerNorm 1 input: x + dropout(ctxg Wo^T + bo) */
    float *ln1_mean, *ln1_rstd; /* [N] */
    float *a;                  /* [N,C] LayerNorm 1 output */
    float *h, *hg;             /* [N,F] FFN pre-activation; gelu(h) * gate */
    float *ffn_res;            /* [N,C] LayerNorm 2 input: a + dropout(hg W2^T + b2) */
    float *ln2_mean, *ln2_rstd; /* [N] */
    float *out;                /* [N,C] the layer's output */
    /* Training in bf16: the four linear layers' inputs as their GEMMs took them (bf16), kept
     * for the weight gradients: x [N,C], ctxg [N,A], a [N,C], hg [N,F]; and gelu'(h) [N,F]
     * for the FFN's backward; else NULL. */
    bf16 *xh, *ctxh, *ah, *hgh, *gelu_grad;
    AttnKeep attn_keep; /* bf16 training: the attention's bf16 operands (ops.h) */
} LayerActs;

struct BertModel {
    BertConfig cfg;
    int n_tensors;
    BertTensor *tensors;
    size_t n_params;
    float *params, *grads; /* grads NULL until the first backward */
    BertWeights w, g;

    /* The last forward: its batch, gates, dropout and activations. */
    int B, T, train;
    size_t acts_cap; /* floats allocated in acts */
    float *acts;
    int32_t *ids, *types, *mask; /* [N] copies of the batch */
    int32_t *pos;                /* [N] its position ids (bert_position_ids) */
    size_t batch_cap;
    float *emb_sum, *emb_mean, *emb_rstd; /* [N,E], [N], [N] */
    float *emb_out;                       /* [N,E] dropout(LN(emb_sum)); = x0 when E = C */
    float *x0;                            /* [N,C] the encoder's input */
    LayerActs layer[BERT_MAX_LAYERS];
    float *qa_in;                         /* [N,C] dropout of the last hidden states (train
                                             with qa_dropout); NULL = the hidden states */
    float *logits, *start, *end, *scratch;
    float *cls, *type_logits;      /* [B,C] first-token states, [B,NT]; NULL without a type head */
    float *head_gates, *ffn_gates; /* copies of the last gates; NULL = all ones */
    float *ones;                   /* [max(total heads, total ffn)] of 1.0 */
    Dropout drop_hidden, drop_attn, drop_qa;
    Dropout drop_attn_out; /* drop_hidden, or none for a family without it (DistilBERT) */

    /* Backward scratch, sized for the last training forward. */
    size_t dmem_cap;
    float *dmem;

    /* Inference and training precisions; when either is BERT_BF16 a bf16 copy of params
     * (same layout), converted again by the next forward that runs in bf16 once stale
     * (params handed out, or a training forward, which the optimizer step follows). */
    BertPrecision precision;
    BertPrecision train_precision; /* BERT_BF16: training forwards and backwards too */
    bf16 *params_bf16;
    int bf16_stale;
    int run_bf16; /* the last forward's linear layers ran in bf16 (its backward does too) */
};

/* Allocates the gradients (zeroed, the parameter layout) on first use; QA_ERR when out of
 * memory. */
int bert_alloc_grads(BertModel *m);

#endif
