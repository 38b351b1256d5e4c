/* core/model/latency.h: the latency protocol (DESIGN.md, "Latency"): the teacher and the pruned
 * model timed in the same process, on the same inputs and threads, interleaved (teacher,
 * pruned, teacher, ...) so that drifts of the machine hit both alike; medians of repeats;
 * speedup = teacher median / pruned median. */
#ifndef QAPRUNE_LATENCY_H
#define QAPRUNE_LATENCY_H

#include "core/model/bert.h"

typedef struct {
    int batch, seq;       /* input shape: all real tokens, two segments */
    int warmup, repeats;  /* untimed passes, then timed passes of each model */
} LatencyOpts;

typedef struct {
    double teacher_ms, pruned_ms;         /* medians */
    double teacher_min_ms, pruned_min_ms;
    double speedup;                       /* teacher_ms / pruned_ms */
} LatencyResult;

/* Monotonic clock in milliseconds. */
double latency_now_ms(void);
/* The peak resident memory of this process so far, all threads, in MiB (2^20 bytes, Slurm's
 * M): getrusage's ru_maxrss. A forked child starts from the resident size it inherits at
 * fork (its parent's pages it maps), not from the parent's earlier peak; an exec'd process
 * (a Slurm task) from the small pre-exec image. */
double latency_peak_rss_mb(void);
/* Median of x[n] (n >= 1); sorts x in place. */
double latency_median(double *x, int n);

/* The timed inputs: batch x seq tokens ([batch*seq] each, 64-bit indexing), ids spread over
 * [0, vocab), the first quarter of each window type 0 and the rest type 1, all real tokens. */
void latency_inputs(int batch, int seq, int vocab, int32_t *ids, int32_t *types, int32_t *mask);

/* Times forward passes (inference) of both models; QA_ERR on a bad shape or no memory. */
int latency_measure(BertModel *teacher, BertModel *pruned, const LatencyOpts *o,
                    LatencyResult *r);

#endif
