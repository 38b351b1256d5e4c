/* core/model/optim.c: AdamW, clipping, the learning-rate schedule (see optim.h). */
#include "core/model/optim.h"

#include <math.h>
#include <stdlib.h>

#include "core/util/error.h"

struct AdamW {
    AdamWOpts o;
    long t;
    size_t n;
    float *mom, *vel; /* [n] each, the parameter layout */
};

int adamw_create(const BertModel *m, const AdamWOpts *opts, AdamW **out) {
    AdamW *a = calloc(1, sizeof *a);
    size_t n = bert_num_params(m);
    if (a) a->mom = calloc(2 * (n ? n : 1), sizeof(float));
    if (!a || !a->mom) {
        free(a);
        *out = NULL;
        return qa_error("adamw: out of memory for %zu parameters", n);
    }
    a->o = *opts;
    a->n = n;
    a->vel = a->mom + n;
    *out = a;
    return QA_OK;
}

void adamw_free(AdamW *a) {
    if (!a) return;
    free(a->mom);
    free(a);
}

/* v[k] >= 0, so sqrtf never sets errno here: the loop is written for the vectoriser
 * (restrict, omp simd), and vector sqrt and division round as the scalar ones do, so the
 * update is the same bit for bit as a scalar loop's. */
void optim_adam_update(float *restrict p, const float *restrict g, float *restrict m,
                       float *restrict v, long n, float lr, float b1, float b2, float eps, long t,
                       float decay) {
    double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    float step = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
#pragma omp parallel for simd schedule(static) if (n >= 32768)
    for (long k = 0; k < n; k++) {
        p[k] *= decay;
        m[k] = b1 * m[k] + (1.f - b1) * g[k];
        v[k] = b2 * v[k] + (1.f - b2) * g[k] * g[k];
        p[k] -= step * m[k] / (sqrtf(v[k]) / bc2_sqrt + eps);
    }
}

void adamw_step(AdamW *a, BertModel *m, float lr) {
    float *p = bert_params(m), *g = bert_grads(m);
    if (!g) return;
    a->t++;
    for (int i = 0; i < bert_num_tensors(m); i++) {
        const BertTensor *t = bert_tensor(m, i);
        if (!t->trainable) continue; /* fixed (DistilBERT's sinusoidal positions) */
        float decay = t->decay ? 1.f - lr * a->o.weight_decay : 1.f;
        optim_adam_update(p + t->offset, g + t->offset, a->mom + t->offset, a->vel + t->offset,
                          (long)t->numel, lr, a->o.beta1, a->o.beta2, a->o.eps, a->t, decay);
    }
}

double optim_clip_grad_norm(BertModel *m, double max_norm) {
    float *g = bert_grads(m);
    if (!g) return 0.0;
    size_t n = bert_num_params(m);
    double sq = 0.0;
    for (size_t i = 0; i < n; i++) sq += (double)g[i] * g[i];
    double norm = sqrt(sq);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
        for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * coef);
    return norm;
}

float optim_linear_schedule(long step, long warmup, long total) {
    if (step < warmup) return (float)step / (float)warmup;
    if (total <= warmup) return 0.f;
    double r = (double)(total - step) / (double)(total - warmup);
    return r > 0.0 ? (float)r : 0.f;
}
