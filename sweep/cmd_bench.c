/* sweep/cmd_bench.c: `sweep bench`, three modes.
 *   Shape mode: the engine's speed on random weights for one shape. Prints one JSON line
 *   (median_ms, min_ms, max_ms, flop per step, gflop_per_s, peak_rss_mb, the GEMM backend,
 *   the precision and the shape), with the same FLOP count and step definition as
 *   ../shared/bench/torch_bert_bench.py so the two can be compared side by side.
 *   GEMM mode (--mode gemm): the four GEMMs of one layer of that shape, timed in oneDNN's
 *   dnnl_sgemm called directly and in the engine's gemm_f32, the machine's GEMM speed that
 *   the whole model's gflop_per_s is measured against.
 *   Pair mode (--teacher and --model): a teacher and its pruned model timed with the sweep's
 *   latency protocol (core/model/latency.h) in each runtime of --runtime, the engine and/or
 *   ONNX Runtime (sweep/ort.h), one after the other in this one process; one JSON line per
 *   runtime with both medians and the speedup. */
#include <cjson/cJSON.h>
#include <dnnl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/model/bert.h"
#include "core/model/checkpoint.h"
#include "core/model/gemm.h"
#include "core/util/error.h"
#include "core/model/latency.h"
#include "core/model/loss.h"
#include "core/model/ops.h"
#include "core/model/optim.h"
#include "core/util/rng.h"
#include "core/util/fileio.h"
#include "sweep/cli.h"
#include "sweep/commands.h"
#include "sweep/ort.h"
#include "sweep/pipeline.h"
#include "sweep/progress.h"

typedef struct {
    int layers, hidden, heads, ffn, seq, batch, threads, reps, warmup, vocab;
    const char *heads_per_layer, *ffn_per_layer, *mode, *gemm, *precision;
    const char *teacher, *model, *runtime, *ort; /* pair mode */
    int engine, onnxrt;                          /* the runtimes --runtime names */
} BenchOpts;

/* Reads a JSON list of L non-negative ints (at most max each) into out; QA_ERR on error. */
static int parse_int_list(const char *opt, const char *text, int L, int max, int *out) {
    cJSON *j = cJSON_Parse(text);
    int rc = QA_OK;
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != L) {
        rc = qa_error("bench: %s must be a JSON list of %d integers, got '%s'", opt, L, text);
        goto cleanup;
    }
    for (int i = 0; i < L; i++) {
        cJSON *e = cJSON_GetArrayItem(j, i);
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > max ||
            e->valuedouble != (int)e->valuedouble) {
            rc = qa_error("bench: %s[%d] must be an integer in [0, %d]", opt, i, max);
            goto cleanup;
        }
        out[i] = e->valueint;
    }
cleanup:
    cJSON_Delete(j);
    return rc;
}

/* Reads a comma-separated list of runtimes ("engine", "ort"), each at most once, into the
 * two flags; QA_ERR for anything else (an empty name included). */
static int parse_runtimes(const char *s, int *engine, int *ort) {
    *engine = *ort = 0;
    for (;;) {
        size_t n = strcspn(s, ",");
        int *flag = n == 6 && !strncmp(s, "engine", 6) ? engine
                  : n == 3 && !strncmp(s, "ort", 3) ? ort : NULL;
        if (!flag || *flag) return QA_ERR;
        *flag = 1;
        if (!s[n]) return QA_OK;
        s += n + 1;
    }
}

/* Fills o from argv: CLI_CONTINUE, or the exit code (0 after --help, 2 after an error). */
static int parse_opts(int argc, char **argv, BenchOpts *o) {
    *o = (BenchOpts){12, 768, 12, 3072, 0, 1, 1, 10, 2, 30522, NULL, NULL, "forward",
                     gemm_backend_name(GEMM_DEFAULT), "fp32", NULL, NULL, "engine", NULL, 0, 0};
    const long MAX = 1000000;
    const CliOpt opts[] = {
        {"layers", CLI_INT, &o->layers, 0, MAX, "L", "encoder layers", CLI_OPTIONAL},
        {"hidden", CLI_INT, &o->hidden, 0, MAX, "C", "hidden size", CLI_OPTIONAL},
        {"heads", CLI_INT, &o->heads, 0, MAX, "NH", "attention heads per layer", CLI_OPTIONAL},
        {"ffn", CLI_INT, &o->ffn, 0, MAX, "F", "FFN width per layer", CLI_OPTIONAL},
        {"seq", CLI_INT, &o->seq, 0, MAX, "T",
         "tokens per sequence (0: 384; with --teacher its max_seq_len)", CLI_OPTIONAL},
        {"batch", CLI_INT, &o->batch, 1, MAX, "B", "sequences per step", CLI_OPTIONAL},
        {"threads", CLI_INT, &o->threads, 1, 256, "N", "threads for GEMMs and loops",
         CLI_OPTIONAL},
        {"mode", CLI_STRING, &o->mode, 0, 0, "forward|train|gemm",
         "time a forward, a training step (forward, backward, AdamW), or one layer's GEMMs "
         "(batch x seq rows) in dnnl_sgemm and in the engine", CLI_OPTIONAL},
        {"heads-per-layer", CLI_STRING, &o->heads_per_layer, 0, 0, "JSON",
         "a list of L head counts (a pruned shape; default: --heads in every layer)",
         CLI_OPTIONAL},
        {"ffn-per-layer", CLI_STRING, &o->ffn_per_layer, 0, 0, "JSON",
         "a list of L FFN widths (default: --ffn in every layer)", CLI_OPTIONAL},
        {"reps", CLI_INT, &o->reps, 1, MAX, "N", "timed repeats (the median is reported)",
         CLI_OPTIONAL},
        {"warmup", CLI_INT, &o->warmup, 0, MAX, "N", "untimed steps first", CLI_OPTIONAL},
        {"vocab", CLI_INT, &o->vocab, 1, MAX, "V", "vocabulary size", CLI_OPTIONAL},
        {"gemm", CLI_STRING, &o->gemm, 0, 0, "onednn|openblas", "the GEMM library",
         CLI_OPTIONAL},
        {"precision", CLI_STRING, &o->precision, 0, 0, "fp32|bf16",
         "bf16: GEMMs in bf16 with fp32 accumulation (train: fp32 master weights)",
         CLI_OPTIONAL},
        {"teacher", CLI_STRING, &o->teacher, 0, 0, "DIR|FILE.onnx",
         "pair mode: the unpruned model (a checkpoint, or an exported .onnx)", CLI_OPTIONAL},
        {"model", CLI_STRING, &o->model, 0, 0, "DIR|FILE.onnx",
         "pair mode: the pruned model timed against --teacher", CLI_OPTIONAL},
        {"runtime", CLI_STRING, &o->runtime, 0, 0, "engine|ort|engine,ort",
         "pair mode: where to time them (ort: ONNX Runtime)", CLI_OPTIONAL},
        {"ort", CLI_STRING, &o->ort, 0, 0, "DIR",
         "ONNX Runtime's install: DIR/node_modules/onnxruntime-node (default $" ORT_DIR_ENV
         ", else .)", CLI_OPTIONAL},
    };
    const CliSpec cli = {
        .cmd = "bench",
        .about = "Times the engine on random weights for one shape and prints one JSON line.\n"
                 "Pair mode (--teacher DIR --model DIR): times a teacher and its pruned model\n"
                 "as a sweep does (same inputs and threads, interleaved, median of --reps) in\n"
                 "each runtime of --runtime, and prints per runtime one JSON line with both\n"
                 "latencies and the speedup. A checkpoint is exported to ONNX on the fly for\n"
                 "--runtime ort; an .onnx file needs the config.json `sweep export` writes\n"
                 "beside it, and is timed in ONNX Runtime only. ONNX Runtime is npm's\n"
                 "onnxruntime-node, run by node: `npm install --ignore-scripts\n"
                 "onnxruntime-node` in DIR installs it for --ort DIR.\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
    };
    int rc = cli_parse(&cli, argc, argv, NULL);
    if (rc != CLI_CONTINUE) return rc;
    if (parse_runtimes(o->runtime, &o->engine, &o->onnxrt)) {
        fprintf(stderr, "sweep bench: --runtime must be engine, ort or engine,ort, got '%s'\n",
                o->runtime);
        return 2;
    }
    if (!o->teacher != !o->model) {
        fprintf(stderr, "sweep bench: --teacher and --model go together (pair mode)\n");
        return 2;
    }
    if (!o->teacher && strcmp(o->runtime, "engine")) {
        fprintf(stderr, "sweep bench: --runtime %s needs --teacher and --model (pair mode)\n",
                o->runtime);
        return 2;
    }
    if (strcmp(o->mode, "forward") && strcmp(o->mode, "train") && strcmp(o->mode, "gemm")) {
        fprintf(stderr, "sweep bench: --mode must be forward, train or gemm, got '%s'\n",
                o->mode);
        return 2;
    }
    if (o->teacher && strcmp(o->mode, "forward")) {
        fprintf(stderr, "sweep bench: --mode %s is not for pair mode (--teacher, --model)\n",
                o->mode);
        return 2;
    }
    GemmBackend gb;
    if (gemm_backend_parse(o->gemm, &gb)) {
        fprintf(stderr, "sweep bench: --gemm must be onednn or openblas, got '%s'\n", o->gemm);
        return 2;
    }
    gemm_set_backend(gb);
    BertPrecision prec;
    if (bert_precision_parse(o->precision, &prec)) {
        fprintf(stderr, "sweep bench: --precision must be fp32 or bf16, got '%s'\n",
                o->precision);
        return 2;
    }
    if (prec == BERT_BF16 && !strcmp(o->mode, "gemm")) {
        fprintf(stderr, "sweep bench: --precision bf16 is for --mode forward or train "
                        "(--mode gemm times fp32 GEMMs)\n");
        return 2;
    }
    return CLI_CONTINUE;
}

/* ---------------------------------------------------------------- pair mode */

/* One side of the pair: a checkpoint directory (loaded) or an exported .onnx file (its
 * config.json beside it, as `sweep export` writes it). */
typedef struct {
    const char *arg;
    char onnx[4200]; /* the ONNX file ORT runs: arg itself, or the export in the temp dir */
    int is_onnx;
    BertModel *m;    /* checkpoints only */
    BertConfig cfg;
} BenchSide;

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}

/* Loads side b (its model, or an .onnx file's config.json); QA_ERR naming the file. */
static int side_open(BenchSide *b, const char *arg) {
    b->arg = arg;
    b->is_onnx = ends_with(arg, ".onnx");
    if (!b->is_onnx) {
        if (checkpoint_load(arg, &b->m)) return QA_ERR;
        b->cfg = *bert_config(b->m);
        return QA_OK;
    }
    char dir[4096], cfg[4200];
    snprintf(dir, sizeof dir, "%s", arg);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    snprintf(b->onnx, sizeof b->onnx, "%s", arg);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    if (!file_exists(arg)) return qa_error("%s: no such file", arg);
    if (!file_exists(cfg))
        return qa_error("%s: no config.json beside it (the directory `sweep export` writes "
                        "has one): its vocabulary sizes the timed inputs", arg);
    return checkpoint_read_config(cfg, &b->cfg);
}

/* The window length of the teacher: --seq, else its max_seq_len (a checkpoint's
 * qaprune.json; an export's qaprune.json "max_seq_len"), else 384 (the caller caps that at
 * the teacher's positions). */
static int pair_seq(const BenchOpts *o, const BenchSide *t) {
    if (o->seq > 0) return o->seq;
    FeatureOpts fo = FEATURE_OPTS_DEFAULT;
    if (!t->is_onnx) {
        if (model_feature_opts(t->arg, &fo)) fo = FEATURE_OPTS_DEFAULT;
        return fo.max_seq_len;
    }
    char meta[4200], *text = NULL;
    size_t len;
    snprintf(meta, sizeof meta, "%s", t->onnx);
    char *slash = strrchr(meta, '/');
    snprintf(slash ? slash + 1 : meta, sizeof meta - (size_t)(slash ? slash + 1 - meta : 0),
             "qaprune.json");
    int seq = fo.max_seq_len;
    if (file_exists(meta) && file_read(meta, 1 << 20, &text, &len) == QA_OK) {
        cJSON *j = cJSON_Parse(text);
        const cJSON *v = cJSON_GetObjectItem(j, "max_seq_len");
        if (cJSON_IsNumber(v) && v->valueint >= 1) seq = v->valueint;
        cJSON_Delete(j);
    }
    free(text);
    return seq;
}

/* Prints one runtime's JSON line. */
static void pair_print(const char *runtime, const char *version, const BenchOpts *o,
                       const LatencyOpts *lo, const LatencyResult *r) {
    printf("{\"runtime\":\"%s\",\"version\":\"%s\",\"threads\":%d,\"batch\":%d,\"seq\":%d,"
           "\"warmup\":%d,\"reps\":%d,\"teacher_ms\":%.3f,\"model_ms\":%.3f,"
           "\"teacher_min_ms\":%.3f,\"model_min_ms\":%.3f,\"speedup\":%.3f}\n",
           runtime, version, o->threads, lo->batch, lo->seq, lo->warmup, lo->repeats,
           r->teacher_ms, r->pruned_ms, r->teacher_min_ms, r->pruned_min_ms, r->speedup);
    fflush(stdout);
}

/* Times --teacher against --model in each runtime asked for: the engine first (checkpoints
 * only), then ONNX Runtime on the exports (written into a temporary directory, removed
 * after). Exit code 0, 1 (a failure) or 2 (bad input). */
static int bench_pair(const BenchOpts *o) {
    BenchSide side[2] = {{0}, {0}};
    char tmp[4096] = "";
    const char *ort_dir = ort_dir_choose(o->ort);
    int rc = 2;
    if (o->onnxrt && ort_check(ort_dir)) {
        fprintf(stderr, "sweep bench: %s\n", qa_last_error());
        return 1;
    }
    if (side_open(&side[0], o->teacher) || side_open(&side[1], o->model)) {
        fprintf(stderr, "sweep bench: %s\n", qa_last_error());
        goto cleanup;
    }
    if (o->engine && (side[0].is_onnx || side[1].is_onnx)) {
        fprintf(stderr, "sweep bench: --runtime engine times checkpoints, not .onnx files "
                        "(give the checkpoint directories, or --runtime ort)\n");
        goto cleanup;
    }
    LatencyOpts lo = {o->batch, pair_seq(o, &side[0]), o->warmup, o->reps};
    int positions = side[0].cfg.max_position - side[0].cfg.position_offset;
    if (o->seq == 0 && lo.seq > positions) lo.seq = positions; /* no max_seq_len recorded */
    if (lo.seq > positions) {
        fprintf(stderr, "sweep bench: --seq %d is more than the teacher's %d positions\n",
                lo.seq, positions);
        goto cleanup;
    }
    fprintf(stderr, "bench settings:\n  %-10s %s\n  %-10s %s\n  %-10s %s\n  %-10s %d\n"
                    "  %-10s %d x %d tokens\n  %-10s %d untimed, %d timed (median), "
                    "interleaved\n",
            "teacher", o->teacher, "model", o->model, "runtime", o->runtime, "threads",
            o->threads, "inputs", lo.batch, lo.seq, "passes", lo.warmup, lo.repeats);
    if (o->onnxrt) fprintf(stderr, "  %-10s %s\n", "ort", ort_dir);
    rc = 1;
    if (o->engine) {
        BertPrecision prec = BERT_FP32;
        bert_precision_parse(o->precision, &prec);
        LatencyResult r;
        ops_set_threads(o->threads);
        if (bert_set_precision(side[0].m, prec) || bert_set_precision(side[1].m, prec) ||
            latency_measure(side[0].m, side[1].m, &lo, &r)) {
            fprintf(stderr, "sweep bench: %s\n", qa_last_error());
            goto cleanup;
        }
        char what[64];
        snprintf(what, sizeof what, "%s %s", o->gemm, o->precision);
        pair_print("engine", what, o, &lo, &r);
    }
    if (o->onnxrt) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/qaprune-bench-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmp)) {
            fprintf(stderr, "sweep bench: %s: cannot create: %s\n", tmp, strerror(errno));
            tmp[0] = '\0';
            goto cleanup;
        }
        for (int k = 0; k < 2; k++) {
            if (side[k].is_onnx) continue;
            snprintf(side[k].onnx, sizeof side[k].onnx, "%s/%s.onnx", tmp, k ? "model" : "teacher");
            progress_update("sweep bench: exporting %s to ONNX", side[k].arg);
            int bad = ort_export(side[k].m, side[k].onnx);
            progress_done();
            if (bad) {
                fprintf(stderr, "sweep bench: %s\n", qa_last_error());
                goto cleanup;
            }
        }
        LatencyResult r;
        char version[ORT_VERSION_MAX];
        if (ort_measure(ort_dir, side[0].onnx, side[1].onnx, &side[0].cfg, &lo, o->threads,
                        tmp, &r, version, sizeof version)) {
            fprintf(stderr, "sweep bench: %s\n", qa_last_error());
            goto cleanup;
        }
        pair_print("ort", version, o, &lo, &r);
    }
    rc = 0;
cleanup:
    for (int k = 0; k < 2; k++) {
        if (*tmp && !side[k].is_onnx && side[k].onnx[0]) {
            char data[4300];
            snprintf(data, sizeof data, "%s.data", side[k].onnx);
            unlink(side[k].onnx);
            unlink(data);
        }
        bert_free(side[k].m);
    }
    if (*tmp) rmdir(tmp);
    return rc;
}

/* ---------------------------------------------------------------- gemm mode */

/* One GEMM of a layer's forward: out[M,n] = in[M,k] . W[n,k]^T (+ bias), M = batch x seq. */
typedef struct {
    const char *name;
    int n, k;
    double sgemm_ms, engine_ms; /* medians */
} LayerGemm;

/* Adds flop, sgemm_ms, sgemm_gflop_per_s, engine_ms and engine_gflop_per_s (flop done in
 * sgemm_ms by dnnl_sgemm, in engine_ms by gemm_f32) to obj; returns obj, NULL when out of
 * memory. */
static cJSON *gemm_json(cJSON *obj, double flop, double sgemm_ms, double engine_ms) {
    if (!obj || !cJSON_AddNumberToObject(obj, "flop", flop) ||
        !cJSON_AddNumberToObject(obj, "sgemm_ms", sgemm_ms) ||
        !cJSON_AddNumberToObject(obj, "sgemm_gflop_per_s", flop / sgemm_ms / 1e6) ||
        !cJSON_AddNumberToObject(obj, "engine_ms", engine_ms) ||
        !cJSON_AddNumberToObject(obj, "engine_gflop_per_s", flop / engine_ms / 1e6))
        return NULL;
    return obj;
}

/* Times the four GEMMs of one layer of the shape (QKV, attention output, FFN in, FFN out;
 * M = batch x seq rows, weights [out, in] as the model keeps them) two ways, interleaved in
 * every repeat: oneDNN's dnnl_sgemm called directly, the reference for the whole model's
 * GFLOP/s, and the engine's gemm_f32 with the bias in the --gemm backend, as the model calls
 * it. Prints one JSON line: per GEMM and summed over the four (a layer's GEMMs, each once),
 * the median milliseconds and GFLOP/s of both. */
static int bench_gemm(const BenchOpts *o) {
    int M = o->batch * o->seq, C = o->hidden, F = o->ffn;
    LayerGemm g[4] = {{"qkv", 3 * C, C, 0, 0}, {"attn_out", C, C, 0, 0},
                      {"ffn_in", F, C, 0, 0}, {"ffn_out", C, F, 0, 0}};
    enum { NG = 4 };
    size_t maxk = (size_t)(C > F ? C : F), maxn = (size_t)(3 * C > F ? 3 * C : F);
    float *in = malloc(sizeof(float) * (size_t)M * maxk), *w = malloc(sizeof(float) * maxn * maxk);
    float *bias = malloc(sizeof(float) * maxn), *out = malloc(sizeof(float) * (size_t)M * maxn);
    double *t = malloc(sizeof(double) * 2 * NG * (size_t)o->reps);
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    int rc = 1;
    if (!in || !w || !bias || !out || !t || !root) {
        fprintf(stderr, "sweep bench: out of memory\n");
        goto cleanup;
    }
    Rng r;
    rng_seed(&r, 3);
    for (size_t i = 0; i < (size_t)M * maxk; i++) in[i] = (float)rng_uniform(&r) - 0.5f;
    for (size_t i = 0; i < maxn * maxk; i++) w[i] = 0.04f * ((float)rng_uniform(&r) - 0.5f);
    for (size_t i = 0; i < maxn; i++) bias[i] = 0.01f * (float)(i % 7);
    ops_set_threads(o->threads);
    for (int it = 0; it < o->warmup + o->reps; it++) {
        for (int s = 0; s < NG; s++) {
            double t0 = latency_now_ms();
            dnnl_status_t st = dnnl_sgemm('N', 'T', M, g[s].n, g[s].k, 1.f, in, g[s].k, w, g[s].k,
                                          0.f, out, g[s].n);
            double t1 = latency_now_ms();
            gemm_f32(0, 1, M, g[s].n, g[s].k, 1.f, in, g[s].k, w, g[s].k, 0.f, out, g[s].n, bias);
            double t2 = latency_now_ms();
            if (st != dnnl_success) {
                fprintf(stderr, "sweep bench: dnnl_sgemm %dx%d.%dx%d failed (status %d)\n", M,
                        g[s].k, g[s].k, g[s].n, (int)st);
                goto cleanup;
            }
            if (it < o->warmup) continue;
            t[(2 * s) * o->reps + it - o->warmup] = t1 - t0;
            t[(2 * s + 1) * o->reps + it - o->warmup] = t2 - t1;
        }
    }
    double flop = 0, sgemm_ms = 0, engine_ms = 0;
    int ok = cJSON_AddStringToObject(root, "mode", "gemm") &&
             cJSON_AddStringToObject(root, "gemm", o->gemm) &&
             cJSON_AddNumberToObject(root, "threads", o->threads) &&
             cJSON_AddNumberToObject(root, "m", M) &&
             cJSON_AddNumberToObject(root, "reps", o->reps) &&
             (arr = cJSON_AddArrayToObject(root, "shapes"));
    for (int s = 0; ok && s < NG; s++) {
        g[s].sgemm_ms = latency_median(t + (2 * s) * o->reps, o->reps);
        g[s].engine_ms = latency_median(t + (2 * s + 1) * o->reps, o->reps);
        double f = 2.0 * M * g[s].n * g[s].k;
        flop += f, sgemm_ms += g[s].sgemm_ms, engine_ms += g[s].engine_ms;
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(arr, e) && cJSON_AddStringToObject(e, "name", g[s].name) &&
             cJSON_AddNumberToObject(e, "m", M) && cJSON_AddNumberToObject(e, "n", g[s].n) &&
             cJSON_AddNumberToObject(e, "k", g[s].k) &&
             gemm_json(e, f, g[s].sgemm_ms, g[s].engine_ms);
    }
    ok = ok && gemm_json(root, flop, sgemm_ms, engine_ms) &&
         cJSON_AddNumberToObject(root, "peak_rss_mb", latency_peak_rss_mb());
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    if (!text) {
        fprintf(stderr, "sweep bench: out of memory\n");
        goto cleanup;
    }
    printf("%s\n", text);
    free(text);
    rc = 0;
cleanup:
    cJSON_Delete(root);
    free(in);
    free(w);
    free(bias);
    free(out);
    free(t);
    return rc;
}

/* ---------------------------------------------------------------- shape mode */

int cmd_bench(int argc, char **argv) {
    BenchOpts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
    if (o.teacher) return bench_pair(&o);
    if (o.seq == 0) o.seq = 384;
    if (!strcmp(o.mode, "gemm")) return bench_gemm(&o);
    BertConfig cfg;
    bert_config_init(&cfg, o.vocab, o.seq > 512 ? o.seq : 512, o.layers, o.hidden, o.heads,
                     o.ffn);
    cfg.hidden_dropout = cfg.attention_dropout = 0.1f;
    if (o.layers > BERT_MAX_LAYERS || o.heads > BERT_MAX_HEADS || o.heads < 1) {
        fprintf(stderr, "sweep bench: --layers <= %d and 1 <= --heads <= %d\n", BERT_MAX_LAYERS,
                BERT_MAX_HEADS);
        return 2;
    }
    if ((o.heads_per_layer &&
         parse_int_list("--heads-per-layer", o.heads_per_layer, o.layers, o.heads, cfg.heads)) ||
        (o.ffn_per_layer &&
         parse_int_list("--ffn-per-layer", o.ffn_per_layer, o.layers, 1000000, cfg.ffn))) {
        fprintf(stderr, "sweep bench: %s\n", qa_last_error());
        return 2;
    }
    ops_set_threads(o.threads);
    BertModel *m = NULL;
    AdamW *opt = NULL;
    int train = !strcmp(o.mode, "train"), B = o.batch, T = o.seq, N = B * T;
    int32_t *ids = malloc(sizeof(int32_t) * (3 * (size_t)N + 2 * B));
    float *dstart = malloc(sizeof(float) * 2 * (size_t)N), *dend = dstart + N;
    double *times = malloc(sizeof(double) * (size_t)o.reps);
    rc = 1;
    if (!ids || !dstart || !times) {
        fprintf(stderr, "sweep bench: out of memory\n");
        goto cleanup;
    }
    if (bert_create(&cfg, &m) ||
        (train && adamw_create(m, &(AdamWOpts){0.9f, 0.999f, 1e-8f, 0.01f}, &opt))) {
        fprintf(stderr, "sweep bench: %s\n", qa_last_error());
        goto cleanup;
    }
    bert_init_random(m, 1, 0.02f);
    if (!strcmp(o.precision, "bf16") &&
        (train ? bert_set_train_precision(m, BERT_BF16) : bert_set_precision(m, BERT_BF16))) {
        fprintf(stderr, "sweep bench: %s\n", qa_last_error());
        goto cleanup;
    }
    int32_t *types = ids + N, *mask = types + N, *sp = mask + N, *ep = sp + B;
    Rng r;
    rng_seed(&r, 2);
    for (int i = 0; i < N; i++) {
        ids[i] = (int32_t)rng_below(&r, (uint64_t)o.vocab);
        types[i] = i % T >= T / 2;
        mask[i] = 1;
    }
    for (int b = 0; b < B; b++) {
        sp[b] = (int32_t)rng_below(&r, (uint64_t)T);
        ep[b] = (int32_t)rng_below(&r, (uint64_t)T);
    }
    BertBatch batch = {B, T, ids, types, mask};
    for (int it = 0; it < o.warmup + o.reps; it++) {
        double t0 = latency_now_ms();
        if (bert_forward(m, &batch, NULL, train, (uint64_t)it)) {
            fprintf(stderr, "sweep bench: %s\n", qa_last_error());
            goto cleanup;
        }
        if (train) {
            bert_zero_grad(m);
            loss_span(dstart, dend, bert_start_logits(m), bert_end_logits(m), sp, ep, B, T);
            if (bert_backward(m, dstart, dend, NULL, NULL, 1)) {
                fprintf(stderr, "sweep bench: %s\n", qa_last_error());
                goto cleanup;
            }
            adamw_step(opt, m, 5e-5f);
        }
        if (it >= o.warmup) times[it - o.warmup] = latency_now_ms() - t0;
    }
    double med = latency_median(times, o.reps);
    double flop = bert_forward_flops(&cfg, B, T) * (train ? 3 : 1);
    printf("{\"mode\":\"%s\",\"gemm\":\"%s\",\"precision\":\"%s\",\"threads\":%d,"
           "\"batch\":%d,\"seq\":%d,\"layers\":%d,\"hidden\":%d,\"heads_per_layer\":[",
           o.mode, o.gemm, o.precision, o.threads, B, T, o.layers, o.hidden);
    for (int l = 0; l < o.layers; l++) printf("%s%d", l ? "," : "", cfg.heads[l]);
    printf("],\"ffn_per_layer\":[");
    for (int l = 0; l < o.layers; l++) printf("%s%d", l ? "," : "", cfg.ffn[l]);
    printf("],\"peak_rss_mb\":%.1f,\"params\":%zu,\"reps\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,"
           "\"flop\":%.0f,\"gflop_per_s\":%.1f}\n",
           latency_peak_rss_mb(), bert_num_params(m), o.reps, med, times[0], times[o.reps - 1], flop, flop / med / 1e6);
    rc = 0;
cleanup:
    adamw_free(opt);
    bert_free(m);
    free(ids);
    free(dstart);
    free(times);
    return rc;
}
