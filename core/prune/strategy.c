/* core/prune/strategy.c: random, gain and L0 gate selection (see strategy.h). */
#include "core/prune/strategy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/model/loss.h"

const char *const STRATEGY_NAMES[STRATEGY_N] = {"random", "gain", "l0", "dense"};

int strategy_parse(const char *name, StrategyKind *out) {
    for (int i = 0; i < STRATEGY_N; i++)
        if (!strcmp(name, STRATEGY_NAMES[i])) {
            *out = (StrategyKind)i;
            return QA_OK;
        }
    return qa_error("strategy '%s' is not one of %s", name, STRATEGY_NAMES_TEXT);
}

const char *strategy_name(StrategyKind k) { return STRATEGY_NAMES[k]; }

int strategy_keep_count(int total, double sparsity) {
    int removed = (int)floor(sparsity * total + 0.5);
    if (removed > total) removed = total;
    return total - (removed < 0 ? 0 : removed);
}

typedef struct {
    float score;
    int index;
} Ranked;

static int by_score_desc(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->index - y->index;
}

void strategy_topk(const float *score, int n, int keep, uint8_t *out) {
    Ranked *r = malloc(sizeof *r * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) r[i] = (Ranked){isnan(score[i]) ? -INFINITY : score[i], i};
    qsort(r, (size_t)n, sizeof *r, by_score_desc);
    memset(out, 0, (size_t)n);
    for (int i = 0; i < keep && i < n; i++) out[r[i].index] = 1;
    free(r);
}

void strategy_random(uint64_t seed, int n, int keep, uint8_t *out) {
    float *s = malloc(sizeof(float) * (size_t)(n ? n : 1));
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) s[i] = (float)rng_uniform(&r);
    strategy_topk(s, n, keep, out);
    free(s);
}

/* ---------------------------------------------------------------- gain */

/* Divides each layer's block of scores by its L2 norm (Michel et al. 2019, section 4.1). */
static void normalize_layers(const BertConfig *c, float *score, int heads) {
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        float *x = score + (heads ? s.head_off : s.ffn_off);
        int n = heads ? s.NH : s.F;
        double sq = 0;
        for (int i = 0; i < n; i++) sq += (double)x[i] * x[i];
        if (sq > 0)
            for (int i = 0; i < n; i++) x[i] = (float)(x[i] / sqrt(sq));
    }
}

int strategy_gain_scores(BertModel *m, const QaData *d, const BertGates *gates, int batch_size,
                         int n_batches, uint64_t seed, float *head_score, float *ffn_score) {
    const BertConfig *c = bert_config(m);
    int nh = bert_total_heads(c), nf = bert_total_ffn(c), rc = QA_ERR;
    int B = batch_size < d->n ? batch_size : d->n;
    int NT = d->answer_type ? c->num_answer_types : 0; /* the type loss too (train.h) */
    float drop_h = c->hidden_dropout, drop_a = c->attention_dropout;
    QaBatch batch = {0};
    float *mem = malloc(sizeof(float) * (2 * (size_t)B * d->T + (size_t)nh + nf +
                                         (size_t)B * NT + 1));
    int *idx = malloc(sizeof(int) * (size_t)(B ? B : 1));
    if (!mem || !idx) {
        qa_error("gain: out of memory");
        goto cleanup;
    }
    float *ds = mem, *de = ds + (size_t)B * d->T, *dh = de + (size_t)B * d->T, *dfg = dh + nh;
    float *dty = NT ? dfg + nf : NULL;
    memset(head_score, 0, sizeof(float) * (size_t)nh);
    memset(ffn_score, 0, sizeof(float) * (size_t)nf);
    bert_set_dropout(m, 0.f, 0.f);
    Rng r;
    rng_seed(&r, seed);
    for (int b = 0; b < n_batches; b++) {
        for (int i = 0; i < B; i++) idx[i] = (int)rng_below(&r, (uint64_t)d->n);
        if (qa_batch_fill(&batch, d, idx, B)) goto cleanup;
        BertBatch bb = {B, batch.Tb, batch.ids, batch.types, batch.mask};
        /* open gates at 1 and no dropout: the importance in the model as it will be used */
        if (bert_forward(m, &bb, gates, 1, 0)) goto cleanup;
        loss_span(ds, de, bert_start_logits(m), bert_end_logits(m), batch.start, batch.end, B,
                  batch.Tb);
        if (NT) { /* the training loss (2 span + type) / 3 of a model with a type head */
            loss_type(dty, bert_type_logits(m), NULL, batch.answer_type, B, NT, 1.f, 0.f);
            for (long k = 0; k < (long)B * batch.Tb; k++) ds[k] *= 2.f / 3.f, de[k] *= 2.f / 3.f;
            for (long k = 0; k < (long)B * NT; k++) dty[k] /= 3.f;
        }
        memset(dh, 0, sizeof(float) * (size_t)nh);
        memset(dfg, 0, sizeof(float) * (size_t)nf);
        if (bert_backward_typed(m, ds, de, dty, dh, dfg, 0)) goto cleanup;
        for (int i = 0; i < nh; i++) head_score[i] += fabsf(dh[i]) / n_batches;
        for (int i = 0; i < nf; i++) ffn_score[i] += fabsf(dfg[i]) / n_batches;
    }
    normalize_layers(c, head_score, 1);
    normalize_layers(c, ffn_score, 0);
    rc = QA_OK;
cleanup:
    bert_set_dropout(m, drop_h, drop_a);
    qa_batch_free(&batch);
    free(mem);
    free(idx);
    return rc;
}

/* ---------------------------------------------------------------- dense */

/* round(n x (1 - sparsity)), within [0, n]. */
static int uniform_count(int n, double sparsity) {
    int k = (int)floor(n * (1.0 - sparsity) + 0.5);
    return k < 0 ? 0 : k > n ? n : k;
}

void strategy_uniform_keep(const BertConfig *c, double head_sparsity, double ffn_sparsity,
                           uint8_t *keep) {
    int nh = bert_total_heads(c);
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice s = bert_slice(c, l);
        int kh = uniform_count(s.NH, head_sparsity), kf = uniform_count(s.F, ffn_sparsity);
        for (int i = 0; i < s.NH; i++) keep[s.head_off + i] = i < kh;
        for (int i = 0; i < s.F; i++) keep[nh + s.ffn_off + i] = i < kf;
    }
}

int strategy_dense_init(BertModel *student, const BertModel *teacher, uint64_t seed) {
    bert_init_xavier(student, seed);
    float *dst = bert_params(student);
    const float *src = bert_params((BertModel *)teacher);
    for (int i = 0; i < bert_num_tensors(student); i++) {
        const BertTensor *t = bert_tensor(student, i);
        if (t->layer >= 0 || !strstr(t->name, "embeddings")) continue;
        const BertTensor *f = bert_find_tensor(teacher, t->name);
        if (!f || f->numel != t->numel)
            return qa_error("dense: tensor %s: the teacher's has another shape", t->name);
        memcpy(dst + t->offset, src + f->offset, sizeof(float) * t->numel);
    }
    return QA_OK;
}

/* ---------------------------------------------------------------- dispatch */

/* A new model with src's configuration and weights (no gradients). */
static int copy_model(const BertModel *src, BertModel **out) {
    if (bert_create(bert_config(src), out)) return QA_ERR;
    memcpy(bert_params(*out), bert_params((BertModel *)src), bert_num_params(src) * sizeof(float));
    return QA_OK;
}

/* Among the units still open (open[i] = 1), keeps the `target` best scored: closed units
 * never come back. */
static void keep_best_open(float *score, uint8_t *open, int n, int target) {
    for (int i = 0; i < n; i++)
        if (!open[i]) score[i] = -INFINITY;
    strategy_topk(score, n, target, open);
}

/* Gain, one-shot (gain_steps 1: score every gate once at gate 1) or iterative (Michel et al.
 * 2019, section 6: remove a share of the units at a time and score the rest again with the
 * removed gates at 0, gain_steps times, until the target is met). */
static int gain_select(BertModel *teacher, const QaData *train, const StrategyOpts *o, int nh,
                       int nf, int keep_h, int keep_f, float *score, uint8_t *keep) {
    int steps = o->gain_steps > 1 ? o->gain_steps : 1;
    float *gate = malloc(sizeof(float) * (size_t)(nh + nf + 1));
    if (!gate) return qa_error("strategy: out of memory");
    memset(keep, 1, (size_t)(nh + nf));
    int rc = QA_OK;
    for (int j = 1; j <= steps && rc == QA_OK; j++) {
        for (int i = 0; i < nh + nf; i++) gate[i] = keep[i];
        BertGates g = {gate, gate + nh};
        rc = strategy_gain_scores(teacher, train, j > 1 ? &g : NULL, o->batch_size,
                                  o->gain_batches, o->seed + (uint64_t)(j - 1), score,
                                  score + nh);
        /* the share removed so far grows linearly to the target */
        int th = nh - (int)floor((double)j / steps * (nh - keep_h) + 0.5);
        int tf = nf - (int)floor((double)j / steps * (nf - keep_f) + 0.5);
        if (rc == QA_OK) {
            keep_best_open(score, keep, nh, th);
            keep_best_open(score + nh, keep + nh, nf, tf);
        }
    }
    free(gate);
    return rc;
}

int strategy_select(BertModel *teacher, const QaData *train, const StrategyOpts *o,
                    uint8_t *keep, BertModel **source, L0Stats *l0_stats) {
    *source = NULL;
    const BertConfig *c = bert_config(teacher);
    int nh = bert_total_heads(c), nf = bert_total_ffn(c);
    int keep_h = strategy_keep_count(nh, o->head_sparsity);
    int keep_f = strategy_keep_count(nf, o->ffn_sparsity);
    if (o->kind == STRATEGY_DENSE) {
        strategy_uniform_keep(c, o->head_sparsity, o->ffn_sparsity, keep);
        return QA_OK;
    }
    if (o->kind == STRATEGY_RANDOM) {
        strategy_random(o->seed, nh, keep_h, keep);
        strategy_random(o->seed + 1, nf, keep_f, keep + nh);
        return QA_OK;
    }
    float *score = malloc(sizeof(float) * (size_t)(nh + nf + 1));
    if (!score) return qa_error("strategy: out of memory");
    int rc = QA_ERR;
    if (o->kind == STRATEGY_GAIN) {
        rc = gain_select(teacher, train, o, nh, nf, keep_h, keep_f, score, keep);
        free(score);
        return rc;
    } else {
        L0Stats st;
        if (copy_model(teacher, source) ||
            l0_train(*source, train, &o->train, &o->l0, o->head_sparsity, o->ffn_sparsity,
                     score, score + nh, &st))
            goto cleanup;
        if (l0_stats) *l0_stats = st;
    }
    strategy_topk(score, nh, keep_h, keep);
    strategy_topk(score + nh, nf, keep_f, keep + nh);
    rc = QA_OK;
cleanup:
    free(score);
    if (rc) {
        bert_free(*source);
        *source = NULL;
    }
    return rc;
}
