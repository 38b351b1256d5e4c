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
 *           (Wang et al. 2020; Xia et al. 2022, CoFi), then exact top-k of log alpha.
 *   dense:  no pruning: the baseline of distillation alone (McCarley et al.'s question of
 *           whether pruning beats training a small model). Every layer keeps the same share,
 *           round(heads[l] x (1 - head sparsity)) heads and likewise FFN neurons, so the
 *           student has the target's FLOPs up to that rounding, and its weights are fresh
 *           (strategy_dense_init): nothing of the teacher's encoder layers is kept. */
#ifndef QAPRUNE_STRATEGY_H
#define QAPRUNE_STRATEGY_H

#include <stdint.h>

#include "core/model/bert.h"
#include "core/util/rng.h"
#include "core/model/train.h"
#include "core/prune/l0.h"

typedef enum {
    STRATEGY_RANDOM,
    STRATEGY_GAIN,
    STRATEGY_L0,
    STRATEGY_DENSE,
    STRATEGY_N
} StrategyKind;

/* The strategy names, in StrategyKind order: the one list the grid parser, the settings
 * checks and the help texts read. STRATEGY_NAMES_TEXT is them joined with " | ". */
extern const char *const STRATEGY_NAMES[STRATEGY_N];
#define STRATEGY_NAMES_TEXT "random | gain | l0 | dense"

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
 * exactly strategy_keep_count of each (dense: strategy_uniform_keep's counts per layer).
 * random, gain and dense leave *source NULL (prune the teacher itself; dense then
 * re-initialises the result with strategy_dense_init); l0 trains a copy of the teacher
 * jointly with its gates and returns it in *source (new; free with bert_free): the model to
 * prune. l0_stats (may be NULL) gets l0's end state. */
int strategy_select(BertModel *teacher, const QaData *train, const StrategyOpts *o,
                    uint8_t *keep, BertModel **source, L0Stats *l0_stats);

/* Number of units kept when a fraction `sparsity` of total is removed (rounded to nearest). */
int strategy_keep_count(int total, double sparsity);
/* keep[i] = 1 for the `keep` largest scores (ties: the lower index wins), 0 otherwise. */
void strategy_topk(const float *score, int n, int keep, uint8_t *out);
/* keep[i] = 1 for a seeded uniform random choice of `keep` of n. */
void strategy_random(uint64_t seed, int n, int keep, uint8_t *out);

/* The dense shape: in every layer l the first round(heads[l] x (1 - head_sparsity)) heads
 * and the first round(ffn[l] x (1 - ffn_sparsity)) neurons (which ones does not matter: the
 * student's weights are fresh). keep [total heads + total ffn], heads first. */
void strategy_uniform_keep(const BertConfig *c, double head_sparsity, double ffn_sparsity,
                           uint8_t *keep);
/* Makes student (the teacher pruned to the dense shape) a fresh model: Glorot/Xavier
 * initialisation of its own shapes (bert_init_xavier, seeded), then the teacher's embedding
 * tensors copied back (every tensor outside the layers whose name holds "embeddings": the
 * word, position and token type tables and their LayerNorm, ELECTRA's projection). Why those:
 * the pruned students keep the teacher's embeddings too, and a small model distilled in
 * practice starts from pre-trained embeddings, which on the synthetic task (no pre-training)
 * only the teacher has; the layers and the QA head are what the comparison is about.
 * QA_ERR naming the tensor when the two models' embeddings differ in shape. */
int strategy_dense_init(BertModel *student, const BertModel *teacher, uint64_t seed);

/* Gain importance: mean over n_batches training batches (seeded choice) of |dL/dgate| at
 * the gates (NULL: all 1; the iterative variant passes 0 for the units removed so far), heads then neurons, each L2-normalised per layer. head_score [total heads],
 * ffn_score [total ffn]. L is the training loss: the span loss, and with d's answer types and
 * m's type head (Natural Questions) (2 span + type) / 3 as train_qa has it. m's weights are
 * not changed. */
int strategy_gain_scores(BertModel *m, const QaData *d, const BertGates *gates, int batch_size,
                         int n_batches, uint64_t seed, float *head_score, float *ffn_score);

#endif
