/* sweep/cmd_bench.c: `sweep bench`, the engine's speed on random weights for one shape.
 * Prints one JSON line (median_ms, min_ms, max_ms, flop per step, gflop_per_s, peak_rss_mb,
 * the GEMM backend, precision and shape),
 * with the same FLOP count and step definition as ../shared/bench/torch_bert_bench.py so the
 * two can be compared side by side. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/model/bert.h"
#include "core/model/gemm.h"
#include "core/util/error.h"
#include "core/model/latency.h"
#include "core/model/loss.h"
#include "core/model/ops.h"
#include "core/model/optim.h"
#include "core/util/rng.h"
#include "sweep/cli.h"
#include "sweep/commands.h"

typedef struct {
    int layers, hidden, heads, ffn, seq, batch, threads, reps, warmup, vocab;
    const char *heads_per_layer, *ffn_per_layer, *mode, *gemm, *precision;
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

static void usage(FILE *f) {
    fprintf(f,
            "usage: sweep bench [--layers 12] [--hidden 768] [--heads 12] [--ffn 3072]\n"
            "                   [--seq 384] [--batch 1] [--threads 1] [--mode forward|train]\n"
            "                   [--heads-per-layer JSON] [--ffn-per-layer JSON]\n"
            "                   [--reps 10] [--warmup 2] [--vocab 30522]\n"
            "                   [--gemm %s|%s] [--precision fp32|bf16]\n"
            "  --gemm       GEMM library (default %s)\n"
            "  --precision  bf16: forward GEMMs in bf16 with fp32 accumulation (forward mode)\n",
            gemm_backend_name(GEMM_ONEDNN), gemm_backend_name(GEMM_OPENBLAS),
            gemm_backend_name(GEMM_DEFAULT));
}

static int parse_opts(int argc, char **argv, BenchOpts *o) {
    *o = (BenchOpts){12, 768, 12, 3072, 384, 1, 1, 10, 2, 30522, NULL, NULL, "forward",
                     gemm_backend_name(GEMM_DEFAULT), "fp32"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *ip = !strcmp(a, "--layers")    ? &o->layers
                  : !strcmp(a, "--hidden")  ? &o->hidden
                  : !strcmp(a, "--heads")   ? &o->heads
                  : !strcmp(a, "--ffn")     ? &o->ffn
                  : !strcmp(a, "--seq")     ? &o->seq
                  : !strcmp(a, "--batch")   ? &o->batch
                  : !strcmp(a, "--threads") ? &o->threads
                  : !strcmp(a, "--reps")    ? &o->reps
                  : !strcmp(a, "--warmup")  ? &o->warmup
                  : !strcmp(a, "--vocab")   ? &o->vocab
                                            : NULL;
        const char **sp = !strcmp(a, "--heads-per-layer") ? &o->heads_per_layer
                          : !strcmp(a, "--ffn-per-layer") ? &o->ffn_per_layer
                          : !strcmp(a, "--mode")          ? &o->mode
                          : !strcmp(a, "--gemm")          ? &o->gemm
                          : !strcmp(a, "--precision")     ? &o->precision
                                                          : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if ((!ip && !sp) || !v) {
            fprintf(stderr, "sweep bench: %s '%s'\n", v ? "unknown option" : "missing value for",
                    a);
            usage(stderr);
            return 2;
        }
        if (ip) {
            long x;
            if (cli_int("bench", a, v, 0, 1000000, &x)) return 2;
            *ip = (int)x;
        } else {
            *sp = v;
        }
        i++;
    }
    if (strcmp(o->mode, "forward") && strcmp(o->mode, "train")) {
        fprintf(stderr, "sweep bench: --mode must be forward or train, got '%s'\n", o->mode);
        return 2;
    }
    GemmBackend gb;
    if (gemm_backend_parse(o->gemm, &gb)) {
        fprintf(stderr, "sweep bench: --gemm must be onednn or openblas, got '%s'\n", o->gemm);
        return 2;
    }
    gemm_set_backend(gb);
    if (strcmp(o->precision, "fp32") && strcmp(o->precision, "bf16")) {
        fprintf(stderr, "sweep bench: --precision must be fp32 or bf16, got '%s'\n",
                o->precision);
        return 2;
    }
    if (!strcmp(o->precision, "bf16") && !strcmp(o->mode, "train")) {
        fprintf(stderr, "sweep bench: --precision bf16 is for --mode forward (training runs in "
                        "fp32)\n");
        return 2;
    }
    if (o->threads < 1 || o->reps < 1 || o->seq < 1 || o->batch < 1) {
        fprintf(stderr, "sweep bench: --threads, --reps, --seq and --batch must be >= 1\n");
        return 2;
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    BenchOpts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
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
    if (!strcmp(o.precision, "bf16") && bert_set_precision(m, BERT_BF16)) {
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
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("],\"peak_rss_mb\":%.1f,\"params\":%zu,\"reps\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,"
           "\"flop\":%.0f,\"gflop_per_s\":%.1f}\n",
           ru.ru_maxrss / 1024.0, bert_num_params(m), o.reps, med, times[0], times[o.reps - 1], flop, flop / med / 1e6);
    rc = 0;
cleanup:
    adamw_free(opt);
    bert_free(m);
    free(ids);
    free(dstart);
    free(times);
    return rc;
}
