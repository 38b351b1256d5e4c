/* sweep/cmd_bench.c: `sweep bench`, the engine's speed on random weights for one shape.
 * Prints one JSON line (median_ms, min_ms, max_ms, flop per step, gflop_per_s, peak_rss_mb,
 * the GEMM backend, the precision and the shape),
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

/* Fills o from argv: CLI_CONTINUE, or the exit code (0 after --help, 2 after an error). */
static int parse_opts(int argc, char **argv, BenchOpts *o) {
    *o = (BenchOpts){12, 768, 12, 3072, 384, 1, 1, 10, 2, 30522, NULL, NULL, "forward",
                     gemm_backend_name(GEMM_DEFAULT), "fp32"};
    const long MAX = 1000000;
    const CliOpt opts[] = {
        {"layers", CLI_INT, &o->layers, 0, MAX, "L", "encoder layers", CLI_OPTIONAL},
        {"hidden", CLI_INT, &o->hidden, 0, MAX, "C", "hidden size", CLI_OPTIONAL},
        {"heads", CLI_INT, &o->heads, 0, MAX, "NH", "attention heads per layer", CLI_OPTIONAL},
        {"ffn", CLI_INT, &o->ffn, 0, MAX, "F", "FFN width per layer", CLI_OPTIONAL},
        {"seq", CLI_INT, &o->seq, 1, MAX, "T", "tokens per sequence", CLI_OPTIONAL},
        {"batch", CLI_INT, &o->batch, 1, MAX, "B", "sequences per step", CLI_OPTIONAL},
        {"threads", CLI_INT, &o->threads, 1, 256, "N", "threads for GEMMs and loops",
         CLI_OPTIONAL},
        {"mode", CLI_STRING, &o->mode, 0, 0, "forward|train",
         "time a forward, or a training step (forward, backward, AdamW)", CLI_OPTIONAL},
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
         "bf16: GEMMs in bf16 with fp32 accumulation (forward mode)", CLI_OPTIONAL},
    };
    const CliSpec cli = {
        .cmd = "bench",
        .about = "Times the engine on random weights for one shape and prints one JSON line.\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
    };
    int rc = cli_parse(&cli, argc, argv, NULL);
    if (rc != CLI_CONTINUE) return rc;
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
    BertPrecision prec;
    if (bert_precision_parse(o->precision, &prec)) {
        fprintf(stderr, "sweep bench: --precision must be fp32 or bf16, got '%s'\n",
                o->precision);
        return 2;
    }
    if (prec == BERT_BF16 && !strcmp(o->mode, "train")) {
        fprintf(stderr, "sweep bench: --precision bf16 is for --mode forward (training runs in "
                        "fp32)\n");
        return 2;
    }
    return CLI_CONTINUE;
}

int cmd_bench(int argc, char **argv) {
    BenchOpts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc != CLI_CONTINUE) return rc;
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
