/* core/model/ops_impl.h: what the kernel files of core/model share (ops.c, attention.c):
 * the fast exponential, the fixed-order lane sums and the rule for going parallel. Nothing
 * outside core/model/ops.c and attention.c includes it. */
#ifndef QAPRUNE_OPS_IMPL_H
#define QAPRUNE_OPS_IMPL_H

#include <math.h>
#include <stdint.h>

#include "core/model/ops.h"

/* Element-wise loops run in parallel only when the work pays for waking the other threads
 * (about 10 us a region): below ~32k elements one thread is faster. */
#define PARALLEL(work) ((work) >= 32768 && ops_threads() > 1)

/* e^x = 2^n e^r with n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2] (Cody-Waite
 * split of ln 2), e^r by its degree-7 Taylor polynomial (truncation < 5e-9 relative).
 * Branch-free so that loops over it vectorise. */
static inline float expf_fast(float x) {
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    float xc = x < -87.33654f ? -87.33654f : x;
    xc = xc > 88.37626f ? 88.37626f : xc;
    float n = rintf(xc * 1.44269504088896341f);
    float r = fmaf(n, -ln2_lo, fmaf(n, -ln2_hi, xc));
    float p = 1.f / 5040.f;
    p = fmaf(p, r, 1.f / 720.f);
    p = fmaf(p, r, 1.f / 120.f);
    p = fmaf(p, r, 1.f / 24.f);
    p = fmaf(p, r, 1.f / 6.f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.f);
    p = fmaf(p, r, 1.f);
    union { uint32_t u; float f; } scale = {.u = (uint32_t)((int32_t)n + 127) << 23};
    float y = p * scale.f;
    y = x < -87.33654f ? 0.f : y;
    y = x > 88.37626f ? INFINITY : y;
    return x != x ? x : y;
}

/* Reductions keep LANES interleaved partial results (element j goes to lane j % LANES) and
 * combine the lanes in order at the end: a fixed summation order, independent of threads,
 * that the compiler vectorises without reassociation flags. */
enum { LANES = 16 };

static inline float lanes_total(const float *acc) {
    float t = 0.f;
    for (int l = 0; l < LANES; l++) t += acc[l];
    return t;
}

/* sum over j of x[j], lane by lane. */
static inline float sum_lanes(const float *x, int n) {
    float acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += x[j + l];
    for (; j < n; j++) acc[j % LANES] += x[j];
    return lanes_total(acc);
}

#endif
