/* core/model/latency.c: see latency.h. */
#include "core/model/latency.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/util/error.h"

double latency_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double latency_peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0; /* cannot fail for RUSAGE_SELF */
    return ru.ru_maxrss / 1024.0; /* Linux counts it in KiB */
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double latency_median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

void latency_inputs(int batch, int seq, int vocab, int32_t *ids, int32_t *types, int32_t *mask) {
    size_t n = (size_t)batch * (size_t)seq;
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int32_t)((i * 7919 + 13) % (size_t)vocab);
        types[i] = (int)(i % (size_t)seq) >= seq / 4;
        mask[i] = 1;
    }
}

int latency_measure(BertModel *teacher, BertModel *pruned, const LatencyOpts *o,
                    LatencyResult *r) {
    int rc = QA_ERR;
    if (o->batch < 1 || o->seq < 1 || o->repeats < 1 || o->warmup < 0)
        return qa_error("latency: bad settings batch %d seq %d repeats %d warmup %d", o->batch,
                        o->seq, o->repeats, o->warmup);
    /* 64-bit: batch x seq within their ranges (1024 x 4096) passes 2^31 in token ids below */
    size_t N = (size_t)o->batch * (size_t)o->seq;
    int32_t *ids = malloc(sizeof(int32_t) * 3 * (size_t)N);
    double *t = malloc(sizeof(double) * 2 * (size_t)o->repeats);
    if (!ids || !t) {
        qa_error("latency: out of memory");
        goto cleanup;
    }
    int32_t *types = ids + N, *mask = types + N;
    latency_inputs(o->batch, o->seq, bert_config(teacher)->vocab_size, ids, types, mask);
    if (bert_config(teacher)->type_vocab_size < 2) /* RoBERTa: one token type */
        memset(types, 0, sizeof(int32_t) * N);
    BertBatch b = {o->batch, o->seq, ids, types, mask};
    BertModel *models[2] = {teacher, pruned};
    for (int it = 0; it < o->warmup + o->repeats; it++)
        for (int k = 0; k < 2; k++) {
            double t0 = latency_now_ms();
            if (bert_forward(models[k], &b, NULL, 0, 0)) goto cleanup;
            if (it >= o->warmup) t[k * o->repeats + it - o->warmup] = latency_now_ms() - t0;
        }
    r->teacher_ms = latency_median(t, o->repeats);
    r->pruned_ms = latency_median(t + o->repeats, o->repeats);
    r->teacher_min_ms = t[0]; /* sorted by latency_median */
    r->pruned_min_ms = t[o->repeats];
    r->speedup = r->teacher_ms / r->pruned_ms;
    rc = QA_OK;
cleanup:
    free(ids);
    free(t);
    return rc;
}
