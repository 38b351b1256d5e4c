/* tests/test_safetensors.c: core/safetensors round trip, dtype conversion, every validation
 * error's message, and interoperability with the PyTorch-written parity fixture
 * (tests/data/parity.safetensors, made by tests/make_parity_fixture.py). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util/error.h"
#include "core/model/safetensors.h"
#include "tests/test.h"

#define PARITY "tests/data/parity.safetensors"

static char dir[] = "/tmp/qaprune_st_XXXXXX";

/* Returns a path inside the test's scratch directory, in one of four rotating buffers. */
static const char *scratch(const char *name) {
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* Writes a hand-made file: header_len (or strlen(json) if -1), json, then ndata zero bytes. */
static void write_raw(const char *path, long long header_len, const char *json, size_t ndata) {
    FILE *f = fopen(path, "wb");
    uint64_t n = header_len < 0 ? strlen(json) : (uint64_t)header_len;
    for (int i = 0; i < 8; i++) fputc((int)(n >> (8 * i)) & 0xff, f);
    fputs(json, f);
    for (size_t i = 0; i < ndata; i++) fputc(0, f);
    fclose(f);
}

/* Checks that opening path fails with one line containing path and both fragments. */
static void expect_error(const char *path, const char *frag1, const char *frag2) {
    SafeTensors *st = (SafeTensors *)1;
    int rc = st_open(path, &st);
    const char *msg = qa_last_error();
    CHECK(rc == QA_ERR && st == NULL, "%s: open should fail (rc %d)", path, rc);
    CHECK(strstr(msg, path) && strstr(msg, frag1) && (!frag2 || strstr(msg, frag2)) &&
              !strchr(msg, '\n'),
          "message '%s' lacks '%s' / '%s'", msg, frag1, frag2 ? frag2 : "");
    st_close(st);
}

static void test_round_trip(void) {
    const char *path = scratch("rt.safetensors");
    float a[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f}, scalar = 42.0f;
    int64_t ids[4] = {0, -1, INT64_C(1) << 40, 7};
    int32_t small[4] = {1, 2, -3, 4};
    StEntry e[] = {
        {"weights.a", ST_F32, 2, {2, 3}, a},
        {"ids", ST_I64, 1, {4}, ids},
        {"empty", ST_F32, 2, {0, 16}, NULL},
        {"small", ST_I32, 2, {2, 2}, small},
        {"scalar", ST_F32, 0, {0}, &scalar},
    };
    const char *meta[] = {"format", "pt", "note", "quote \" and \\ and ü", NULL};
    CHECK(st_write(path, e, 5, meta) == QA_OK, "write: %s", qa_last_error());
    CHECK(access(scratch("rt.safetensors.tmp"), F_OK) != 0, "temporary file left behind");

    FILE *f = fopen(path, "rb");
    unsigned char len[8] = {0};
    CHECK(f && fread(len, 1, 8, f) == 8, "read length");
    if (f) fclose(f);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len[i];
    CHECK(hlen % 8 == 0 && hlen < 1024, "header length %llu not a multiple of 8",
          (unsigned long long)hlen);

    SafeTensors *st = NULL;
    CHECK(st_open(path, &st) == QA_OK, "open: %s", qa_last_error());
    if (!st) return;
    CHECK(st_count(st) == 5, "count %d", st_count(st));
    for (int i = 0; i < 5 && i < st_count(st); i++)
        CHECK(strcmp(st_at(st, i)->name, e[i].name) == 0, "order: %d is %s", i, st_at(st, i)->name);
    CHECK(st_at(st, 5) == NULL && st_at(st, -1) == NULL, "st_at out of range");
    CHECK(st_find(st, "nope") == NULL, "st_find of an absent name");
    CHECK(strcmp(st_metadata(st, "note"), meta[3]) == 0, "metadata escapes");
    CHECK(strcmp(st_metadata(st, "format"), "pt") == 0 && !st_metadata(st, "x"), "metadata");

    float ra[6];
    CHECK(st_read_f32(st, "weights.a", 2, (int64_t[]){2, 3}, ra) == QA_OK, "%s", qa_last_error());
    CHECK(memcmp(ra, a, sizeof a) == 0, "F32 bits differ after round trip");
    int64_t r64[4];
    int32_t r32[4];
    CHECK(st_read_i64(st, "ids", 1, (int64_t[]){4}, r64) == QA_OK && r64[2] == ids[2] &&
              r64[1] == -1, "I64 round trip");
    CHECK(st_read_i64(st, "small", 2, (int64_t[]){2, 2}, r64) == QA_OK && r64[2] == -3,
          "I32 read as int64");
    CHECK(st_read_i32(st, "small", 2, (int64_t[]){2, 2}, r32) == QA_OK && r32[3] == 4,
          "I32 read as int32");
    const StTensor *t = st_find(st, "empty");
    CHECK(t && t->nbytes == 0 && t->ndim == 2 && t->shape[1] == 16, "zero-size tensor");
    CHECK(st_read_f32(st, "empty", 2, (int64_t[]){0, 16}, ra) == QA_OK, "%s", qa_last_error());
    CHECK(st_read_f32(st, "scalar", 0, NULL, ra) == QA_OK && ra[0] == 42.0f, "0-dim tensor");

    /* read errors: wrong shape, missing tensor, wrong kind of dtype, value out of range */
    CHECK(st_read_f32(st, "weights.a", 2, (int64_t[]){3, 2}, ra) == QA_ERR &&
              strstr(qa_last_error(), "tensor 'weights.a': expected shape [3, 2], found [2, 3]") &&
              strstr(qa_last_error(), path), "wrong shape: %s", qa_last_error());
    CHECK(st_read_f32(st, "weights.a", 1, (int64_t[]){6}, ra) == QA_ERR &&
              strstr(qa_last_error(), "expected shape [6], found [2, 3]"), "%s", qa_last_error());
    CHECK(st_read_f32(st, "bias", 1, (int64_t[]){6}, ra) == QA_ERR &&
              strstr(qa_last_error(), "tensor 'bias': missing"), "%s", qa_last_error());
    CHECK(st_read_f32(st, "ids", 1, (int64_t[]){4}, ra) == QA_ERR &&
              strstr(qa_last_error(), "dtype I64 is not a float type"), "%s", qa_last_error());
    CHECK(st_read_i64(st, "weights.a", 2, (int64_t[]){2, 3}, r64) == QA_ERR &&
              strstr(qa_last_error(), "dtype F32 is not an integer type"), "%s", qa_last_error());
    CHECK(st_read_i32(st, "ids", 1, (int64_t[]){4}, r32) == QA_ERR &&
              strstr(qa_last_error(), "element 2 (I64) does not fit in int32"), "%s",
          qa_last_error());
    st_close(st);
    st_close(NULL);

    /* the writer refuses a repeated name and leaves nothing behind */
    StEntry dup[] = {{"x", ST_F32, 1, {1}, a}, {"x", ST_F32, 1, {1}, a}};
    CHECK(st_write(scratch("dup.safetensors"), dup, 2, NULL) == QA_ERR &&
              strstr(qa_last_error(), "tensor 'x': cannot write: the name is repeated") &&
              access(scratch("dup.safetensors"), F_OK) != 0, "%s", qa_last_error());
}

/* Hand-checked bit patterns: F16 normals, subnormals, extremes, inf, nan; BF16; F64. */
static void test_conversion(void) {
    const uint16_t h[] = {0x0000, 0x8000, 0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x0400,
                          0x3555, 0x8001, 0x7C00, 0xFC00, 0x7E00};
    const float hv[] = {0.0f, -0.0f, 1.0f, -2.0f, 65504.0f, 0x1p-24f, 0x3FFp-24f, 0x1p-14f,
                        0.333251953125f, -0x1p-24f};
    const uint16_t b[] = {0x3F80, 0xC000, 0x4049, 0x0001, 0x7F7F, 0x7F80, 0x7FC1};
    const float bv[] = {1.0f, -2.0f, 3.140625f, 0x1p-133f, 0x1.FEp127f};
    const double d[] = {0.1, -1e300, 1.0 / 3};
    StEntry e[] = {{"h", ST_F16, 1, {13}, h}, {"b", ST_BF16, 1, {7}, b}, {"d", ST_F64, 1, {3}, d}};
    const char *path = scratch("conv.safetensors");
    SafeTensors *st = NULL;
    CHECK(st_write(path, e, 3, NULL) == QA_OK && st_open(path, &st) == QA_OK, "%s",
          qa_last_error());
    if (!st) return;
    float out[13];
    CHECK(st_read_f32(st, "h", 1, (int64_t[]){13}, out) == QA_OK, "%s", qa_last_error());
    for (int i = 0; i < 10; i++)
        CHECK(out[i] == hv[i] && signbit(out[i]) == signbit(hv[i]), "F16 %04x -> %a, want %a",
              h[i], out[i], hv[i]);
    CHECK(isinf(out[10]) && out[10] > 0 && isinf(out[11]) && out[11] < 0, "F16 infinities");
    CHECK(isnan(out[12]), "F16 nan");
    CHECK(st_read_f32(st, "b", 1, (int64_t[]){7}, out) == QA_OK, "%s", qa_last_error());
    for (int i = 0; i < 5; i++)
        CHECK(out[i] == bv[i], "BF16 %04x -> %a, want %a", b[i], out[i], bv[i]);
    CHECK(isinf(out[5]) && isnan(out[6]), "BF16 inf, nan");
    CHECK(st_read_f32(st, "d", 1, (int64_t[]){3}, out) == QA_OK, "%s", qa_last_error());
    CHECK(out[0] == 0.1f && isinf(out[1]) && out[1] < 0 && out[2] == 1.0f / 3, "F64 rounding");
    st_close(st);
}

/* Every validation failure of st_open(), each with the message a user needs. */
static void test_errors(void) {
    const char *p = scratch("bad.safetensors");
    FILE *f = fopen(p, "wb");
    fputs("abcde", f);
    fclose(f);
    expect_error(p, "file is 5 bytes, too short", NULL);
    write_raw(p, 1000, "{}", 40);
    expect_error(p, "header length 1000 exceeds the 42 bytes", NULL);
    write_raw(p, -1, "{\"a\": {\"dtype\": \"F32\",", 0);
    expect_error(p, "header is not valid JSON (error at byte", NULL);
    write_raw(p, -1, "{} x", 0);
    expect_error(p, "header is not valid JSON (error at byte 3 of 4)", NULL);
    write_raw(p, -1, "[1, 2]", 0);
    expect_error(p, "header is [1,2], not a JSON object", NULL);
    write_raw(p, -1, "{\"a\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    expect_error(p, "tensor 'a': unknown dtype \"F31\"", NULL);
    write_raw(p, -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20);
    expect_error(p, "tensor 'a': data_offsets [0, 20] hold 20 bytes but shape [2, 3] of F32 "
                    "needs 24", NULL);
    write_raw(p, -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", 24);
    expect_error(p, "tensor 'a': shape[1] = -3 is not a non-negative integer", NULL);
    write_raw(p, -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8);
    expect_error(p, "shape[0] = 2.5", NULL);
    write_raw(p, -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}", 16);
    expect_error(p, "tensor 'a': data_offsets [0, 24] beyond the data buffer of 16 bytes", NULL);
    write_raw(p, -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8);
    expect_error(p, "tensor 'a': data_offsets [8,0] is not [begin, end]", NULL);
    write_raw(p, -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24);
    expect_error(p, "tensor 'b': data_offsets [8, 24] overlap tensor 'a' which ends at 16", NULL);
    write_raw(p, -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", 24);
    expect_error(p, "tensor 'b': data_offsets [16, 24] leave a gap: bytes [8, 16)", NULL);
    write_raw(p, -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12);
    expect_error(p, "tensor 'a': bytes [8, 12) at the end of the data buffer", NULL);
    write_raw(p, -1, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
    expect_error(p, "tensor 'a': name appears twice", NULL);
    write_raw(p, -1, "{\"__metadata__\":{\"k\":3}}", 0);
    expect_error(p, "__metadata__ 'k': value 3 is not a string", NULL);
    expect_error(scratch("absent.safetensors"), "cannot open", NULL);

    /* a valid file cut short: the last tensor runs past the end of the data */
    float v[8] = {0};
    StEntry e[] = {{"first", ST_F32, 1, {4}, v}, {"last", ST_F32, 1, {4}, v}};
    CHECK(st_write(p, e, 2, NULL) == QA_OK, "%s", qa_last_error());
    f = fopen(p, "rb");
    unsigned char buf[512];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    f = fopen(p, "wb");
    fwrite(buf, 1, n - 4, f);
    fclose(f);
    expect_error(p, "tensor 'last': data_offsets [16, 32] beyond the data buffer of 28 bytes",
                 "truncated");
}

/* ---- the PyTorch parity fixture ------------------------------------------------------ */

enum { FB = 3, FT = 12, FC = 16, FL = 4 };
static const int heads[FL] = {4, 1, 0, 2}, ffn[FL] = {24, 9, 5, 0};

/* Checks that name exists as F32 (or I64) with the given shape; counts the names seen. */
static int seen;
static void expect_tensor(const SafeTensors *st, const char *name, StDtype dtype, int ndim,
                          int64_t d0, int64_t d1) {
    const StTensor *t = st_find(st, name);
    seen++;
    CHECK(t && t->dtype == dtype && t->ndim == ndim && t->shape[0] == d0 &&
              (ndim < 2 || t->shape[1] == d1), "%s: missing or wrong dtype/shape", name);
}

/* The parameter and its gradient, "grad." + name. */
static void expect_param(const SafeTensors *st, const char *name, int ndim, int64_t d0,
                         int64_t d1) {
    char g[160];
    snprintf(g, sizeof g, "grad.%s", name);
    expect_tensor(st, name, ST_F32, ndim, d0, d1);
    expect_tensor(st, g, ST_F32, ndim, d0, d1);
}

static void expect_layout(const SafeTensors *st) {
    const char *in[] = {"input_ids", "token_type_ids", "attention_mask"};
    for (int i = 0; i < 3; i++) expect_tensor(st, in[i], ST_I64, 2, FB, FT);
    expect_tensor(st, "start_positions", ST_I64, 1, FB, 0);
    expect_tensor(st, "end_positions", ST_I64, 1, FB, 0);
    expect_param(st, "bert.embeddings.word_embeddings.weight", 2, 40, FC);
    expect_param(st, "bert.embeddings.position_embeddings.weight", 2, 24, FC);
    expect_param(st, "bert.embeddings.token_type_embeddings.weight", 2, 2, FC);
    expect_param(st, "bert.embeddings.LayerNorm.weight", 1, FC, 0);
    expect_param(st, "bert.embeddings.LayerNorm.bias", 1, FC, 0);
    char n[128];
    for (int l = 0; l < FL; l++) {
        int a = heads[l] * 4, f = ffn[l];
        const char *qkv[] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            snprintf(n, sizeof n, "bert.encoder.layer.%d.attention.self.%s.weight", l, qkv[k]);
            expect_param(st, n, 2, a, FC);
            snprintf(n, sizeof n, "bert.encoder.layer.%d.attention.self.%s.bias", l, qkv[k]);
            expect_param(st, n, 1, a, 0);
        }
        const struct { const char *suffix; int ndim; int64_t d0, d1; } rows[] = {
            {"attention.output.dense.weight", 2, FC, a}, {"attention.output.dense.bias", 1, FC, 0},
            {"attention.output.LayerNorm.weight", 1, FC, 0},
            {"attention.output.LayerNorm.bias", 1, FC, 0},
            {"intermediate.dense.weight", 2, f, FC}, {"intermediate.dense.bias", 1, f, 0},
            {"output.dense.weight", 2, FC, f}, {"output.dense.bias", 1, FC, 0},
            {"output.LayerNorm.weight", 1, FC, 0}, {"output.LayerNorm.bias", 1, FC, 0},
        };
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            snprintf(n, sizeof n, "bert.encoder.layer.%d.%s", l, rows[r].suffix);
            expect_param(st, n, rows[r].ndim, rows[r].d0, rows[r].d1);
        }
        snprintf(n, sizeof n, "head_gates.%d", l);
        expect_param(st, n, 1, heads[l], 0);
        snprintf(n, sizeof n, "ffn_gates.%d", l);
        expect_param(st, n, 1, f, 0);
    }
    expect_param(st, "qa_outputs.weight", 2, 2, FC);
    expect_param(st, "qa_outputs.bias", 1, 2, 0);
    const char *logits[] = {"start_logits", "end_logits", "teacher_start_logits",
                            "teacher_end_logits", "distill.grad_start_logits",
                            "distill.grad_end_logits"};
    for (int i = 0; i < 6; i++) expect_tensor(st, logits[i], ST_F32, 2, FB, FT);
    expect_tensor(st, "loss", ST_F32, 1, 1, 0);
    expect_tensor(st, "distill.loss", ST_F32, 1, 1, 0);
    expect_tensor(st, "adamw.losses", ST_F32, 1, 11, 0);
    expect_tensor(st, "adamw.grad_norms", ST_F32, 1, 10, 0);
    CHECK(seen == st_count(st), "fixture has %d tensors, expected %d", st_count(st), seen);
}

/* Recomputes the gold and distillation losses and the distillation logit gradient in C
 * from the stored logits, proving the numbers (not just the layout) read back intact:
 *   gold = (CE(s, start) + CE(e, end)) / 2
 *   distill = alpha T^2 (soft_s + soft_e)/2 + (1 - alpha) gold
 *   d distill / d s[b,t] = alpha T/(2B) (q_t - p_t) + (1 - alpha)/(2B) (softmax(s)_t - [t = y]) */
static void expect_losses(const SafeTensors *st) {
    float s[2][FB * FT], te[2][FB * FT], dg[2][FB * FT], loss, dloss;
    int64_t pos[2][FB], shape[2] = {FB, FT}, one = 1;
    const char *ln[2] = {"start_logits", "end_logits"};
    const char *tn[2] = {"teacher_start_logits", "teacher_end_logits"};
    const char *gn[2] = {"distill.grad_start_logits", "distill.grad_end_logits"};
    int ok = st_read_i64(st, "start_positions", 1, shape, pos[0]) == QA_OK &&
             st_read_i64(st, "end_positions", 1, shape, pos[1]) == QA_OK &&
             st_read_f32(st, "loss", 1, &one, &loss) == QA_OK &&
             st_read_f32(st, "distill.loss", 1, &one, &dloss) == QA_OK;
    for (int k = 0; k < 2; k++)
        ok = ok && st_read_f32(st, ln[k], 2, shape, s[k]) == QA_OK &&
             st_read_f32(st, tn[k], 2, shape, te[k]) == QA_OK &&
             st_read_f32(st, gn[k], 2, shape, dg[k]) == QA_OK;
    const char *tv = st_metadata(st, "distill_T"), *av = st_metadata(st, "distill_alpha");
    CHECK(ok && tv && av, "reading the fixture: %s", qa_last_error());
    if (!ok || !tv || !av) return;
    double T = atof(tv), alpha = atof(av), gold = 0, soft = 0;
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < FB; b++) {
            const float *x = s[k] + b * FT, *y = te[k] + b * FT;
            double mx = -INFINITY, zx = 0, mxt = -INFINITY, zxt = 0, myt = -INFINITY, zyt = 0;
            for (int t = 0; t < FT; t++) {
                mx = fmax(mx, x[t]);
                mxt = fmax(mxt, x[t] / T);
                myt = fmax(myt, y[t] / T);
            }
            for (int t = 0; t < FT; t++) {
                zx += exp(x[t] - mx);
                zxt += exp(x[t] / T - mxt);
                zyt += exp(y[t] / T - myt);
            }
            gold += (log(zx) + mx - x[pos[k][b]]) / (2.0 * FB);
            for (int t = 0; t < FT; t++) {
                double p = exp(y[t] / T - myt) / zyt, q = exp(x[t] / T - mxt) / zxt;
                soft -= p * (x[t] / T - mxt - log(zxt)) / (2.0 * FB);
                double g = alpha * T / (2.0 * FB) * (q - p) +
                           (1 - alpha) / (2.0 * FB) * (exp(x[t] - mx) / zx - (t == pos[k][b]));
                CHECK_CLOSE(dg[k][b * FT + t], g, 1e-5, "%s[%d,%d]", gn[k], b, t);
            }
        }
    CHECK_CLOSE(loss, gold, 1e-5, "gold loss from the stored logits");
    CHECK_CLOSE(dloss, alpha * T * T * soft + (1 - alpha) * gold, 1e-5, "distillation loss");
}

static void test_parity_fixture(void) {
    SafeTensors *st = NULL;
    if (access(PARITY, R_OK) != 0) {
        SKIP("%s not found (run: python3 tests/make_parity_fixture.py)", PARITY);
        return;
    }
    CHECK(st_open(PARITY, &st) == QA_OK, "%s", qa_last_error());
    if (!st) return;
    expect_layout(st);
    const char *cfg = st_metadata(st, "config");
    CHECK(cfg && strstr(cfg, "\"heads_per_layer\":[4,1,0,2]") &&
              strstr(cfg, "\"ffn_per_layer\":[24,9,5,0]") &&
              strstr(cfg, "\"kept_heads\":[[0,1,2,3],[2],[],[1,3]]"), "config metadata: %s",
          cfg ? cfg : "(missing)");
    CHECK(st_metadata(st, "adamw") != NULL, "adamw metadata");
    float g[4];
    CHECK(st_read_f32(st, "head_gates.0", 1, (int64_t[]){4}, g) == QA_OK && g[0] >= 0.2f &&
              g[3] <= 1.0f, "head gates in [0.2, 1]");
    expect_losses(st);
    st_close(st);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_conversion();
    test_errors();
    test_parity_fixture();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
