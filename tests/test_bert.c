/* tests/test_bert.c: the whole model against PyTorch (tests/data/parity.safetensors, made by
 * tests/make_parity_fixture.py in float64): logits, loss, every parameter and gate gradient,
 * the distillation loss (under both GEMM backends), bf16 inference logits against fp32, and
 * a 10-step AdamW trajectory; then pruning exactness (the
 * physically pruned model equals the gated model with those gates at 0), thread-count
 * independence, and gate gradients without parameter gradients; ELECTRA's embedding
 * projection against a double-precision twin and its central finite differences; the
 * training backward of each family with every dropout on against finite differences of the
 * same (seeded) training forward; a second backward of one forward, bit for bit. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "core/model/bert.h"
#include "core/model/gemm.h"
#include "core/util/error.h"
#include "core/model/loss.h"
#include "core/model/ops.h"
#include "core/model/optim.h"
#include "core/util/rng.h"
#include "core/model/safetensors.h"
#include "tests/test.h"

#define FIXTURE "tests/data/parity.safetensors"

/* max |a - b| / max(max |b|, 1e-3) over n values. The floor keeps gradients that are zero in
 * exact arithmetic (key biases: softmax ignores a per-row shift; the QA bias: CE gradients sum
 * to 0) from turning float rounding noise (~1e-9 against PyTorch's 1e-17) into a failure. */
static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 1e-3;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return num / den;
}

/* Reads a float tensor of n elements whatever its shape; returns a new array or NULL. */
static float *read_any(const SafeTensors *st, const char *name, size_t *n) {
    const StTensor *t = st_find(st, name);
    if (!t) return NULL;
    size_t k = (size_t)st_numel(t->ndim, t->shape);
    float *x = malloc(sizeof(float) * (k ? k : 1));
    if (st_read_f32(st, name, t->ndim, t->shape, x)) {
        free(x);
        return NULL;
    }
    if (n) *n = k;
    return x;
}

/* An integer item of the fixture's config; a missing or non-numeric item is a failed CHECK
 * and gives -1, so a fixture that lacks a key fails loudly instead of crashing. */
static int int_item(const cJSON *item, const char *what) {
    if (cJSON_IsNumber(item)) return item->valueint;
    CHECK(0, "fixture config: %s is missing or not a number", what);
    return -1;
}

static int config_from_fixture(const SafeTensors *st, BertConfig *c) {
    cJSON *j = cJSON_Parse(st_metadata(st, "config"));
    CHECK(j != NULL, "fixture config: not JSON");
    if (!j) return -1;
    int before = test_failed;
    static const char *keys[7] = {"vocab_size", "max_position_embeddings", "num_hidden_layers",
                                  "hidden_size", "num_attention_heads", "intermediate_size",
                                  "type_vocab_size"};
    int v[7];
    for (int k = 0; k < 7; k++) v[k] = int_item(cJSON_GetObjectItem(j, keys[k]), keys[k]);
    if (test_failed != before) {
        cJSON_Delete(j);
        return -1;
    }
    bert_config_init(c, v[0], v[1], v[2], v[3], v[4], v[5]);
    c->type_vocab_size = v[6];
    c->hidden_dropout = c->attention_dropout = 0.f;
    cJSON *hl = cJSON_GetObjectItem(j, "heads_per_layer"), *fl = cJSON_GetObjectItem(j, "ffn_per_layer");
    cJSON *kh = cJSON_GetObjectItem(j, "kept_heads");
    for (int l = 0; test_failed == before && l < c->num_layers; l++) {
        c->heads[l] = int_item(cJSON_GetArrayItem(hl, l), "heads_per_layer[l]");
        c->ffn[l] = int_item(cJSON_GetArrayItem(fl, l), "ffn_per_layer[l]");
        for (int h = 0; h < c->heads[l]; h++)
            c->head_ids[l][h] = (int8_t)int_item(cJSON_GetArrayItem(cJSON_GetArrayItem(kh, l), h),
                                                 "kept_heads[l][h]");
    }
    cJSON_Delete(j);
    return test_failed == before ? 0 : -1;
}

/* Concatenates the per-layer tensors prefix.0, prefix.1, ... into out (layer-major); a
 * missing tensor is a failed CHECK (the gates would otherwise stay 0). */
static void read_per_layer(const SafeTensors *st, const char *prefix, int L, float *out) {
    size_t off = 0;
    for (int l = 0; l < L; l++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%d", prefix, l);
        size_t n = 0;
        float *x = read_any(st, name, &n);
        if (!x) CHECK(0, "fixture tensor %s is missing", name);
        if (x) memcpy(out + off, x, n * sizeof(float));
        off += n;
        free(x);
    }
}

typedef struct {
    BertConfig cfg;
    BertModel *m;
    int B, T;
    int32_t ids[64], types[64], mask[64], sp[8], ep[8];
    float *hgate, *fgate;
} Fixture;

static int load_fixture(const SafeTensors *st, Fixture *f) {
    if (config_from_fixture(st, &f->cfg) || bert_create(&f->cfg, &f->m)) return -1;
    for (int i = 0; i < bert_num_tensors(f->m); i++) {
        const BertTensor *t = bert_tensor(f->m, i);
        int64_t shape[2] = {t->shape[0], t->shape[1]};
        if (st_read_f32(st, t->name, t->ndim, shape, bert_params(f->m) + t->offset)) {
            fprintf(stderr, "%s\n", qa_last_error());
            return -1;
        }
    }
    const StTensor *t = st_find(st, "input_ids");
    f->B = (int)t->shape[0];
    f->T = (int)t->shape[1];
    if (st_read_i32(st, "input_ids", 2, t->shape, f->ids) ||
        st_read_i32(st, "token_type_ids", 2, t->shape, f->types) ||
        st_read_i32(st, "attention_mask", 2, t->shape, f->mask) ||
        st_read_i32(st, "start_positions", 1, t->shape, f->sp) ||
        st_read_i32(st, "end_positions", 1, t->shape, f->ep))
        return -1;
    f->hgate = calloc((size_t)bert_total_heads(&f->cfg) + 1, sizeof(float));
    f->fgate = calloc((size_t)bert_total_ffn(&f->cfg) + 1, sizeof(float));
    read_per_layer(st, "head_gates", f->cfg.num_layers, f->hgate);
    read_per_layer(st, "ffn_gates", f->cfg.num_layers, f->fgate);
    return 0;
}

static float gold_step(Fixture *f, float *ds, float *de, float *dh, float *dfg) {
    BertBatch b = {f->B, f->T, f->ids, f->types, f->mask};
    BertGates g = {f->hgate, f->fgate};
    bert_forward(f->m, &b, &g, 1, 0);
    bert_zero_grad(f->m);
    float loss = loss_span(ds, de, bert_start_logits(f->m), bert_end_logits(f->m), f->sp, f->ep,
                           f->B, f->T);
    bert_backward(f->m, ds, de, dh, dfg, 1);
    return loss;
}

static void test_parity(const SafeTensors *st, Fixture *f) {
    int N = f->B * f->T, nh = bert_total_heads(&f->cfg), nf = bert_total_ffn(&f->cfg);
    float ds[64], de[64], *dh = calloc((size_t)nh + 1, 4), *dfg = calloc((size_t)nf + 1, 4);
    float loss = gold_step(f, ds, de, dh, dfg);
    float *want_s = read_any(st, "start_logits", NULL), *want_e = read_any(st, "end_logits", NULL);
    float *want_loss = read_any(st, "loss", NULL);
    double e1 = rel_err(bert_start_logits(f->m), want_s, N), e2 = rel_err(bert_end_logits(f->m), want_e, N);
    CHECK(e1 < 1e-5 && e2 < 1e-5, "logits vs PyTorch: rel err %.2g / %.2g", e1, e2);
    CHECK_CLOSE(loss, want_loss[0], 1e-5, "gold loss vs PyTorch");
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < bert_num_tensors(f->m); i++) {
        const BertTensor *t = bert_tensor(f->m, i);
        char name[128];
        snprintf(name, sizeof name, "grad.%s", t->name);
        float *want = read_any(st, name, NULL);
        double e = want ? rel_err(bert_grads(f->m) + t->offset, want, t->numel) : 1.0;
        CHECK(want && e < 1e-4, "%s vs PyTorch: rel err %.2g", name, e);
        if (e > worst) worst = e, worst_name = t->name;
        free(want);
    }
    printf("parameter gradients: worst rel err %.2g (%s)\n", worst, worst_name);
    float *want_dh = calloc((size_t)nh + 1, 4), *want_df = calloc((size_t)nf + 1, 4);
    read_per_layer(st, "grad.head_gates", f->cfg.num_layers, want_dh);
    read_per_layer(st, "grad.ffn_gates", f->cfg.num_layers, want_df);
    double eh = rel_err(dh, want_dh, (size_t)nh), ef = rel_err(dfg, want_df, (size_t)nf);
    CHECK(eh < 1e-4 && ef < 1e-4, "gate gradients vs PyTorch: rel err head %.2g ffn %.2g", eh, ef);
    printf("logits rel err %.2g, gate gradients rel err %.2g (heads) %.2g (ffn)\n", fmax(e1, e2),
           eh, ef);

    /* Gate gradients alone (param_grads = 0, what the gain strategy uses) are the same. */
    float *dh2 = calloc((size_t)nh + 1, 4), *dfg2 = calloc((size_t)nf + 1, 4);
    BertBatch b = {f->B, f->T, f->ids, f->types, f->mask};
    BertGates g = {f->hgate, f->fgate};
    bert_forward(f->m, &b, &g, 1, 0);
    bert_backward(f->m, ds, de, dh2, dfg2, 0);
    CHECK(rel_err(dh2, dh, (size_t)nh) < 1e-6 && rel_err(dfg2, dfg, (size_t)nf) < 1e-6,
          "gate gradients without parameter gradients");

    /* Distillation loss and its logit gradients. */
    float *ts = read_any(st, "teacher_start_logits", NULL), *te = read_any(st, "teacher_end_logits", NULL);
    float *wdl = read_any(st, "distill.loss", NULL), *wds = read_any(st, "distill.grad_start_logits", NULL);
    float *wde = read_any(st, "distill.grad_end_logits", NULL);
    float dl = loss_distill(ds, de, bert_start_logits(f->m), bert_end_logits(f->m), ts, te, f->sp,
                            f->ep, f->B, f->T, 2.f, 0.7f);
    CHECK_CLOSE(dl, wdl[0], 1e-5, "distillation loss vs PyTorch");
    CHECK(rel_err(ds, wds, N) < 1e-5 && rel_err(de, wde, N) < 1e-5,
          "distillation logit gradients vs PyTorch");
    free(dh), free(dfg), free(dh2), free(dfg2), free(want_s), free(want_e), free(want_loss);
    free(want_dh), free(want_df), free(ts), free(te), free(wdl), free(wds), free(wde);
}

/* bf16 inference against fp32 on the fixture (with its gates): logits within BF16_LOGIT_TOL
 * of max |logit|. Each of the 4 linear GEMMs of a layer and the 2 attention products rounds
 * its inputs to 8 significant bits (2^-9 relative), i.e. ~2^-8 of sum |x w| per output;
 * LayerNorm rescales every layer, so over L = 4 layers the worst case adds up to about
 * 4 * 6 * 2^-8 ~ 0.09 and random signs make it ~sqrt(24) * 2^-8 ~ 0.02, which we allow
 * (measured: 0.003). */
#define BF16_LOGIT_TOL 0.02
static void test_bf16_logits(Fixture *f) {
    int N = f->B * f->T;
    BertBatch b = {f->B, f->T, f->ids, f->types, f->mask};
    BertGates g = {f->hgate, f->fgate};
    float *ref = malloc(sizeof(float) * 2 * (size_t)N);
    CHECK(bert_forward(f->m, &b, &g, 0, 0) == QA_OK, "fp32 inference forward");
    memcpy(ref, bert_start_logits(f->m), sizeof(float) * N);
    memcpy(ref + N, bert_end_logits(f->m), sizeof(float) * N);
    CHECK(bert_set_precision(f->m, BERT_BF16) == QA_OK && bert_precision(f->m) == BERT_BF16,
          "bf16 precision set");
    CHECK(bert_forward(f->m, &b, &g, 0, 0) == QA_OK, "bf16 inference forward");
    double es = rel_err(bert_start_logits(f->m), ref, N);
    double ee = rel_err(bert_end_logits(f->m), ref + N, N);
    printf("bf16 vs fp32 logits on the fixture: rel err %.2g / %.2g (tolerance %.2g)\n", es, ee,
           BF16_LOGIT_TOL);
    CHECK(es < BF16_LOGIT_TOL && ee < BF16_LOGIT_TOL, "bf16 logits within %.2g of fp32: %.2g / %.2g",
          BF16_LOGIT_TOL, es, ee);
    CHECK(es > 1e-6 || ee > 1e-6, "bf16 forward does round (rel err %.2g)", fmax(es, ee));
    /* a training forward stays fp32 even in a bf16 model */
    bert_forward(f->m, &b, &g, 1, 0);
    double et = rel_err(bert_start_logits(f->m), ref, N);
    CHECK(et < 1e-5, "training forward of a bf16 model runs in fp32 (rel err %.2g)", et);
    /* weights changed through bert_params() are converted again */
    float *p = bert_params(f->m);
    const BertTensor *qw = bert_find_tensor(f->m, "bert.encoder.layer.0.attention.self.query.weight");
    CHECK(qw != NULL, "query weight of layer 0 found");
    float keep = qw ? p[qw->offset] : 0.f;
    if (qw) p[qw->offset] += 1.f;
    bert_forward(f->m, &b, &g, 0, 0);
    float *bumped = malloc(sizeof(float) * (size_t)N);
    memcpy(bumped, bert_start_logits(f->m), sizeof(float) * N);
    if (qw) bert_params(f->m)[qw->offset] = keep;
    bert_forward(f->m, &b, &g, 0, 0);
    CHECK(rel_err(bumped, bert_start_logits(f->m), N) > 1e-6,
          "a weight changed through bert_params() reaches the bf16 copy");
    CHECK(bert_set_precision(f->m, BERT_FP32) == QA_OK, "back to fp32");
    bert_forward(f->m, &b, &g, 0, 0);
    CHECK(!memcmp(bert_start_logits(f->m), ref, sizeof(float) * N),
          "fp32 again gives the fp32 logits bit for bit");
    free(ref), free(bumped);
}

static void test_adamw(const SafeTensors *st, Fixture *f) {
    float ds[64], de[64], *losses = read_any(st, "adamw.losses", NULL);
    float *norms = read_any(st, "adamw.grad_norms", NULL);
    AdamW *opt = NULL;
    adamw_create(f->m, &(AdamWOpts){0.9f, 0.999f, 1e-8f, 0.01f}, &opt);
    double worst_l = 0, worst_n = 0;
    for (int s = 0; s <= 10; s++) {
        float loss = gold_step(f, ds, de, NULL, NULL);
        worst_l = fmax(worst_l, fabs(loss - losses[s]) / fabs(losses[s]));
        if (s == 10) break;
        double norm = optim_clip_grad_norm(f->m, 1.0);
        worst_n = fmax(worst_n, fabs(norm - norms[s]) / norms[s]);
        adamw_step(opt, f->m, 1e-2f * optim_linear_schedule(s, 3, 10));
    }
    printf("AdamW 10 steps: loss trajectory rel err %.2g, grad norms rel err %.2g\n", worst_l,
           worst_n);
    CHECK(worst_l < 1e-4, "AdamW loss trajectory vs PyTorch: rel err %.2g", worst_l);
    CHECK(worst_n < 1e-4, "pre-clip gradient norms vs PyTorch: rel err %.2g", worst_n);
    adamw_free(opt);
    free(losses), free(norms);
}

/* ---------------------------------------------------------------- pruning and threads */

static void test_pruning(void) {
    BertConfig c;
    bert_config_init(&c, 50, 32, 3, 32, 4, 40);
    c.hidden_dropout = c.attention_dropout = 0.f;
    BertModel *m = NULL, *p = NULL;
    CHECK(bert_create(&c, &m) == QA_OK, "create");
    bert_init_random(m, 7, 0.3f);
    float *bp = bert_params(m);
    for (int i = 0; i < bert_num_tensors(m); i++) { /* non-zero biases and LN so they matter */
        const BertTensor *t = bert_tensor(m, i);
        if (t->ndim == 1)
            for (size_t k = 0; k < t->numel; k++) bp[t->offset + k] += 0.1f * (float)((k % 5) - 2);
    }
    int nh = bert_total_heads(&c), nf = bert_total_ffn(&c), B = 2, T = 9, N = B * T;
    CHECK(nh == 12 && nf == 120, "toy shape");
    if (nh != 12 || nf != 120) return;
    uint8_t kh[12], kf[120];
    float gh[12], gf[120];
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < nh; i++) kh[i] = i < 4 ? 0 : rng_below(&r, 2); /* layer 0 loses all */
    for (int i = 0; i < nf; i++) kf[i] = i >= 80 ? 0 : rng_below(&r, 3) > 0; /* layer 2 all */
    for (int i = 0; i < nh; i++) gh[i] = kh[i];
    for (int i = 0; i < nf; i++) gf[i] = kf[i];
    int32_t ids[18], types[18], mask[18];
    for (int i = 0; i < N; i++) {
        ids[i] = (int32_t)rng_below(&r, 50);
        types[i] = i % T > 4;
        mask[i] = !(i / T == 1 && i % T > 6);
    }
    BertBatch b = {B, T, ids, types, mask};
    bert_forward(m, &b, &(BertGates){gh, gf}, 0, 0);
    float want_s[18], want_e[18];
    memcpy(want_s, bert_start_logits(m), sizeof want_s);
    memcpy(want_e, bert_end_logits(m), sizeof want_e);
    CHECK(bert_prune(m, kh, kf, &p) == QA_OK, "prune: %s", qa_last_error());
    const BertConfig *pc = bert_config(p);
    int kept_h = 0, kept_f = 0;
    for (int i = 0; i < nh; i++) kept_h += kh[i];
    for (int i = 0; i < nf; i++) kept_f += kf[i];
    CHECK(bert_total_heads(pc) == kept_h && bert_total_ffn(pc) == kept_f && pc->heads[0] == 0 &&
              pc->ffn[2] == 0,
          "pruned shape: %d heads %d neurons", bert_total_heads(pc), bert_total_ffn(pc));
    CHECK(bert_num_params(p) < bert_num_params(m), "pruned model is smaller (%zu < %zu)",
          bert_num_params(p), bert_num_params(m));
    bert_forward(p, &b, NULL, 0, 0);
    double es = rel_err(bert_start_logits(p), want_s, N), ee = rel_err(bert_end_logits(p), want_e, N);
    printf("pruned vs gated logits: rel err %.2g\n", fmax(es, ee));
    CHECK(es < 1e-5 && ee < 1e-5, "pruned logits equal gated logits (%.2g, %.2g)", es, ee);
    /* Head ids follow the original indices, so pruning twice composes. */
    int first = -1;
    for (int h = 0; h < 4; h++)
        if (kh[4 + h] && first < 0) first = h;
    CHECK(pc->heads[1] == 0 || pc->head_ids[1][0] == first, "head_ids keep original indices");

    /* Thread-count independence (training forward and backward). */
    float ds[18], de[18];
    for (int i = 0; i < N; i++) ds[i] = de[i] = 0.01f * (i % 7);
    c.hidden_dropout = 0.1f;
    BertModel *a = NULL;
    bert_create(&c, &a);
    memcpy(bert_params(a), bert_params(m), bert_num_params(m) * sizeof(float));
    float *g1 = malloc(bert_num_params(a) * sizeof(float)), l1[18];
    ops_set_threads(1);
    bert_forward(a, &b, NULL, 1, 99);
    memcpy(l1, bert_start_logits(a), sizeof l1);
    bert_backward(a, ds, de, NULL, NULL, 1);
    memcpy(g1, bert_grads(a), bert_num_params(a) * sizeof(float));
    ops_set_threads(2);
    bert_zero_grad(a);
    bert_forward(a, &b, NULL, 1, 99);
    bert_backward(a, ds, de, NULL, NULL, 1);
    double et = rel_err(bert_grads(a), g1, bert_num_params(a));
    CHECK(rel_err(bert_start_logits(a), l1, N) < 1e-6 && et < 1e-5,
          "1 and 2 threads agree (gradients rel err %.2g)", et);
    free(g1);
    bert_free(a);
    bert_free(m);
    bert_free(p);
}

/* Sinusoidal position start: RMS of the word embeddings' N(0, 0.02), and dot products that
 * depend only on the distance between positions. */
static void test_sinusoid_positions(void) {
    BertConfig c;
    bert_config_init(&c, 10, 64, 1, 32, 2, 16);
    BertModel *m = NULL;
    CHECK(bert_create(&c, &m) == QA_OK, "create");
    if (!m) return;
    bert_init_xavier(m, 1);
    bert_init_sinusoid_positions(m);
    const float *p = bert_weights(m)->wpe;
    double sq = 0;
    for (int i = 0; i < 64 * 32; i++) sq += (double)p[i] * p[i];
    CHECK_CLOSE(sqrt(sq / (64 * 32)), 0.02, 1e-4, "RMS per component 0.02");
    double worst = 0;
    for (int a = 0; a + 5 < 64; a++)
        for (int d = 0; d <= 5; d++) {
            double x = 0, y = 0;
            for (int k = 0; k < 32; k++) {
                x += (double)p[a * 32 + k] * p[(a + d) * 32 + k];
                y += (double)p[k] * p[d * 32 + k];
            }
            worst = fmax(worst, fabs(x - y));
        }
    CHECK(worst < 1e-8, "<p_a, p_a+d> = <p_0, p_d> (worst difference %.2g)", worst);
    bert_free(m);
}

/* ---------------------------------------------------------------- ELECTRA projection */

/* A 0-layer ELECTRA (embeddings of width E = 6 projected to C = 10, then the QA head) in
 * double: x = LN(wte[ids] + wpe[t] + wtt[types]) Wp^T + bp, logits = x Wqa^T + bqa.
 * p holds the parameters in the model's layout; returns L = sum(rs * start + re * end) and,
 * when start/end are not NULL, the logits. */
typedef struct {
    const BertModel *m;
    int B, T;
    const int32_t *ids, *types;
    const double *rs, *re;
} ProjTwin;

static double proj_twin(const ProjTwin *tw, const double *p, double *start, double *end) {
    const BertConfig *c = bert_config(tw->m);
    int E = bert_embedding_size(c), C = c->hidden_size;
    const double *wte = NULL, *wpe = NULL, *wtt = NULL, *g = NULL, *b = NULL, *pw = NULL,
                 *pb = NULL, *qw = NULL, *qb = NULL;
    const double **slot[] = {&wte, &wpe, &wtt, &g, &b, &pw, &pb, &qw, &qb};
    const char *names[] = {"electra.embeddings.word_embeddings.weight",
                           "electra.embeddings.position_embeddings.weight",
                           "electra.embeddings.token_type_embeddings.weight",
                           "electra.embeddings.LayerNorm.weight",
                           "electra.embeddings.LayerNorm.bias",
                           "electra.embeddings_project.weight",
                           "electra.embeddings_project.bias", "qa_outputs.weight",
                           "qa_outputs.bias"};
    for (int i = 0; i < 9; i++) *slot[i] = p + bert_find_tensor(tw->m, names[i])->offset;
    double L = 0, e[16], x[16];
    for (int n = 0; n < tw->B * tw->T; n++) {
        double mean = 0, var = 0;
        for (int k = 0; k < E; k++) {
            e[k] = wte[tw->ids[n] * E + k] + wpe[(n % tw->T) * E + k] + wtt[tw->types[n] * E + k];
            mean += e[k] / E;
        }
        for (int k = 0; k < E; k++) var += (e[k] - mean) * (e[k] - mean) / E;
        for (int k = 0; k < E; k++) e[k] = (e[k] - mean) / sqrt(var + c->layer_norm_eps) * g[k] + b[k];
        for (int j = 0; j < C; j++) {
            x[j] = pb[j];
            for (int k = 0; k < E; k++) x[j] += pw[j * E + k] * e[k];
        }
        double s = qb[0], t = qb[1];
        for (int j = 0; j < C; j++) s += qw[j] * x[j], t += qw[C + j] * x[j];
        if (start) start[n] = s, end[n] = t;
        L += tw->rs[n] * s + tw->re[n] * t;
    }
    return L;
}

static void test_electra_projection(void) {
    BertConfig c;
    bert_config_init(&c, 7, 8, 0, 10, 2, 4);
    c.family = BERT_FAMILY_ELECTRA;
    c.embedding_size = 6;
    c.hidden_dropout = c.attention_dropout = 0.f;
    BertModel *m = NULL;
    CHECK(bert_create(&c, &m) == QA_OK, "ELECTRA model: %s", qa_last_error());
    if (!m) return;
    const BertTensor *pt = bert_find_tensor(m, "electra.embeddings_project.weight");
    CHECK(pt && pt->shape[0] == 10 && pt->shape[1] == 6, "embeddings_project [C, E] in the table");
    bert_init_random(m, 11, 0.5f);
    size_t np = bert_num_params(m);
    float *fp = bert_params(m);
    Rng r;
    rng_seed(&r, 12);
    for (size_t i = 0; i < np; i++) fp[i] += (float)(0.1 * (2 * rng_uniform(&r) - 1));
    enum { B = 2, T = 5, N = B * T };
    int32_t ids[N], types[N], mask[N];
    double rs[N], re[N], ws[N], we[N];
    float fs[N], fe[N];
    for (int n = 0; n < N; n++) {
        ids[n] = (int32_t)rng_below(&r, 7);
        types[n] = n % T > 2;
        mask[n] = 1;
        rs[n] = 2 * rng_uniform(&r) - 1;
        re[n] = 2 * rng_uniform(&r) - 1;
        fs[n] = (float)rs[n];
        fe[n] = (float)re[n];
    }
    double *p = malloc(sizeof(double) * np);
    for (size_t i = 0; i < np; i++) p[i] = fp[i];
    ProjTwin tw = {m, B, T, ids, types, rs, re};
    proj_twin(&tw, p, ws, we);
    BertBatch b = {B, T, ids, types, mask};
    CHECK(bert_forward(m, &b, NULL, 1, 0) == QA_OK, "forward: %s", qa_last_error());
    double fwd = 0;
    for (int n = 0; n < N; n++)
        fwd = fmax(fwd, fmax(fabs(bert_start_logits(m)[n] - ws[n]), fabs(bert_end_logits(m)[n] - we[n])));
    CHECK(fwd < 1e-5, "ELECTRA 0-layer logits vs the double twin: %.2g", fwd);
    bert_zero_grad(m);
    CHECK(bert_backward(m, fs, fe, NULL, NULL, 1) == QA_OK, "backward: %s", qa_last_error());
    const float *g = bert_grads(m);
    const double h = 1e-5;
    double worst = 0;
    int bad = 0;
    for (size_t i = 0; i < np; i++) {
        double keep = p[i];
        p[i] = keep + h;
        double lp = proj_twin(&tw, p, NULL, NULL);
        p[i] = keep - h;
        double lm = proj_twin(&tw, p, NULL, NULL);
        p[i] = keep;
        double fd = (lp - lm) / (2 * h), err = fabs(fd - g[i]) / fmax(1.0, fabs(fd));
        worst = fmax(worst, err);
        bad += err > 1e-4;
    }
    printf("ELECTRA projection: logits vs double twin %.2g, gradients vs central differences "
           "worst %.2g over %zu parameters\n", fwd, worst, np);
    CHECK(bad == 0, "%d of %zu ELECTRA gradients differ from central finite differences (worst "
          "%.2g)", bad, np, worst);
    free(p);
    bert_free(m);
}

/* L = sum(rs * start + re * end) of a training forward (dropout masks fixed by the seed). */
static double train_loss(BertModel *m, const BertBatch *b, const float *rs, const float *re) {
    bert_forward(m, b, NULL, 1, 77);
    double L = 0;
    for (int n = 0; n < b->B * b->T; n++)
        L += (double)rs[n] * bert_start_logits(m)[n] + (double)re[n] * bert_end_logits(m)[n];
    return L;
}

/* Each family's dropout sites (DistilBERT: none after the attention output, one before the
 * QA head) must be the same in backward as in forward: the gradient of a training forward
 * with hidden, attention and QA dropout at 0.3 against central differences of that forward
 * (float model, so h = 3e-3 and a loose tolerance, 6x the worst seen; a mask missing on either side is off by
 * the whole dropped contribution). */
static void test_family_dropout_backward(void) {
    for (int f = 0; f < BERT_N_FAMILIES; f++) {
        BertConfig c;
        bert_config_init(&c, 9, 12, 1, 8, 2, 6);
        c.family = (BertFamily)f;
        c.hidden_dropout = c.attention_dropout = 0.3f;
        if (f == BERT_FAMILY_ROBERTA) c.position_offset = 2, c.type_vocab_size = 1;
        if (f == BERT_FAMILY_DISTILBERT) c.type_vocab_size = 0, c.qa_dropout = 0.3f;
        if (f == BERT_FAMILY_ELECTRA) c.embedding_size = 4;
        BertModel *m = NULL;
        CHECK(bert_create(&c, &m) == QA_OK, "%s: %s", bert_family(c.family)->model_type,
              qa_last_error());
        if (!m) continue;
        bert_init_random(m, 21 + f, 0.4f);
        enum { B = 2, T = 6, N = B * T };
        int32_t ids[N], types[N], mask[N];
        float rs[N], re[N];
        Rng r;
        rng_seed(&r, 31);
        for (int n = 0; n < N; n++) {
            ids[n] = (int32_t)rng_below(&r, 9);
            types[n] = c.type_vocab_size > 1 && n % T > 2;
            mask[n] = n != N - 1;
            rs[n] = (float)(2 * rng_uniform(&r) - 1);
            re[n] = (float)(2 * rng_uniform(&r) - 1);
        }
        BertBatch b = {B, T, ids, types, mask};
        train_loss(m, &b, rs, re);
        bert_zero_grad(m);
        bert_backward(m, rs, re, NULL, NULL, 1);
        float *p = bert_params(m), *g = bert_grads(m);
        double worst = 0;
        int bad = 0, checked = 0;
        for (size_t i = 0; i < bert_num_params(m); i += 3, checked++) {
            float keep = p[i];
            p[i] = keep + 3e-3f;
            double lp = train_loss(m, &b, rs, re);
            p[i] = keep - 3e-3f;
            double lm = train_loss(m, &b, rs, re);
            p[i] = keep;
            double fd = (lp - lm) / ((double)(keep + 3e-3f) - (double)(keep - 3e-3f));
            double err = fabs(fd - g[i]) / fmax(1.0, fabs(fd));
            worst = fmax(worst, err);
            bad += err > 5e-3;
        }
        printf("%s: training gradients with dropout vs finite differences, worst %.2g over %d "
               "parameters\n", bert_family(c.family)->model_type, worst, checked);
        CHECK(bad == 0, "%s: %d of %d dropout-training gradients differ from finite differences "
              "(worst %.2g)", bert_family(c.family)->model_type, bad, checked, worst);
        bert_free(m);
    }
}

/* Training shares one buffer of attention probs, context and gated activations across the
 * layers and backward rebuilds each layer's from its kept qkv and h (bert_run.c plan_acts).
 * A second backward of the same forward must then give the same gradients bit for bit: each
 * layer's rebuild may not depend on what an earlier backward left in the shared buffers.
 * Ragged (4/1/0/2 heads, 24/9/5/0 neurons), gated, with hidden and attention dropout on. */
static void test_rebuilt_activations(void) {
    BertConfig c;
    bert_config_init(&c, 50, 64, 4, 32, 4, 40);
    c.hidden_dropout = c.attention_dropout = 0.2f;
    const int heads[4] = {4, 1, 0, 2}, ffn[4] = {24, 9, 5, 0};
    for (int l = 0; l < 4; l++) c.heads[l] = heads[l], c.ffn[l] = ffn[l];
    BertModel *m = NULL;
    CHECK(bert_create(&c, &m) == QA_OK, "create: %s", qa_last_error());
    if (!m) return;
    bert_init_random(m, 3, 0.3f);
    enum { B = 3, T = 17, N = B * T, NH = 7, NF = 38 };
    int32_t ids[N], types[N], mask[N];
    float rs[N], re[N], hg[NH], fg[NF], dh[2][NH], df[2][NF];
    Rng r;
    rng_seed(&r, 5);
    for (int n = 0; n < N; n++) {
        ids[n] = (int32_t)rng_below(&r, 50);
        types[n] = n % T > 8;
        mask[n] = n % T < 15;
        rs[n] = (float)rng_uniform(&r) - 0.5f;
        re[n] = (float)rng_uniform(&r) - 0.5f;
    }
    for (int i = 0; i < NH; i++) hg[i] = 0.3f + 0.1f * (float)i;
    for (int i = 0; i < NF; i++) fg[i] = 0.9f - 0.02f * (float)i;
    BertBatch b = {B, T, ids, types, mask};
    BertGates g = {hg, fg};
    size_t np = bert_num_params(m);
    float *g1 = malloc(np * sizeof(float));
    CHECK(bert_forward(m, &b, &g, 1, 11) == QA_OK, "training forward: %s", qa_last_error());
    memset(dh, 0, sizeof dh), memset(df, 0, sizeof df);
    bert_zero_grad(m);
    bert_backward(m, rs, re, dh[0], df[0], 1);
    memcpy(g1, bert_grads(m), np * sizeof(float));
    bert_zero_grad(m);
    bert_backward(m, rs, re, dh[1], df[1], 1);
    double norm = 0;
    for (size_t i = 0; i < np; i++) norm += (double)g1[i] * g1[i];
    CHECK(norm > 0 && !memcmp(g1, bert_grads(m), np * sizeof(float)) &&
              !memcmp(dh[0], dh[1], sizeof dh[0]) && !memcmp(df[0], df[1], sizeof df[0]),
          "a second backward of one forward: the same parameter and gate gradients, bit for "
          "bit (gradient norm %.3g)", sqrt(norm));
    free(g1);
    bert_free(m);
}

int main(void) {
    ops_set_threads(2);
    test_rebuilt_activations();
    test_sinusoid_positions();
    test_electra_projection();
    test_family_dropout_backward();
    SafeTensors *st = NULL;
    if (st_open(FIXTURE, &st)) {
        SKIP("%s not readable (%s)", FIXTURE, qa_last_error());
    } else {
        Fixture f = {0};
        CHECK(load_fixture(st, &f) == 0, "fixture loads into the engine");
        if (f.m) {
            for (int be = 0; be < GEMM_N_BACKENDS; be++) {
                gemm_set_backend((GemmBackend)be);
                printf("GEMM backend %s:\n", gemm_backend_name((GemmBackend)be));
                test_parity(st, &f);
            }
            gemm_set_backend(GEMM_DEFAULT);
            test_bf16_logits(&f);
            test_adamw(st, &f);
        }
        bert_free(f.m);
        free(f.hgate), free(f.fgate);
        st_close(st);
    }
    test_pruning();
    return TEST_DONE();
}
