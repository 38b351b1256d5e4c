/* core/model/bert.c: the model's families, parameter table, configuration, layout,
 * initialisation and pruning. Activations, forward and backward are in bert_run.c, kernels in
 * ops.c; the shapes are in bert.h and ops.h. */
#include "core/model/bert.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/bert_impl.h"
#include "core/util/error.h"
#include "core/util/rng.h"

/* ---------------------------------------------------------------- families */

static const BertFamilyInfo FAMILIES[BERT_N_FAMILIES] = {
    {BERT_FAMILY_BERT, "bert", "BertForQuestionAnswering", "bert.", 0, 1},
    {BERT_FAMILY_ROBERTA, "roberta", "RobertaForQuestionAnswering", "roberta.", 0, 1},
    /* DistilBERT's MultiHeadSelfAttention ends at out_lin: no dropout before sa_layer_norm */
    {BERT_FAMILY_DISTILBERT, "distilbert", "DistilBertForQuestionAnswering", "distilbert.", 1,
     0},
    {BERT_FAMILY_ELECTRA, "electra", "ElectraForQuestionAnswering", "electra.", 0, 1},
};

const BertFamilyInfo *bert_family(BertFamily f) {
    assert(f >= 0 && f < BERT_N_FAMILIES);
    return &FAMILIES[f];
}

const BertFamilyInfo *bert_family_find(const char *model_type) {
    for (int f = 0; f < BERT_N_FAMILIES; f++)
        if (!strcmp(FAMILIES[f].model_type, model_type)) return &FAMILIES[f];
    return NULL;
}

const char *bert_family_list(void) { return "\"bert\", \"roberta\", \"distilbert\", \"electra\""; }

/* ---------------------------------------------------------------- the parameter table */

typedef enum { D_NONE, D_TWO, D_C, D_E, D_V, D_P, D_TV, D_A, D_F, D_NT } Dim;
typedef enum { G_EMBED, G_LAYER, G_HEAD } Group;
typedef enum { INIT_EMBED, INIT_LINEAR, INIT_ZERO, INIT_ONE } Init;
/* When a tensor exists: always, with token types (TV > 0), with a projection (E != C). */
typedef enum { NEED_ALWAYS, NEED_TYPES, NEED_PROJECTION, NEED_TYPE_HEAD } Need;

typedef struct {
    Group group;
    const char *name;   /* after the family prefix; printf format with the layer for G_LAYER */
    const char *distil; /* DistilBERT's name (NULL: DistilBERT has no such tensor) */
    size_t slot;        /* offsetof the pointer in BertWeights or BertLayerWeights */
    Dim d0, d1;
    int decay;
    Init init;
    Need need;
    int positions;      /* the position table: fixed when frozen_positions */
} ParamSpec;

#define EMB(f) offsetof(BertWeights, f)
#define LAY(f) offsetof(BertLayerWeights, f)
#define BL "encoder.layer.%d."
#define DL "transformer.layer.%d."

/* The one list of parameter tensors, in memory order. Per layer the Q, K, V weights and
 * then their biases are adjacent so that QKV is one GEMM. Weight decay as Hugging Face's
 * run_squad: none for biases and LayerNorm weights. The QA head has no family prefix. */
static const ParamSpec PARAMS[] = {
    {G_EMBED, "embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight",
     EMB(wte), D_V, D_E, 1, INIT_EMBED, NEED_ALWAYS, 0},
    {G_EMBED, "embeddings.position_embeddings.weight", "embeddings.position_embeddings.weight",
     EMB(wpe), D_P, D_E, 1, INIT_EMBED, NEED_ALWAYS, 1},
    {G_EMBED, "embeddings.token_type_embeddings.weight", NULL, EMB(wtt), D_TV, D_E, 1,
     INIT_EMBED, NEED_TYPES, 0},
    {G_EMBED, "embeddings.LayerNorm.weight", "embeddings.LayerNorm.weight", EMB(lnew), D_E,
     D_NONE, 0, INIT_ONE, NEED_ALWAYS, 0},
    {G_EMBED, "embeddings.LayerNorm.bias", "embeddings.LayerNorm.bias", EMB(lneb), D_E, D_NONE,
     0, INIT_ZERO, NEED_ALWAYS, 0},
    {G_EMBED, "embeddings_project.weight", NULL, EMB(projw), D_C, D_E, 1, INIT_LINEAR,
     NEED_PROJECTION, 0},
    {G_EMBED, "embeddings_project.bias", NULL, EMB(projb), D_C, D_NONE, 0, INIT_ZERO,
     NEED_PROJECTION, 0},
    {G_LAYER, BL "attention.self.query.weight", DL "attention.q_lin.weight", LAY(qw), D_A, D_C,
     1, INIT_LINEAR, NEED_ALWAYS, 0},
    {G_LAYER, BL "attention.self.key.weight", DL "attention.k_lin.weight", LAY(kw), D_A, D_C, 1,
     INIT_LINEAR, NEED_ALWAYS, 0},
    {G_LAYER, BL "attention.self.value.weight", DL "attention.v_lin.weight", LAY(vw), D_A, D_C,
     1, INIT_LINEAR, NEED_ALWAYS, 0},
    {G_LAYER, BL "attention.self.query.bias", DL "attention.q_lin.bias", LAY(qb), D_A, D_NONE,
     0, INIT_ZERO, NEED_ALWAYS, 0},
    {G_LAYER, BL "attention.self.key.bias", DL "attention.k_lin.bias", LAY(kb), D_A, D_NONE, 0,
     INIT_ZERO, NEED_ALWAYS, 0},
    {G_LAYER, BL "attention.self.value.bias", DL "attention.v_lin.bias", LAY(vb), D_A, D_NONE,
     0, INIT_ZERO, NEED_ALWAYS, 0},
    {G_LAYER, BL "attention.output.dense.weight", DL "attention.out_lin.weight", LAY(ow), D_C,
     D_A, 1, INIT_LINEAR, NEED_ALWAYS, 0},
    {G_LAYER, BL "attention.output.dense.bias", DL "attention.out_lin.bias", LAY(ob), D_C,
     D_NONE, 0, INIT_ZERO, NEED_ALWAYS, 0},
    {G_LAYER, BL "attention.output.LayerNorm.weight", DL "sa_layer_norm.weight", LAY(ln1w), D_C,
     D_NONE, 0, INIT_ONE, NEED_ALWAYS, 0},
    {G_LAYER, BL "attention.output.LayerNorm.bias", DL "sa_layer_norm.bias", LAY(ln1b), D_C,
     D_NONE, 0, INIT_ZERO, NEED_ALWAYS, 0},
    {G_LAYER, BL "intermediate.dense.weight", DL "ffn.lin1.weight", LAY(f1w), D_F, D_C, 1,
     INIT_LINEAR, NEED_ALWAYS, 0},
    {G_LAYER, BL "intermediate.dense.bias", DL "ffn.lin1.bias", LAY(f1b), D_F, D_NONE, 0,
     INIT_ZERO, NEED_ALWAYS, 0},
    {G_LAYER, BL "output.dense.weight", DL "ffn.lin2.weight", LAY(f2w), D_C, D_F, 1,
     INIT_LINEAR, NEED_ALWAYS, 0},
    {G_LAYER, BL "output.dense.bias", DL "ffn.lin2.bias", LAY(f2b), D_C, D_NONE, 0, INIT_ZERO,
     NEED_ALWAYS, 0},
    {G_LAYER, BL "output.LayerNorm.weight", DL "output_layer_norm.weight", LAY(ln2w), D_C,
     D_NONE, 0, INIT_ONE, NEED_ALWAYS, 0},
    {G_LAYER, BL "output.LayerNorm.bias", DL "output_layer_norm.bias", LAY(ln2b), D_C, D_NONE,
     0, INIT_ZERO, NEED_ALWAYS, 0},
    {G_HEAD, "qa_outputs.weight", "qa_outputs.weight", EMB(qaw), D_TWO, D_C, 1, INIT_LINEAR,
     NEED_ALWAYS, 0},
    {G_HEAD, "qa_outputs.bias", "qa_outputs.bias", EMB(qab), D_TWO, D_NONE, 0, INIT_ZERO,
     NEED_ALWAYS, 0},
    /* the answer-type head (Natural Questions, BERT-joint): only with num_answer_types > 0 */
    {G_HEAD, "answer_type_outputs.weight", "answer_type_outputs.weight", EMB(typew), D_NT, D_C,
     1, INIT_LINEAR, NEED_TYPE_HEAD, 0},
    {G_HEAD, "answer_type_outputs.bias", "answer_type_outputs.bias", EMB(typeb), D_NT, D_NONE, 0,
     INIT_ZERO, NEED_TYPE_HEAD, 0},
};
#define N_SPECS ((int)(sizeof PARAMS / sizeof PARAMS[0]))

static int dim_size(const BertConfig *c, Dim d, int layer) {
    switch (d) {
    case D_NONE: return 1;
    case D_TWO: return 2;
    case D_C: return c->hidden_size;
    case D_E: return bert_embedding_size(c);
    case D_V: return c->vocab_size;
    case D_P: return c->max_position;
    case D_TV: return c->type_vocab_size;
    case D_A: return c->heads[layer] * bert_head_size(c);
    case D_F: return c->ffn[layer];
    case D_NT: return c->num_answer_types;
    }
    return 0;
}

static int spec_present(const BertConfig *c, const ParamSpec *spec) {
    switch (spec->need) {
    case NEED_ALWAYS: return 1;
    case NEED_TYPES: return c->type_vocab_size > 0;
    case NEED_PROJECTION: return bert_embedding_size(c) != c->hidden_size;
    case NEED_TYPE_HEAD: return c->num_answer_types > 0;
    }
    return 0;
}

static int spec_trainable(const BertConfig *c, const ParamSpec *spec) {
    return !(spec->positions && c->frozen_positions);
}

/* Writes the tensor's Hugging Face name for the config's family into t->name. */
static void spec_name(const BertConfig *c, const ParamSpec *spec, int layer, BertTensor *t) {
    const BertFamilyInfo *fi = bert_family(c->family);
    const char *fmt = fi->distil_names ? spec->distil : spec->name;
    const char *prefix = spec->group == G_HEAD ? "" : fi->prefix;
    assert(fmt && "bert_config_check admits no tensor the family lacks");
    int k = snprintf(t->name, sizeof t->name, "%s", prefix);
    snprintf(t->name + k, sizeof t->name - (size_t)k, fmt, layer);
    t->prefix_len = k;
}

/* Runs the body for every tensor the config has, in memory order, with its spec and layer
 * (-1 outside the encoder layers). */
#define FOR_EACH_TENSOR(cfg, spec, layer, ...)                                         \
    for (int g_ = G_EMBED; g_ <= G_HEAD; g_++)                                          \
        for (int layer = (g_ == G_LAYER ? 0 : -1);                                      \
             layer < (g_ == G_LAYER ? (cfg)->num_layers : 0); layer++)                 \
            for (int s_ = 0; s_ < N_SPECS; s_++)                                        \
                if (PARAMS[s_].group == (Group)g_ && spec_present((cfg), &PARAMS[s_])) { \
                    const ParamSpec *spec = &PARAMS[s_];                                \
                    __VA_ARGS__                                                         \
                }

static float **weight_slot(BertWeights *w, const ParamSpec *spec, int layer) {
    char *base = spec->group == G_LAYER ? (char *)&w->layer[layer] : (char *)w;
    return (float **)(base + spec->slot);
}

void bert_ffn_weight_name(const BertConfig *c, int layer, char *buf, size_t n) {
    BertTensor t = {.name = ""};
    for (int s = 0; s < N_SPECS; s++)
        if (PARAMS[s].group == G_LAYER && PARAMS[s].d0 == D_F && PARAMS[s].d1 == D_C) {
            spec_name(c, &PARAMS[s], layer, &t);
            break;
        }
    snprintf(buf, n, "%s", t.name);
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
    cfg->family = BERT_FAMILY_BERT;
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
    if (c->family < 0 || c->family >= BERT_N_FAMILIES)
        return qa_error("config: model family %d unknown", (int)c->family);
    const char *type = bert_family(c->family)->model_type;
    int distil = c->family == BERT_FAMILY_DISTILBERT;
    if (distil ? c->type_vocab_size != 0 : c->type_vocab_size < 1)
        return qa_error("config: type_vocab_size %d must be %s for model_type \"%s\"",
                        c->type_vocab_size, distil ? "0 (no token types)" : ">= 1", type);
    if (c->embedding_size < 0 ||
        (bert_embedding_size(c) != c->hidden_size && c->family != BERT_FAMILY_ELECTRA))
        return qa_error("config: embedding_size %d differs from hidden_size %d, which only "
                        "model_type \"electra\" supports (\"%s\" here)", c->embedding_size,
                        c->hidden_size, type);
    if (!distil && (c->frozen_positions || c->qa_dropout != 0.f))
        return qa_error("config: fixed sinusoidal positions and qa_dropout exist only for "
                        "model_type \"distilbert\" (\"%s\" here)", type);
    if (!(c->qa_dropout >= 0.f && c->qa_dropout < 1.f))
        return qa_error("config: qa_dropout %g outside [0, 1)", c->qa_dropout);
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
    if (c->num_answer_types < 0 || c->num_answer_types > 64)
        return qa_error("config: num_answer_types %d must be in [0, 64]", c->num_answer_types);
    if (c->position_offset < 0 || c->position_offset >= c->max_position)
        return qa_error("config: position offset %d outside [0, %d)", c->position_offset,
                        c->max_position);
    if ((c->family == BERT_FAMILY_ROBERTA) != (c->position_offset > 0))
        return qa_error("config: position offset %d with model_type \"%s\" (only \"roberta\" "
                        "starts positions after padding_idx, at >= 1)", c->position_offset, type);
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

int bert_embedding_size(const BertConfig *c) {
    return c->embedding_size ? c->embedding_size : c->hidden_size;
}

int bert_check_seq_len(const BertConfig *c, int max_seq_len, const char *who) {
    if (max_seq_len + c->position_offset <= c->max_position) return QA_OK;
    return qa_error("%s: max_seq_len %d is too long for this model: max_position_embeddings %d "
                    "allows at most %d tokens per window", who, max_seq_len, c->max_position,
                    c->max_position - c->position_offset);
}

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
    double N = (double)B * T, C = c->hidden_size, E = bert_embedding_size(c), f = 4.0 * N * C;
    if (E != C) f += 2.0 * N * E * C;
    f += 2.0 * B * C * c->num_answer_types;
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        f += 2.0 * N * C * 3 * s.A + 2.0 * N * s.A * C + 4.0 * N * C * s.F +
             4.0 * B * s.NH * (double)T * T * s.HS;
    }
    return f;
}

/* ---------------------------------------------------------------- the model */

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
        spec_name(cfg, spec, layer, t);
        t->layer = layer;
        t->ndim = spec->d1 == D_NONE ? 1 : 2;
        t->shape[0] = dim_size(cfg, spec->d0, layer);
        t->shape[1] = t->ndim == 2 ? dim_size(cfg, spec->d1, layer) : 1;
        t->numel = (size_t)t->shape[0] * t->shape[1];
        t->offset = off;
        t->trainable = spec_trainable(cfg, spec);
        t->decay = spec->decay && t->trainable;
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
    free(m->params_bf16);
    free(m);
}

const BertConfig *bert_config(const BertModel *m) { return &m->cfg; }

void bert_set_dropout(BertModel *m, float hidden, float attention) {
    assert(hidden >= 0.f && hidden < 1.f && attention >= 0.f && attention < 1.f);
    m->cfg.hidden_dropout = hidden;
    m->cfg.attention_dropout = attention;
}
float *bert_params(BertModel *m) {
    m->bf16_stale = 1; /* the caller may write through the pointer */
    return m->params;
}

/* Allocates or frees the bf16 copy of the weights for the two precisions. */
static int set_precisions(BertModel *m, BertPrecision eval, BertPrecision train) {
    int want = eval == BERT_BF16 || train == BERT_BF16;
    if (want && !m->params_bf16) {
        m->params_bf16 = malloc((m->n_params ? m->n_params : 1) * sizeof(bf16));
        if (!m->params_bf16)
            return qa_error("bert: out of memory for the bf16 copy of %zu parameters",
                            m->n_params);
    }
    if (!want) {
        free(m->params_bf16);
        m->params_bf16 = NULL;
    }
    m->precision = eval;
    m->train_precision = train;
    m->bf16_stale = 1;
    return QA_OK;
}

int bert_set_precision(BertModel *m, BertPrecision p) {
    return set_precisions(m, p, m->train_precision);
}

BertPrecision bert_precision(const BertModel *m) { return m->precision; }

int bert_set_train_precision(BertModel *m, BertPrecision p) {
    return set_precisions(m, m->precision, p);
}

BertPrecision bert_train_precision(const BertModel *m) { return m->train_precision; }

int bert_precision_parse(const char *name, BertPrecision *out) {
    if (strcmp(name, "fp32") && strcmp(name, "bf16")) return -1;
    *out = strcmp(name, "fp32") ? BERT_BF16 : BERT_FP32;
    return 0;
}

const char *bert_precision_name(BertPrecision p) { return p == BERT_BF16 ? "bf16" : "fp32"; }
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
        int normal = spec->init == INIT_EMBED || spec->init == INIT_LINEAR;
        for (size_t k = 0; k < t->numel; k++)
            p[k] = normal                    ? (float)(std * rng_normal(&r))
                   : spec->init == INIT_ONE ? 1.f
                                            : 0.f;
    })
    if (m->cfg.frozen_positions) bert_set_fixed_positions(m);
}

void bert_init_xavier(BertModel *m, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    int i = 0;
    FOR_EACH_TENSOR(&m->cfg, spec, layer, {
        const BertTensor *t = &m->tensors[i++];
        float *p = m->params + t->offset;
        int linear = spec->init == INIT_LINEAR;
        double a = linear ? sqrt(6.0 / (t->shape[0] + t->shape[1])) : 0.0;
        for (size_t k = 0; k < t->numel; k++)
            p[k] = linear                       ? (float)(a * (2.0 * rng_uniform(&r) - 1.0))
                   : spec->init == INIT_EMBED ? (float)(0.02 * rng_normal(&r))
                   : spec->init == INIT_ONE   ? 1.f
                                              : 0.f;
    })
    if (m->cfg.frozen_positions) bert_set_fixed_positions(m);
}

void bert_init_sinusoid_positions(BertModel *m) {
    int E = bert_embedding_size(&m->cfg), half = E / 2;
    /* sin and cos pairs have RMS 1/sqrt(2); scale the vector to RMS 0.02 per component */
    float amp = 0.02f * sqrtf(2.f);
    for (int p = 0; p < m->cfg.max_position; p++) {
        float *row = m->w.wpe + (size_t)p * E;
        for (int i = 0; i < half; i++) {
            double freq = pow(10000.0, -(double)i / half);
            row[2 * i] = amp * (float)sin(p * freq);
            row[2 * i + 1] = amp * (float)cos(p * freq);
        }
        if (E % 2) row[E - 1] = 0.f;
    }
}

/* DistilBERT's create_sinusoidal_embeddings, computed in double as it does with numpy. */
void bert_set_fixed_positions(BertModel *m) {
    int E = bert_embedding_size(&m->cfg);
    for (int p = 0; p < m->cfg.max_position; p++)
        for (int j = 0; j < E; j++) {
            double angle = p / pow(10000.0, 2.0 * (j / 2) / E);
            m->w.wpe[(size_t)p * E + j] = (float)(j % 2 ? cos(angle) : sin(angle));
        }
}

int bert_alloc_grads(BertModel *m) {
    if (m->grads) return QA_OK;
    m->grads = calloc(m->n_params ? m->n_params : 1, sizeof(float));
    if (!m->grads) return qa_error("bert: out of memory for gradients");
    layout_weights(m, m->grads, &m->g);
    return QA_OK;
}

void bert_zero_grad(BertModel *m) {
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
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
