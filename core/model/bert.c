/* core/model/bert.c: the model: parameter table and layout, activations, forward, backward,
 * pruning. Kernels are in ops.c; the shapes are in bert.h and ops.h. */
#include "core/model/bert.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/model/ops.h"
#include "core/util/rng.h"

/* ---------------------------------------------------------------- the parameter table */

typedef enum { D_NONE, D_TWO, D_C, D_V, D_P, D_TV, D_A, D_F } Dim;
typedef enum { G_EMBED, G_LAYER, G_HEAD } Group;
typedef enum { INIT_NORMAL, INIT_ZERO, INIT_ONE } Init;

typedef struct {
    Group group;
    const char *hf_name; /* printf format with the layer index for G_LAYER */
    size_t slot;         /* offsetof the pointer in BertWeights or BertLayerWeights */
    Dim d0, d1;
    int decay;
    Init init;
} ParamSpec;

#define EMB(f) offsetof(BertWeights, f)
#define LAY(f) offsetof(BertLayerWeights, f)
#define HF_LAYER "bert.encoder.layer.%d."

/* The one list of parameter tensors, in memory order. Per layer the Q, K, V weights and
 * then their biases are adjacent so that QKV is one GEMM. Weight decay as Hugging Face's
 * run_squad: none for biases and LayerNorm weights. */
static const ParamSpec PARAMS[] = {
    {G_EMBED, "bert.embeddings.word_embeddings.weight", EMB(wte), D_V, D_C, 1, INIT_NORMAL},
    {G_EMBED, "bert.embeddings.position_embeddings.weight", EMB(wpe), D_P, D_C, 1, INIT_NORMAL},
    {G_EMBED, "bert.embeddings.token_type_embeddings.weight", EMB(wtt), D_TV, D_C, 1,
     INIT_NORMAL},
    {G_EMBED, "bert.embeddings.LayerNorm.weight", EMB(lnew), D_C, D_NONE, 0, INIT_ONE},
    {G_EMBED, "bert.embeddings.LayerNorm.bias", EMB(lneb), D_C, D_NONE, 0, INIT_ZERO},
    {G_LAYER, HF_LAYER "attention.self.query.weight", LAY(qw), D_A, D_C, 1, INIT_NORMAL},
    {G_LAYER, HF_LAYER "attention.self.key.weight", LAY(kw), D_A, D_C, 1, INIT_NORMAL},
    {G_LAYER, HF_LAYER "attention.self.value.weight", LAY(vw), D_A, D_C, 1, INIT_NORMAL},
    {G_LAYER, HF_LAYER "attention.self.query.bias", LAY(qb), D_A, D_NONE, 0, INIT_ZERO},
    {G_LAYER, HF_LAYER "attention.self.key.bias", LAY(kb), D_A, D_NONE, 0, INIT_ZERO},
    {G_LAYER, HF_LAYER "attention.self.value.bias", LAY(vb), D_A, D_NONE, 0, INIT_ZERO},
    {G_LAYER, HF_LAYER "attention.output.dense.weight", LAY(ow), D_C, D_A, 1, INIT_NORMAL},
    {G_LAYER, HF_LAYER "attention.output.dense.bias", LAY(ob), D_C, D_NONE, 0, INIT_ZERO},
    {G_LAYER, HF_LAYER "attention.output.LayerNorm.weight", LAY(ln1w), D_C, D_NONE, 0,
     INIT_ONE},
    {G_LAYER, HF_LAYER "attention.output.LayerNorm.bias", LAY(ln1b), D_C, D_NONE, 0, INIT_ZERO},
    {G_LAYER, HF_LAYER "intermediate.dense.weight", LAY(f1w), D_F, D_C, 1, INIT_NORMAL},
    {G_LAYER, HF_LAYER "intermediate.dense.bias", LAY(f1b), D_F, D_NONE, 0, INIT_ZERO},
    {G_LAYER, HF_LAYER "output.dense.weight", LAY(f2w), D_C, D_F, 1, INIT_NORMAL},
    {G_LAYER, HF_LAYER "output.dense.bias", LAY(f2b), D_C, D_NONE, 0, INIT_ZERO},
    {G_LAYER, HF_LAYER "output.LayerNorm.weight", LAY(ln2w), D_C, D_NONE, 0, INIT_ONE},
    {G_LAYER, HF_LAYER "output.LayerNorm.bias", LAY(ln2b), D_C, D_NONE, 0, INIT_ZERO},
    {G_HEAD, "qa_outputs.weight", EMB(qaw), D_TWO, D_C, 1, INIT_NORMAL},
    {G_HEAD, "qa_outputs.bias", EMB(qab), D_TWO, D_NONE, 0, INIT_ZERO},
};
#define N_SPECS ((int)(sizeof PARAMS / sizeof PARAMS[0]))

static int dim_size(const BertConfig *c, Dim d, int layer) {
    switch (d) {
    case D_NONE: return 1;
    case D_TWO: return 2;
    case D_C: return c->hidden_size;
    case D_V: return c->vocab_size;
    case D_P: return c->max_position;
    case D_TV: return c->type_vocab_size;
    case D_A: return c->heads[layer] * bert_head_size(c);
    case D_F: return c->ffn[layer];
    }
    return 0;
}

/* Runs the body for every tensor in memory order, with its spec and layer (-1 outside
 * the encoder layers). */
#define FOR_EACH_TENSOR(cfg, spec, layer, ...)                                         \
    for (int g_ = G_EMBED; g_ <= G_HEAD; g_++)                                          \
        for (int layer = (g_ == G_LAYER ? 0 : -1);                                      \
             layer < (g_ == G_LAYER ? (cfg)->num_layers : 0); layer++)                 \
            for (int s_ = 0; s_ < N_SPECS; s_++)                                        \
                if (PARAMS[s_].group == (Group)g_) {                                    \
                    const ParamSpec *spec = &PARAMS[s_];                                \
                    __VA_ARGS__                                                         \
                }

static float **weight_slot(BertWeights *w, const ParamSpec *spec, int layer) {
    char *base = spec->group == G_LAYER ? (char *)&w->layer[layer] : (char *)w;
    return (float **)(base + spec->slot);
}

/* ---------------------------------------------------------------- configuration */

void bert_config_init(BertConfig *cfg, int vocab_size, int max_position, int num_layers,
                      int hidden_size, int num_heads, int intermediate_size) {
    memset(cfg, 0, sizeof *cfg);
    cfg->vocab_size = vocab_size;
    cfg->max_position = max_position;
    cfg->type_vocab_size = 2;
    cfg->hidden_size = hidden_size;
    cfg->num_layers = num_layers;
    cfg->num_heads = num_heads;
    cfg->intermediate_size = intermediate_size;
    cfg->layer_norm_eps = 1e-12f;
    cfg->hidden_dropout = cfg->attention_dropout = 0.1f;
    for (int l = 0; l < num_layers && l < BERT_MAX_LAYERS; l++) {
        cfg->heads[l] = num_heads;
        cfg->ffn[l] = intermediate_size;
        for (int h = 0; h < num_heads && h < BERT_MAX_HEADS; h++) cfg->head_ids[l][h] = (int8_t)h;
    }
}

int bert_config_check(const BertConfig *c) {
    if (c->vocab_size < 1) return qa_error("config: vocab_size %d must be >= 1", c->vocab_size);
    if (c->max_position < 1)
        return qa_error("config: max_position_embeddings %d must be >= 1", c->max_position);
    if (c->type_vocab_size < 1)
        return qa_error("config: type_vocab_size %d must be >= 1", c->type_vocab_size);
    if (c->num_layers < 0 || c->num_layers > BERT_MAX_LAYERS)
        return qa_error("config: num_hidden_layers %d must be in [0, %d]", c->num_layers,
                        BERT_MAX_LAYERS);
    if (c->num_heads < 1 || c->num_heads > BERT_MAX_HEADS)
        return qa_error("config: num_attention_heads %d must be in [1, %d]", c->num_heads,
                        BERT_MAX_HEADS);
    if (c->hidden_size < 1 || c->hidden_size % c->num_heads)
        return qa_error("config: hidden_size %d must be a positive multiple of "
                        "num_attention_heads %d", c->hidden_size, c->num_heads);
    if (!(c->layer_norm_eps > 0.f))
        return qa_error("config: layer_norm_eps %g must be > 0", c->layer_norm_eps);
    if (c->position_offset < 0 || c->position_offset >= c->max_position)
        return qa_error("config: position offset %d outside [0, %d)", c->position_offset,
                        c->max_position);
    if (!(c->hidden_dropout >= 0.f && c->hidden_dropout < 1.f) ||
        !(c->attention_dropout >= 0.f && c->attention_dropout < 1.f))
        return qa_error("config: dropout probabilities must be in [0, 1)");
    long long ffn_total = 0; /* gate offsets and totals are ints */
    for (int l = 0; l < c->num_layers; l++) {
        if (c->heads[l] < 0 || c->heads[l] > c->num_heads)
            return qa_error("config: layer %d has %d heads, outside [0, %d]", l, c->heads[l],
                            c->num_heads);
        if (c->ffn[l] < 0)
            return qa_error("config: layer %d has FFN width %d < 0", l, c->ffn[l]);
        if ((ffn_total += c->ffn[l]) > INT_MAX)
            return qa_error("config: FFN widths of layers 0-%d add up to %lld, more than %d", l,
                            ffn_total, INT_MAX);
        for (int h = 0; h < c->heads[l]; h++) {
            int id = c->head_ids[l][h];
            if (id < 0 || id >= c->num_heads || (h > 0 && id <= c->head_ids[l][h - 1]))
                return qa_error("config: layer %d: kept head ids must be increasing in [0, %d)",
                                l, c->num_heads);
        }
    }
    return QA_OK;
}

int bert_head_size(const BertConfig *c) { return c->hidden_size / c->num_heads; }

int bert_total_heads(const BertConfig *c) {
    int n = 0;
    for (int l = 0; l < c->num_layers; l++) n += c->heads[l];
    return n;
}

int bert_total_ffn(const BertConfig *c) {
    int n = 0;
    for (int l = 0; l < c->num_layers; l++) n += c->ffn[l];
    return n;
}

BertSlice bert_slice(const BertConfig *c, int layer) {
    BertSlice s = {.HS = bert_head_size(c)};
    for (int l = 0; l < layer; l++) {
        s.head_off += c->heads[l];
        s.ffn_off += c->ffn[l];
    }
    s.NH = c->heads[layer];
    s.A = s.NH * s.HS;
    s.F = c->ffn[layer];
    return s;
}

size_t bert_config_num_params(const BertConfig *c) {
    size_t n = 0;
    FOR_EACH_TENSOR(c, spec, layer, {
        n += (size_t)dim_size(c, spec->d0, layer) * (size_t)dim_size(c, spec->d1, layer);
    })
    return n;
}

double bert_forward_flops(const BertConfig *c, int B, int T) {
    double N = (double)B * T, C = c->hidden_size, f = 4.0 * N * C;
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        f += 2.0 * N * C * 3 * s.A + 2.0 * N * s.A * C + 4.0 * N * C * s.F +
             4.0 * B * s.NH * (double)T * T * s.HS;
    }
    return f;
}

/* ---------------------------------------------------------------- the model */

/* Activations of one layer, kept for backward (training) or shared by all layers
 * (inference, where only the next layer's input matters). */
typedef struct {
    float *qkv;                /* [N,3A] */
    float *probs;              /* [B,NH,T,T] softmax before dropout */
    float *ctx, *ctxg;         /* [N,A] context before / after the head gates */
    float *attn_res;           /* [N,C] LayerNorm 1 input: x + dropout(ctxg Wo^T + bo) */
    float *ln1_mean, *ln1_rstd; /* [N] */
    float *a;                  /* [N,C] LayerNorm 1 output */
    float *h, *hg;             /* [N,F] FFN pre-activation; gelu(h) * gate */
    float *ffn_res;            /* [N,C] LayerNorm 2 input: a + dropout(hg W2^T + b2) */
    float *ln2_mean, *ln2_rstd; /* [N] */
    float *out;                /* [N,C] the layer's output */
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
    size_t batch_cap;
    float *emb_sum, *emb_mean, *emb_rstd, *x0;
    LayerActs layer[BERT_MAX_LAYERS];
    float *logits, *start, *end, *scratch;
    float *head_gates, *ffn_gates; /* copies of the last gates; NULL = all ones */
    float *ones;                   /* [max(total heads, total ffn)] of 1.0 */
    Dropout drop_hidden, drop_attn;

    /* Backward scratch, sized for the last training forward. */
    size_t dmem_cap;
    float *dmem;
};

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

static void layout_weights(BertModel *m, float *mem, BertWeights *w) {
    memset(w, 0, sizeof *w);
    int i = 0;
    FOR_EACH_TENSOR(&m->cfg, spec, layer, {
        *weight_slot(w, spec, layer) = mem + m->tensors[i].offset;
        i++;
    })
}

int bert_create(const BertConfig *cfg, BertModel **out) {
    *out = NULL;
    if (bert_config_check(cfg)) return QA_ERR;
    BertModel *m = calloc(1, sizeof *m);
    if (!m) return qa_error("bert: out of memory");
    m->cfg = *cfg;
    int n = 0;
    FOR_EACH_TENSOR(cfg, spec, layer, { (void)spec; n++; })
    m->tensors = calloc((size_t)n, sizeof *m->tensors);
    if (!m->tensors) goto oom;
    size_t off = 0;
    FOR_EACH_TENSOR(cfg, spec, layer, {
        BertTensor *t = &m->tensors[m->n_tensors++];
        snprintf(t->name, sizeof t->name, spec->hf_name, layer);
        t->layer = layer;
        t->ndim = spec->d1 == D_NONE ? 1 : 2;
        t->shape[0] = dim_size(cfg, spec->d0, layer);
        t->shape[1] = t->ndim == 2 ? dim_size(cfg, spec->d1, layer) : 1;
        t->numel = (size_t)t->shape[0] * t->shape[1];
        t->offset = off;
        t->decay = spec->decay;
        off += t->numel;
    })
    m->n_params = off;
    m->params = calloc(off ? off : 1, sizeof(float));
    if (!m->params) goto oom;
    layout_weights(m, m->params, &m->w);
    *out = m;
    return QA_OK;
oom:
    bert_free(m);
    return qa_error("bert: out of memory for %zu parameters", bert_config_num_params(cfg));
}

void bert_free(BertModel *m) {
    if (!m) return;
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->acts);
    free(m->ids);
    free(m->dmem);
    free(m);
}

const BertConfig *bert_config(const BertModel *m) { return &m->cfg; }

void bert_set_dropout(BertModel *m, float hidden, float attention) {
    assert(hidden >= 0.f && hidden < 1.f && attention >= 0.f && attention < 1.f);
    m->cfg.hidden_dropout = hidden;
    m->cfg.attention_dropout = attention;
}
float *bert_params(BertModel *m) { return m->params; }
size_t bert_num_params(const BertModel *m) { return m->n_params; }
const BertWeights *bert_weights(const BertModel *m) { return &m->w; }
int bert_num_tensors(const BertModel *m) { return m->n_tensors; }
const BertTensor *bert_tensor(const BertModel *m, int i) { return &m->tensors[i]; }
float *bert_grads(BertModel *m) { return m->grads; }
const BertWeights *bert_grad_weights(const BertModel *m) { return m->grads ? &m->g : NULL; }

const BertTensor *bert_find_tensor(const BertModel *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

void bert_init_random(BertModel *m, uint64_t seed, float std) {
    Rng r;
    rng_seed(&r, seed);
    int i = 0;
    FOR_EACH_TENSOR(&m->cfg, spec, layer, {
        const BertTensor *t = &m->tensors[i++];
        float *p = m->params + t->offset;
        for (size_t k = 0; k < t->numel; k++)
            p[k] = spec->init == INIT_NORMAL ? (float)(std * rng_normal(&r))
                   : spec->init == INIT_ONE  ? 1.f
                                             : 0.f;
    })
}

void bert_init_xavier(BertModel *m, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    int i = 0;
    FOR_EACH_TENSOR(&m->cfg, spec, layer, {
        const BertTensor *t = &m->tensors[i++];
        float *p = m->params + t->offset;
        int linear = spec->init == INIT_NORMAL && spec->group != G_EMBED;
        double a = linear ? sqrt(6.0 / (t->shape[0] + t->shape[1])) : 0.0;
        for (size_t k = 0; k < t->numel; k++)
            p[k] = linear                        ? (float)(a * (2.0 * rng_uniform(&r) - 1.0))
                   : spec->init == INIT_NORMAL ? (float)(0.02 * rng_normal(&r))
                   : spec->init == INIT_ONE    ? 1.f
                                               : 0.f;
    })
}

void bert_init_sinusoid_positions(BertModel *m) {
    int C = m->cfg.hidden_size, half = C / 2;
    /* sin and cos pairs have RMS 1/sqrt(2); scale the vector to RMS 0.02 per component */
    float amp = 0.02f * sqrtf(2.f);
    for (int p = 0; p < m->cfg.max_position; p++) {
        float *row = m->w.wpe + (size_t)p * C;
        for (int i = 0; i < half; i++) {
            double freq = pow(10000.0, -(double)i / half);
            row[2 * i] = amp * (float)sin(p * freq);
            row[2 * i + 1] = amp * (float)cos(p * freq);
        }
        if (C % 2) row[C - 1] = 0.f;
    }
}

static int alloc_grads(BertModel *m) {
    if (m->grads) return QA_OK;
    m->grads = calloc(m->n_params ? m->n_params : 1, sizeof(float));
    if (!m->grads) return qa_error("bert: out of memory for gradients");
    layout_weights(m, m->grads, &m->g);
    return QA_OK;
}

void bert_zero_grad(BertModel *m) {
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

/* Lays out the activations for (B, T, train) on p; see LayerActs. In inference every layer
 * shares one set sized for the widest layer, and the layer output is written over x0. */
static void plan_acts(BertModel *m, Planner *p, int B, int T, int train) {
    const BertConfig *c = &m->cfg;
    size_t N = (size_t)B * T, C = (size_t)c->hidden_size;
    m->emb_sum = take(p, N * C);
    m->emb_mean = take(p, N);
    m->emb_rstd = take(p, N);
    m->x0 = take(p, N * C);
    m->logits = take(p, 2 * N);
    m->start = take(p, N);
    m->end = take(p, N);
    m->scratch = take(p, 2 * (size_t)T * T);
    int total_heads = bert_total_heads(c), total_ffn = bert_total_ffn(c);
    m->head_gates = take(p, (size_t)total_heads);
    m->ffn_gates = take(p, (size_t)total_ffn);
    m->ones = take(p, (size_t)(total_heads > total_ffn ? total_heads : total_ffn));
    int maxA = 0, maxNH = 0, maxF = 0;
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        if (s.A > maxA) maxA = s.A;
        if (s.NH > maxNH) maxNH = s.NH;
        if (s.F > maxF) maxF = s.F;
    }
    for (int l = 0; l < c->num_layers; l++) {
        LayerActs *la = &m->layer[l];
        if (!train && l > 0) {
            *la = m->layer[0];
            continue;
        }
        BertSlice s = bert_slice(c, l);
        size_t A = (size_t)(train ? s.A : maxA), NH = (size_t)(train ? s.NH : maxNH);
        size_t F = (size_t)(train ? s.F : maxF);
        la->qkv = take(p, N * 3 * A);
        la->probs = take(p, (size_t)B * NH * T * T);
        la->ctx = take(p, N * A);
        la->ctxg = train ? take(p, N * A) : la->ctx;
        la->attn_res = take(p, N * C);
        la->ln1_mean = train ? take(p, N) : NULL;
        la->ln1_rstd = train ? take(p, N) : NULL;
        la->a = take(p, N * C);
        la->h = take(p, N * F);
        la->hg = train ? take(p, N * F) : la->h;
        la->ffn_res = take(p, N * C);
        la->ln2_mean = train ? take(p, N) : NULL;
        la->ln2_rstd = train ? take(p, N) : NULL;
        la->out = train ? take(p, N * C) : m->x0;
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
        m->ids = malloc(3 * n * sizeof(int32_t));
        m->batch_cap = m->ids ? n : 0;
        if (!m->ids) return qa_error("bert: out of memory for a batch of %zu tokens", n);
    }
    m->types = m->ids + n;
    m->mask = m->ids + 2 * n;
    p = (Planner){.base = m->acts};
    plan_acts(m, &p, B, T, train);
    m->B = B;
    m->T = T;
    m->train = train;
    return QA_OK;
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
        if (b->types[i] < 0 || b->types[i] >= c->type_vocab_size)
            return qa_error("batch: token type %d at [%ld,%ld] outside [0, %d)", b->types[i],
                            i / b->T, i % b->T, c->type_vocab_size);
    }
    return QA_OK;
}

static void add_inplace(float *y, const float *x, long n) {
#pragma omp parallel for schedule(static) if (n >= 32768)
    for (long i = 0; i < n; i++) y[i] += x[i];
}

enum { SITE_EMB = 1, SITE_ATTN = 0, SITE_ATTN_OUT = 1, SITE_FFN_OUT = 2 };
static uint64_t site(int layer, int k) { return (uint64_t)(layer + 1) * 4 + (uint64_t)k; }

int bert_forward(BertModel *m, const BertBatch *bt, const BertGates *gates, int train,
                 uint64_t seed) {
    const BertConfig *c = &m->cfg;
    if (check_batch(m, bt) || reserve_acts(m, bt->B, bt->T, train)) return QA_ERR;
    int B = bt->B, T = bt->T, N = B * T, C = c->hidden_size;
    memcpy(m->ids, bt->ids, sizeof(int32_t) * N);
    memcpy(m->types, bt->types, sizeof(int32_t) * N);
    memcpy(m->mask, bt->mask, sizeof(int32_t) * N);
    int nh = bert_total_heads(c), nf = bert_total_ffn(c);
    for (int i = 0; i < (nh > nf ? nh : nf); i++) m->ones[i] = 1.f;
    const float *hgate = NULL, *fgate = NULL;
    if (gates && gates->head) hgate = memcpy(m->head_gates, gates->head, sizeof(float) * nh);
    if (gates && gates->ffn) fgate = memcpy(m->ffn_gates, gates->ffn, sizeof(float) * nf);
    if (!hgate) m->head_gates = NULL;
    if (!fgate) m->ffn_gates = NULL;
    m->drop_hidden = (Dropout){train ? c->hidden_dropout : 0.f, seed};
    m->drop_attn = (Dropout){train ? c->attention_dropout : 0.f, seed ^ 0x5bd1e995u};

    embed_forward(m->emb_sum, m->ids, m->types, m->w.wte, m->w.wpe, m->w.wtt, B, T, C,
                  c->position_offset);
    layernorm_forward(m->x0, m->emb_mean, m->emb_rstd, m->emb_sum, m->w.lnew, m->w.lneb, N, C,
                      c->layer_norm_eps);
    dropout_apply(m->x0, (long)N * C, &m->drop_hidden, SITE_EMB);
    const float *x = m->x0;
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        LayerActs *la = &m->layer[l];
        const BertLayerWeights *lw = &m->w.layer[l];
        matmul_forward(la->qkv, x, lw->qw, lw->qb, N, C, 3 * s.A);
        attention_forward(la->ctx, la->probs, la->qkv, m->mask, B, T, s.NH, s.HS,
                          &m->drop_attn, site(l, SITE_ATTN), m->scratch);
        const float *ctxg = la->ctx;
        if (hgate && s.NH) {
            headgate_forward(la->ctxg, la->ctx, hgate + s.head_off, N, s.NH, s.HS);
            ctxg = la->ctxg;
        }
        matmul_forward(la->attn_res, ctxg, lw->ow, lw->ob, N, s.A, C);
        dropout_apply(la->attn_res, (long)N * C, &m->drop_hidden, site(l, SITE_ATTN_OUT));
        add_inplace(la->attn_res, x, (long)N * C);
        layernorm_forward(la->a, la->ln1_mean, la->ln1_rstd, la->attn_res, lw->ln1w, lw->ln1b,
                          N, C, c->layer_norm_eps);
        matmul_forward(la->h, la->a, lw->f1w, lw->f1b, N, C, s.F);
        gelu_gate_forward(la->hg, la->h, fgate ? fgate + s.ffn_off : NULL, N, s.F);
        matmul_forward(la->ffn_res, la->hg, lw->f2w, lw->f2b, N, s.F, C);
        dropout_apply(la->ffn_res, (long)N * C, &m->drop_hidden, site(l, SITE_FFN_OUT));
        add_inplace(la->ffn_res, la->a, (long)N * C);
        layernorm_forward(la->out, la->ln2_mean, la->ln2_rstd, la->ffn_res, lw->ln2w, lw->ln2b,
                          N, C, c->layer_norm_eps);
        x = la->out;
    }
    matmul_forward(m->logits, x, m->w.qaw, m->w.qab, N, C, 2);
    for (int n = 0; n < N; n++) {
        m->start[n] = m->logits[2 * n];
        m->end[n] = m->logits[2 * n + 1];
    }
    return QA_OK;
}

const float *bert_start_logits(const BertModel *m) { return m->start; }
const float *bert_end_logits(const BertModel *m) { return m->end; }

/* Backward scratch for the last forward's (B, T): activation gradients of one layer. */
typedef struct {
    float *dx, *dres, *da; /* [N,C] */
    float *dqkv;           /* [N,3A] */
    float *dctxg, *dctx;   /* [N,A] */
    float *dhg, *dh;       /* [N,F] */
    float *dlogits;        /* [N,2] */
} Grads;

static void plan_grads(const BertModel *m, Planner *p, Grads *d) {
    const BertConfig *c = &m->cfg;
    size_t N = (size_t)m->B * m->T, C = (size_t)c->hidden_size, A = 0, F = 0;
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
}

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

int bert_backward(BertModel *m, const float *dstart, const float *dend, float *dhead_gates,
                  float *dffn_gates, int param_grads) {
    assert(m->train && "bert_backward needs a training forward first");
    const BertConfig *c = &m->cfg;
    if (alloc_grads(m)) return QA_ERR;
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
    int B = m->B, T = m->T, N = B * T, C = c->hidden_size;
    size_t NC = (size_t)N * C;
    BertWeights *g = &m->g;
    int pg = param_grads;

    for (int n = 0; n < N; n++) {
        d.dlogits[2 * n] = dstart[n];
        d.dlogits[2 * n + 1] = dend[n];
    }
    const float *x_last = c->num_layers ? m->layer[c->num_layers - 1].out : m->x0;
    zero(d.dx, NC);
    matmul_backward(d.dx, pg ? g->qaw : NULL, pg ? g->qab : NULL, d.dlogits, x_last, m->w.qaw,
                    N, C, 2);
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
        /* ffn_res = a + dropout(hg W2^T + b2) */
        memcpy(d.da, d.dres, NC * sizeof(float));
        dropout_apply(d.dres, (long)NC, &m->drop_hidden, site(l, SITE_FFN_OUT));
        zero(d.dhg, (size_t)N * s.F);
        matmul_backward(d.dhg, pg ? gw->f2w : NULL, pg ? gw->f2b : NULL, d.dres, la->hg,
                        lw->f2w, N, s.F, C);
        /* hg = gelu(h) * gate;  h = a W1^T + b1 */
        zero(d.dh, (size_t)N * s.F);
        gelu_gate_backward(d.dh, dffn_gates ? dffn_gates + s.ffn_off : NULL, d.dhg, la->h, fgate,
                           N, s.F);
        matmul_backward(d.da, pg ? gw->f1w : NULL, pg ? gw->f1b : NULL, d.dh, la->a, lw->f1w, N,
                        C, s.F);
        /* a = LN1(attn_res) */
        zero(d.dres, NC);
        layernorm_backward(d.dres, pg ? gw->ln1w : NULL, pg ? gw->ln1b : NULL, d.da,
                           la->attn_res, la->ln1_mean, la->ln1_rstd, lw->ln1w, N, C);
        /* attn_res = x + dropout(ctxg Wo^T + bo) */
        memcpy(d.dx, d.dres, NC * sizeof(float));
        dropout_apply(d.dres, (long)NC, &m->drop_hidden, site(l, SITE_ATTN_OUT));
        const float *ctxg = m->head_gates && s.NH ? la->ctxg : la->ctx;
        zero(d.dctxg, (size_t)N * s.A);
        matmul_backward(d.dctxg, pg ? gw->ow : NULL, pg ? gw->ob : NULL, d.dres, ctxg, lw->ow,
                        N, s.A, C);
        /* ctxg = ctx * gate[head] */
        zero(d.dctx, (size_t)N * s.A);
        headgate_backward(d.dctx, dhead_gates ? dhead_gates + s.head_off : NULL, d.dctxg,
                          la->ctx, hgate, N, s.NH, s.HS);
        /* ctx = attention(qkv);  qkv = x Wqkv^T + bqkv */
        zero(d.dqkv, (size_t)N * 3 * s.A);
        attention_backward(d.dqkv, d.dctx, la->probs, la->qkv, m->mask, B, T, s.NH, s.HS,
                           &m->drop_attn, site(l, SITE_ATTN), m->scratch);
        matmul_backward(d.dx, pg ? gw->qw : NULL, pg ? gw->qb : NULL, d.dqkv, x_in, lw->qw, N,
                        C, 3 * s.A);
    }
    /* x0 = dropout(LN(emb_sum)) */
    dropout_apply(d.dx, (long)NC, &m->drop_hidden, SITE_EMB);
    if (pg) {
        zero(d.dres, NC);
        layernorm_backward(d.dres, g->lnew, g->lneb, d.dx, m->emb_sum, m->emb_mean, m->emb_rstd,
                           m->w.lnew, N, C);
        embed_backward(g->wte, g->wpe, g->wtt, d.dres, m->ids, m->types, B, T, C,
                       c->position_offset);
    }
    return QA_OK;
}

/* ---------------------------------------------------------------- pruning */

/* The kept indices along a dimension of a tensor of layer l: rows of kept heads (D_A),
 * kept neurons (D_F), or NULL for "all" (dimensions pruning does not touch). */
static const int *kept_index(Dim d, const int *head_rows, const int *neurons) {
    return d == D_A ? head_rows : d == D_F ? neurons : NULL;
}

int bert_prune(const BertModel *m, const uint8_t *keep_heads, const uint8_t *keep_ffn,
               BertModel **out) {
    const BertConfig *c = &m->cfg;
    BertConfig nc = *c;
    int HS = bert_head_size(c);
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        nc.heads[l] = nc.ffn[l] = 0;
        for (int h = 0; h < s.NH; h++)
            if (keep_heads[s.head_off + h]) nc.head_ids[l][nc.heads[l]++] = c->head_ids[l][h];
        for (int f = 0; f < s.F; f++) nc.ffn[l] += keep_ffn[s.ffn_off + f] != 0;
    }
    if (bert_create(&nc, out)) return QA_ERR;
    BertModel *p = *out;
    int maxA = c->num_heads * HS, maxF = 0;
    for (int l = 0; l < c->num_layers; l++)
        if (c->ffn[l] > maxF) maxF = c->ffn[l];
    int *rows = malloc(sizeof(int) * (size_t)(maxA + maxF + 1)), *neurons = rows + maxA;
    if (!rows) {
        bert_free(p);
        *out = NULL;
        return qa_error("bert: out of memory while pruning");
    }
    int i = 0, cur_layer = -2;
    FOR_EACH_TENSOR(c, spec, layer, {
        if (layer != cur_layer && layer >= 0) {
            BertSlice s = bert_slice(c, layer);
            int nr = 0, nn = 0;
            for (int h = 0; h < s.NH; h++)
                if (keep_heads[s.head_off + h])
                    for (int k = 0; k < HS; k++) rows[nr++] = h * HS + k;
            for (int f = 0; f < s.F; f++)
                if (keep_ffn[s.ffn_off + f]) neurons[nn++] = f;
            cur_layer = layer;
        }
        const BertTensor *src = &m->tensors[i], *dst = &p->tensors[i];
        const int *r_idx = kept_index(spec->d0, rows, neurons);
        const int *c_idx = kept_index(spec->d1, rows, neurons);
        const float *sp = m->params + src->offset;
        float *dp = p->params + dst->offset;
        for (int r = 0; r < dst->shape[0]; r++) {
            const float *srow = sp + (size_t)(r_idx ? r_idx[r] : r) * src->shape[1];
            float *drow = dp + (size_t)r * dst->shape[1];
            for (int k = 0; k < dst->shape[1]; k++) drow[k] = srow[c_idx ? c_idx[k] : k];
        }
        i++;
    })
    free(rows);
    return QA_OK;
}
