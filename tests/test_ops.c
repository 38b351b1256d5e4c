/* tests/test_ops.c: every kernel of core/model/ops.c against a plain double-precision twin, and
 * every backward against central finite differences of that twin (in double).
 * Loss for the gradient checks: L = sum_i out_i * r_i with fixed random r. */
#include <math.h>
#include <string.h>

#include "core/model/bert.h"
#include "core/model/ops.h"
#include "core/util/rng.h"
#include "tests/test.h"

#define FD_H 1e-5
#define GRAD_TOL 2e-3
#define FWD_TOL 2e-5

static Rng rng;

static double *drand_arr(int n, double scale) {
    double *x = malloc(sizeof(double) * (n ? n : 1));
    for (int i = 0; i < n; i++) x[i] = scale * (2.0 * rng_uniform(&rng) - 1.0);
    return x;
}
static float *to_f(const double *x, int n) {
    float *y = malloc(sizeof(float) * (n ? n : 1));
    for (int i = 0; i < n; i++) y[i] = (float)x[i];
    return y;
}
static float *fzeros(int n) { return calloc(n ? n : 1, sizeof(float)); }

/* A reference forward: computes out (double) from the inputs it knows through ctx. */
typedef struct Ref Ref;
struct Ref {
    void (*fwd)(Ref *r);
    double *out, *rw; /* output and the loss weights r */
    int n_out;
    double *in[6];
    int dims[8];
    const int32_t *mask, *ids, *types;
};

static double ref_loss(Ref *r) {
    r->fwd(r);
    double L = 0.0;
    for (int i = 0; i < r->n_out; i++) L += r->out[i] * r->rw[i];
    return L;
}

/* Compares analytic[n] (from a float backward) with central differences of x[n]. */
static void check_grad(const char *what, Ref *r, double *x, int n, const float *analytic) {
    int bad = 0;
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + FD_H;
        double lp = ref_loss(r);
        x[i] = keep - FD_H;
        double lm = ref_loss(r);
        x[i] = keep;
        double fd = (lp - lm) / (2 * FD_H);
        double err = fabs(fd - analytic[i]) / fmax(1.0, fabs(fd));
        if (err > worst) worst = err;
        if (err > GRAD_TOL && bad++ < 3)
            fprintf(stderr, "  %s[%d]: fd %.8g analytic %.8g\n", what, i, fd, analytic[i]);
    }
    CHECK(bad == 0, "%s: %d of %d gradients differ from finite differences (worst %.2g)", what,
          bad, n, worst);
}

static void check_fwd(const char *what, const float *got, const double *want, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (!test_close(got[i], want[i], FWD_TOL)) bad++;
    CHECK(bad == 0, "%s: %d of %d outputs differ from the double twin", what, bad, n);
}

/* ---------------------------------------------------------------- scalar math */

static void test_scalar_math(void) {
    double worst_exp = 0, worst_cdf = 0, worst_tail = 0, worst_grad = 0;
    for (double x = -87.0; x <= 88.0; x += 0.0137) {
        double e = exp(x), got = ops_expf((float)x);
        double want = exp((double)(float)x);
        worst_exp = fmax(worst_exp, fabs(got - want) / want);
        (void)e;
    }
    for (double x = -12.0; x <= 12.0; x += 0.001) {
        float xf = (float)x;
        double want = 0.5 * erfc(-(double)xf / sqrt(2.0));
        double err = fabs(ops_normcdf(xf) - want);
        if (x > -5.0) worst_cdf = fmax(worst_cdf, err / want);
        else worst_tail = fmax(worst_tail, err / want);
        double h = 1e-4, gp = (x + h) * 0.5 * erfc(-(x + h) / sqrt(2.0)),
               gm = (x - h) * 0.5 * erfc(-(x - h) / sqrt(2.0));
        worst_grad = fmax(worst_grad, fabs(ops_gelu_grad(xf) - (gp - gm) / (2 * h)));
    }
    CHECK(worst_exp < 4e-7, "ops_expf relative error %.3g", worst_exp);
    CHECK(worst_cdf < 2e-6, "ops_normcdf relative error %.3g for x > -5", worst_cdf);
    CHECK(worst_tail < 5e-5, "ops_normcdf relative error %.3g in the tail x < -5", worst_tail);
    CHECK(worst_grad < 1e-5, "ops_gelu_grad absolute error %.3g", worst_grad);
    CHECK(ops_expf(-INFINITY) == 0.f && ops_expf(-1000.f) == 0.f, "expf underflow to 0");
    CHECK(isinf(ops_expf(1000.f)), "expf overflow to inf");
    CHECK(isnan(ops_expf(NAN)) && isnan(ops_gelu(NAN)), "NaN propagates through expf and gelu");
    CHECK(ops_gelu(0.f) == 0.f && fabsf(ops_gelu(3.f) - 2.9959502f) < 1e-6f, "gelu values");
}

/* ---------------------------------------------------------------- layernorm */

static void ref_layernorm(Ref *r) {
    int N = r->dims[0], C = r->dims[1];
    const double *x = r->in[0], *w = r->in[1], *b = r->in[2];
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[n * C + c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[n * C + c] - m) * (x[n * C + c] - m);
        double s = 1.0 / sqrt(v / C + 1e-12);
        for (int c = 0; c < C; c++) r->out[n * C + c] = (x[n * C + c] - m) * s * w[c] + b[c];
    }
}

static void test_layernorm(void) {
    int N = 5, C = 7;
    Ref r = {.fwd = ref_layernorm, .n_out = N * C, .dims = {N, C}};
    r.in[0] = drand_arr(N * C, 2.0);
    r.in[1] = drand_arr(C, 1.0);
    r.in[2] = drand_arr(C, 1.0);
    r.out = drand_arr(N * C, 0);
    r.rw = drand_arr(N * C, 1.0);
    float *x = to_f(r.in[0], N * C), *w = to_f(r.in[1], C), *b = to_f(r.in[2], C);
    float *out = fzeros(N * C), *mean = fzeros(N), *rstd = fzeros(N), *dout = to_f(r.rw, N * C);
    float *dx = fzeros(N * C), *dw = fzeros(C), *db = fzeros(C);
    layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-12f);
    ref_layernorm(&r);
    check_fwd("layernorm", out, r.out, N * C);
    layernorm_backward(dx, dw, db, dout, x, mean, rstd, w, N, C);
    check_grad("layernorm din", &r, r.in[0], N * C, dx);
    check_grad("layernorm dw", &r, r.in[1], C, dw);
    check_grad("layernorm db", &r, r.in[2], C, db);
    for (int i = 0; i < 3; i++) free(r.in[i]);
    free(r.out), free(r.rw), free(x), free(w), free(b), free(out), free(mean), free(rstd);
    free(dout), free(dx), free(dw), free(db);
}

/* ---------------------------------------------------------------- matmul */

static void ref_matmul(Ref *r) {
    int N = r->dims[0], K = r->dims[1], O = r->dims[2];
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = r->in[2][o];
            for (int k = 0; k < K; k++) s += r->in[0][n * K + k] * r->in[1][o * K + k];
            r->out[n * O + o] = s;
        }
}

static void test_matmul(int N, int K, int O) {
    Ref r = {.fwd = ref_matmul, .n_out = N * O, .dims = {N, K, O}};
    r.in[0] = drand_arr(N * K, 1.0);
    r.in[1] = drand_arr(O * K, 1.0);
    r.in[2] = drand_arr(O, 1.0);
    r.out = drand_arr(N * O, 0);
    r.rw = drand_arr(N * O, 1.0);
    float *x = to_f(r.in[0], N * K), *w = to_f(r.in[1], O * K), *b = to_f(r.in[2], O);
    float *out = fzeros(N * O), *dout = to_f(r.rw, N * O);
    float *dx = fzeros(N * K), *dw = fzeros(O * K), *db = fzeros(O);
    matmul_forward(out, x, w, b, N, K, O);
    ref_matmul(&r);
    char name[64];
    snprintf(name, sizeof name, "matmul %dx%dx%d", N, K, O);
    check_fwd(name, out, r.out, N * O);
    /* the residual folded into the GEMM: out = res + x w^T + b */
    double *resd = drand_arr(N * O, 1.0), *want = malloc(sizeof(double) * (N * O + 1));
    float *res = to_f(resd, N * O), *out_res = fzeros(N * O);
    for (int i = 0; i < N * O; i++) want[i] = r.out[i] + resd[i];
    matmul_residual_forward(out_res, x, w, b, res, N, K, O);
    char rname[80];
    snprintf(rname, sizeof rname, "matmul_residual %dx%dx%d (%s)", N, K, O,
             gemm_backend_name(gemm_backend()));
    check_fwd(rname, out_res, want, N * O);
    free(resd), free(want), free(res), free(out_res);
    matmul_backward(dx, dw, db, dout, x, w, N, K, O);
    check_grad(name, &r, r.in[0], N * K, dx);
    check_grad(name, &r, r.in[1], O * K, dw);
    check_grad(name, &r, r.in[2], O, db);
    for (int i = 0; i < 3; i++) free(r.in[i]);
    free(r.out), free(r.rw), free(x), free(w), free(b), free(out), free(dout), free(dx), free(dw);
    free(db);
}

/* ---------------------------------------------------------------- attention */

static void ref_attention(Ref *r) {
    int B = r->dims[0], T = r->dims[1], NH = r->dims[2], HS = r->dims[3], A = NH * HS;
    const double *qkv = r->in[0];
    double s[512];
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    double d = 0;
                    for (int k = 0; k < HS; k++)
                        d += qkv[(b * T + i) * 3 * A + h * HS + k] *
                             qkv[(b * T + j) * 3 * A + A + h * HS + k];
                    s[j] = r->mask[b * T + j] ? d / sqrt((double)HS) : -INFINITY;
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < T; j++) sum += (s[j] = exp(s[j] - mx));
                for (int k = 0; k < HS; k++) {
                    double c = 0;
                    for (int j = 0; j < T; j++)
                        c += s[j] / sum * qkv[(b * T + j) * 3 * A + 2 * A + h * HS + k];
                    r->out[(b * T + i) * A + h * HS + k] = c;
                }
            }
}

/* The fused attention_forward (ctx, probs given) against its GEMM twin; without probs (the
 * softmax's 1/sum then scales P V instead of P) close to it; each bit for bit the same on one
 * thread as on ops_threads(). */
static void check_attention_paths(const char *name, const float *ctx, const float *probs,
                                  const float *qkv, const int32_t *mask, int B, int T, int NH,
                                  int HS, float *scratch) {
    int N = B * T, A = NH * HS;
    long np = (long)B * NH * T * T;
    size_t nc = sizeof(float) * (size_t)N * A;
    float *ctx_g = fzeros(N * A), *probs_g = fzeros((int)np), *ctx_np = fzeros(N * A);
    float *ctx_1 = fzeros(N * A), *ctx_np1 = fzeros(N * A);
    attention_forward_gemm(ctx_g, probs_g, qkv, mask, B, T, NH, HS, NULL, 0, scratch);
    attention_forward(ctx_np, NULL, qkv, mask, B, T, NH, HS, NULL, 0, scratch);
    int bad = 0;
    for (int i = 0; i < N * A; i++)
        bad += !test_close(ctx[i], ctx_g[i], 1e-5) + !test_close(ctx_np[i], ctx[i], 1e-6);
    for (long i = 0; i < np; i++) bad += !test_close(probs[i], probs_g[i], 1e-5);
    CHECK(bad == 0, "%s: %d of ctx and probs differ between the fused and the GEMM path, or "
          "with and without probs", name, bad);
    int threads = ops_threads();
    ops_set_threads(1);
    attention_forward(ctx_1, probs_g, qkv, mask, B, T, NH, HS, NULL, 0, scratch);
    attention_forward(ctx_np1, NULL, qkv, mask, B, T, NH, HS, NULL, 0, scratch);
    ops_set_threads(threads);
    CHECK(N * A == 0 || (!memcmp(ctx_1, ctx, nc) && !memcmp(ctx_np1, ctx_np, nc)),
          "%s: ctx on 1 thread is bit for bit ctx on %d threads", name, threads);
    free(ctx_g), free(probs_g), free(ctx_np), free(ctx_1), free(ctx_np1);
}

/* Forward only (the gradient check would cost too much at this size): the fused path's full
 * 4 x 64 tiles and its edges, T not a multiple of 16 or of the row block, against the
 * double twin. */
static void test_attention_large(int B, int T, int NH, int HS) {
    int A = NH * HS, N = B * T;
    int32_t *mask = malloc(sizeof(int32_t) * (size_t)N);
    for (int i = 0; i < N; i++) mask[i] = !(i / T == 1 && i % 7 == 3);
    Ref r = {.fwd = ref_attention, .n_out = N * A, .dims = {B, T, NH, HS}, .mask = mask};
    r.in[0] = drand_arr(N * 3 * A, 1.5);
    r.out = drand_arr(N * A, 0);
    float *qkv = to_f(r.in[0], N * 3 * A), *ctx = fzeros(N * A);
    float *probs = fzeros(B * NH * T * T);
    float *scratch = fzeros((int)attention_scratch_size(T, NH, HS, ops_threads()));
    char name[96];
    snprintf(name, sizeof name, "attention B=%d T=%d NH=%d HS=%d", B, T, NH, HS);
    attention_forward(ctx, probs, qkv, mask, B, T, NH, HS, NULL, 0, scratch);
    ref_attention(&r);
    check_fwd(name, ctx, r.out, N * A);
    check_attention_paths(name, ctx, probs, qkv, mask, B, T, NH, HS, scratch);
    free(r.in[0]), free(r.out), free(qkv), free(ctx), free(probs), free(scratch), free(mask);
}

/* Batch 1 masks its last two keys. T > 16 covers the softmax's vector lanes and its tail. */
static void test_attention(int B, int T, int NH, int HS) {
    int A = NH * HS, N = B * T;
    int32_t *mask = malloc(sizeof(int32_t) * (size_t)N);
    for (int i = 0; i < N; i++) mask[i] = !(i / T == 1 && i % T >= T - 2);
    Ref r = {.fwd = ref_attention, .n_out = N * A, .dims = {B, T, NH, HS}, .mask = mask};
    r.in[0] = drand_arr(N * 3 * A, 1.5);
    r.out = drand_arr(N * A, 0);
    r.rw = drand_arr(N * A, 1.0);
    float *qkv = to_f(r.in[0], N * 3 * A), *ctx = fzeros(N * A), *probs = fzeros(B * NH * T * T);
    float *scratch = fzeros((int)attention_scratch_size(T, NH, HS, ops_threads()));
    float *dctx = to_f(r.rw, N * A), *dqkv = fzeros(N * 3 * A);
    char name[96];
    snprintf(name, sizeof name, "attention B=%d T=%d NH=%d HS=%d (%s)", B, T, NH, HS,
             gemm_backend_name(gemm_backend()));
    attention_forward(ctx, probs, qkv, mask, B, T, NH, HS, NULL, 0, scratch);
    ref_attention(&r);
    check_fwd(name, ctx, r.out, N * A);
    float masked = 0.f;
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < T; i++) masked += probs[((1 * NH + h) * T + i) * T + T - 1];
    CHECK(masked == 0.f, "masked keys get probability exactly 0 (got %g)", masked);
    check_attention_paths(name, ctx, probs, qkv, mask, B, T, NH, HS, scratch);
    attention_backward(dqkv, dctx, probs, qkv, mask, B, T, NH, HS, NULL, 0, scratch);
    check_grad(name, &r, r.in[0], N * 3 * A, dqkv);
    /* Several threads split each head's products and its softmax rows: the same gradient
     * bit for bit as one thread. */
    int threads = ops_threads();
    float *dqkv1 = fzeros(N * 3 * A);
    ops_set_threads(1);
    attention_backward(dqkv1, dctx, probs, qkv, mask, B, T, NH, HS, NULL, 0, scratch);
    ops_set_threads(threads);
    CHECK(!memcmp(dqkv1, dqkv, sizeof(float) * (size_t)N * 3 * A),
          "%s: dqkv on 1 thread is bit for bit dqkv on %d threads", name, threads);
    free(dqkv1);

    /* bf16: Q, K, V, P rounded to 8 significant bits (relative 2^-9 each): scores off by
     * ~2^-8 of sum |q k| / sqrt(HS) (< 0.05 here), so probabilities by a few percent of
     * themselves, and ctx, a convex mix of V rows (|v| < 1.5), by well under 3e-2. */
    float *ctx16 = fzeros(N * A);
    attention_forward_bf16(ctx16, probs, qkv, mask, B, T, NH, HS, NULL, 0, scratch, NULL);
    int bad = 0;
    double worst = 0, moved = 0;
    for (int i = 0; i < N * A; i++) {
        worst = fmax(worst, fabs(ctx16[i] - r.out[i]));
        moved = fmax(moved, fabs(ctx16[i] - ctx[i]));
        bad += !test_close(ctx16[i], r.out[i], 3e-2);
    }
    CHECK(bad == 0, "%s bf16: %d outputs beyond 3e-2 of the double twin (worst %.3g)", name,
          bad, worst);
    CHECK(N * A == 0 || moved > 1e-5, "%s bf16 does run in bf16 (max change from fp32 %.3g)", name, moved);
    masked = 0.f;
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < T; i++) masked += probs[((1 * NH + h) * T + i) * T + T - 1];
    CHECK(masked == 0.f, "bf16: masked keys get probability exactly 0 (got %g)", masked);
    free(r.in[0]), free(r.out), free(r.rw), free(qkv), free(ctx), free(probs), free(scratch);
    free(dctx), free(dqkv), free(ctx16), free(mask);
}

/* The bf16 attention of training against the fp32 one on the same inputs, with and without
 * dropout (the same mask in both: same seed and site) and a masked key: ctx and probs
 * within the bf16 bound of test_attention, dqkv within 2% of its norm (operands of five
 * products rounded to 2^-9 each), and not equal (the bf16 path ran). The fp32 backward is
 * itself checked against finite differences above. */
static void test_attention_bf16_train(int B, int T, int NH, int HS, float p) {
    int A = NH * HS, N = B * T;
    int32_t *mask = malloc(sizeof(int32_t) * (size_t)N);
    for (int i = 0; i < N; i++) mask[i] = !(i / T == B - 1 && i % T == T - 1);
    double *qd = drand_arr(N * 3 * A, 1.5), *dd = drand_arr(N * A, 1.0);
    float *qkv = to_f(qd, N * 3 * A), *dctx = to_f(dd, N * A);
    float *ctx = fzeros(N * A), *ctx16 = fzeros(N * A);
    float *probs = fzeros(B * NH * T * T), *probs16 = fzeros(B * NH * T * T);
    float *dqkv = fzeros(N * 3 * A), *dqkv16 = fzeros(N * 3 * A);
    long ns = attention_scratch_size(T, NH, HS, ops_threads());
    if (attention_backward_bf16_scratch_size(T, NH, HS) > ns)
        ns = attention_backward_bf16_scratch_size(T, NH, HS);
    float *scratch = fzeros((int)ns);
    Dropout d = {p, 99};
    attention_forward_gemm(ctx, probs, qkv, mask, B, T, NH, HS, &d, 5, scratch);
    bf16 *kept = malloc(sizeof(bf16) * ((size_t)N * 3 * A + 2 * (size_t)B * NH * T * T + 1));
    size_t nqkv = (size_t)N * 3 * A, nsc = (size_t)B * NH * T * T;
    AttnKeep keep = {kept, kept + nqkv, kept + nqkv + nsc};
    attention_forward_bf16(ctx16, probs16, qkv, mask, B, T, NH, HS, &d, 5, scratch, &keep);
    attention_backward(dqkv, dctx, probs, qkv, mask, B, T, NH, HS, &d, 5, scratch);
    for (int i = 0; i < N * 3 * A; i++) dqkv16[i] = NAN; /* written, not added to */
    attention_backward_bf16(dqkv16, dctx, &keep, B, T, NH, HS, &d, scratch);
    /* the forward without keep gives the same context (the same products and mask) */
    float *ctx16b = fzeros(N * A);
    attention_forward_bf16(ctx16b, probs16, qkv, mask, B, T, NH, HS, &d, 5, scratch, NULL);
    CHECK(!memcmp(ctx16b, ctx16, sizeof(float) * (size_t)N * A), "bf16 attention: ctx with "
          "and without keep bit for bit");
    free(ctx16b), free(kept);
    int bad = 0;
    for (int i = 0; i < N * A; i++) bad += !test_close(ctx16[i], ctx[i], 3e-2);
    for (int i = 0; i < B * NH * T * T; i++) bad += !(fabsf(probs16[i] - probs[i]) < 2e-2f);
    double diff = 0, norm = 0;
    for (int i = 0; i < N * 3 * A; i++) {
        diff += (double)(dqkv16[i] - dqkv[i]) * (dqkv16[i] - dqkv[i]);
        norm += (double)dqkv[i] * dqkv[i];
    }
    double rel = sqrt(diff / fmax(norm, 1e-30));
    CHECK(bad == 0, "bf16 attention B=%d T=%d NH=%d HS=%d p=%.1f: %d ctx/probs beyond the bf16 "
          "bound of fp32's", B, T, NH, HS, p, bad);
    if (A) printf("bf16 attention backward B=%d T=%d NH=%d HS=%d p=%.1f: %.3g of fp32's norm\n",
                  B, T, NH, HS, p, rel);
    CHECK(A == 0 || (rel < 0.02 && rel > 1e-5),
          "bf16 attention backward B=%d T=%d NH=%d HS=%d p=%.1f: "
          "dqkv %.3g of fp32's norm away (bound 0.02, and not equal)", B, T, NH, HS, p, rel);
    float masked = 0.f;
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < T; i++)
            masked += fabsf(probs16[(((B - 1) * NH + h) * T + i) * T + T - 1]);
    CHECK(masked == 0.f, "bf16 training attention: a masked key gets probability 0");
    free(mask), free(qd), free(dd), free(qkv), free(dctx), free(ctx), free(ctx16), free(probs);
    free(probs16), free(dqkv), free(dqkv16), free(scratch);
}

/* matmul_forward_bf16_in (and its residual twin) against the double twin of the fp32
 * product: inputs and weights rounded to bf16 (2^-9 relative each), so within 2^-8 of
 * sum |x w| (+ fp32 sums). */
static void test_matmul_bf16(int N, int K, int O) {
    double *xd = drand_arr(N * K, 1.0), *wd = drand_arr(O * K, 1.0), *bd = drand_arr(O, 1.0);
    float *xf = to_f(xd, N * K), *wf = to_f(wd, O * K), *bf = to_f(bd, O), *out = fzeros(N * O);
    bf16 *wh = malloc(sizeof(bf16) * (size_t)(O * K + 1));
    bf16 *xh = malloc(sizeof(bf16) * (size_t)(N * K + 1));
    gemm_to_bf16(wh, wf, (long)O * K);
    gemm_to_bf16(xh, xf, (long)N * K);
    matmul_forward_bf16_in(out, xh, wh, bf, N, K, O);
    int bad = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = bd[o], mag = 0;
            for (int k = 0; k < K; k++) {
                s += (double)xf[n * K + k] * wf[o * K + k];
                mag += fabs((double)xf[n * K + k] * wf[o * K + k]);
            }
            bad += !(fabs(out[n * O + o] - s) <= mag / 256 + 1e-6);
        }
    CHECK(bad == 0, "matmul_forward_bf16_in %dx%dx%d: %d outputs beyond 2^-8 of sum |x w|", N, K, O,
          bad);
    /* with the residual folded in: out = res + x w^T + b, the same bound */
    double *resd = drand_arr(N * O, 1.0);
    float *res = to_f(resd, N * O), *out_res = fzeros(N * O);
    matmul_residual_forward_bf16_in(out_res, xh, wh, bf, res, N, K, O);
    bad = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = bd[o] + resd[n * O + o], mag = 0;
            for (int k = 0; k < K; k++) {
                s += (double)xf[n * K + k] * wf[o * K + k];
                mag += fabs((double)xf[n * K + k] * wf[o * K + k]);
            }
            bad += !(fabs(out_res[n * O + o] - s) <= mag / 256 + 1e-6);
        }
    CHECK(bad == 0, "matmul_residual_forward_bf16_in %dx%dx%d: %d outputs beyond 2^-8 of sum |x w|",
          N, K, O, bad);
    free(resd), free(res), free(out_res);
    free(xd), free(wd), free(bd), free(xf), free(wf), free(bf), free(out), free(wh), free(xh);
}

/* The kernels that write bf16 training's GEMM inputs: LayerNorm's fp32 output is
 * layernorm_forward's bit for bit and its bf16 copy that output rounded; bias + GELU leaves
 * h + b in h (fp32, exact) and writes gelu(h) * gate and gelu'(h) within bf16's rounding
 * (2^-9 relative, plus the fp32 kernels' 1e-6) of the double twin; the saved-gelu'
 * backward is dout * gate * gelu' from those bf16 values. */
static void test_bf16_writers(void) {
    int N = 5, C = 37, F = 45;
    double *xd = drand_arr(N * C, 2.0), *wd = drand_arr(C, 1.0), *bd = drand_arr(C, 1.0);
    float *x = to_f(xd, N * C), *w = to_f(wd, C), *b = to_f(bd, C);
    float *o1 = fzeros(N * C), *o2 = fzeros(N * C), *m1 = fzeros(N), *r1 = fzeros(N);
    float *m2 = fzeros(N), *r2 = fzeros(N);
    bf16 *oh = malloc(sizeof(bf16) * (size_t)N * C);
    layernorm_forward(o1, m1, r1, x, w, b, N, C, 1e-12f);
    layernorm_forward_bf16(o2, oh, m2, r2, x, w, b, N, C, 1e-12f);
    int same = !memcmp(o1, o2, sizeof(float) * N * C) && !memcmp(m1, m2, sizeof(float) * N) &&
               !memcmp(r1, r2, sizeof(float) * N);
    for (int i = 0; i < N * C; i++) same &= oh[i] == gemm_round_bf16(o1[i]);
    CHECK(same, "layernorm_forward_bf16: layernorm_forward's output bit for bit, and it rounded");

    double *hd = drand_arr(N * F, 4.0), *fbd = drand_arr(F, 1.0), *gd = drand_arr(F, 1.0);
    double *dyd = drand_arr(N * F, 1.0);
    float *fb = to_f(fbd, F), *gate = to_f(gd, F), *dy = to_f(dyd, N * F), *din = fzeros(N * F);
    bf16 *hg = malloc(sizeof(bf16) * (size_t)N * F), *gr = malloc(sizeof(bf16) * (size_t)N * F);
    for (int gated = 0; gated < 2; gated++) {
        float *h = to_f(hd, N * F);
        const float *g = gated ? gate : NULL;
        bias_gelu_gate_forward_bf16(hg, gr, h, fb, g, N, F);
        int bad = 0;
        for (int n = 0; n < N; n++)
            for (int f = 0; f < F; f++) {
                int i = n * F + f;
                float v = (float)hd[i] + fb[f];
                double cdf = 0.5 * erfc(-(double)v / sqrt(2.0)), gl = v * cdf * (g ? g[f] : 1);
                double gp = cdf + v * exp(-0.5 * (double)v * v) / sqrt(2.0 * M_PI);
                bad += h[i] != v;
                bad += !(fabs(gemm_bf16_to_f32(hg[i]) - gl) <= fabs(gl) / 256 + 1e-6);
                bad += !(fabs(gemm_bf16_to_f32(gr[i]) - gp) <= fabs(gp) / 256 + 1e-6);
            }
        CHECK(bad == 0, "bias_gelu_gate_forward_bf16 (%s): %d values beyond bf16 rounding of "
              "the double twin", gated ? "gated" : "no gate", bad);
        for (int i = 0; i < N * F; i++) din[i] = NAN; /* written, not added to */
        gelu_gate_backward_saved(din, dy, gr, g, N, F);
        bad = 0;
        for (int n = 0; n < N; n++)
            for (int f = 0; f < F; f++) {
                int i = n * F + f;
                double want = (double)dy[i] * (g ? g[f] : 1) * gemm_bf16_to_f32(gr[i]);
                bad += !(fabs(din[i] - want) <= 1e-6 * fabs(want) + 1e-12);
            }
        CHECK(bad == 0, "gelu_gate_backward_saved (%s): %d of %d differ", gated ? "gated" : "no "
              "gate", bad, N * F);
        free(h);
    }
    free(xd), free(wd), free(bd), free(x), free(w), free(b), free(o1), free(o2), free(m1);
    free(r1), free(m2), free(r2), free(oh), free(hd), free(fbd), free(gd), free(dyd), free(fb);
    free(gate), free(dy), free(din), free(hg), free(gr);
}

/* matmul_backward_bf16 against the double twin of its products from the rounded operands
 * (dout rounded to bf16 here as in the kernel): din and dw within 2^-8 of the sum of
 * magnitudes, db the exact column sums of the fp32 dout (to fp32 rounding); din added to
 * (din_add 1) or written over NaNs (0). 300 x 200 goes parallel, its row blocks split over
 * the threads. */
static void test_matmul_backward_bf16(int N, int K, int O) {
    double *xd = drand_arr(N * K, 1.0), *wd = drand_arr(O * K, 1.0), *dd = drand_arr(N * O, 1.0);
    float *xf = to_f(xd, N * K), *wf = to_f(wd, O * K), *dout = to_f(dd, N * O);
    bf16 *xh = malloc(sizeof(bf16) * (size_t)(N * K + 1));
    bf16 *wh = malloc(sizeof(bf16) * (size_t)(O * K + 1));
    gemm_to_bf16(xh, xf, (long)N * K);
    gemm_to_bf16(wh, wf, (long)O * K);
    for (int add = 0; add < 2; add++) {
        float *din = fzeros(N * K), *dw = fzeros(O * K), *db = fzeros(O);
        for (int i = 0; i < N * K; i++) din[i] = add ? 0.5f : NAN;
        for (int i = 0; i < O * K; i++) dw[i] = 0.25f;
        for (int i = 0; i < O; i++) db[i] = 1.f;
        matmul_backward_bf16(din, add, dw, db, dout, xh, wh, N, K, O);
        int bad = 0;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) {
                double sum = add ? 0.5 : 0, mag = 0;
                for (int o = 0; o < O; o++) {
                    double t = (double)gemm_bf16_to_f32(gemm_round_bf16(dout[n * O + o])) *
                               gemm_bf16_to_f32(wh[o * K + k]);
                    sum += t, mag += fabs(t);
                }
                bad += !(fabs(din[n * K + k] - sum) <= mag / 256 + 1e-5);
            }
        for (int o = 0; o < O; o++) {
            double colsum = 1;
            for (int n = 0; n < N; n++) colsum += dout[n * O + o];
            bad += !(fabs(db[o] - colsum) <= 1e-4 * (1 + fabs(colsum)));
            for (int k = 0; k < K; k++) {
                double sum = 0.25, mag = 0;
                for (int n = 0; n < N; n++) {
                    double t = (double)gemm_bf16_to_f32(gemm_round_bf16(dout[n * O + o])) *
                               gemm_bf16_to_f32(xh[n * K + k]);
                    sum += t, mag += fabs(t);
                }
                bad += !(fabs(dw[o * K + k] - sum) <= mag / 256 + 1e-5);
            }
        }
        CHECK(bad == 0, "matmul_backward_bf16 %dx%dx%d (din %s): %d values off", N, K, O,
              add ? "added to" : "written", bad);
        /* the bias sums are the same bits on one thread (fixed row blocks) */
        float *db1 = fzeros(O), *dw1 = fzeros(O * K);
        for (int i = 0; i < O; i++) db1[i] = 1.f;
        int threads = ops_threads();
        ops_set_threads(1);
        matmul_backward_bf16(NULL, 0, dw1, db1, dout, xh, wh, N, K, O);
        ops_set_threads(threads);
        CHECK(!memcmp(db1, db, sizeof(float) * (size_t)O), "matmul_backward_bf16 %dx%dx%d: "
              "bias sums on 1 thread bit for bit those on %d", N, K, O, threads);
        free(db1), free(dw1);
        free(din), free(dw), free(db);
    }
    free(xd), free(wd), free(dd), free(xf), free(wf), free(dout), free(xh), free(wh);
}

/* ---------------------------------------------------------------- gates, gelu, embeddings */

static void ref_headgate(Ref *r) {
    int N = r->dims[0], NH = r->dims[1], HS = r->dims[2];
    for (int n = 0; n < N; n++)
        for (int h = 0; h < NH; h++)
            for (int s = 0; s < HS; s++)
                r->out[(n * NH + h) * HS + s] = r->in[0][(n * NH + h) * HS + s] * r->in[1][h];
}

static void ref_gelu_gate(Ref *r) {
    int N = r->dims[0], F = r->dims[1];
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++) {
            double x = r->in[0][n * F + f];
            r->out[n * F + f] = x * 0.5 * erfc(-x / sqrt(2.0)) * r->in[1][f];
        }
}

static const int32_t *ref_pos; /* the position ids of the embed case */

static void ref_embed(Ref *r) {
    int B = r->dims[0], T = r->dims[1], C = r->dims[2];
    for (int n = 0; n < B * T; n++)
        for (int c = 0; c < C; c++)
            r->out[n * C + c] = r->in[0][r->ids[n] * C + c] + r->in[1][ref_pos[n] * C + c] +
                                r->in[2][r->types[n] * C + c];
}

static void test_gates_and_embed(void) {
    {
        int N = 4, NH = 3, HS = 2, A = NH * HS;
        Ref r = {.fwd = ref_headgate, .n_out = N * A, .dims = {N, NH, HS}};
        r.in[0] = drand_arr(N * A, 1.0);
        r.in[1] = drand_arr(NH, 1.0);
        r.out = drand_arr(N * A, 0);
        r.rw = drand_arr(N * A, 1.0);
        float *x = to_f(r.in[0], N * A), *g = to_f(r.in[1], NH), *out = fzeros(N * A);
        float *dout = to_f(r.rw, N * A), *dx = fzeros(N * A), *dg = fzeros(NH);
        headgate_forward(out, x, g, N, NH, HS);
        ref_headgate(&r);
        check_fwd("headgate", out, r.out, N * A);
        headgate_backward(dx, dg, dout, x, g, N, NH, HS);
        check_grad("headgate din", &r, r.in[0], N * A, dx);
        check_grad("headgate dgate", &r, r.in[1], NH, dg);
        free(r.in[0]), free(r.in[1]), free(r.out), free(r.rw), free(x), free(g), free(out);
        free(dout), free(dx), free(dg);
    }
    {
        int N = 5, F = 9;
        Ref r = {.fwd = ref_gelu_gate, .n_out = N * F, .dims = {N, F}};
        r.in[0] = drand_arr(N * F, 4.0);
        r.in[1] = drand_arr(F, 1.0);
        r.out = drand_arr(N * F, 0);
        r.rw = drand_arr(N * F, 1.0);
        float *x = to_f(r.in[0], N * F), *g = to_f(r.in[1], F), *out = fzeros(N * F);
        float *dout = to_f(r.rw, N * F), *dx = fzeros(N * F), *dg = fzeros(F);
        gelu_gate_forward(out, x, g, N, F);
        ref_gelu_gate(&r);
        check_fwd("gelu_gate", out, r.out, N * F);
        gelu_gate_backward(dx, dg, dout, x, g, N, F);
        check_grad("gelu_gate din", &r, r.in[0], N * F, dx);
        check_grad("gelu_gate dgate", &r, r.in[1], F, dg);
        /* the bias folded in: h = x - bias in, h + bias kept, gelu(h + bias) * gate out,
         * also in place (inference) and without gates */
        float *bias = fzeros(F), *h = fzeros(N * F), *out2 = fzeros(N * F);
        for (int f = 0; f < F; f++) bias[f] = 0.25f * (float)(f % 5) - 0.5f;
        for (int i = 0; i < N * F; i++) h[i] = x[i] - bias[i % F];
        bias_gelu_gate_forward(out2, h, bias, g, N, F);
        int bad = 0;
        for (int i = 0; i < N * F; i++)
            bad += !test_close(out2[i], out[i], 1e-5) || !test_close(h[i], x[i], 1e-6);
        CHECK(bad == 0, "bias_gelu_gate: %d outputs or kept pre-activations differ", bad);
        for (int i = 0; i < N * F; i++) h[i] = x[i] - bias[i % F];
        bias_gelu_gate_forward(h, h, bias, NULL, N, F);
        gelu_gate_forward(out2, x, NULL, N, F);
        bad = 0;
        for (int i = 0; i < N * F; i++) bad += !test_close(h[i], out2[i], 1e-5);
        CHECK(bad == 0, "bias_gelu_gate in place without gates: %d outputs differ", bad);
        bias_gelu_gate_forward(out2, h, bias, g, N, 0); /* a layer with no FFN neurons */
        free(bias), free(h), free(out2);
        free(r.in[0]), free(r.in[1]), free(r.out), free(r.rw), free(x), free(g), free(out);
        free(dout), free(dx), free(dg);
    }
    {
        int B = 2, T = 4, C = 3, V = 5, P = 7, TV = 2, off = 2, N = B * T;
        int32_t ids[8] = {0, 4, 4, 1, 2, 2, 3, 1}, types[8] = {0, 0, 1, 1, 0, 1, 1, 1};
        /* RoBERTa positions (padding_idx 1): real tokens 2, 3, ...; the pad id 1 sits at 1 */
        int32_t pos[8], want_pos[8] = {2, 3, 4, 1, 2, 3, 4, 1};
        bert_position_ids(pos, ids, B, T, off);
        CHECK(!memcmp(pos, want_pos, sizeof pos), "RoBERTa position ids");
        int32_t bpos[8], want_bpos[8] = {0, 1, 2, 3, 0, 1, 2, 3};
        bert_position_ids(bpos, ids, B, T, 0);
        CHECK(!memcmp(bpos, want_bpos, sizeof bpos), "BERT position ids");
        ref_pos = pos;
        Ref r = {.fwd = ref_embed, .n_out = N * C, .dims = {B, T, C, off}, .ids = ids,
                 .types = types};
        r.in[0] = drand_arr(V * C, 1.0);
        r.in[1] = drand_arr(P * C, 1.0);
        r.in[2] = drand_arr(TV * C, 1.0);
        r.out = drand_arr(N * C, 0);
        r.rw = drand_arr(N * C, 1.0);
        float *wte = to_f(r.in[0], V * C), *wpe = to_f(r.in[1], P * C), *wtt = to_f(r.in[2], TV * C);
        float *out = fzeros(N * C), *dout = to_f(r.rw, N * C);
        float *dwte = fzeros(V * C), *dwpe = fzeros(P * C), *dwtt = fzeros(TV * C);
        embed_forward(out, ids, types, pos, wte, wpe, wtt, N, C);
        ref_embed(&r);
        check_fwd("embed", out, r.out, N * C);
        embed_backward(dwte, dwpe, dwtt, dout, ids, types, pos, N, C);
        check_grad("embed dwte", &r, r.in[0], V * C, dwte);
        check_grad("embed dwpe", &r, r.in[1], P * C, dwpe);
        check_grad("embed dwtt", &r, r.in[2], TV * C, dwtt);
        for (int i = 0; i < 3; i++) free(r.in[i]);
        free(r.out), free(r.rw), free(wte), free(wpe), free(wtt), free(out), free(dout);
        free(dwte), free(dwpe), free(dwtt);
    }
}

static void test_dropout(void) {
    long n = 100000;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (long i = 0; i < n; i++) x[i] = y[i] = 1.f;
    Dropout d = {0.1f, 42};
    dropout_apply(x, n, &d, 7);
    dropout_apply(y, n, &d, 7);
    long zeros = 0, same = 1;
    for (long i = 0; i < n; i++) {
        zeros += x[i] == 0.f;
        same &= x[i] == y[i] && (x[i] == 0.f || fabsf(x[i] - 1.f / 0.9f) < 1e-6f);
    }
    CHECK(same, "dropout regenerates the same mask for the same (seed, site)");
    CHECK(labs(zeros - n / 10) < 600, "dropout drops ~10%% (%ld of %ld)", zeros, n);
    for (long i = 0; i < n; i++) y[i] = 1.f;
    dropout_apply(y, n, &d, 8);
    long differ = 0;
    for (long i = 0; i < n; i++) differ += (x[i] == 0.f) != (y[i] == 0.f);
    CHECK(differ > n / 20, "another site gives another mask");
    free(x), free(y);
}

int main(void) {
    rng_seed(&rng, 1234);
    ops_set_threads(2);
    test_scalar_math();
    test_layernorm();
    /* every GEMM kernel in both backends, on ragged shapes (K > O takes oneDNN's matmul
     * primitive, K <= O its sgemm; 0 is a fully pruned layer) */
    for (int be = 0; be < GEMM_N_BACKENDS; be++) {
        gemm_set_backend((GemmBackend)be);
        test_matmul(3, 5, 4);
        test_matmul(2, 0, 3);
        test_matmul(17, 33, 9);
        test_matmul(6, 7, 23);
        test_matmul(5, 4, 0);
        test_attention(2, 6, 3, 4);
        test_attention(2, 37, 2, 8);
        test_attention(1, 20, 0, 8);
    }
    gemm_set_backend(GEMM_DEFAULT);
    test_attention_large(2, 203, 2, 64);
    test_attention_large(1, 70, 3, 20);
    test_matmul_bf16(17, 33, 9);
    test_matmul_bf16(6, 0, 5);
    test_attention_bf16_train(2, 37, 3, 16, 0.f);
    test_attention_bf16_train(3, 64, 2, 32, 0.1f);
    test_attention_bf16_train(1, 20, 0, 8, 0.1f);
    test_bf16_writers();
    test_matmul_backward_bf16(17, 33, 9);
    test_matmul_backward_bf16(300, 20, 200);
    test_matmul_backward_bf16(4, 5, 0);
    test_matmul_backward_bf16(6, 0, 3);
    test_gates_and_embed();
    test_dropout();
    return TEST_DONE();
}
