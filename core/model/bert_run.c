/* core/model/bert_run.c: the model at work: activations laid out from the config and batch
 * shape, forward, backward. The parameter table, layout and pruning are in bert.c; kernels in
 * ops.c. */
#include <assert.h>
#include <string.h>
#include <stdlib.h>

#include "core/model/bert_impl.h"
#include "core/util/error.h"

/* Hands out 64-byte aligned pieces of one allocation; with base NULL it only counts. */
typedef struct {
    float *base;
    size_t used;
} Planner;

static float *take(Planner *p, size_t n) {
    float *r = p->base ? p->base + p->used : NULL;
    p->used += (n + 15) & ~(size_t)15;
    return r;
}

static bf16 *take_bf16(Planner *p, size_t n) { return (bf16 *)take(p, (n + 1) / 2); }

/* Lays out the activations for (B, T, train) on p; see LayerActs. In inference every layer
 * shares one set sized for the widest layer, and the layer output is written over x0.
 * Training keeps per layer what backward reads and cannot rebuild cheaply: qkv, the
 * LayerNorm inputs and statistics, a, h and out. The attention's probs and context and the
 * gated ctxg and hg are shared by all layers (sized for the widest) and rebuilt by backward
 * from the kept qkv and h, bit for bit: attention_forward again (for BERT-base at seq 384
 * ~2.6% more FLOPs per step) and the elementwise gates; the probs alone, [B,NH,T,T] per
 * layer, were a quarter of the activations. Training in bf16 also keeps each linear layer's
 * input in bf16 (what its GEMM took and its weight gradient takes again), gelu'(h), and the
 * attention's bf16 Q, K, V and probabilities before and after dropout: then backward
 * rebuilds none of hg, ctx or the probabilities, except ctx for head-gate gradients. */
static void plan_acts(BertModel *m, Planner *p, int B, int T, int train) {
    const BertConfig *c = &m->cfg;
    size_t N = (size_t)B * T, C = (size_t)c->hidden_size, E = (size_t)bert_embedding_size(c);
    m->emb_sum = take(p, N * E);
    m->emb_mean = take(p, N);
    m->emb_rstd = take(p, N);
    m->x0 = take(p, N * C);
    m->emb_out = m->w.projw ? take(p, N * E) : m->x0;
    m->qa_in = train && c->qa_dropout > 0.f ? take(p, N * C) : NULL;
    m->logits = take(p, 2 * N);
    m->start = take(p, N);
    m->end = take(p, N);
    m->cls = c->num_answer_types ? take(p, (size_t)B * C) : NULL;
    m->type_logits = c->num_answer_types ? take(p, (size_t)B * c->num_answer_types) : NULL;
    int total_heads = bert_total_heads(c), total_ffn = bert_total_ffn(c);
    m->head_gates = take(p, (size_t)total_heads);
    m->ffn_gates = take(p, (size_t)total_ffn);
    m->ones = take(p, (size_t)(total_heads > total_ffn ? total_heads : total_ffn));
    int maxA = 0, maxNH = 0, maxF = 0;
    int maxHS = 0;
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        if (s.A > maxA) maxA = s.A;
        if (s.NH > maxNH) maxNH = s.NH;
        if (s.HS > maxHS) maxHS = s.HS;
        if (s.F > maxF) maxF = s.F;
    }
    int keep_bf16 = train && m->run_bf16;
    long scratch = attention_scratch_size(T, maxNH, maxHS, ops_threads());
    if (keep_bf16 && attention_backward_bf16_scratch_size(T, maxNH, maxHS) > scratch)
        scratch = attention_backward_bf16_scratch_size(T, maxNH, maxHS);
    m->scratch = take(p, (size_t)scratch);
    /* The softmax probabilities are kept for backward; an fp32 inference forward does not
     * keep them (the bf16 attention uses them as its per-head scratch). */
    int keep_probs = train || m->precision == BERT_BF16;
    for (int l = 0; l < c->num_layers; l++) {
        LayerActs *la = &m->layer[l];
        if (!train && l > 0) {
            *la = m->layer[0];
            continue;
        }
        BertSlice s = bert_slice(c, l);
        size_t A = (size_t)(train ? s.A : maxA), F = (size_t)(train ? s.F : maxF);
        la->qkv = take(p, N * 3 * A);
        if (l == 0) { /* shared by every layer (train: rebuilt by backward) */
            la->probs = keep_probs ? take(p, (size_t)B * maxNH * T * T) : NULL;
            la->ctx = take(p, N * (size_t)maxA);
            la->ctxg = train ? take(p, N * (size_t)maxA) : la->ctx;
        } else {
            la->probs = m->layer[0].probs;
            la->ctx = m->layer[0].ctx;
            la->ctxg = m->layer[0].ctxg;
        }
        la->attn_res = take(p, N * C);
        la->ln1_mean = train ? take(p, N) : NULL;
        la->ln1_rstd = train ? take(p, N) : NULL;
        la->a = take(p, N * C);
        la->h = take(p, N * F);
        if (!train) la->hg = la->h;
        else la->hg = l == 0 ? take(p, N * (size_t)maxF) : m->layer[0].hg;
        la->ffn_res = take(p, N * C);
        la->ln2_mean = train ? take(p, N) : NULL;
        la->ln2_rstd = train ? take(p, N) : NULL;
        la->out = train ? take(p, N * C) : m->x0;
        la->xh = keep_bf16 ? take_bf16(p, N * C) : NULL;
        la->ctxh = keep_bf16 ? take_bf16(p, N * A) : NULL;
        la->ah = keep_bf16 ? take_bf16(p, N * C) : NULL;
        la->hgh = keep_bf16 ? take_bf16(p, N * F) : NULL;
        la->gelu_grad = keep_bf16 ? take_bf16(p, N * F) : NULL;
        size_t scores = (size_t)B * s.NH * T * T;
        la->attn_keep = keep_bf16 ? (AttnKeep){take_bf16(p, N * 3 * A), take_bf16(p, scores),
                                               take_bf16(p, scores)}
                                  : (AttnKeep){0};
    }
}

static int reserve_acts(BertModel *m, int B, int T, int train) {
    Planner p = {0};
    plan_acts(m, &p, B, T, train);
    if (p.used > m->acts_cap) {
        free(m->acts);
        m->acts = aligned_alloc(64, p.used * sizeof(float));
        m->acts_cap = m->acts ? p.used : 0;
        if (!m->acts) return qa_error("bert: out of memory for activations (B=%d, T=%d)", B, T);
    }
    size_t n = (size_t)B * T;
    if (n > m->batch_cap) {
        free(m->ids);
        m->ids = malloc(4 * n * sizeof(int32_t));
        m->batch_cap = m->ids ? n : 0;
        if (!m->ids) return qa_error("bert: out of memory for a batch of %zu tokens", n);
    }
    m->types = m->ids + n;
    m->mask = m->ids + 2 * n;
    m->pos = m->ids + 3 * n;
    p = (Planner){.base = m->acts};
    plan_acts(m, &p, B, T, train);
    m->B = B;
    m->T = T;
    m->train = train;
    return QA_OK;
}

void bert_position_ids(int32_t *pos, const int32_t *ids, int B, int T, int position_offset) {
    int pad = position_offset - 1;
    for (int b = 0; b < B; b++) {
        int real = 0;
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            if (position_offset == 0) pos[i] = t;
            else pos[i] = ids[i] != pad ? pad + ++real : pad;
        }
    }
}

static int check_batch(const BertModel *m, const BertBatch *b) {
    const BertConfig *c = &m->cfg;
    if (b->B < 1 || b->T < 1) return qa_error("batch: empty shape B=%d T=%d", b->B, b->T);
    if (b->T + c->position_offset > c->max_position)
        return qa_error("batch: sequence length %d exceeds max_position_embeddings %d",
                        b->T + c->position_offset, c->max_position);
    for (long i = 0; i < (long)b->B * b->T; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= c->vocab_size)
            return qa_error("batch: token id %d at [%ld,%ld] outside the vocabulary [0, %d)",
                            b->ids[i], i / b->T, i % b->T, c->vocab_size);
        if (c->type_vocab_size && (b->types[i] < 0 || b->types[i] >= c->type_vocab_size))
            return qa_error("batch: token type %d at [%ld,%ld] outside [0, %d)", b->types[i],
                            i / b->T, i % b->T, c->type_vocab_size);
    }
    return QA_OK;
}

static void add_inplace(float *y, const float *x, long n) {
#pragma omp parallel for schedule(static) if (n >= 32768)
    for (long i = 0; i < n; i++) y[i] += x[i];
}

enum { SITE_EMB = 1, SITE_QA = 2, SITE_ATTN = 0, SITE_ATTN_OUT = 1, SITE_FFN_OUT = 2 };
static uint64_t site(int layer, int k) { return (uint64_t)(layer + 1) * 4 + (uint64_t)k; }

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

/* The bf16 copy of weight w (inside m->params). */
static const bf16 *w_bf16(const BertModel *m, const float *w) {
    return m->params_bf16 + (w - m->params);
}

/* A linear layer's input [n] in bf16: in converted into keep, or into the module's scratch
 * without keep; in NULL: keep already holds it. */
static const bf16 *bf16_input(const float *in, bf16 *keep, long n) {
    bf16 *h = keep ? keep : gemm_bf16_scratch(0, n);
    if (in) gemm_to_bf16(h, in, n);
    return h;
}

/* out = in . w^T + b for a weight w inside m->params: in bf16 when this forward runs in bf16
 * (m->run_bf16: inference or training precision), else fp32. keep: where the bf16 input
 * goes and stays (training in bf16), NULL for the module's scratch; with keep, in NULL means
 * keep already holds the input (written in bf16 by the kernel that made it). */
static void linear(const BertModel *m, float *out, const float *in, bf16 *keep, const float *w,
                   const float *b, int N, int K, int O) {
    if (m->run_bf16)
        matmul_forward_bf16_in(out, bf16_input(in, keep, (long)N * K), w_bf16(m, w), b, N, K, O);
    else
        matmul_forward(out, in, w, b, N, K, O);
}

/* The backward of linear() (and linear_residual's product), in the same precision; inh is
 * the bf16 input the forward kept (bf16 training), in the fp32 one. din_add 1: din +=;
 * 0: din holds nothing yet (the bf16 GEMM writes it, the fp32 one adds to zeros). */
static void linear_backward(const BertModel *m, float *din, int din_add, float *dw, float *db,
                            const float *dout, const float *in, const bf16 *inh,
                            const float *w, int N, int K, int O) {
    if (m->run_bf16) {
        matmul_backward_bf16(din, din_add, dw, db, dout, inh, w_bf16(m, w), N, K, O);
        return;
    }
    if (!din_add) zero(din, (size_t)N * K);
    matmul_backward(din, dw, db, dout, in, w, N, K, O);
}

/* out = res + dropout(in . w^T + b), in the precision of linear(). Without dropout the add
 * is folded into the GEMM (matmul_residual_forward); otherwise linear, dropout, the add. */
static void linear_residual(const BertModel *m, float *out, const float *in, bf16 *keep,
                            const float *w, const float *b, const float *res, int N, int K,
                            int O, const Dropout *d, uint64_t site) {
    if (d->p <= 0.f) {
        if (m->run_bf16)
            matmul_residual_forward_bf16_in(out, bf16_input(in, keep, (long)N * K),
                                            w_bf16(m, w), b, res, N, K, O);
        else
            matmul_residual_forward(out, in, w, b, res, N, K, O);
        return;
    }
    linear(m, out, in, keep, w, b, N, K, O);
    dropout_apply(out, (long)N * O, d, site);
    add_inplace(out, res, (long)N * O);
}

/* The bf16 copies of the weights the linear layers take (the rest stay fp32 only). */
static void refresh_bf16(BertModel *m) {
    const BertConfig *c = &m->cfg;
    long C = c->hidden_size;
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        const BertLayerWeights *lw = &m->w.layer[l];
        const float *w[4] = {lw->qw, lw->ow, lw->f1w, lw->f2w};
        long n[4] = {3L * s.A * C, C * s.A, (long)s.F * C, C * s.F};
        for (int i = 0; i < 4; i++)
            if (n[i]) gemm_to_bf16(m->params_bf16 + (w[i] - m->params), w[i], n[i]);
    }
}

int bert_forward(BertModel *m, const BertBatch *bt, const BertGates *gates, int train,
                 uint64_t seed) {
    const BertConfig *c = &m->cfg;
    /* A rejected batch leaves the last forward (and what its backward reads) as it was;
     * run_bf16 is part of it, so it changes only after the check. */
    if (check_batch(m, bt)) return QA_ERR;
    m->run_bf16 = (train ? m->train_precision : m->precision) == BERT_BF16;
    if (reserve_acts(m, bt->B, bt->T, train)) {
        m->train = 0; /* the activations are gone: no backward of the last forward */
        return QA_ERR;
    }
    if (m->run_bf16 && m->bf16_stale) {
        refresh_bf16(m);
        m->bf16_stale = 0;
    }
    if (train) m->bf16_stale = 1; /* the optimizer step that follows changes the weights */
    int B = bt->B, T = bt->T, N = B * T, C = c->hidden_size, E = bert_embedding_size(c);
    memcpy(m->ids, bt->ids, sizeof(int32_t) * N);
    if (c->type_vocab_size) memcpy(m->types, bt->types, sizeof(int32_t) * N);
    else memset(m->types, 0, sizeof(int32_t) * N);
    memcpy(m->mask, bt->mask, sizeof(int32_t) * N);
    bert_position_ids(m->pos, m->ids, B, T, c->position_offset);
    int nh = bert_total_heads(c), nf = bert_total_ffn(c);
    for (int i = 0; i < (nh > nf ? nh : nf); i++) m->ones[i] = 1.f;
    const float *hgate = NULL, *fgate = NULL;
    if (gates && gates->head) hgate = memcpy(m->head_gates, gates->head, sizeof(float) * nh);
    if (gates && gates->ffn) fgate = memcpy(m->ffn_gates, gates->ffn, sizeof(float) * nf);
    if (!hgate) m->head_gates = NULL;
    if (!fgate) m->ffn_gates = NULL;
    m->drop_hidden = (Dropout){train ? c->hidden_dropout : 0.f, seed};
    m->drop_attn = (Dropout){train ? c->attention_dropout : 0.f, seed ^ 0x5bd1e995u};
    m->drop_qa = (Dropout){train ? c->qa_dropout : 0.f, seed};
    m->drop_attn_out = bert_family(c->family)->attn_output_dropout ? m->drop_hidden
                                                                   : (Dropout){0.f, seed};

    embed_forward(m->emb_sum, m->ids, m->types, m->pos, m->w.wte, m->w.wpe, m->w.wtt, N, E);
    layernorm_forward(m->emb_out, m->emb_mean, m->emb_rstd, m->emb_sum, m->w.lnew, m->w.lneb, N,
                      E, c->layer_norm_eps);
    dropout_apply(m->emb_out, (long)N * E, &m->drop_hidden, SITE_EMB);
    if (m->w.projw) matmul_forward(m->x0, m->emb_out, m->w.projw, m->w.projb, N, E, C);
    const float *x = m->x0;
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        LayerActs *la = &m->layer[l];
        const BertLayerWeights *lw = &m->w.layer[l];
        /* in bf16 training the previous layer's LayerNorm already wrote x in bf16 */
        linear(m, la->qkv, la->xh && l > 0 ? NULL : x, la->xh, lw->qw, lw->qb, N, C, 3 * s.A);
        if (m->run_bf16)
            attention_forward_bf16(la->ctx, la->probs, la->qkv, m->mask, B, T, s.NH, s.HS,
                                   &m->drop_attn, site(l, SITE_ATTN), m->scratch,
                                   la->ctxh ? &la->attn_keep : NULL);
        else
            attention_forward(la->ctx, la->probs, la->qkv, m->mask, B, T, s.NH, s.HS,
                              &m->drop_attn, site(l, SITE_ATTN), m->scratch);
        const float *ctxg = la->ctx;
        if (hgate && s.NH) {
            headgate_forward(la->ctxg, la->ctx, hgate + s.head_off, N, s.NH, s.HS);
            ctxg = la->ctxg;
        }
        linear_residual(m, la->attn_res, ctxg, la->ctxh, lw->ow, lw->ob, x, N, s.A, C,
                        &m->drop_attn_out, site(l, SITE_ATTN_OUT));
        layernorm_forward_bf16(la->a, la->ah, la->ln1_mean, la->ln1_rstd, la->attn_res, lw->ln1w,
                               lw->ln1b, N, C, c->layer_norm_eps);
        linear(m, la->h, la->ah ? NULL : la->a, la->ah, lw->f1w, NULL, N, C, s.F);
        const float *fg = fgate ? fgate + s.ffn_off : NULL;
        if (la->hgh) /* bf16 training: hg only in bf16, the form its GEMMs take */
            bias_gelu_gate_forward_bf16(la->hgh, la->gelu_grad, la->h, lw->f1b, fg, N, s.F);
        else
            bias_gelu_gate_forward(la->hg, la->h, lw->f1b, fg, N, s.F);
        linear_residual(m, la->ffn_res, la->hgh ? NULL : la->hg, la->hgh, lw->f2w, lw->f2b,
                        la->a, N, s.F, C,
                        &m->drop_hidden, site(l, SITE_FFN_OUT));
        bf16 *next_xh = l + 1 < c->num_layers ? m->layer[l + 1].xh : NULL;
        layernorm_forward_bf16(la->out, next_xh, la->ln2_mean, la->ln2_rstd, la->ffn_res,
                               lw->ln2w, lw->ln2b, N, C, c->layer_norm_eps);
        x = la->out;
    }
    if (m->qa_in) { /* DistilBertForQuestionAnswering: dropout before qa_outputs */
        memcpy(m->qa_in, x, sizeof(float) * (size_t)N * C);
        dropout_apply(m->qa_in, (long)N * C, &m->drop_qa, SITE_QA);
        x = m->qa_in;
    }
    matmul_forward(m->logits, x, m->w.qaw, m->w.qab, N, C, 2);
    for (int n = 0; n < N; n++) {
        m->start[n] = m->logits[2 * n];
        m->end[n] = m->logits[2 * n + 1];
    }
    if (c->num_answer_types) { /* type = h[b, 0] Wt^T + bt, from the QA head's input */
        for (int b = 0; b < B; b++)
            memcpy(m->cls + (size_t)b * C, x + (size_t)b * T * C, sizeof(float) * C);
        matmul_forward(m->type_logits, m->cls, m->w.typew, m->w.typeb, B, C, c->num_answer_types);
    }
    return QA_OK;
}

const float *bert_type_logits(const BertModel *m) { return m->type_logits; }

const float *bert_start_logits(const BertModel *m) { return m->start; }
const float *bert_end_logits(const BertModel *m) { return m->end; }

/* Backward scratch for the last forward's (B, T): activation gradients of one layer. */
typedef struct {
    float *dx, *dres, *da; /* [N,C] */
    float *demb, *dsum;    /* [N,E] at the embedding output (NULL: dx when E = C), LN input */
    float *dqkv;           /* [N,3A] */
    float *dctxg, *dctx;   /* [N,A] */
    float *dhg, *dh;       /* [N,F] */
    float *dlogits;        /* [N,2] */
    float *dcls;           /* [B,C] */
} Grads;

static void plan_grads(const BertModel *m, Planner *p, Grads *d) {
    const BertConfig *c = &m->cfg;
    size_t N = (size_t)m->B * m->T, C = (size_t)c->hidden_size, A = 0, F = 0;
    size_t E = (size_t)bert_embedding_size(c);
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        if ((size_t)s.A > A) A = (size_t)s.A;
        if ((size_t)s.F > F) F = (size_t)s.F;
    }
    d->dx = take(p, N * C);
    d->dres = take(p, N * C);
    d->da = take(p, N * C);
    d->dqkv = take(p, N * 3 * A);
    d->dctxg = take(p, N * A);
    d->dctx = take(p, N * A);
    d->dhg = take(p, N * F);
    d->dh = take(p, N * F);
    d->dlogits = take(p, N * 2);
    d->dcls = take(p, (size_t)m->B * C);
    d->demb = m->w.projw ? take(p, N * E) : NULL;
    d->dsum = take(p, N * E);
}

int bert_backward(BertModel *m, const float *dstart, const float *dend, float *dhead_gates,
                  float *dffn_gates, int param_grads) {
    return bert_backward_typed(m, dstart, dend, NULL, dhead_gates, dffn_gates, param_grads);
}

int bert_backward_typed(BertModel *m, const float *dstart, const float *dend, const float *dtype,
                        float *dhead_gates, float *dffn_gates, int param_grads) {
    assert(m->train && "bert_backward needs a training forward first");
    const BertConfig *c = &m->cfg;
    if (bert_alloc_grads(m)) return QA_ERR;
    Planner p = {0};
    Grads d;
    plan_grads(m, &p, &d);
    if (p.used > m->dmem_cap) {
        free(m->dmem);
        m->dmem = aligned_alloc(64, p.used * sizeof(float));
        m->dmem_cap = m->dmem ? p.used : 0;
        if (!m->dmem) return qa_error("bert: out of memory for backward scratch");
    }
    p = (Planner){.base = m->dmem};
    plan_grads(m, &p, &d);
    int B = m->B, T = m->T, N = B * T, C = c->hidden_size, E = bert_embedding_size(c);
    size_t NC = (size_t)N * C, NE = (size_t)N * E;
    BertWeights *g = &m->g;
    int pg = param_grads;

    for (int n = 0; n < N; n++) {
        d.dlogits[2 * n] = dstart[n];
        d.dlogits[2 * n + 1] = dend[n];
    }
    const float *x_last = c->num_layers ? m->layer[c->num_layers - 1].out : m->x0;
    zero(d.dx, NC);
    /* logits = dropout_qa(x_last) Wqa^T + bqa */
    matmul_backward(d.dx, pg ? g->qaw : NULL, pg ? g->qab : NULL, d.dlogits,
                    m->qa_in ? m->qa_in : x_last, m->w.qaw, N, C, 2);
    if (dtype && c->num_answer_types) {
        /* type = cls Wt^T + bt, cls[b] = (qa input)[b, 0]: back into each row's first token */
        zero(d.dcls, (size_t)B * C);
        matmul_backward(d.dcls, pg ? g->typew : NULL, pg ? g->typeb : NULL, dtype, m->cls,
                        m->w.typew, B, C, c->num_answer_types);
        for (int b = 0; b < B; b++) add_inplace(d.dx + (size_t)b * T * C, d.dcls + (size_t)b * C, C);
    }
    if (m->qa_in) dropout_apply(d.dx, (long)NC, &m->drop_qa, SITE_QA);
    for (int l = c->num_layers - 1; l >= 0; l--) {
        BertSlice s = bert_slice(c, l);
        const LayerActs *la = &m->layer[l];
        const BertLayerWeights *lw = &m->w.layer[l];
        BertLayerWeights *gw = &g->layer[l];
        const float *x_in = l ? m->layer[l - 1].out : m->x0;
        const float *hgate = m->head_gates ? m->head_gates + s.head_off : m->ones;
        const float *fgate = m->ffn_gates ? m->ffn_gates + s.ffn_off : NULL;
        /* out = LN2(ffn_res) */
        zero(d.dres, NC);
        layernorm_backward(d.dres, pg ? gw->ln2w : NULL, pg ? gw->ln2b : NULL, d.dx, la->ffn_res,
                           la->ln2_mean, la->ln2_rstd, lw->ln2w, N, C);
        /* ffn_res = a + dropout(hg W2^T + b2); hg rebuilt (one buffer for all layers) unless
         * its bf16 copy was kept */
        memcpy(d.da, d.dres, NC * sizeof(float));
        dropout_apply(d.dres, (long)NC, &m->drop_hidden, site(l, SITE_FFN_OUT));
        if (!la->hgh) gelu_gate_forward(la->hg, la->h, fgate, N, s.F);
        linear_backward(m, d.dhg, 0, pg ? gw->f2w : NULL, pg ? gw->f2b : NULL, d.dres, la->hg,
                        la->hgh, lw->f2w, N, s.F, C);
        /* hg = gelu(h) * gate;  h = a W1^T + b1 */
        if (la->gelu_grad && !dffn_gates) {
            gelu_gate_backward_saved(d.dh, d.dhg, la->gelu_grad, fgate, N, s.F);
        } else {
            zero(d.dh, (size_t)N * s.F);
            gelu_gate_backward(d.dh, dffn_gates ? dffn_gates + s.ffn_off : NULL, d.dhg, la->h,
                               fgate, N, s.F);
        }
        linear_backward(m, d.da, 1, pg ? gw->f1w : NULL, pg ? gw->f1b : NULL, d.dh, la->a, la->ah,
                        lw->f1w, N, C, s.F);
        /* a = LN1(attn_res) */
        zero(d.dres, NC);
        layernorm_backward(d.dres, pg ? gw->ln1w : NULL, pg ? gw->ln1b : NULL, d.da,
                           la->attn_res, la->ln1_mean, la->ln1_rstd, lw->ln1w, N, C);
        /* attn_res = x + dropout(ctxg Wo^T + bo); ctx, its probs and ctxg rebuilt from the
         * kept qkv as the forward made them (same dropout mask: same seed and site). In bf16
         * ctxg's copy is kept, and ctx is rebuilt only for the head gates' gradient (which
         * is asked for with or without gates in the forward). */
        memcpy(d.dx, d.dres, NC * sizeof(float));
        dropout_apply(d.dres, (long)NC, &m->drop_attn_out, site(l, SITE_ATTN_OUT));
        int use_gates = m->head_gates && s.NH;
        if (!la->ctxh)
            attention_forward(la->ctx, la->probs, la->qkv, m->mask, B, T, s.NH, s.HS,
                              &m->drop_attn, site(l, SITE_ATTN), m->scratch);
        else if (dhead_gates && s.NH) /* gates NULL (all 1) still want their gradient */
            attention_forward_bf16(la->ctx, la->probs, la->qkv, m->mask, B, T, s.NH, s.HS,
                                   &m->drop_attn, site(l, SITE_ATTN), m->scratch, NULL);
        if (use_gates && !la->ctxh) headgate_forward(la->ctxg, la->ctx, hgate, N, s.NH, s.HS);
        const float *ctxg = use_gates ? la->ctxg : la->ctx;
        linear_backward(m, d.dctxg, 0, pg ? gw->ow : NULL, pg ? gw->ob : NULL, d.dres, ctxg,
                        la->ctxh, lw->ow, N, s.A, C);
        /* ctxg = ctx * gate[head] */
        zero(d.dctx, (size_t)N * s.A);
        headgate_backward(d.dctx, dhead_gates ? dhead_gates + s.head_off : NULL, d.dctxg,
                          la->ctx, hgate, N, s.NH, s.HS);
        /* ctx = attention(qkv);  qkv = x Wqkv^T + bqkv */
        if (la->ctxh) {
            attention_backward_bf16(d.dqkv, d.dctx, &la->attn_keep, B, T, s.NH, s.HS,
                                    &m->drop_attn, m->scratch);
        } else {
            zero(d.dqkv, (size_t)N * 3 * s.A);
            attention_backward(d.dqkv, d.dctx, la->probs, la->qkv, m->mask, B, T, s.NH, s.HS,
                               &m->drop_attn, site(l, SITE_ATTN), m->scratch);
        }
        linear_backward(m, d.dx, 1, pg ? gw->qw : NULL, pg ? gw->qb : NULL, d.dqkv, x_in, la->xh,
                        lw->qw, N, C, 3 * s.A);
    }
    if (!pg) return QA_OK; /* nothing below the encoder has a gate */
    /* x0 = emb_out Wp^T + bp (ELECTRA's embeddings_project; x0 = emb_out without it) */
    float *demb = d.dx;
    if (m->w.projw) {
        zero(d.demb, NE);
        matmul_backward(d.demb, g->projw, g->projb, d.dx, m->emb_out, m->w.projw, N, E, C);
        demb = d.demb;
    }
    /* emb_out = dropout(LN(emb_sum));  emb_sum = wte[ids] + wpe[pos] + wtt[types] */
    dropout_apply(demb, (long)NE, &m->drop_hidden, SITE_EMB);
    zero(d.dsum, NE);
    layernorm_backward(d.dsum, g->lnew, g->lneb, demb, m->emb_sum, m->emb_mean, m->emb_rstd,
                       m->w.lnew, N, E);
    embed_backward(g->wte, c->frozen_positions ? NULL : g->wpe, g->wtt, d.dsum, m->ids,
                   m->types, m->pos, N, E);
    return QA_OK;
}
