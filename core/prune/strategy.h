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
#include "core/prune/l0.h"

typedef enum { STRATEGY_RANDOM, STRATEGY_GAIN, STRATEGY_L0, STRATEGY_N } StrategyKind;

/* The strategy names, in StrategyKind order: the one list the grid parser, the settings
 * checks and the help texts read. STRATEGY_NAMES_TEXT is them joined with " | ". */
extern const char *const STRATEGY_NAMES[STRATEGY_N];
#define STRATEGY_NAMES_TEXT "random | gain | l0"

/* Parses a name of STRATEGY_NAMES; returns QA_ERR (naming the value) otherwise. */
int strategy_parse(const char *name, StrategyKind *out);
const char *strategy_name(StrategyKind k);

/* What strategy_select needs. */
typedef struct {
    StrategyKind kind;
    double head_sparsity, ffn_sparsity; /* fractions of all heads / all neurons removed */
    uint64_t seed;
    int gain_batches, batch_size;       /* gain: batches averaged and their size */
    int gain_steps;                     /* gain: 1 one-shot; k: remove in k rounds, re-scoring */
    L0Opts l0;                          /* l0: the gates' training */
    TrainOpts train;                    /* l0: the model's optimiser settings and progress */
} StrategyOpts;

/* Chooses the heads and neurons to keep: keep [total heads + total ffn] (heads first), with
 * exactly strategy_keep_count of each. random and gain leave *source NULL (prune the teacher
 * itself); l0 trains a copy of the teacher jointly with its gates and returns it in *source
 * (new; free with bert_free): the model to prune. l0_stats (may be NULL) gets l0's end state. */
int strategy_select(BertModel *teacher, const QaData *train, const StrategyOpts *o,
                    uint8_t *keep, BertModel **source, L0Stats *l0_stats);

/* Number of units kept when a fraction `sparsity` of total is removed (rounded to nearest). */
int strategy_keep_count(int total, double sparsity);
/* keep[i] = 1 for the `keep` largest scores (ties: the lower index wins), 0 otherwise. */
void strategy_topk(const float *score, int n, int keep, uint8_t *out);
/* keep[i] = 1 for a seeded uniform random choice of `keep` of n. */
void strategy_random(uint64_t seed, int n, int keep, uint8_t *out);

/* Gain importance: mean over n_batches training batches (seeded choice) of |dL/dgate| at
 * the gates (NULL: all 1; the iterative variant passes 0 for the units removed so far), heads then neurons, each L2-normalised per layer. head_score [total heads],
 * ffn_score [total ffn]. L is the training loss: the span loss, and with d's answer types and
 * m's type head (Natural Questions) (2 span + type) / 3 as train_qa has it. m's weights are
 * not changed. */
int strategy_gain_scores(BertModel *m, const QaData *d, const BertGates *gates, int batch_size,
                         int n_batches, uint64_t seed, float *head_score, float *ffn_score);

#endif
