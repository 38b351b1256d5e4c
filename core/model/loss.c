/* core/model/loss.c: span cross-entropy and distillation losses (see loss.h). */
#include "core/model/loss.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>

/* p[T] = softmax(x / temp) computed in double; returns log sum exp(x / temp). */
static double softmax_t(double *p, const float *x, int T, double temp) {
    double mx = -INFINITY, sum = 0.0;
    for (int t = 0; t < T; t++) mx = fmax(mx, x[t] / temp);
    for (int t = 0; t < T; t++) sum += (p[t] = exp(x[t] / temp - mx));
    for (int t = 0; t < T; t++) p[t] /= sum;
    return mx + log(sum);
}

/* Adds to loss the mixed objective of one logit row; writes its gradient scaled by `scale`.
 * gold part: CE = lse(x) - x[gold], dCE/dx = softmax(x) - onehot(gold).
 * soft part: -sum q log softmax(x/T), d/dx = (softmax(x/T) - q) / T, times T^2. */
static double row_loss(float *dx, const float *x, const float *teacher, int gold, int T,
                       double temp, double alpha, double scale) {
    double p[T], q[T], loss = 0.0;
    double lse = softmax_t(p, x, T, 1.0);
    assert(gold >= 0 && gold < T);
    double gold_w = teacher ? 1.0 - alpha : 1.0;
    loss += gold_w * (lse - x[gold]);
    for (int t = 0; t < T; t++) dx[t] = (float)(scale * gold_w * (p[t] - (t == gold)));
    if (teacher) {
        softmax_t(q, teacher, T, temp);
        double lse_s = softmax_t(p, x, T, temp), soft = 0.0;
        for (int t = 0; t < T; t++) soft -= q[t] * (x[t] / temp - lse_s);
        loss += alpha * temp * temp * soft;
        for (int t = 0; t < T; t++) dx[t] += (float)(scale * alpha * temp * (p[t] - q[t]));
    }
    return loss;
}

static float mixed_loss(float *dstart, float *dend, const float *start, const float *end,
                        const float *ts, const float *te, const int32_t *sp, const int32_t *ep,
                        int B, int T, double temp, double alpha) {
    double total = 0.0, scale = 0.5 / B;
    for (int b = 0; b < B; b++) {
        long o = (long)b * T;
        total += row_loss(dstart + o, start + o, ts ? ts + o : NULL, sp[b], T, temp, alpha, scale);
        total += row_loss(dend + o, end + o, te ? te + o : NULL, ep[b], T, temp, alpha, scale);
    }
    return (float)(total * 0.5 / B);
}

float loss_span(float *dstart, float *dend, const float *start, const float *end,
                const int32_t *start_pos, const int32_t *end_pos, int B, int T) {
    return mixed_loss(dstart, dend, start, end, NULL, NULL, start_pos, end_pos, B, T, 1.0, 0.0);
}

float loss_type(float *dtype, const float *type, const float *teacher_type, const int32_t *gold,
                int B, int NT, float temp, float alpha) {
    assert(temp > 0.f && alpha >= 0.f && alpha <= 1.f);
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        long o = (long)b * NT;
        total += row_loss(dtype + o, type + o, teacher_type ? teacher_type + o : NULL, gold[b],
                          NT, temp, alpha, 1.0 / B);
    }
    return (float)(total / B);
}

float loss_distill(float *dstart, float *dend, const float *start, const float *end,
                   const float *teacher_start, const float *teacher_end,
                   const int32_t *start_pos, const int32_t *end_pos, int B, int T, float temp,
                   float alpha) {
    assert(temp > 0.f && alpha >= 0.f && alpha <= 1.f);
    return mixed_loss(dstart, dend, start, end, teacher_start, teacher_end, start_pos, end_pos,
                      B, T, temp, alpha);
}
