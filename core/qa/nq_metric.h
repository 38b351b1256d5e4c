/* core/qa/nq_metric.h: the official Natural Questions evaluation (Google's nq_eval.py with
 * eval_utils.py, google-research-datasets/natural-questions), reproduced rule by rule:
 *   - gold has a long answer when >= 2 annotations have a non-null long answer; a short
 *     answer when >= 2 have a non-null short-answer span or a yes/no answer other than NONE;
 *   - spans are equal when both have byte offsets and those agree, or else both have token
 *     offsets and those agree (eval_utils.nonnull_span_equal); a predicted long answer is
 *     correct when it equals the long answer of one non-null annotation; a predicted short
 *     answer when its non-null span SET equals one annotation's (span_set_equal), or, for a
 *     yes/no prediction, when one annotation has the same yes/no label;
 *   - examples sorted by score (descending), precision and recall after each distinct score,
 *     the F1-maximising one reported (the first, i.e. highest, threshold on ties), and the
 *     highest recall at precision >= 0.5, 0.75, 0.9 (compute_pr_curves).
 * Differences, all on inputs where the script stops with a Python error: an example with an
 * empty annotation list has no gold answer; byte offsets may be absent (as in the simplified
 * format) and count as -1. */
#ifndef QAPRUNE_NQ_METRIC_H
#define QAPRUNE_NQ_METRIC_H

#include <stdint.h>

#include "core/qa/nq.h"

/* The gold annotations of a dev set. */
typedef struct {
    int n;              /* examples, sorted by example_id, unique (a later line wins) */
    int64_t *ids;       /* [n] */
    NqLabel **labels;   /* [n] each an array of n_labels[i] annotations (owned) */
    int *n_labels;      /* [n] */
    int cap_;           /* private: room while examples are added */
} NqGold;

/* One prediction in the official format. */
typedef struct {
    int64_t example_id;
    NqLabel label;      /* long_answer, short_answers (owned), yes_no; candidate_index -1 */
    double long_score;  /* long_answer_score */
    double short_score; /* short_answers_score */
} NqPrediction;

typedef struct {
    int n;
    NqPrediction *p;    /* [n] */
} NqPredictions;

/* One example's outcome for long or short answers (score_long_answer / score_short_answer). */
typedef struct {
    int has_gold, has_pred, correct;
    double score;
} NqStat;

enum { NQ_N_TARGETS = 3 }; /* the precision targets 0.5, 0.75, 0.9 */
extern const double nq_precision_targets[NQ_N_TARGETS];

/* Best-threshold and recall-at-precision figures of one answer kind (fractions, not %). */
typedef struct {
    double f1, precision, recall, threshold;
    double recall_at[NQ_N_TARGETS], precision_at[NQ_N_TARGETS];
    int n, n_gold;      /* examples; examples with a gold answer */
} NqAnswerScores;

typedef struct {
    NqAnswerScores long_answer, short_answer;
} NqScores;

/* The non-null vote rule (FLAGS.long/short_non_null_threshold of the script). */
#define NQ_NON_NULL_THRESHOLD 2

/* Reads the annotations of path, a file or a glob pattern of files (the five dev shards),
 * gzipped or plain, original or simplified format. progress (may be NULL) is called every
 * few thousand lines and at each file's end with the file, lines read and the fraction of the
 * file read. On success *out gets a new NqGold (free with nq_gold_free()); QA_ERR naming the
 * file, line and field. */
typedef void (*NqProgressFn)(void *ctx, const char *path, long lines, double fraction);
int nq_gold_load(const char *path, NqProgressFn progress, void *ctx, NqGold **out);
void nq_gold_free(NqGold *g);

/* Building an NqGold from examples as they stream by: nq_gold_new (NULL when out of memory),
 * nq_gold_add for each (takes ownership of labels[0..n), each with its short_answers, also
 * on failure), then nq_gold_finish (sorts by id; of equal ids the later one wins). */
NqGold *nq_gold_new(void);
int nq_gold_add(NqGold *g, int64_t id, NqLabel *labels, int n);
int nq_gold_finish(NqGold *g);

/* Reads {"predictions": [...]} (the official prediction format; nq_eval.py's docstring).
 * An absent long_answer, short_answers or yes_no_answer is null, as in read_prediction_json;
 * both scores are required. A later prediction for the same example_id wins. On success *out
 * gets new predictions (free with nq_predictions_free()); QA_ERR naming the file and the
 * entry (predictions[i].field). */
int nq_predictions_load(const char *path, NqPredictions **out);
/* Writes p in the same format (ids as exact integers), atomically. Returns 0 or QA_ERR. */
int nq_predictions_write(const NqPredictions *p, const char *path);
void nq_predictions_free(NqPredictions *p);

/* score_long_answer / score_short_answer for one example (gold: its n annotations). */
NqStat nq_score_long(const NqLabel *gold, int n, const NqLabel *pred, double score);
NqStat nq_score_short(const NqLabel *gold, int n, const NqLabel *pred, double score);

/* compute_pr_curves over stats[0..n) (reordered: sorted by score, descending). */
void nq_pr_curve(NqStat *stats, int n, NqAnswerScores *out);

/* Scores every gold example. The id sets must be equal, as the script requires: missing or
 * extra predictions are QA_ERR saying how many (and the first such id). */
int nq_evaluate(const NqGold *gold, const NqPredictions *pred, NqScores *out);

/* Returns a new string (free with free()) with the script's JSON keys ("long-best-threshold-
 * f1", ..., "short-precision-at-precision>=0.9"), or NULL when out of memory. */
char *nq_scores_json(const NqScores *s);

#endif
