/* core/model/ops.c: layer kernels (see ops.h for shapes and conventions).
 *
 * GEMMs go to core/model/gemm (OpenBLAS or oneDNN, chosen at run time); element-wise loops use OpenMP with static
 * schedules, and every reduction is split so that each output element is summed by exactly
 * one thread in a fixed order: results are identical run to run and independent of the
 * thread count except where the GEMM library itself splits a sum. */
#include "core/model/ops.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/model/gemm.h"
#include "core/model/ops_impl.h"
#include "core/util/rng.h"

static int n_threads = 1;

void ops_set_threads(int n) {
    assert(n >= 1);
    n_threads = n;
    omp_set_num_threads(n);
    gemm_set_threads(n);
}

int ops_threads(void) { return n_threads; }

/* ---------------------------------------------------------------- scalar math */

/* Phi(x) = 0.5 erfc(-x/sqrt2). erfc(z) for z >= 0 by the Chebyshev-fitted form
 * erfc(z) = t exp(-z^2 + P(t)), t = 1/(1 + z/2), fractional error < 1.2e-7 for all z >= 0
 * (Press et al., Numerical Recipes, "erfcc"); negative arguments by symmetry. */
static inline float normcdf_fast(float x) {
    float z = fabsf(x) * 0.70710678118654752f;
    float t = 1.f / fmaf(0.5f, z, 1.f);
    float p = 0.17087277f;
    p = fmaf(p, t, -0.82215223f);
    p = fmaf(p, t, 1.48851587f);
    p = fmaf(p, t, -1.13520398f);
    p = fmaf(p, t, 0.27886807f);
    p = fmaf(p, t, -0.18628806f);
    p = fmaf(p, t, 0.09678418f);
    p = fmaf(p, t, 0.37409196f);
    p = fmaf(p, t, 1.00002368f);
    p = fmaf(p, t, -1.26551223f);
    float half_erfc = 0.5f * t * expf_fast(fmaf(-z, z, p));
    return x < 0.f ? half_erfc : 1.f - half_erfc;
}

static inline float gelu_fast(float x) { return x * normcdf_fast(x); }

static inline float gelu_grad_fast(float x) {
    return normcdf_fast(x) + x * 0.39894228040143268f * expf_fast(-0.5f * x * x);
}

float ops_expf(float x) { return expf_fast(x); }
float ops_normcdf(float x) { return normcdf_fast(x); }
float ops_gelu(float x) { return gelu_fast(x); }
float ops_gelu_grad(float x) { return gelu_grad_fast(x); }

/* ---------------------------------------------------------------- dropout */

void dropout_apply(float *x, long n, const Dropout *d, uint64_t site) {
    if (!d || d->p <= 0.f) return;
    assert(d->p < 1.f);
    uint64_t cut = (uint64_t)((double)d->p * 18446744073709551616.0);
    float keep_scale = 1.f / (1.f - d->p);
#pragma omp parallel for schedule(static) if (PARALLEL(n))
    for (long i = 0; i < n; i++)
        x[i] = rng_hash(d->seed, site, (uint64_t)i) >= cut ? x[i] * keep_scale : 0.f;
}

/* ---------------------------------------------------------------- embeddings */

void embed_forward(float *out, const int32_t *ids, const int32_t *types, const int32_t *pos,
                   const float *wte, const float *wpe, const float *wtt, int N, int C) {
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * C))
    for (int n = 0; n < N; n++) {
        const float *w = wte + (long)ids[n] * C, *p = wpe + (long)pos[n] * C;
        float *o = out + (long)n * C;
        for (int c = 0; c < C; c++) o[c] = w[c] + p[c];
        if (!wtt) continue;
        const float *t = wtt + (long)types[n] * C;
        for (int c = 0; c < C; c++) o[c] += t[c];
    }
}

void embed_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                    const int32_t *ids, const int32_t *types, const int32_t *pos, int N, int C) {
    /* Scatter-add: rows collide (same token twice), so this stays serial and ordered. */
    for (int n = 0; n < N; n++) {
        const float *d = dout + (long)n * C;
        float *w = dwte + (long)ids[n] * C;
        for (int c = 0; c < C; c++) w[c] += d[c];
        if (dwpe) {
            float *p = dwpe + (long)pos[n] * C;
            for (int c = 0; c < C; c++) p[c] += d[c];
        }
        if (dwtt) {
            float *t = dwtt + (long)types[n] * C;
            for (int c = 0; c < C; c++) t[c] += d[c];
        }
    }
}

/* ---------------------------------------------------------------- layernorm */

static inline float sumsq_dev_lanes(const float *x, float m, int n) {
    float acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += (x[j + l] - m) * (x[j + l] - m);
    for (; j < n; j++) acc[j % LANES] += (x[j] - m) * (x[j] - m);
    return lanes_total(acc);
}

static inline void layernorm_rows(float *out, bf16 *outh, float *mean, float *rstd,
                                  const float *in, const float *w, const float *b, int N,
                                  int C, float eps) {
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * C))
    for (int n = 0; n < N; n++) {
        const float *x = in + (long)n * C;
        float *o = out + (long)n * C;
        float m = sum_lanes(x, C) / C, v = sumsq_dev_lanes(x, m, C);
        float s = 1.f / sqrtf(v / C + eps);
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
        if (outh)
            for (int c = 0; c < C; c++) outh[(long)n * C + c] = gemm_round_bf16(o[c]);
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = s;
    }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                       const float *b, int N, int C, float eps) {
    layernorm_rows(out, NULL, mean, rstd, in, w, b, N, C, eps);
}

void layernorm_forward_bf16(float *out, bf16 *outh, float *mean, float *rstd, const float *in,
                            const float *w, const float *b, int N, int C, float eps) {
    layernorm_rows(out, outh, mean, rstd, in, w, b, N, C, eps);
}

/* Forward: y = xhat * w + b, xhat = (x - mean) * rstd.
 * dxhat = dy * w; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
 * dw = sum_rows dy * xhat; db = sum_rows dy. */
void layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *mean, const float *rstd, const float *w, int N, int C) {
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * C))
    for (int n = 0; n < N; n++) {
        const float *x = in + (long)n * C, *dy = dout + (long)n * C;
        float *dx = din + (long)n * C;
        float m = mean[n], s = rstd[n], g_mean = 0.f, gx_mean = 0.f;
        for (int c = 0; c < C; c++) {
            float dxhat = dy[c] * w[c];
            g_mean += dxhat;
            gx_mean += dxhat * (x[c] - m) * s;
        }
        g_mean /= C;
        gx_mean /= C;
        for (int c = 0; c < C; c++)
            dx[c] += s * (dy[c] * w[c] - g_mean - (x[c] - m) * s * gx_mean);
    }
    if (!dw || !db) return;
    /* Parameter gradients: each thread owns a block of columns, rows summed in order. */
#pragma omp parallel if (PARALLEL((long)N * C))
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int c0 = (int)((long)C * id / nt), c1 = (int)((long)C * (id + 1) / nt);
        for (int n = 0; n < N; n++) {
            const float *x = in + (long)n * C, *dy = dout + (long)n * C;
            float m = mean[n], s = rstd[n];
            for (int c = c0; c < c1; c++) {
                dw[c] += dy[c] * (x[c] - m) * s;
                db[c] += dy[c];
            }
        }
    }
}

/* ---------------------------------------------------------------- linear layers */

void matmul_forward(float *out, const float *in, const float *w, const float *b, int N, int K,
                    int O) {
    gemm_f32(0, 1, N, O, K, 1.f, in, K > 0 ? K : 1, w, K > 0 ? K : 1, 0.f, out, O > 0 ? O : 1, b);
}

/* out[N,O] = res + b on every row: the start of the residual GEMMs. */
static void residual_fill(float *out, const float *b, const float *res, int N, int O) {
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * O))
    for (int n = 0; n < N; n++) {
        float *o = out + (long)n * O;
        const float *r = res + (long)n * O;
        for (int j = 0; j < O; j++) o[j] = r[j] + b[j];
    }
}

void matmul_residual_forward(float *out, const float *in, const float *w, const float *b,
                             const float *res, int N, int K, int O) {
    residual_fill(out, b, res, N, O);
    gemm_f32(0, 1, N, O, K, 1.f, in, K > 0 ? K : 1, w, K > 0 ? K : 1, 1.f, out, O > 0 ? O : 1,
             NULL);
}

void matmul_forward_bf16_in(float *out, const bf16 *inh, const bf16 *w, const float *b, int N,
                            int K, int O) {
    gemm_bf16(0, 1, N, O, K, 1.f, inh, K > 0 ? K : 1, w, K > 0 ? K : 1, 0.f, out, O > 0 ? O : 1,
              b);
}

void matmul_residual_forward_bf16_in(float *out, const bf16 *inh, const bf16 *w,
                                     const float *b, const float *res, int N, int K, int O) {
    residual_fill(out, b, res, N, O);
    gemm_bf16(0, 1, N, O, K, 1.f, inh, K > 0 ? K : 1, w, K > 0 ? K : 1, 1.f, out, O > 0 ? O : 1,
              NULL);
}

/* db[O] += column sums of dout [N,O]; each thread owns a range of columns. */
static void bias_backward(float *db, const float *dout, int N, int O) {
#pragma omp parallel if (PARALLEL((long)N * O))
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int o0 = (int)((long)O * id / nt), o1 = (int)((long)O * (id + 1) / nt);
        for (int n = 0; n < N; n++) {
            const float *d = dout + (long)n * O;
            for (int o = o0; o < o1; o++) db[o] += d[o];
        }
    }
}

/* Forward: out = in . w^T + b.  din += dout . w;  dw += dout^T . in;  db += sum_rows dout. */
void matmul_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int N, int K, int O) {
    if (N == 0 || O == 0) return;
    if (K > 0 && din)
        gemm_f32(0, 0, N, K, O, 1.f, dout, O, w, K, 1.f, din, K, NULL);
    if (K > 0 && dw)
        gemm_f32(1, 0, O, K, N, 1.f, dout, O, in, K, 1.f, dw, K, NULL);
    if (db) bias_backward(db, dout, N, O);
}

/* douth = dout in bf16 and db[O] += its column sums (db may be NULL), in one pass over dout
 * split by rows as the kernels that wrote dout split them when the thread count divides
 * COLSUM_BLOCKS (each thread then reads what it wrote, in its own cache; more than 8 threads
 * share the 8 blocks): COLSUM_BLOCKS fixed blocks of rows each sum their columns into a
 * partial row, and the partials are added in block order, so every sum keeps one order
 * whatever the thread count. The partials live in a buffer of this module, grown on first
 * use of a width (ops are called from one thread). */
enum { COLSUM_BLOCKS = 8 };
static float *colsum_buf;
static size_t colsum_cap;

static void to_bf16_colsum(bf16 *douth, float *db, const float *dout, int N, int O) {
    size_t need = (size_t)COLSUM_BLOCKS * O;
    if (db && need > colsum_cap) {
        free(colsum_buf);
        colsum_buf = malloc(need * sizeof(float));
        colsum_cap = colsum_buf ? need : 0;
        if (!colsum_buf) {
            fprintf(stderr, "ops: out of memory for %zu column sums\n", need);
            abort();
        }
    }
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * O))
    for (int blk = 0; blk < COLSUM_BLOCKS; blk++) {
        int n0 = (int)((long)N * blk / COLSUM_BLOCKS);
        int n1 = (int)((long)N * (blk + 1) / COLSUM_BLOCKS);
        float *part = db ? colsum_buf + (size_t)blk * O : NULL;
        if (part) memset(part, 0, sizeof(float) * O);
        for (int n = n0; n < n1; n++) {
            const float *d = dout + (long)n * O;
            bf16 *h = douth + (long)n * O;
            for (int o = 0; o < O; o++) h[o] = gemm_round_bf16(d[o]);
            if (part)
                for (int o = 0; o < O; o++) part[o] += d[o];
        }
    }
    if (!db) return;
    for (int blk = 0; blk < COLSUM_BLOCKS; blk++)
        for (int o = 0; o < O; o++) db[o] += colsum_buf[(size_t)blk * O + o];
}

void matmul_backward_bf16(float *din, int din_add, float *dw, float *db, const float *dout,
                          const bf16 *inh, const bf16 *w, int N, int K, int O) {
    if (N == 0 || K == 0 || (!din && !dw)) {
        if (db && O) bias_backward(db, dout, N, O);
        return;
    }
    if (O == 0) {
        if (din && !din_add) memset(din, 0, sizeof(float) * (size_t)N * K);
        return;
    }
    bf16 *douth = gemm_bf16_scratch(0, (long)N * O);
    to_bf16_colsum(douth, db, dout, N, O);
    if (din) gemm_bf16(0, 0, N, K, O, 1.f, douth, O, w, K, din_add ? 1.f : 0.f, din, K, NULL);
    if (dw) gemm_bf16(1, 0, O, K, N, 1.f, douth, O, inh, K, 1.f, dw, K, NULL);
}

/* ---------------------------------------------------------------- gates */

void headgate_forward(float *out, const float *in, const float *gate, int N, int NH, int HS) {
    int A = NH * HS;
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * A))
    for (int n = 0; n < N; n++)
        for (int h = 0; h < NH; h++)
            for (int s = 0; s < HS; s++)
                out[(long)n * A + h * HS + s] = in[(long)n * A + h * HS + s] * gate[h];
}

/* Forward: out[n, h, s] = in[n, h, s] * gate[h]. */
void headgate_backward(float *din, float *dgate, const float *dout, const float *in,
                       const float *gate, int N, int NH, int HS) {
    int A = NH * HS;
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * A))
    for (int n = 0; n < N; n++)
        for (int h = 0; h < NH; h++)
            for (int s = 0; s < HS; s++)
                din[(long)n * A + h * HS + s] += dout[(long)n * A + h * HS + s] * gate[h];
    if (!dgate) return;
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * HS * NH))
    for (int h = 0; h < NH; h++) {
        double acc = 0.0;
        for (int n = 0; n < N; n++) {
            const float *o = dout + (long)n * A + h * HS, *x = in + (long)n * A + h * HS;
            float row = 0.f;
            for (int s = 0; s < HS; s++) row += o[s] * x[s];
            acc += row;
        }
        dgate[h] += (float)acc;
    }
}

void gelu_gate_forward(float *out, const float *in, const float *gate, int N, int F) {
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * F))
    for (int n = 0; n < N; n++) {
        const float *x = in + (long)n * F;
        float *o = out + (long)n * F;
        if (gate)
            for (int f = 0; f < F; f++) o[f] = gelu_fast(x[f]) * gate[f];
        else
            for (int f = 0; f < F; f++) o[f] = gelu_fast(x[f]);
    }
}

void bias_gelu_gate_forward(float *out, float *h, const float *b, const float *gate, int N,
                            int F) {
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * F))
    for (int n = 0; n < N; n++) {
        float *x = h + (long)n * F, *o = out + (long)n * F;
        if (gate)
            for (int f = 0; f < F; f++) {
                float v = x[f] + b[f];
                x[f] = v;
                o[f] = gelu_fast(v) * gate[f];
            }
        else
            for (int f = 0; f < F; f++) {
                float v = x[f] + b[f];
                x[f] = v;
                o[f] = gelu_fast(v);
            }
    }
}

/* One row of bias_gelu_gate_forward_bf16 (gate may be NULL), restrict-qualified and with
 * branch-free bodies so that each case vectorises. */
static inline void bias_gelu_row_bf16(bf16 *restrict o, bf16 *restrict gr, float *restrict x,
                                      const float *restrict b, const float *restrict gate,
                                      int F) {
    if (gate) {
        for (int f = 0; f < F; f++) {
            float v = x[f] + b[f], c = normcdf_fast(v);
            x[f] = v;
            o[f] = gemm_round_bf16(v * c * gate[f]);
            gr[f] = gemm_round_bf16(c + v * 0.39894228040143268f * expf_fast(-0.5f * v * v));
        }
    } else {
        for (int f = 0; f < F; f++) {
            float v = x[f] + b[f], c = normcdf_fast(v);
            x[f] = v;
            o[f] = gemm_round_bf16(v * c);
            gr[f] = gemm_round_bf16(c + v * 0.39894228040143268f * expf_fast(-0.5f * v * v));
        }
    }
}

/* gr[f]: gelu_grad_fast(v) with its normcdf shared with gelu's (the same value). */
void bias_gelu_gate_forward_bf16(bf16 *outh, bf16 *gradh, float *h, const float *b,
                                 const float *gate, int N, int F) {
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * F))
    for (int n = 0; n < N; n++)
        bias_gelu_row_bf16(outh + (long)n * F, gradh + (long)n * F, h + (long)n * F, b, gate,
                           F);
}

void gelu_gate_backward_saved(float *din, const float *dout, const bf16 *gradh,
                              const float *gate, int N, int F) {
#pragma omp parallel for schedule(static) if (PARALLEL((long)N * F))
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (long)n * F;
        const bf16 *gr = gradh + (long)n * F;
        float *dx = din + (long)n * F;
        if (gate)
            for (int f = 0; f < F; f++) dx[f] = dy[f] * gate[f] * gemm_bf16_to_f32(gr[f]);
        else
            for (int f = 0; f < F; f++) dx[f] = dy[f] * gemm_bf16_to_f32(gr[f]);
    }
}

/* Forward: out = gelu(in) * gate.  din += dout * gate * gelu'(in);
 * dgate += sum_rows dout * gelu(in) (each thread owns a block of columns). */
void gelu_gate_backward(float *din, float *dgate, const float *dout, const float *in,
                        const float *gate, int N, int F) {
#pragma omp parallel if (PARALLEL((long)N * F))
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int f0 = (int)((long)F * id / nt), f1 = (int)((long)F * (id + 1) / nt);
        for (int n = 0; n < N; n++) {
            const float *x = in + (long)n * F, *dy = dout + (long)n * F;
            float *dx = din + (long)n * F;
            if (gate && dgate)
                for (int f = f0; f < f1; f++) {
                    dx[f] += dy[f] * gate[f] * gelu_grad_fast(x[f]);
                    dgate[f] += dy[f] * gelu_fast(x[f]);
                }
            else if (gate)
                for (int f = f0; f < f1; f++) dx[f] += dy[f] * gate[f] * gelu_grad_fast(x[f]);
            else if (dgate)
                for (int f = f0; f < f1; f++) {
                    dx[f] += dy[f] * gelu_grad_fast(x[f]);
                    dgate[f] += dy[f] * gelu_fast(x[f]);
                }
            else
                for (int f = f0; f < f1; f++) dx[f] += dy[f] * gelu_grad_fast(x[f]);
        }
    }
}
