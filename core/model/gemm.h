/* core/model/gemm.h: every GEMM of the engine, behind one call with a run-time backend.
 *
 *   C[M,N] = alpha * op(A) . op(B) + beta * C  (+ bias[N] on every row)
 * row-major, op(X) = X or X^T (ta, tb), leading dimensions lda, ldb, ldc as in BLAS
 * row-major. Backends:
 *   GEMM_OPENBLAS  cblas_sgemm (OpenBLAS threads it itself);
 *   GEMM_ONEDNN    oneDNN (libdnnl): the matmul primitive, created once per shape and
 *                  cached, or dnnl_sgemm where the primitive loses (see gemm.c).
 * bf16 GEMMs (gemm_bf16) always run in oneDNN's matmul primitive: bf16 inputs, fp32
 * accumulation and fp32 output (AVX512-BF16 instructions where the CPU has them).
 * Not thread-safe (one primitive cache per process): call from one thread; each GEMM uses
 * the threads set by gemm_set_threads. Any of M, N, K may be 0. Shape or library errors
 * are programming errors and abort with one line. */
#ifndef QAPRUNE_GEMM_H
#define QAPRUNE_GEMM_H

#include <stdint.h>

typedef enum { GEMM_OPENBLAS, GEMM_ONEDNN, GEMM_N_BACKENDS } GemmBackend;

/* The backend used when none is chosen: the faster on this machine by `make bench`. */
#define GEMM_DEFAULT GEMM_ONEDNN

/* "openblas" / "onednn"; returns 0 and sets *out, or -1 for an unknown name. */
int gemm_backend_parse(const char *name, GemmBackend *out);
const char *gemm_backend_name(GemmBackend b); /* static string */
void gemm_set_backend(GemmBackend b);
GemmBackend gemm_backend(void);
void gemm_set_threads(int n); /* threads for OpenBLAS (oneDNN follows OpenMP's count) */

/* The fp32 GEMM above, in the current backend. bias may be NULL; with a bias, beta is 0. */
void gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc, const float *bias);

/* bf16 numbers are the top 16 bits of an IEEE fp32 (8 exponent bits, 7 mantissa bits). */
typedef uint16_t bf16;
/* f rounded to nearest bf16, ties to even (NaN stays NaN). */
static inline bf16 gemm_round_bf16(float f) {
    union { float f; uint32_t u; } v = {.f = f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (bf16)((v.u >> 16) | 0x40); /* quiet NaN */
    return (bf16)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}
/* dst[i] = gemm_round_bf16(src[i]), over threads when n is large. */
void gemm_to_bf16(bf16 *dst, const float *src, long n);
static inline float gemm_bf16_to_f32(bf16 x) {
    union { uint32_t u; float f; } v = {.u = (uint32_t)x << 16};
    return v.f;
}
/* 1 when oneDNN runs bf16 matmuls on this CPU with native bf16 instructions
 * (AVX512-BF16 or AMX), 0 otherwise (oneDNN would then emulate or refuse). */
int gemm_bf16_native(void);

/* The GEMM above with bf16 A and B, accumulated and written in fp32 (oneDNN matmul). */
void gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, const bf16 *A, int lda,
               const bf16 *B, int ldb, float beta, float *C, int ldc, const float *bias);

/* batch products C_i = alpha op(A_i) op(B_i) (beta 0, no bias) in one oneDNN matmul, where
 * A_i = A + i * sa, B_i = B + i * sb, C_i = C + i * sc (elements): the per-head products
 * of attention, which one primitive spreads over the threads better than batch calls. */
void gemm_bf16_batched(int batch, int ta, int tb, int M, int N, int K, float alpha,
                       const bf16 *A, int lda, long sa, const bf16 *B, int ldb, long sb,
                       float *C, int ldc, long sc);

/* Returns a bf16 scratch of at least n elements, owned by this module and reused by the
 * next call with the same slot (0 or 1); valid until then. Used to convert activations. */
bf16 *gemm_bf16_scratch(int slot, long n);

/* Releases the primitive cache and scratch (also done at exit). */
void gemm_release(void);

#endif
