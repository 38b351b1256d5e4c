/* core/export/onnx.c: the transformer as ONNX nodes (see onnx.h for what the graph computes).
 *
 * Reads top-down: the model families (the one place a family states how it differs), the
 * naming and node helpers, the weights, then the graph stage by stage (inputs, mask,
 * embeddings, layers, QA head) and the export entry point. Shape letters as in
 * core/model/ops.h. */
#include "core/export/onnx.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/export/onnx_graph.h"
#include "core/util/error.h"

/* ---------------------------------------------------------------- families */

/* What a family changes is in the model already: tensor names (its table), the embedding
 * width E and ELECTRA's embeddings_project, the position offset, the token types. Only the
 * graph's input signature is the exporter's: the families whose Hugging Face models take
 * token_type_ids (RoBERTa's single type is added as a constant row; DistilBERT has none). */
static int takes_token_types(const BertConfig *c) {
    return (c->family == BERT_FAMILY_BERT || c->family == BERT_FAMILY_ELECTRA) &&
           c->type_vocab_size > 0;
}

/* ---------------------------------------------------------------- names and nodes */

typedef struct {
    OnnxGraph *g;
    const BertConfig *cfg;
    const BertModel *m;
    const float *params; /* the model's flat parameters, to name tensors by their table */
    const BertWeights *w;
    int token_types;     /* the graph has the token_type_ids input */
    const OnnxExportOpts *opts;
    char **names; /* every name handed out, freed with the context */
    size_t n_names, cap_names;
    int oom, nodes, inits;
    size_t weight_bytes;
} Ctx;

/* A name built from fmt, owned by the context (NULL-safe: "" after out of memory, and the
 * context remembers the failure). */
static const char *name(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *name(Ctx *c, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (c->n_names == c->cap_names) {
        size_t cap = c->cap_names ? 2 * c->cap_names : 256;
        char **nv = realloc(c->names, cap * sizeof *nv);
        if (!nv) {
            c->oom = 1;
            return "";
        }
        c->names = nv;
        c->cap_names = cap;
    }
    char *s = strdup(buf);
    if (!s) {
        c->oom = 1;
        return "";
    }
    return c->names[c->n_names++] = s;
}

/* The Hugging Face name of the parameter tensor that starts at p (from the model's table),
 * with suffix appended (".T": stored transposed for MatMul). */
static const char *tn(Ctx *c, const float *p, const char *suffix) {
    for (int i = 0; i < bert_num_tensors(c->m); i++) {
        const BertTensor *t = bert_tensor(c->m, i);
        if (t->numel && c->params + t->offset == p) return name(c, "%s%s", t->name, suffix);
    }
    return name(c, "param_%td%s", p - c->params, suffix);
}

/* The fused Q, K, V weight's name: the query weight's with "query" (or DistilBERT's "q_lin")
 * as "qkv" ("bert.encoder.layer.0.attention.self.qkv.weight.T"). */
static const char *qkv_name(Ctx *c, const float *q, const char *suffix) {
    const char *full = tn(c, q, suffix), *at = strstr(full, "query");
    size_t skip = 5;
    if (!at) at = strstr(full, "q_lin"), skip = 1;
    if (!at) return name(c, "%s.qkv", full);
    return name(c, "%.*sqkv%s", (int)(at - full), full, at + skip);
}

/* A node named after its (first) output. */
static OnnxNode *node(Ctx *c, const char *op, int n_in, const char *const *in, int n_out,
                      const char *const *out) {
    c->nodes++;
    return onnx_graph_node(c->g, op, out[0], n_in, in, n_out, out);
}

/* out = op(a) / op(a, b); returns out. */
static const char *op1(Ctx *c, const char *op, const char *out, const char *a) {
    node(c, op, 1, (const char *[]){a}, 1, (const char *[]){out});
    return out;
}
static const char *op2(Ctx *c, const char *op, const char *out, const char *a, const char *b) {
    node(c, op, 2, (const char *[]){a, b}, 1, (const char *[]){out});
    return out;
}

static const char *const_i64(Ctx *c, const char *nm, int n, const int64_t *v) {
    c->inits++;
    onnx_graph_init_i64(c->g, nm, n, v);
    return nm;
}

static const char *const_f32(Ctx *c, const char *nm, float v) {
    c->inits++;
    onnx_graph_init_scalar(c->g, nm, v);
    return nm;
}

/* ---------------------------------------------------------------- weights */

/* A float initializer; returns its buffer (owned by the graph) or NULL after a failure. */
static float *weight(Ctx *c, const char *nm, int ndim, int64_t d0, int64_t d1) {
    int64_t dims[2] = {d0, d1};
    c->inits++;
    c->weight_bytes += (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1) * sizeof(float);
    return onnx_graph_init_f32(c->g, nm, ndim, dims);
}

/* A [rows, cols] table copied as it is (embeddings). */
static const char *weight_table(Ctx *c, const char *nm, const float *src, int rows, int cols) {
    float *p = weight(c, nm, 2, rows, cols);
    if (p) memcpy(p, src, (size_t)rows * (size_t)cols * sizeof(float));
    return nm;
}

static const char *weight_copy(Ctx *c, const char *nm, const float *src, int64_t n) {
    float *p = weight(c, nm, 1, n, 0);
    if (p && n) memcpy(p, src, (size_t)n * sizeof(float));
    return nm;
}

/* A linear layer's weight W [O,K] (PyTorch layout) stored as W^T [K,O] for MatMul. */
static const char *weight_t(Ctx *c, const char *nm, const float *W, int O, int K) {
    float *p = weight(c, nm, 2, K, O);
    for (long o = 0; p && o < O; o++)
        for (long k = 0; k < K; k++) p[k * O + o] = W[o * K + k];
    return nm;
}

/* ---------------------------------------------------------------- building blocks */

/* out = in . W^T + b for W [O,K] (transposed into the initializer wname), b [O]. */
static const char *linear_named(Ctx *c, const char *out, const char *in, const char *wname,
                                const float *W, const char *bname, const float *b, int O,
                                int K) {
    const char *mm = op2(c, "MatMul", name(c, "%s.matmul", out), in,
                         weight_t(c, wname, W, O, K));
    return op2(c, "Add", out, mm, weight_copy(c, bname, b, O));
}

/* linear_named with the weights' own names (the weight's with ".T"). */
static const char *linear(Ctx *c, const char *out, const char *in, const float *W,
                          const float *b, int O, int K) {
    return linear_named(c, out, in, tn(c, W, ".T"), W, tn(c, b, ""), b, O, K);
}

/* out = LayerNorm(in) * w + b over the last axis (width C), eps from the config. */
static const char *layernorm(Ctx *c, const char *out, const char *in, const float *w,
                             const float *b, int C) {
    const char *wname = tn(c, w, ""), *bname = tn(c, b, "");
    float eps = c->cfg->layer_norm_eps;
    const char *wn = weight_copy(c, wname, w, C), *bn = weight_copy(c, bname, b, C);
    if (c->opts->opset >= 17) {
        OnnxNode *n = node(c, "LayerNormalization", 3, (const char *[]){in, wn, bn}, 1,
                           (const char *[]){out});
        onnx_node_attr_int(n, "axis", -1);
        onnx_node_attr_float(n, "epsilon", eps);
        return out;
    }
    /* mean and biased variance over C, as LayerNormalization-17 defines them */
    static const int64_t last[1] = {-1};
    const char *mean = name(c, "%s.mean", out), *var = name(c, "%s.var", out);
    OnnxNode *n = node(c, "ReduceMean", 1, (const char *[]){in}, 1, (const char *[]){mean});
    onnx_node_attr_ints(n, "axes", 1, last);
    const char *d = op2(c, "Sub", name(c, "%s.centered", out), in, mean);
    const char *sq = op2(c, "Mul", name(c, "%s.squared", out), d, d);
    n = node(c, "ReduceMean", 1, (const char *[]){sq}, 1, (const char *[]){var});
    onnx_node_attr_ints(n, "axes", 1, last);
    const char *ve = op2(c, "Add", name(c, "%s.var_eps", out), var,
                         const_f32(c, name(c, "%s.eps", out), eps));
    const char *sd = op1(c, "Sqrt", name(c, "%s.std", out), ve);
    const char *xn = op2(c, "Div", name(c, "%s.normed", out), d, sd);
    return op2(c, "Add", out, op2(c, "Mul", name(c, "%s.scaled", out), xn, wn), bn);
}

/* out = gelu(in) = 0.5 in (1 + erf(in / sqrt 2)), Hugging Face's exact "gelu". */
static const char *gelu(Ctx *c, const char *out, const char *in) {
    const char *s = op2(c, "Mul", name(c, "%s.scaled", out), in, "const.inv_sqrt2");
    const char *e = op2(c, "Add", name(c, "%s.erf1", out), op1(c, "Erf", name(c, "%s.erf", out), s),
                        "const.one");
    return op2(c, "Mul", out, op2(c, "Mul", name(c, "%s.x_erf1", out), in, e), "const.half");
}

/* ---------------------------------------------------------------- the graph */

static void build_inputs(Ctx *c) {
    int64_t dims[2] = {c->opts->dynamic_batch ? -1 : c->opts->batch,
                       c->opts->dynamic_seq ? -1 : c->opts->seq};
    static const char *const dn[2] = {"batch", "sequence"};
    onnx_graph_input(c->g, "input_ids", ONNX_INT64, 2, dims, dn);
    onnx_graph_input(c->g, "attention_mask", ONNX_INT64, 2, dims, dn);
    if (c->token_types) onnx_graph_input(c->g, "token_type_ids", ONNX_INT64, 2, dims, dn);
    onnx_graph_output(c->g, "start_logits", ONNX_FLOAT, 2, dims, dn);
    onnx_graph_output(c->g, "end_logits", ONNX_FLOAT, 2, dims, dn);
}

/* The constants shared by the layers (only those some layer uses: a runtime warns about
 * unused initializers), and the additive attention mask [B,1,1,T]: 0 for tokens, the float
 * minimum for padding (Hugging Face's (1 - mask) * finfo.min). Returns the mask's name, or
 * NULL when no layer has heads (the mask is then unused as well). */
static const char *build_constants_and_mask(Ctx *c) {
    int heads = bert_total_heads(c->cfg) > 0, ffn = bert_total_ffn(c->cfg) > 0;
    if (heads || ffn) const_f32(c, "const.one", 1.f);
    if (ffn) {
        const_f32(c, "const.half", 0.5f);
        const_f32(c, "const.inv_sqrt2", (float)(1.0 / sqrt(2.0)));
    }
    if (!heads) return NULL;
    const_f32(c, "const.sqrt_head_size", sqrtf((float)bert_head_size(c->cfg)));
    OnnxNode *n = node(c, "Cast", 1, (const char *[]){"attention_mask"}, 1,
                       (const char *[]){"mask.float"});
    onnx_node_attr_int(n, "to", ONNX_FLOAT);
    const char *inv = op2(c, "Sub", "mask.inverted", "const.one", "mask.float");
    const char *add = op2(c, "Mul", "mask.additive", inv,
                          const_f32(c, "const.float_min", -FLT_MAX));
    static const int64_t axes[2] = {1, 2};
    return op2(c, "Unsqueeze", "mask.bias", add, const_i64(c, "const.axes_1_2", 2, axes));
}

/* LayerNorm(word[ids] + position[offset + t] + type[types]) [B,T,E], then ELECTRA's
 * embeddings_project to [B,T,C] when E != C. */
static const char *build_embeddings(Ctx *c) {
    const BertConfig *cf = c->cfg;
    const BertWeights *w = c->w;
    int E = bert_embedding_size(cf);
    const char *wte = weight_table(c, tn(c, w->wte, ""), w->wte, cf->vocab_size, E);
    const char *word = op2(c, "Gather", "emb.word", wte, "input_ids");
    const char *wpe = weight_table(c, tn(c, w->wpe, ""), w->wpe, cf->max_position, E);
    /* positions offset .. offset + T - 1: a Slice of the table, T from the input's shape */
    static const int64_t one[1] = {1}, zero[1] = {0};
    int64_t off[1] = {cf->position_offset};
    const char *shape = op1(c, "Shape", "emb.input_shape", "input_ids");
    const char *T = op2(c, "Gather", "emb.seq_len", shape, const_i64(c, "const.index_1", 1, one));
    const char *start = const_i64(c, "const.position_offset", 1, off);
    const char *end = op2(c, "Add", "emb.position_end", T, start);
    const char *pos = "emb.position";
    node(c, "Slice", 4, (const char *[]){wpe, start, end, const_i64(c, "const.axis_0", 1, zero)},
         1, (const char *[]){pos});
    const char *sum = op2(c, "Add", "emb.word_position", word, pos);
    if (c->token_types) {
        const char *wtt = weight_table(c, tn(c, w->wtt, ""), w->wtt, cf->type_vocab_size, E);
        sum = op2(c, "Add", "emb.sum", sum, op2(c, "Gather", "emb.token_type", wtt,
                                                "token_type_ids"));
    } else if (w->wtt) { /* one token type (RoBERTa): its row is a constant */
        sum = op2(c, "Add", "emb.sum", sum, weight_copy(c, tn(c, w->wtt, ".row0"), w->wtt, E));
    }
    const char *x = layernorm(c, "emb.ln", sum, w->lnew, w->lneb, E);
    if (!w->projw) return x;
    return linear(c, "emb.out", x, w->projw, w->projb, cf->hidden_size, E);
}

/* Multi-head self-attention of layer l on x [B,T,C]: the output projection's result
 * [B,T,C] (before the residual). */
static const char *build_attention(Ctx *c, int l, const char *x, const char *mask) {
    const BertLayerWeights *lw = &c->w->layer[l];
    BertSlice s = bert_slice(c->cfg, l);
    int C = c->cfg->hidden_size;
    /* Q, K, V weights are consecutive in memory: together W_qkv [3A,C], b_qkv [3A] */
    const char *qkv = linear_named(c, name(c, "l%d.qkv", l), x, qkv_name(c, lw->qw, ".T"),
                                   lw->qw, qkv_name(c, lw->qb, ""), lw->qb, 3 * s.A, C);
    int64_t split[3] = {s.A, s.A, s.A}, shape4[4] = {0, 0, s.NH, s.HS}, shape3[3] = {0, 0, s.A};
    const char *q = name(c, "l%d.q", l), *k = name(c, "l%d.k", l), *v = name(c, "l%d.v", l);
    const char *sizes = const_i64(c, name(c, "l%d.split", l), 3, split);
    OnnxNode *n = node(c, "Split", 2, (const char *[]){qkv, sizes}, 3, (const char *[]){q, k, v});
    onnx_node_attr_int(n, "axis", -1);
    /* [B,T,A] -> [B,T,NH,HS] -> Q, V [B,NH,T,HS] and K^T [B,NH,HS,T] */
    const char *sh4 = const_i64(c, name(c, "l%d.shape_heads", l), 4, shape4);
    static const int64_t bhtd[4] = {0, 2, 1, 3}, bhdt[4] = {0, 2, 3, 1};
    const char *heads[3], *parts[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        const char *r = op2(c, "Reshape", name(c, "%s.heads", parts[i]), parts[i], sh4);
        heads[i] = name(c, "%s.transposed", parts[i]);
        n = node(c, "Transpose", 1, (const char *[]){r}, 1, (const char *[]){heads[i]});
        onnx_node_attr_ints(n, "perm", 4, i == 1 ? bhdt : bhtd);
    }
    /* S = Q K^T / sqrt(HS) + mask [B,NH,T,T]; probs = softmax(S); ctx = probs V [B,NH,T,HS] */
    const char *sc = op2(c, "MatMul", name(c, "l%d.scores", l), heads[0], heads[1]);
    sc = op2(c, "Div", name(c, "l%d.scores_scaled", l), sc, "const.sqrt_head_size");
    sc = op2(c, "Add", name(c, "l%d.scores_masked", l), sc, mask);
    const char *pr = name(c, "l%d.probs", l);
    n = node(c, "Softmax", 1, (const char *[]){sc}, 1, (const char *[]){pr});
    onnx_node_attr_int(n, "axis", -1);
    const char *ctx = op2(c, "MatMul", name(c, "l%d.context", l), pr, heads[2]);
    const char *ct = name(c, "l%d.context_transposed", l);
    n = node(c, "Transpose", 1, (const char *[]){ctx}, 1, (const char *[]){ct});
    onnx_node_attr_ints(n, "perm", 4, bhtd);
    ctx = op2(c, "Reshape", name(c, "l%d.context_merged", l), ct,
              const_i64(c, name(c, "l%d.shape_merged", l), 3, shape3));
    return linear(c, name(c, "l%d.attention_out", l), ctx, lw->ow, lw->ob, C, s.A);
}

/* One post-LN encoder layer on x [B,T,C]; returns its output [B,T,C]. A layer without heads
 * adds only the attention output bias, one without FFN neurons only the output bias. */
static const char *build_layer(Ctx *c, int l, const char *x, const char *mask) {
    const BertLayerWeights *lw = &c->w->layer[l];
    BertSlice s = bert_slice(c->cfg, l);
    int C = c->cfg->hidden_size;
    const char *attn = s.NH ? build_attention(c, l, x, mask)
                            : weight_copy(c, tn(c, lw->ob, ""), lw->ob, C);
    const char *r1 = op2(c, "Add", name(c, "l%d.attention_residual", l), x, attn);
    const char *a = layernorm(c, name(c, "l%d.attention_ln", l), r1, lw->ln1w, lw->ln1b, C);
    const char *ffn;
    if (s.F) {
        const char *h = linear(c, name(c, "l%d.ffn_in", l), a, lw->f1w, lw->f1b, s.F, C);
        h = gelu(c, name(c, "l%d.ffn_gelu", l), h);
        ffn = linear(c, name(c, "l%d.ffn_out", l), h, lw->f2w, lw->f2b, C, s.F);
    } else {
        ffn = weight_copy(c, tn(c, lw->f2b, ""), lw->f2b, C);
    }
    const char *r2 = op2(c, "Add", name(c, "l%d.ffn_residual", l), a, ffn);
    return layernorm(c, name(c, "l%d.out", l), r2, lw->ln2w, lw->ln2b, C);
}

/* QA head: logits = x . Wqa^T + bqa [B,T,2], split into start_logits and end_logits [B,T]. */
static void build_qa_head(Ctx *c, const char *x) {
    int C = c->cfg->hidden_size;
    const char *lg = linear(c, "qa.logits", x, c->w->qaw, c->w->qab, 2, C);
    static const int64_t halves[2] = {1, 1}, last[1] = {-1};
    const char *sizes = const_i64(c, "const.split_1_1", 2, halves);
    OnnxNode *n = node(c, "Split", 2, (const char *[]){lg, sizes}, 2,
                       (const char *[]){"qa.start", "qa.end"});
    onnx_node_attr_int(n, "axis", -1);
    const char *ax = const_i64(c, "const.axis_last", 1, last);
    op2(c, "Squeeze", "start_logits", "qa.start", ax);
    op2(c, "Squeeze", "end_logits", "qa.end", ax);
}

/* ---------------------------------------------------------------- export */

void onnx_export_opts_default(OnnxExportOpts *o) {
    memset(o, 0, sizeof *o);
    o->opset = ONNX_OPSET_MAX;
    o->dynamic_batch = o->dynamic_seq = 1;
    o->batch = 1;
    o->seq = 384;
}

static int check_opts(const char *path, const OnnxExportOpts *o, const BertConfig *cf) {
    if (o->opset < ONNX_OPSET_MIN || o->opset > ONNX_OPSET_MAX)
        return qa_error("%s: opset %d outside [%d, %d]", path, o->opset, ONNX_OPSET_MIN,
                        ONNX_OPSET_MAX);
    if (!o->dynamic_batch && o->batch < 1)
        return qa_error("%s: fixed batch size %d must be >= 1", path, o->batch);
    if (!o->dynamic_seq && (o->seq < 1 || o->seq + cf->position_offset > cf->max_position))
        return qa_error("%s: fixed sequence length %d outside [1, %d] (max_position_embeddings)",
                        path, o->seq, cf->max_position - cf->position_offset);
    return QA_OK;
}

int onnx_export_model(const BertModel *m, const char *path, const OnnxExportOpts *o,
                      OnnxExportInfo *info) {
    const BertConfig *cf = bert_config(m);
    if (check_opts(path, o, cf)) return QA_ERR;
    /* bert_params() takes a mutable model; the parameters are only read here */
    Ctx c = {.cfg = cf, .m = m, .params = bert_params((BertModel *)m), .w = bert_weights(m),
             .token_types = takes_token_types(cf), .opts = o};
    const char *family = bert_family(cf->family)->model_type;
    if (onnx_graph_create(family, &c.g)) return QA_ERR;
    build_inputs(&c);
    const char *mask = build_constants_and_mask(&c);
    const char *x = build_embeddings(&c);
    for (int l = 0; l < cf->num_layers; l++) x = build_layer(&c, l, x, mask);
    build_qa_head(&c, x);
    char doc[256];
    snprintf(doc, sizeof doc, "%s question answering (start/end logits), %d layers, "
             "%d of %d heads, %d of %d FFN neurons", family, cf->num_layers,
             bert_total_heads(cf), cf->num_layers * cf->num_heads, bert_total_ffn(cf),
             cf->num_layers * cf->intermediate_size);
    OnnxWriteOpts wo = {.ir_version = ONNX_IR_VERSION, .opset = o->opset, .producer = "qaprune",
                        .producer_version = "1", .doc = doc,
                        .external_above = o->external_above,
                        .force_external = o->force_external};
    int external = 0;
    int rc = c.oom ? qa_error("%s: out of memory building the graph", path)
                   : onnx_graph_write(c.g, path, &wo, &external);
    if (!rc && info)
        *info = (OnnxExportInfo){family, c.token_types, c.nodes, c.inits,
                                 c.weight_bytes, external};
    for (size_t i = 0; i < c.n_names; i++) free(c.names[i]);
    free(c.names);
    onnx_graph_free(c.g);
    return rc;
}
