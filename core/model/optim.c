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

void adamw_step(AdamW *a, BertModel *m, float lr) {
    float *p = bert_params(m), *g = bert_grads(m);
    if (!g) return;
    a->t++;
    double bc1 = 1.0 - pow(a->o.beta1, (double)a->t), bc2 = 1.0 - pow(a->o.beta2, (double)a->t);
    float step = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float b1 = a->o.beta1, b2 = a->o.beta2, eps = a->o.eps;
    for (int i = 0; i < bert_num_tensors(m); i++) {
        const BertTensor *t = bert_tensor(m, i);
        float decay = t->decay ? 1.f - lr * a->o.weight_decay : 1.f;
        float *pp = p + t->offset, *gg = g + t->offset;
        float *mm = a->mom + t->offset, *vv = a->vel + t->offset;
        long n = (long)t->numel;
#pragma omp parallel for schedule(static) if (n >= 32768)
        for (long k = 0; k < n; k++) {
            pp[k] *= decay;
            mm[k] = b1 * mm[k] + (1.f - b1) * gg[k];
            vv[k] = b2 * vv[k] + (1.f - b2) * gg[k] * gg[k];
            pp[k] -= step * mm[k] / (sqrtf(vv[k]) / bc2_sqrt + eps);
        }
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
