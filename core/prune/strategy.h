/* core/prune/strategy.h: which heads and FFN neurons to remove (DESIGN.md, "Strategy").
 *
 * Every strategy ends in keep flags (layouts as BertGates: layer-major, 1 = keep) with
 * exactly keep = total - round(sparsity * total) heads and likewise neurons, counted over the
 * whole model, so layers end up with different shapes (a layer may lose everything).
 *   random: a seeded uniform choice.
 *   gain:   importance = mean over training batches of |dL/dgate| at gate = 1 (Michel et al.
 *           2019), L2-normalised per layer for heads and for neurons, then global top-k.
 *   l0:     hard-concrete gates (Louizos et al. 2018) trained jointly with the model under an
 *           expected-L0 penalty steered to the target by a Lagrangian with learned multipliers
 *           (Wang et al. 2020; Xia et al. 2022, CoFi), then exact top-k of log alpha. */
#ifndef QAPRUNE_STRATEGY_H
#define QAPRUNE_STRATEGY_H

#include <stdint.h>

#include "core/model/bert.h"
#include "core/util/rng.h"
#include "core/model/train.h"

typedef enum { STRATEGY_RANDOM, STRATEGY_GAIN, STRATEGY_L0 } StrategyKind;

/* Parses "random" | "gain" | "l0"; returns QA_ERR (naming the value) otherwise. */
int strategy_parse(const char *name, StrategyKind *out);
const char *strategy_name(StrategyKind k);

/* Number of units kept when a fraction `sparsity` of total is removed (rounded to nearest). */
int strategy_keep_count(int total, double sparsity);
/* keep[i] = 1 for the `keep` largest scores (ties: the lower index wins), 0 otherwise. */
void strategy_topk(const float *score, int n, int keep, uint8_t *out);
/* keep[i] = 1 for a seeded uniform random choice of `keep` of n. */
void strategy_random(uint64_t seed, int n, int keep, uint8_t *out);

/* Gain importance: mean over n_batches training batches (seeded choice) of |dL/dgate| at
 * gate = 1, heads then neurons, each L2-normalised per layer. head_score [total heads],
 * ffn_score [total ffn]. m's weights are not changed. */
int strategy_gain_scores(BertModel *m, const QaData *d, int batch_size, int n_batches,
                         uint64_t seed, float *head_score, float *ffn_score);

/* ---- hard-concrete gates (Louizos, Welling & Kingma 2018) ---- */
#define HC_BETA (2.0f / 3.0f)
#define HC_GAMMA (-0.1f)
#define HC_ZETA 1.1f

/* z = clamp(sbar, 0, 1), sbar = sigmoid((log u - log(1-u) + log_alpha) / beta) (zeta - gamma)
 * + gamma, u ~ U(0,1). s[n] keeps sigmoid(...) for hc_backward. */
void hc_sample(float *z, float *s, const float *log_alpha, int n, Rng *r);
/* dlog_alpha += dz * dz/dlog_alpha (0 where the clamp is active). */
void hc_backward(float *dlog_alpha, const float *dz, const float *s, int n);
/* P(z != 0) = sigmoid(log_alpha - beta log(-gamma / zeta)): the expected L0 norm per gate. */
float hc_prob_nonzero(float log_alpha);
/* The deterministic test-time gate clamp(sigmoid(log_alpha) (zeta - gamma) + gamma, 0, 1). */
float hc_deterministic(float log_alpha);

typedef struct {
    long steps;          /* joint training steps */
    float lr_log_alpha;  /* Adam learning rate of log alpha (0.1) */
    float lr_lambda;     /* ascent rate of the Lagrange multipliers (0.1) */
    float target_warmup; /* fraction of steps over which the target rises from 0 (0.5) */
    float init_drop;     /* initial drop rate: log alpha = log((1 - p) / p) (0.3) */
} L0Opts;

void l0_opts_init(L0Opts *o);

typedef struct {
    float exp_head_sparsity, exp_ffn_sparsity; /* expected sparsities at the end */
    float lambda_head[2], lambda_ffn[2];       /* final multipliers */
} L0Stats;

/* Trains m jointly with hard-concrete gates (train gives the model's optimiser settings,
 * batch, seed, distillation; its hooks are replaced) so that the expected sparsities reach
 * head_sparsity and ffn_sparsity; writes the learned log alpha (score for top-k) into
 * head_score [total heads] and ffn_score [total ffn]. */
int strategy_l0_train(BertModel *m, const QaData *d, const TrainOpts *train, const L0Opts *o,
                      double head_sparsity, double ffn_sparsity, float *head_score,
                      float *ffn_score, L0Stats *stats);

#endif
