/* core/prune/l0.h: the l0 strategy: hard-concrete gates (Louizos, Welling & Kingma 2018,
 * "Learning Sparse Neural Networks through L0 Regularization") on every head and FFN neuron,
 * trained jointly with the model under an expected-L0 penalty steered to the sparsity target
 * by a Lagrangian with learned multipliers (Wang et al. 2020; Xia et al. 2022, CoFi). The
 * gates' log alpha is updated by the optimizer's Adam (optim_adam_update), not a copy. */
#ifndef QAPRUNE_L0_H
#define QAPRUNE_L0_H

#include "core/model/bert.h"
#include "core/model/train.h"
#include "core/util/rng.h"

/* The hard-concrete constants of Louizos et al. (section 4): temperature beta, stretch
 * interval (gamma, zeta). */
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
int l0_train(BertModel *m, const QaData *d, const TrainOpts *train, const L0Opts *o,
                      double head_sparsity, double ffn_sparsity, float *head_score,
                      float *ffn_score, L0Stats *stats);

#endif
