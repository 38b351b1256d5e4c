/* tests/test_gemm.c: core/model/gemm against a plain double-precision GEMM, for both
 * backends (OpenBLAS, oneDNN) and bf16: every transpose pair, alpha/beta/bias, padded
 * leading dimensions, ragged and 0-sized shapes (what pruned layers give), and a second call
 * of each shape (the oneDNN primitive from the cache). bf16 rounding is checked bit by bit. */
#include <stdint.h>
#include <string.h>

#include "core/model/gemm.h"
#include "core/model/ops.h"
#include "core/util/rng.h"
#include "tests/test.h"

static Rng rng;

static float *frand(long n) {
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) x[i] = (float)(2.0 * rng_uniform(&rng) - 1.0);
    return x;
}

/* C = alpha op(A) op(B) + beta C (+ bias) in double; also returns in mag[] the sum of
 * |alpha a b| per element, the scale of the rounding error of any summation order. */
static void ref_gemm(int ta, int tb, int M, int N, int K, double alpha, const float *A, int lda,
                     const float *B, int ldb, double beta, double *C, int ldc, const float *bias,
                     double *mag) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0, a_s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(long)k * lda + m] : A[(long)m * lda + k];
                double b = tb ? B[(long)n * ldb + k] : B[(long)k * ldb + n];
                s += a * b;
                a_s += fabs(a * b);
            }
            long i = (long)m * ldc + n;
            double c0 = beta != 0 ? beta * C[i] : 0, bi = bias ? bias[n] : 0;
            C[i] = alpha * s + c0 + bi;
            mag[i] = fabs(alpha) * a_s + fabs(c0) + fabs(bi) + 1e-30;
        }
}

static void round_bf16(float *x, long n) {
    for (long i = 0; i < n; i++) {
        bf16 h;
        gemm_to_bf16(&h, &x[i], 1);
        x[i] = gemm_bf16_to_f32(h);
    }
}

/* One problem in one mode: 0 fp32 in the current backend, 1 bf16 (inputs already bf16
 * values, so every product is exact in fp32 and only the fp32 summation rounds). Returns the
 * worst error relative to mag. */
static double run_case(int mode, int ta, int tb, int M, int N, int K, int pad, float alpha,
                       float beta, int with_bias) {
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    int rows_a = ta ? K : M, rows_b = tb ? N : K;
    lda = lda ? lda : 1, ldb = ldb ? ldb : 1, ldc = ldc ? ldc : 1;
    float *A = frand((long)rows_a * lda), *B = frand((long)rows_b * ldb);
    float *C0 = frand((long)M * ldc), *bias = with_bias ? frand(N) : NULL;
    if (mode == 1) round_bf16(A, (long)rows_a * lda), round_bf16(B, (long)rows_b * ldb);
    double *want = malloc(sizeof(double) * (size_t)(M * ldc + 1));
    double *mag = malloc(sizeof(double) * (size_t)(M * ldc + 1));
    for (long i = 0; i < (long)M * ldc; i++) want[i] = C0[i];
    ref_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, want, ldc, bias, mag);
    bf16 *Ah = malloc(sizeof(bf16) * (size_t)(rows_a * lda + 1));
    bf16 *Bh = malloc(sizeof(bf16) * (size_t)(rows_b * ldb + 1));
    gemm_to_bf16(Ah, A, (long)rows_a * lda);
    gemm_to_bf16(Bh, B, (long)rows_b * ldb);
    double worst = 0;
    for (int rep = 0; rep < 2; rep++) { /* the second call reuses the cached primitive */
        float *C = malloc(sizeof(float) * (size_t)(M * ldc + 1));
        memcpy(C, C0, sizeof(float) * (size_t)M * ldc);
        if (mode == 0)
            gemm_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
        else
            gemm_bf16(ta, tb, M, N, K, alpha, Ah, lda, Bh, ldb, beta, C, ldc, bias);
        for (int m = 0; m < M; m++) {
            for (int n = 0; n < N; n++) {
                long i = (long)m * ldc + n;
                double e = fabs(C[i] - want[i]) / mag[i];
                if (!(e <= worst)) worst = e; /* NaN becomes the worst */
            }
            for (int n = N; n < ldc; n++) /* padding columns are never written */
                if (C[(long)m * ldc + n] != C0[(long)m * ldc + n]) worst = INFINITY;
        }
        free(C);
    }
    free(A), free(B), free(C0), free(bias), free(want), free(mag), free(Ah), free(Bh);
    return worst;
}

static void test_gemm_cases(void) {
    /* M, N, K: BERT-like, ragged pruned widths, skinny, and 0 in each place */
    static const int shapes[][3] = {{1, 1, 1},  {7, 5, 3},   {33, 17, 65}, {48, 9, 130},
                                    {64, 130, 24}, {5, 2, 40}, {0, 4, 3},    {4, 0, 3},
                                    {4, 3, 0},  {20, 40, 20}};
    static const float ab[][2] = {{1.f, 0.f}, {0.125f, 1.f}, {-2.f, 0.5f}};
    int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int be = 0; be < GEMM_N_BACKENDS; be++) {
        gemm_set_backend((GemmBackend)be);
        for (int mode = 0; mode < 2; mode++) {
            if (mode == 1 && be != GEMM_ONEDNN) continue; /* bf16 is oneDNN only */
            double worst = 0;
            int cases = 0;
            for (int s = 0; s < n_shapes; s++)
                for (int t = 0; t < 4; t++)
                    for (int a = 0; a < 3; a++)
                        for (int pad = 0; pad < 2; pad++) {
                            int bias = a == 0 && pad == 0;
                            const int *sh = shapes[s];
                            double e = run_case(mode, t & 1, t >> 1, sh[0], sh[1], sh[2],
                                                pad * 3, ab[a][0], ab[a][1], bias);
                            /* any order of K + 2 fp32 additions: at most (K + 2) u of the
                             * magnitude, u = 2^-24 (Higham, Accuracy and Stability, 3.1) */
                            double tol = (sh[2] + 2) * 0x1p-24;
                            CHECK(e <= tol, "%s %s ta=%d tb=%d M=%d N=%d K=%d pad=%d "
                                  "alpha=%g beta=%g bias=%d: error %.3g of the magnitude",
                                  gemm_backend_name((GemmBackend)be), mode ? "bf16" : "fp32",
                                  t & 1, t >> 1, sh[0], sh[1], sh[2], pad * 3, ab[a][0],
                                  ab[a][1], bias, e);
                            if (e / tol > worst) worst = e / tol;
                            cases++;
                        }
            printf("%s %s: %d problems, worst error %.2g of the (K+2)u bound\n",
                   gemm_backend_name((GemmBackend)be), mode ? "bf16" : "fp32", cases, worst);
        }
    }
    gemm_set_backend(GEMM_DEFAULT);
}

/* bf16 of unrounded inputs: each input is off by at most 2^-9 relative, so each product by
 * 2^-8 (+ a second-order term) and the sum by 2^-8 of the magnitude: the bf16 tolerance. */
static void test_gemm_bf16_tolerance(void) {
    int M = 40, N = 24, K = 200;
    float *A = frand((long)M * K), *B = frand((long)N * K), *C = calloc((size_t)M * N, 4);
    double *want = calloc((size_t)M * N, sizeof(double)), *mag = calloc((size_t)M * N, 8);
    ref_gemm(0, 1, M, N, K, 1, A, K, B, K, 0, want, N, NULL, mag);
    bf16 *Ah = malloc(sizeof(bf16) * (size_t)M * K), *Bh = malloc(sizeof(bf16) * (size_t)N * K);
    gemm_to_bf16(Ah, A, (long)M * K);
    gemm_to_bf16(Bh, B, (long)N * K);
    gemm_bf16(0, 1, M, N, K, 1.f, Ah, K, Bh, K, 0.f, C, N, NULL);
    double worst = 0;
    for (int i = 0; i < M * N; i++) worst = fmax(worst, fabs(C[i] - want[i]) / mag[i]);
    CHECK(worst < 1.0 / 256, "bf16 GEMM of fp32 data within 2^-8 of the magnitude: %.3g", worst);
    CHECK(worst > 1e-6, "bf16 GEMM does round its inputs (error %.3g)", worst);
    printf("bf16 GEMM of unrounded inputs: worst error %.2g of the magnitude (bound %.2g)\n",
           worst, 1.0 / 256);
    free(A), free(B), free(C), free(want), free(mag), free(Ah), free(Bh);
}

static void test_bf16_rounding(void) {
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1.0 exact */
        {0x3f808000u, 0x3f80}, /* tie, even below: stays */
        {0x3f818000u, 0x3f82}, /* tie, odd below: rounds up to even */
        {0x3f808001u, 0x3f81}, /* just above the tie: up */
        {0x3f807fffu, 0x3f80}, /* just below the tie: down */
        {0x7f7fffffu, 0x7f80}, /* largest float rounds to +inf, as IEEE */
        {0x7f800000u, 0x7f80}, /* +inf */
        {0xff800000u, 0xff80}, /* -inf */
        {0x80000000u, 0x8000}, /* -0 */
        {0x00000001u, 0x0000}, /* smallest subnormal: to 0 */
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        union { uint32_t u; float f; } v = {.u = cases[i].in};
        bf16 h;
        gemm_to_bf16(&h, &v.f, 1);
        if (h != cases[i].out) {
            bad++;
            fprintf(stderr, "bf16(0x%08x) = 0x%04x, want 0x%04x\n", cases[i].in, h,
                    cases[i].out);
        }
    }
    CHECK(!bad, "bf16 rounding to nearest, ties to even (%d wrong)", bad);
    union { uint32_t u; float f; } nan = {.u = 0x7fa00000u}; /* a signalling NaN */
    bf16 h;
    gemm_to_bf16(&h, &nan.f, 1);
    CHECK(gemm_bf16_to_f32(h) != gemm_bf16_to_f32(h), "NaN stays NaN (0x%04x)", h);
    CHECK(gemm_bf16_to_f32(0x4049) == 3.140625f, "bf16 to fp32 is exact");
}

/* gemm_bf16_batched: each of the batch products, at its offsets and with transposes, ragged
 * and 0 sizes, against the double twin (bf16-valued inputs: only the fp32 sums round), and
 * slots between the batch elements' C blocks never written. */
static void test_gemm_bf16_batched(void) {
    static const int shapes[][4] = {{12, 40, 40, 16}, {3, 7, 5, 3}, {1, 9, 4, 6},
                                    {4, 5, 3, 0},     {2, 0, 4, 3}, {5, 33, 17, 65}};
    int n_shapes = (int)(sizeof shapes / sizeof shapes[0]), cases = 0;
    for (int s = 0; s < n_shapes; s++)
        for (int t = 0; t < 4; t++) {
            int nb = shapes[s][0], M = shapes[s][1], N = shapes[s][2], K = shapes[s][3];
            int ta = t & 1, tb = t >> 1, pad = 2;
            int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            long sa = (long)(ta ? K : M) * lda + 5, sb = (long)(tb ? N : K) * ldb + 3;
            long sc = (long)M * ldc + 7, na = nb * sa, nbb = nb * sb, nc = nb * sc;
            float *A = frand(na), *B = frand(nbb), *C = frand(nc), *C0 = malloc(4 * (nc + 1));
            round_bf16(A, na), round_bf16(B, nbb);
            memcpy(C0, C, sizeof(float) * (size_t)nc);
            bf16 *Ah = malloc(sizeof(bf16) * (size_t)(na + 1));
            bf16 *Bh = malloc(sizeof(bf16) * (size_t)(nbb + 1));
            gemm_to_bf16(Ah, A, na);
            gemm_to_bf16(Bh, B, nbb);
            gemm_bf16_batched(nb, ta, tb, M, N, K, 0.125f, Ah, lda, sa, Bh, ldb, sb, C, ldc, sc);
            double *want = malloc(sizeof(double) * (size_t)(M * ldc + 1));
            double *mag = malloc(sizeof(double) * (size_t)(M * ldc + 1));
            double worst = 0;
            for (int i = 0; i < nb; i++) {
                ref_gemm(ta, tb, M, N, K, 0.125, A + i * sa, lda, B + i * sb, ldb, 0, want, ldc,
                         NULL, mag);
                for (int m = 0; m < M; m++)
                    for (int n = 0; n < ldc; n++) {
                        long j = (long)m * ldc + n;
                        double e = n < N ? fabs(C[i * sc + j] - want[j]) / mag[j]
                                         : C[i * sc + j] != C0[i * sc + j] ? INFINITY : 0.0;
                        if (!(e <= worst)) worst = e;
                    }
                for (long j = (long)M * ldc; j < sc; j++)
                    if (C[i * sc + j] != C0[i * sc + j]) worst = INFINITY;
            }
            CHECK(worst <= (K + 2) * 0x1p-24, "bf16 batched %d x ta=%d tb=%d M=%d N=%d K=%d: "
                  "error %.3g of the magnitude", nb, ta, tb, M, N, K, worst);
            cases++;
            free(A), free(B), free(C), free(C0), free(Ah), free(Bh), free(want), free(mag);
        }
    printf("bf16 batched: %d problems\n", cases);
}

static void test_backend_names(void) {
    GemmBackend b;
    CHECK(gemm_backend_parse("onednn", &b) == 0 && b == GEMM_ONEDNN, "parse onednn");
    CHECK(gemm_backend_parse("openblas", &b) == 0 && b == GEMM_OPENBLAS, "parse openblas");
    CHECK(gemm_backend_parse("mkl", &b) == -1, "unknown backend rejected");
    CHECK(!strcmp(gemm_backend_name(GEMM_DEFAULT), "onednn"), "default backend is onednn");
}

int main(void) {
    rng_seed(&rng, 99);
    ops_set_threads(2);
    test_backend_names();
    test_bf16_rounding();
    test_gemm_cases();
    if (gemm_bf16_native())
        printf("oneDNN runs bf16 natively on this CPU\n");
    else
        printf("oneDNN has no native bf16 on this CPU: the bf16 cases ran emulated\n");
    test_gemm_bf16_tolerance();
    test_gemm_bf16_batched();
    gemm_release();
    return TEST_DONE();
}
