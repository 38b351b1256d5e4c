/* core/model/gemm.c: the GEMM backends (see gemm.h).
 *
 * oneDNN's matmul primitive is built for one exact problem (shape, strides, data types,
 * alpha, beta, bias, thread count), so each distinct problem is created once and kept in a
 * small open-addressing cache; a call then only points the primitive's memory objects at the
 * caller's buffers and executes. Transposes are strides of the memory descriptors, alpha an
 * output scale, beta a sum post-op, the bias the primitive's own bias input. */
#include "core/model/gemm.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GemmBackend backend = GEMM_DEFAULT;

static const char *const backend_names[GEMM_N_BACKENDS] = {"openblas", "onednn"};

int gemm_backend_parse(const char *name, GemmBackend *out) {
    for (int b = 0; b < GEMM_N_BACKENDS; b++)
        if (!strcmp(name, backend_names[b])) {
            *out = (GemmBackend)b;
            return 0;
        }
    return -1;
}

const char *gemm_backend_name(GemmBackend b) {
    return b >= 0 && b < GEMM_N_BACKENDS ? backend_names[b] : "?";
}

void gemm_set_backend(GemmBackend b) { backend = b; }
GemmBackend gemm_backend(void) { return backend; }
void gemm_set_threads(int n) { openblas_set_num_threads(n); }

/* A failed oneDNN call is a bug here (a problem we built wrongly), never a user error. */
#define DNNL_OK(call)                                                                 \
    do {                                                                              \
        dnnl_status_t st_ = (call);                                                   \
        if (st_ != dnnl_success) {                                                    \
            fprintf(stderr, "gemm: %s failed (oneDNN status %d)\n", #call, (int)st_); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* ---------------------------------------------------------------- bf16 conversion */

void gemm_to_bf16(bf16 *dst, const float *src, long n) {
#pragma omp parallel for schedule(static) if (n >= 65536 && omp_get_max_threads() > 1)
    for (long i = 0; i < n; i++) dst[i] = gemm_round_bf16(src[i]);
}

static struct {
    bf16 *p;
    long cap;
} scratch[2];

bf16 *gemm_bf16_scratch(int slot, long n) {
    if (n > scratch[slot].cap) {
        free(scratch[slot].p);
        /* 64-byte aligned, rounded up to whole cache lines */
        size_t bytes = ((size_t)n * sizeof(bf16) + 63) / 64 * 64;
        scratch[slot].p = aligned_alloc(64, bytes);
        if (!scratch[slot].p) {
            fprintf(stderr, "gemm: out of memory for a bf16 scratch of %ld elements\n", n);
            abort();
        }
        scratch[slot].cap = n;
    }
    return scratch[slot].p;
}

/* ---------------------------------------------------------------- oneDNN matmul cache */

/* Identity of one primitive. */
typedef struct {
    int32_t dt, ta, tb, has_bias, threads, pad; /* no padding bytes: compared with memcmp */
    int64_t M, N, K, lda, ldb, ldc;
    int64_t batch, sa, sb, sc; /* batch 1: a 2-D problem (strides 0) */
    float alpha, beta;
} MatmulKey;

typedef struct {
    MatmulKey key;
    int used;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst, bias;
} MatmulEntry;

#define CACHE_SLOTS 1024 /* a power of two; cleared when 3/4 full */

static struct {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    MatmulEntry *slots;
    int n_used;
} dn;

static void dn_init(void) {
    if (dn.engine) return;
    DNNL_OK(dnnl_engine_create(&dn.engine, dnnl_cpu, 0));
    DNNL_OK(dnnl_stream_create(&dn.stream, dn.engine, dnnl_stream_default_flags));
    dn.slots = calloc(CACHE_SLOTS, sizeof(MatmulEntry));
    if (!dn.slots) {
        fprintf(stderr, "gemm: out of memory for the primitive cache\n");
        abort();
    }
}

static void cache_clear(void) {
    if (!dn.slots) return;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        MatmulEntry *e = &dn.slots[i];
        if (!e->used) continue;
        dnnl_primitive_destroy(e->prim);
        dnnl_memory_destroy(e->src);
        dnnl_memory_destroy(e->wei);
        dnnl_memory_destroy(e->dst);
        if (e->bias) dnnl_memory_destroy(e->bias);
        memset(e, 0, sizeof *e);
    }
    dn.n_used = 0;
}

void gemm_release(void) {
    cache_clear();
    free(dn.slots);
    if (dn.stream) dnnl_stream_destroy(dn.stream);
    if (dn.engine) dnnl_engine_destroy(dn.engine);
    memset(&dn, 0, sizeof dn);
    for (int s = 0; s < 2; s++) {
        free(scratch[s].p);
        scratch[s].p = NULL;
        scratch[s].cap = 0;
    }
}

/* FNV-1a over the key's bytes. */
static uint32_t key_hash(const MatmulKey *k) {
    const unsigned char *p = (const unsigned char *)k;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

/* A memory descriptor of rows x cols with row stride ld, or its transpose view; with batch
 * > 1, batch such matrices `stride` elements apart (3-D). */
static void md_nd(dnnl_memory_desc_t *md, int64_t batch, int64_t stride, int64_t rows,
                  int64_t cols, int64_t ld, int trans, dnnl_data_type_t dt) {
    if (batch > 1) {
        dnnl_dims_t dims = {batch, rows, cols};
        dnnl_dims_t strides = {stride, trans ? 1 : ld, trans ? ld : 1};
        DNNL_OK(dnnl_memory_desc_init_by_strides(md, 3, dims, dt, strides));
        return;
    }
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {trans ? 1 : ld, trans ? ld : 1};
    DNNL_OK(dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides));
}

static void entry_create(MatmulEntry *e, const MatmulKey *k) {
    dnnl_data_type_t dt = (dnnl_data_type_t)k->dt;
    dnnl_memory_desc_t a, b, c, bias;
    md_nd(&a, k->batch, k->sa, k->M, k->K, k->lda, k->ta, dt);
    md_nd(&b, k->batch, k->sb, k->K, k->N, k->ldb, k->tb, dt);
    md_nd(&c, k->batch, k->sc, k->M, k->N, k->ldc, 0, dnnl_f32);
    md_nd(&bias, 1, 0, 1, k->N, k->N, 0, dnnl_f32);
    dnnl_matmul_desc_t desc;
    DNNL_OK(dnnl_matmul_desc_init(&desc, &a, &b, k->has_bias ? &bias : NULL, &c));
    dnnl_primitive_attr_t attr;
    DNNL_OK(dnnl_primitive_attr_create(&attr));
    if (k->alpha != 1.f) DNNL_OK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha));
    if (k->beta != 0.f) {
        dnnl_post_ops_t po;
        DNNL_OK(dnnl_post_ops_create(&po));
        DNNL_OK(dnnl_post_ops_append_sum(po, k->beta));
        DNNL_OK(dnnl_primitive_attr_set_post_ops(attr, po));
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    DNNL_OK(dnnl_primitive_desc_create(&pd, &desc, attr, dn.engine, NULL));
    dnnl_primitive_attr_destroy(attr);
    DNNL_OK(dnnl_primitive_create(&e->prim, pd));
    dnnl_primitive_desc_destroy(pd);
    DNNL_OK(dnnl_memory_create(&e->src, &a, dn.engine, DNNL_MEMORY_NONE));
    DNNL_OK(dnnl_memory_create(&e->wei, &b, dn.engine, DNNL_MEMORY_NONE));
    DNNL_OK(dnnl_memory_create(&e->dst, &c, dn.engine, DNNL_MEMORY_NONE));
    e->bias = NULL;
    if (k->has_bias) DNNL_OK(dnnl_memory_create(&e->bias, &bias, dn.engine, DNNL_MEMORY_NONE));
    e->key = *k;
    e->used = 1;
}

/* Returns the cached primitive for k, creating it on a miss. */
static MatmulEntry *cache_get(const MatmulKey *k) {
    dn_init();
    if (dn.n_used >= CACHE_SLOTS / 4 * 3) cache_clear();
    uint32_t i = key_hash(k) & (CACHE_SLOTS - 1);
    while (dn.slots[i].used) {
        if (!memcmp(&dn.slots[i].key, k, sizeof *k)) return &dn.slots[i];
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    entry_create(&dn.slots[i], k);
    dn.n_used++;
    return &dn.slots[i];
}

static void matmul_run(dnnl_data_type_t dt, int ta, int tb, int M, int N, int K, float alpha,
                       const void *A, int lda, const void *B, int ldb, float beta, float *C,
                       int ldc, const float *bias, const int64_t batch[4]) {
    MatmulKey k = {(int32_t)dt, ta, tb, bias != NULL, omp_get_max_threads(), 0,
                   M, N, K, lda, ldb, ldc, batch ? batch[0] : 1, batch ? batch[1] : 0,
                   batch ? batch[2] : 0, batch ? batch[3] : 0, alpha, beta};
    MatmulEntry *e = cache_get(&k);
    DNNL_OK(dnnl_memory_set_data_handle(e->src, (void *)A));
    DNNL_OK(dnnl_memory_set_data_handle(e->wei, (void *)B));
    DNNL_OK(dnnl_memory_set_data_handle(e->dst, C));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, e->src},
                               {DNNL_ARG_WEIGHTS, e->wei},
                               {DNNL_ARG_DST, e->dst},
                               {DNNL_ARG_BIAS, e->bias}};
    if (bias) DNNL_OK(dnnl_memory_set_data_handle(e->bias, (void *)bias));
    DNNL_OK(dnnl_primitive_execute(e->prim, dn.stream, bias ? 4 : 3, args));
    DNNL_OK(dnnl_stream_wait(dn.stream));
}

/* ---------------------------------------------------------------- the calls */

/* C = beta C (+ bias) for K = 0, where no backend is called. */
static void scale_rows(int M, int N, float beta, float *C, int ldc, const float *bias) {
    for (int m = 0; m < M; m++) {
        float *c = C + (long)m * ldc;
        for (int n = 0; n < N; n++) c[n] = (beta == 0.f ? 0.f : beta * c[n]) + (bias ? bias[n] : 0.f);
    }
}

static void check_args(int ta, int tb, int M, int N, int K, int lda, int ldb, int ldc,
                       float beta, const float *bias) {
    int ok = M >= 0 && N >= 0 && K >= 0 && lda >= (ta ? M : K) && ldb >= (tb ? K : N) &&
             ldc >= N && (!bias || beta == 0.f) && lda >= 1 && ldb >= 1 && ldc >= 1;
    if (!ok) {
        fprintf(stderr, "gemm: bad problem ta=%d tb=%d M=%d N=%d K=%d lda=%d ldb=%d ldc=%d\n",
                ta, tb, M, N, K, lda, ldb, ldc);
        abort();
    }
}

/* Where oneDNN 2.6's fp32 matmul primitive beats dnnl_sgemm. Measured on the BERT-base
 * layer shapes (M = 384 rows, 1 / 2 threads, GFLOP/s primitive vs sgemm): C = A B^T with
 * K > N wins (K 3072 -> N 768: 196/384 vs 185/271; K 922 -> 768: 192/423 vs 115/283);
 * K <= N loses at 2 threads (768 -> 2304: 190 vs 354), and so do A^T B (131/294 vs 213/387)
 * and A B (133/287 vs 198/399). A fixed rule, not a timing race, so that results do not
 * depend on which path happened to be faster in one run. */
static int primitive_wins(int ta, int tb, int N, int K) { return !ta && tb && K > N; }

void gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
    check_args(ta, tb, M, N, K, lda, ldb, ldc, beta, bias);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        scale_rows(M, N, beta, C, ldc, bias);
        return;
    }
    if (backend == GEMM_ONEDNN && primitive_wins(ta, tb, N, K)) {
        matmul_run(dnnl_f32, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, NULL);
        return;
    }
    if (bias) {
        for (int m = 0; m < M; m++) memcpy(C + (long)m * ldc, bias, sizeof(float) * N);
        beta = 1.f;
    }
    if (backend == GEMM_ONEDNN) {
        DNNL_OK(dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta,
                           C, ldc));
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, const bf16 *A, int lda,
               const bf16 *B, int ldb, float beta, float *C, int ldc, const float *bias) {
    check_args(ta, tb, M, N, K, lda, ldb, ldc, beta, bias);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        scale_rows(M, N, beta, C, ldc, bias);
        return;
    }
    matmul_run(dnnl_bf16, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, NULL);
}

void gemm_bf16_batched(int batch, int ta, int tb, int M, int N, int K, float alpha,
                       const bf16 *A, int lda, long sa, const bf16 *B, int ldb, long sb,
                       float *C, int ldc, long sc) {
    check_args(ta, tb, M, N, K, lda, ldb, ldc, 0.f, NULL);
    if (batch < 1 || M == 0 || N == 0) return;
    if (K == 0) {
        for (int i = 0; i < batch; i++) scale_rows(M, N, 0.f, C + i * sc, ldc, NULL);
        return;
    }
    if (batch == 1) {
        matmul_run(dnnl_bf16, ta, tb, M, N, K, alpha, A, lda, B, ldb, 0.f, C, ldc, NULL, NULL);
        return;
    }
    int64_t strides[4] = {batch, sa, sb, sc};
    matmul_run(dnnl_bf16, ta, tb, M, N, K, alpha, A, lda, B, ldb, 0.f, C, ldc, NULL, strides);
}

int gemm_bf16_native(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
}
