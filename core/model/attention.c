/* core/model/attention.c: the self-attention core (see ops.h): the GEMM path per head, the
 * fused AVX-512 path, the bf16 path and the backward. Summation orders are fixed as in
 * ops.c, so results do not depend on the thread count except where the GEMM library itself
 * splits a sum. */
#include <math.h>
#include <omp.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/model/gemm.h"
#include "core/model/ops.h"
#include "core/model/ops_impl.h"
#include "core/util/rng.h"

/* probs row = softmax over the unmasked keys of s (in place); masked keys get 0. A row with
 * every key masked gets the uniform distribution (what an additive -inf-like mask gives). */
static void softmax_row(float *s, const int32_t *mask, int T) {
    float acc[LANES];
    for (int l = 0; l < LANES; l++) acc[l] = -INFINITY;
    int j = 0;
    for (; j + LANES <= T; j += LANES)
        for (int l = 0; l < LANES; l++) {
            float v = s[j + l];
            v = mask[j + l] ? v : -INFINITY;
            acc[l] = v > acc[l] ? v : acc[l];
        }
    for (; j < T; j++)
        if (mask[j] && s[j] > acc[j % LANES]) acc[j % LANES] = s[j];
    float mx = -INFINITY;
    for (int l = 0; l < LANES; l++) mx = acc[l] > mx ? acc[l] : mx;
    if (mx == -INFINITY) {
        for (j = 0; j < T; j++) s[j] = 1.f / T;
        return;
    }
    for (j = 0; j < T; j++) s[j] = mask[j] ? expf_fast(s[j] - mx) : 0.f;
    float inv = 1.f / sum_lanes(s, T);
    for (j = 0; j < T; j++) s[j] *= inv;
}

static uint64_t attention_site(uint64_t site, int b, int NH, int h) {
    return (site << 24) ^ (uint64_t)(b * NH + h);
}

/* Softmax of the T score rows of one (b, h) in place; rows split over threads. */
static void softmax_rows(float *p, const int32_t *mask, int T) {
#pragma omp parallel for schedule(static) if (PARALLEL((long)T * T))
    for (int i = 0; i < T; i++) softmax_row(p + (long)i * T, mask, T);
}

/* One (b, h) at a time, so that its [T,T] scores stay in cache from the Q K^T product
 * through the softmax to the product with V. probs NULL: each head's scores go to scratch. */
void attention_forward_gemm(float *ctx, float *probs, const float *qkv, const int32_t *mask,
                            int B, int T, int NH, int HS, const Dropout *d, uint64_t site,
                            float *scratch) {
    int A = NH * HS, ld = 3 * A;
    float scale = 1.f / sqrtf((float)HS);
    for (int b = 0; b < B; b++) {
        const float *q = qkv + (long)b * T * ld;
        for (int h = 0; h < NH; h++) {
            float *p = probs ? probs + ((long)b * NH + h) * T * T : scratch;
            const float *pd = p;
            gemm_f32(0, 1, T, T, HS, scale, q + h * HS, ld, q + A + h * HS, ld, 0.f, p, T,
                     NULL);
            softmax_rows(p, mask + (long)b * T, T);
            if (d && d->p > 0.f) {
                float *pdrop = scratch + (long)T * T;
                memcpy(pdrop, p, sizeof(float) * T * T);
                dropout_apply(pdrop, (long)T * T, d, attention_site(site, b, NH, h));
                pd = pdrop;
            }
            gemm_f32(0, 0, T, HS, T, 1.f, pd, T, q + 2 * A + h * HS, ld, 0.f,
                     ctx + (long)b * T * A + h * HS, A, NULL);
        }
    }
}

/* ---------------------------------------------------------------- fused attention
 *
 * attention_forward without dropout, one block of ATTN_ROWS query rows of one head at a
 * time: S = scale Q K^T for the block, its softmax and ctx = P V all run on a block of S
 * that stays in the core's cache, instead of three passes over a [T,T] matrix per head. The
 * two products are register-tiled AVX-512 loops over up to 4 rows x 4 vectors (64 columns)
 * of the output: a[r,k] broadcast times 16-wide rows of b. K^T of each head is first packed
 * as [HS, Tp] (Tp = T rounded up to 16, zero columns after T) so that its rows are vectors.
 * Each output element is one thread's fixed-order sum: results do not depend on the thread
 * count. */

enum { ATTN_ROWS = 32 };

static int attn_pad(int T) { return (T + 15) & ~15; }

long attention_scratch_size(int T, int NH, int HS, int threads) {
    long Tp = attn_pad(T);
    long fused = (long)NH * HS * Tp + (long)threads * ATTN_ROWS * Tp + 16;
    long gemm = 2L * T * T;
    return fused > gemm ? fused : gemm;
}

#if defined(__AVX512F__)
#define ATTN_FUSED 1

/* The two products of attention_block: c[r, j] = rs[r] * sum_k a[r lda + k] * b[k ldb + j]
 * for rows r and columns j of one tile; a[r,k] is broadcast, b's rows are 16-wide vectors.
 * The last vector of each b row is loaded and of each c row stored under mask `last`
 * (columns beyond are neither read nor written). */

/* 4 rows x 64 columns, the 16 accumulators in named registers (GCC keeps an array of them
 * on the stack, storing it every iteration). */
#define FMA_ROW(r)                                                      \
    do {                                                                \
        __m512 ar = _mm512_set1_ps(a[r * lda + k]);                     \
        c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);                     \
        c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1);                     \
        c##r##2 = _mm512_fmadd_ps(ar, b2, c##r##2);                     \
        c##r##3 = _mm512_fmadd_ps(ar, b3, c##r##3);                     \
    } while (0)
#define STORE_ROW(r)                                                            \
    do {                                                                        \
        __m512 sv = _mm512_set1_ps(rs[r]);                                      \
        _mm512_storeu_ps(c + r * ldc, _mm512_mul_ps(c##r##0, sv));              \
        _mm512_storeu_ps(c + r * ldc + 16, _mm512_mul_ps(c##r##1, sv));         \
        _mm512_storeu_ps(c + r * ldc + 32, _mm512_mul_ps(c##r##2, sv));         \
        _mm512_mask_storeu_ps(c + r * ldc + 48, last, _mm512_mul_ps(c##r##3, sv)); \
    } while (0)

static void tile_4x64(float *c, long ldc, const float *a, long lda, const float *b, long ldb,
                      int K, __mmask16 last, const float *rs) {
    __m512 c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = _mm512_setzero_ps();
    c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        const float *bk = b + k * ldb;
        __m512 b0 = _mm512_loadu_ps(bk), b1 = _mm512_loadu_ps(bk + 16);
        __m512 b2 = _mm512_loadu_ps(bk + 32), b3 = _mm512_maskz_loadu_ps(last, bk + 48);
        /* Keeps b in registers: GCC otherwise folds the loads into each row's FMAs, 4x the
         * loads, and the kernel runs ~30% slower. */
        __asm__("" : "+v"(b0), "+v"(b1), "+v"(b2), "+v"(b3));
        FMA_ROW(0);
        FMA_ROW(1);
        FMA_ROW(2);
        FMA_ROW(3);
    }
    STORE_ROW(0);
    STORE_ROW(1);
    STORE_ROW(2);
    STORE_ROW(3);
}

/* 8 rows x one vector (16 columns, the last under `last`): the products whose output is
 * narrower than 64 columns (P V of a head of 16 to 48), eight independent FMA chains where
 * one row alone would wait on each FMA's latency. The same sums in the same order as
 * tile_1xn, so the same results. */
#define FMA8(r) c##r = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda + k]), bv, c##r)
#define STORE8(r) \
    _mm512_mask_storeu_ps(c + r * ldc, last, _mm512_mul_ps(c##r, _mm512_set1_ps(rs[r])))

static void tile_8x16(float *c, long ldc, const float *a, long lda, const float *b, long ldb,
                      int K, __mmask16 last, const float *rs) {
    __m512 c0, c1, c2, c3, c4, c5, c6, c7;
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 bv = _mm512_maskz_loadu_ps(last, b + k * ldb);
        __asm__("" : "+v"(bv));
        FMA8(0);
        FMA8(1);
        FMA8(2);
        FMA8(3);
        FMA8(4);
        FMA8(5);
        FMA8(6);
        FMA8(7);
    }
    STORE8(0);
    STORE8(1);
    STORE8(2);
    STORE8(3);
    STORE8(4);
    STORE8(5);
    STORE8(6);
    STORE8(7);
}

/* One row x nv (1..4) vectors: the edges of the tiling. */
static void tile_1xn(float *c, const float *a, const float *b, long ldb, int K, int nv,
                     __mmask16 last, float scale) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    for (int k = 0; k < K; k++) {
        __m512 ak = _mm512_set1_ps(a[k]);
        const float *bk = b + k * ldb;
        for (int v = 0; v < nv; v++) {
            __m512 bv = v == nv - 1 ? _mm512_maskz_loadu_ps(last, bk + 16 * v)
                                    : _mm512_loadu_ps(bk + 16 * v);
            acc[v] = _mm512_fmadd_ps(ak, bv, acc[v]);
        }
    }
    for (int v = 0; v < nv; v++) {
        __m512 x = _mm512_mul_ps(acc[v], _mm512_set1_ps(scale));
        if (v == nv - 1) _mm512_mask_storeu_ps(c + 16 * v, last, x);
        else _mm512_storeu_ps(c + 16 * v, x);
    }
}

/* C[rows, ncols] = diag(rs) A[rows, K] . B[K, ncols] (row strides lda, ldb, ldc). */
static void gemm_tiled(float *c, long ldc, const float *a, long lda, const float *b, long ldb,
                       int rows, int K, int ncols, const float *rs) {
    for (int j0 = 0; j0 < ncols; j0 += 64) {
        int w = ncols - j0 < 64 ? ncols - j0 : 64, nv = (w + 15) / 16;
        __mmask16 last = (__mmask16)(w % 16 ? (1u << (w % 16)) - 1 : 0xffffu);
        int r0 = 0;
        if (nv == 4)
            for (; r0 + 4 <= rows; r0 += 4)
                tile_4x64(c + r0 * ldc + j0, ldc, a + r0 * lda, lda, b + j0, ldb, K, last,
                          rs + r0);
        else
            for (; r0 + 8 <= rows; r0 += 8)
                for (int v = 0; v < nv; v++)
                    tile_8x16(c + r0 * ldc + j0 + 16 * v, ldc, a + r0 * lda, lda,
                              b + j0 + 16 * v, ldb, K, v == nv - 1 ? last : 0xffffu, rs + r0);
        for (; r0 < rows; r0++)
            tile_1xn(c + r0 * ldc + j0, a + r0 * lda, b + j0, ldb, K, nv, last, rs[r0]);
    }
}

/* expf_fast on 16 lanes: the same operations in the same order, so the same results. */
static inline __m512 expf_fast16(__m512 x) {
    __m512 lo = _mm512_set1_ps(-87.33654f), hi = _mm512_set1_ps(88.37626f);
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), xc);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.f / 5040.f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    __m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), _mm512_setzero_ps());
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

/* softmax_row in vector passes (max; exp and sum; with normalize, the scale by 1 / sum);
 * masked keys get exactly 0. Returns the factor still to apply: 1 / sum without normalize
 * (s holds the unnormalised exponentials; the caller scales P V instead, one pass over the
 * row fewer), else 1. The sums are reduced in a fixed order, so results are the same run to
 * run. */
static float softmax_row16(float *s, const int32_t *mask, int T, int normalize) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < T; j += 16) {
        __mmask16 in = (__mmask16)(T - j >= 16 ? 0xffffu : (1u << (T - j)) - 1);
        __mmask16 live = _mm512_mask_test_epi32_mask(in, _mm512_maskz_loadu_epi32(in, mask + j),
                                                     _mm512_set1_epi32(-1));
        mx = _mm512_mask_max_ps(mx, live, mx, _mm512_maskz_loadu_ps(in, s + j));
    }
    float m = _mm512_reduce_max_ps(mx);
    if (m == -INFINITY) {
        for (int j = 0; j < T; j++) s[j] = 1.f / T;
        return 1.f;
    }
    __m512 sum = _mm512_setzero_ps(), mv = _mm512_set1_ps(m);
    for (int j = 0; j < T; j += 16) {
        __mmask16 in = (__mmask16)(T - j >= 16 ? 0xffffu : (1u << (T - j)) - 1);
        __mmask16 live = _mm512_mask_test_epi32_mask(in, _mm512_maskz_loadu_epi32(in, mask + j),
                                                     _mm512_set1_epi32(-1));
        __m512 e = _mm512_maskz_mov_ps(live, expf_fast16(_mm512_sub_ps(_mm512_maskz_loadu_ps(in, s + j), mv)));
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(s + j, in, e);
    }
    float inv = 1.f / _mm512_reduce_add_ps(sum);
    if (!normalize) return inv;
    for (int j = 0; j < T; j += 16) {
        __mmask16 in = (__mmask16)(T - j >= 16 ? 0xffffu : (1u << (T - j)) - 1);
        _mm512_mask_storeu_ps(s + j, in,
                              _mm512_mul_ps(_mm512_maskz_loadu_ps(in, s + j), _mm512_set1_ps(inv)));
    }
    return 1.f;
}

/* One block of query rows [i0, i0 + rows) of one (b, h): q, k, v point at row 0 of the
 * head's columns (stride ld), kt is the head's packed K^T [HS, Tp], s a [rows, Tp] scratch;
 * ctx row i0 (stride A); probs row i0 of the head's [T,T] (NULL: not kept). */
static void attention_block(float *ctx, float *probs, const float *q, const float *kt,
                            const float *v, const int32_t *mask, float *s, int i0, int rows,
                            int T, int HS, int ld, int A, float scale) {
    int Tp = attn_pad(T);
    float rs[ATTN_ROWS];
    for (int r = 0; r < rows; r++) rs[r] = scale;
    gemm_tiled(s, Tp, q + (long)i0 * ld, ld, kt, Tp, rows, HS, Tp, rs);
    for (int r = 0; r < rows; r++) {
        rs[r] = softmax_row16(s + (long)r * Tp, mask, T, probs != NULL);
        if (probs) memcpy(probs + (long)(i0 + r) * T, s + (long)r * Tp, sizeof(float) * T);
    }
    gemm_tiled(ctx + (long)i0 * A, A, s, Tp, v, ld, rows, T, HS, rs);
}

static void attention_fused(float *ctx, float *probs, const float *qkv, const int32_t *mask,
                            int B, int T, int NH, int HS, float *scratch) {
    int A = NH * HS, ld = 3 * A, Tp = attn_pad(T), nblk = (T + ATTN_ROWS - 1) / ATTN_ROWS;
    float scale = 1.f / sqrtf((float)HS);
    float *kt = scratch, *sbase = scratch + (long)NH * HS * Tp;
    for (int b = 0; b < B; b++) {
        const float *q = qkv + (long)b * T * ld;
        const int32_t *mk = mask + (long)b * T;
#pragma omp parallel num_threads(ops_threads()) if (PARALLEL((long)NH * T * T))
        {
#pragma omp for schedule(static)
            for (int h = 0; h < NH; h++) {
                float *o = kt + (long)h * HS * Tp;
                for (int j = 0; j < T; j++) {
                    const float *key = q + (long)j * ld + A + h * HS;
                    for (int k = 0; k < HS; k++) o[(long)k * Tp + j] = key[k];
                }
                for (int k = 0; k < HS; k++)
                    for (int j = T; j < Tp; j++) o[(long)k * Tp + j] = 0.f;
            }
            float *s = sbase + (long)omp_get_thread_num() * ATTN_ROWS * Tp;
#pragma omp for schedule(static)
            for (int task = 0; task < NH * nblk; task++) {
                int h = task / nblk, i0 = task % nblk * ATTN_ROWS;
                int rows = T - i0 < ATTN_ROWS ? T - i0 : ATTN_ROWS;
                attention_block(ctx + (long)b * T * A + h * HS,
                                probs ? probs + ((long)b * NH + h) * T * T : NULL, q + h * HS,
                                kt + (long)h * HS * Tp, q + 2 * A + h * HS, mk, s, i0, rows, T,
                                HS, ld, A, scale);
            }
        }
    }
}
#endif

void attention_forward(float *ctx, float *probs, const float *qkv, const int32_t *mask,
                       int B, int T, int NH, int HS, const Dropout *d, uint64_t site,
                       float *scratch) {
#ifdef ATTN_FUSED
    if (!d || d->p <= 0.f) {
        if (NH > 0 && HS > 0) attention_fused(ctx, probs, qkv, mask, B, T, NH, HS, scratch);
        return;
    }
#endif
    attention_forward_gemm(ctx, probs, qkv, mask, B, T, NH, HS, d, site, scratch);
}

/* The softmax of the NH * T score rows of sequence b (NH heads of T rows of length T) in
 * place, rows split over threads; each row also goes to ph in bf16 in the same pass, after
 * the attention dropout when d drops (the mask of attention_forward_gemm: the same hash of
 * the head's site and the element's index in its [T,T], scaled by 1 / (1 - p)), and with
 * pk non-NULL the probabilities before dropout to pk in bf16. */
static void softmax_rows_bf16(bf16 *ph, bf16 *pk, float *p, const int32_t *mask, int NH, int T,
                              const Dropout *d, uint64_t site, int b) {
    long rows = (long)NH * T;
    int drop = d && d->p > 0.f;
    uint64_t cut = drop ? (uint64_t)((double)d->p * 18446744073709551616.0) : 0;
    float keep_scale = drop ? 1.f / (1.f - d->p) : 1.f;
#pragma omp parallel for schedule(static) if (PARALLEL(rows * T))
    for (long i = 0; i < rows; i++) {
        float *row = p + i * T, inv = 1.f;
#ifdef ATTN_FUSED
        inv = softmax_row16(row, mask, T, 0);
#else
        softmax_row(row, mask, T);
#endif
        bf16 *o = ph + i * T;
        for (int j = 0; j < T; j++) row[j] *= inv;
        if (pk)
            for (int j = 0; j < T; j++) pk[i * T + j] = gemm_round_bf16(row[j]);
        if (!drop) {
            for (int j = 0; j < T; j++) o[j] = gemm_round_bf16(row[j]);
            continue;
        }
        uint64_t hs = attention_site(site, b, NH, (int)(i / T)), base = (uint64_t)(i % T) * T;
        for (int j = 0; j < T; j++)
            o[j] = rng_hash(d->seed, hs, base + j) >= cut ? gemm_round_bf16(row[j] * keep_scale)
                                                           : 0;
    }
}

/* Q, K and V of sequence b as bf16 dense [T, HS] blocks, heads after one another: Q heads,
 * then K heads, then V heads ([3 NH, T, HS]). */
static void pack_qkv_bf16(bf16 *qh, const float *qkv, int b, int T, int NH, int HS) {
    int ld = 3 * NH * HS;
    long blk = (long)T * HS;
#pragma omp parallel for schedule(static) if (PARALLEL((long)T * ld))
    for (int t = 0; t < T; t++) {
        const float *src = qkv + ((long)b * T + t) * ld;
        for (int part = 0; part < 3 * NH; part++) {
            bf16 *dst = qh + part * blk + (long)t * HS;
            for (int c = 0; c < HS; c++) dst[c] = gemm_round_bf16(src[(long)part * HS + c]);
        }
    }
}

/* Q, K and V of each (b, h) go to bf16 as dense [T, HS] blocks, heads after one another, so
 * that the NH products of each kind are one batched oneDNN matmul on dense operands (its
 * brgemm kernels, which oneDNN 2.6 takes only on dense operands, spread over the threads
 * by head and row block); ctx comes back through dense [NH, T, HS] scratch. With keep
 * (training) the packed Q, K, V and the bf16 probabilities stay there for the backward. */
void attention_forward_bf16(float *ctx, float *probs, const float *qkv, const int32_t *mask,
                            int B, int T, int NH, int HS, const Dropout *d, uint64_t site,
                            float *scratch, const AttnKeep *keep) {
    int A = NH * HS;
    float scale = 1.f / sqrtf((float)HS);
    if (NH == 0) return;
    long blk = (long)T * HS, tt = (long)T * T;
    bf16 *qs = keep ? NULL : gemm_bf16_scratch(0, 3 * NH * blk);
    bf16 *ps = keep ? NULL : gemm_bf16_scratch(1, NH * tt);
    for (int b = 0; b < B; b++) {
        bf16 *qh = keep ? keep->qkv + (long)b * 3 * NH * blk : qs;
        bf16 *ph = keep ? keep->dropped + (long)b * NH * tt : ps;
        pack_qkv_bf16(qh, qkv, b, T, NH, HS);
        const bf16 *q = qh, *k = q + NH * blk, *v = k + NH * blk;
        float *p = probs + (long)b * NH * tt;
        gemm_bf16_batched(NH, 0, 1, T, T, HS, scale, q, HS, blk, k, HS, blk, p, T, tt);
        softmax_rows_bf16(ph, keep ? keep->probs + (long)b * NH * tt : NULL, p,
                          mask + (long)b * T, NH, T, d, site, b);
        gemm_bf16_batched(NH, 0, 0, T, HS, T, 1.f, ph, T, tt, v, HS, blk, scratch, HS, blk);
#pragma omp parallel for schedule(static) if (PARALLEL((long)T * A))
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++)
                memcpy(ctx + ((long)b * T + t) * A + h * HS, scratch + h * blk + (long)t * HS,
                       sizeof(float) * HS);
    }
}

long attention_backward_bf16_scratch_size(int T, int NH, int HS) {
    return (long)NH * T * T + 3L * NH * T * HS;
}

/* The backward of attention_forward_bf16 from what its forward kept, one sequence at a
 * time. With Pd = dropout(P) in bf16 (a dropped element is exactly 0 there, a kept one
 * never: bf16 has fp32's exponent range, so only a probability below ~1e-40 could round to
 * 0, where dS = P (...) is 0 to within 1e-40 anyway):
 *   dV = Pd^T dctx;  dPd = dctx V^T;  dP = dPd / (1 - p) where Pd != 0, else 0;
 *   dS = P * (dP - rowsum(dP * P));  dQ = scale dS K;  dK = scale dS^T Q;
 * each product one batched bf16 matmul over the NH heads; dQ, dK, dV come back as dense
 * [3 NH, T, HS] fp32 and are written into dqkv (not added: it needs no zeroing). */
void attention_backward_bf16(float *dqkv, const float *dctx, const AttnKeep *keep, int B,
                             int T, int NH, int HS, const Dropout *d, float *scratch) {
    int A = NH * HS, ld = 3 * A;
    float scale = 1.f / sqrtf((float)HS);
    if (NH == 0) return;
    long blk = (long)T * HS, tt = (long)T * T;
    float keep_scale = d && d->p > 0.f ? 1.f / (1.f - d->p) : 1.f;
    float *dp = scratch, *dense = dp + NH * tt;
    bf16 *dch = gemm_bf16_scratch(0, NH * blk), *dsh = gemm_bf16_scratch(1, NH * tt);
    for (int b = 0; b < B; b++) {
        const bf16 *q = keep->qkv + (long)b * 3 * NH * blk, *k = q + NH * blk, *v = k + NH * blk;
        const bf16 *ph = keep->dropped + (long)b * NH * tt, *pk = keep->probs + (long)b * NH * tt;
#pragma omp parallel for schedule(static) if (PARALLEL((long)T * A))
        for (int t = 0; t < T; t++) {
            const float *src = dctx + ((long)b * T + t) * A;
            for (int h = 0; h < NH; h++)
                for (int c = 0; c < HS; c++)
                    dch[h * blk + (long)t * HS + c] = gemm_round_bf16(src[h * HS + c]);
        }
        gemm_bf16_batched(NH, 1, 0, T, HS, T, 1.f, ph, T, tt, dch, HS, blk,
                          dense + 2 * NH * blk, HS, blk);
        gemm_bf16_batched(NH, 0, 1, T, T, HS, 1.f, dch, HS, blk, v, HS, blk, dp, T, tt);
#pragma omp parallel for schedule(static) if (PARALLEL((long)NH * tt))
        for (long i = 0; i < NH * (long)T; i++) {
            const bf16 *kept = ph + i * T, *prh = pk + i * T;
            float *g = dp + i * T, acc[LANES] = {0};
            bf16 *o = dsh + i * T;
            for (int j = 0; j < T; j++) g[j] = kept[j] ? g[j] * keep_scale : 0.f;
            int j = 0;
            for (; j + LANES <= T; j += LANES)
                for (int l = 0; l < LANES; l++)
                    acc[l] += g[j + l] * gemm_bf16_to_f32(prh[j + l]);
            for (; j < T; j++) acc[j % LANES] += g[j] * gemm_bf16_to_f32(prh[j]);
            float dot = lanes_total(acc);
            for (j = 0; j < T; j++) o[j] = gemm_round_bf16(gemm_bf16_to_f32(prh[j]) * (g[j] - dot));
        }
        gemm_bf16_batched(NH, 0, 0, T, HS, T, scale, dsh, T, tt, k, HS, blk, dense, HS, blk);
        gemm_bf16_batched(NH, 1, 0, T, HS, T, scale, dsh, T, tt, q, HS, blk,
                          dense + NH * blk, HS, blk);
#pragma omp parallel for schedule(static) if (PARALLEL((long)T * ld))
        for (int t = 0; t < T; t++) {
            float *dst = dqkv + ((long)b * T + t) * ld;
            for (int part = 0; part < 3 * NH; part++) {
                const float *src = dense + part * blk + (long)t * HS;
                for (int c = 0; c < HS; c++) dst[(long)part * HS + c] = src[c];
            }
        }
    }
}

/* Forward per (b, h): S = scale Q K^T; P = softmax(S); Pd = dropout(P); ctx = Pd V.
 * dV += Pd^T dctx;  dPd = dctx V^T;  dP = dropout(dPd);  dS = P * (dP - rowsum(dP * P));
 * dQ += scale dS K;  dK += scale dS^T Q. */
void attention_backward(float *dqkv, const float *dctx, const float *probs, const float *qkv,
                        const int32_t *mask, int B, int T, int NH, int HS, const Dropout *d,
                        uint64_t site, float *scratch) {
    int A = NH * HS, ld = 3 * A;
    float scale = 1.f / sqrtf((float)HS);
    float *pd = scratch, *dp = scratch + (long)T * T;
    for (int b = 0; b < B; b++) {
        const float *q = qkv + (long)b * T * ld, *dc = dctx + (long)b * T * A;
        float *dq = dqkv + (long)b * T * ld;
        for (int h = 0; h < NH; h++) {
            const float *p = probs + ((long)b * NH + h) * T * T, *pdrop = p;
            int drop = d && d->p > 0.f;
            if (drop) {
                memcpy(pd, p, sizeof(float) * T * T);
                dropout_apply(pd, (long)T * T, d, attention_site(site, b, NH, h));
                pdrop = pd;
            }
            gemm_f32(1, 0, T, HS, T, 1.f, pdrop, T, dc + h * HS, A, 1.f, dq + 2 * A + h * HS, ld,
                     NULL);
            gemm_f32(0, 1, T, T, HS, 1.f, dc + h * HS, A, q + 2 * A + h * HS, ld, 0.f, dp, T,
                     NULL);
            if (drop) dropout_apply(dp, (long)T * T, d, attention_site(site, b, NH, h));
#pragma omp parallel for schedule(static) if (PARALLEL((long)T * T))
            for (int i = 0; i < T; i++) {
                const float *pr = p + (long)i * T;
                float *g = dp + (long)i * T, dot = 0.f;
                for (int j = 0; j < T; j++) dot += g[j] * pr[j];
                for (int j = 0; j < T; j++) g[j] = pr[j] * (g[j] - dot);
            }
            gemm_f32(0, 0, T, HS, T, scale, dp, T, q + A + h * HS, ld, 1.f, dq + h * HS, ld, NULL);
            gemm_f32(1, 0, T, HS, T, scale, dp, T, q + h * HS, ld, 1.f, dq + A + h * HS, ld, NULL);
        }
    }
    (void)mask; /* masked keys have P = 0, hence dS = 0: the mask is already in probs */
}
