/* core/qa/squad_metric.h: the official SQuAD 2.0 evaluation (evaluate-v2.0.py), reproduced
 * exactly: same answer normalisation, token F1, handling of empty gold answers, no-answer
 * threshold and best-threshold search, summed in the same order so the figures agree with
 * the script to the last bit. Scores are percentages (100 * mean). */
#ifndef QAPRUNE_SQUAD_METRIC_H
#define QAPRUNE_SQUAD_METRIC_H

#include "core/qa/predictions.h"
#include "core/qa/squad.h"

#define SQUAD_NA_PROB_THRESH 1.0 /* the official script's default --na-prob-thresh */

typedef struct {
    double exact, f1;
    int total;
    int has_ans_total; /* questions with gold answers; the HasAns_* keys exist when > 0 */
    double has_ans_exact, has_ans_f1;
    int no_ans_total;  /* questions without; the NoAns_* keys exist when > 0 */
    double no_ans_exact, no_ans_f1;
    int has_best;      /* 1 when no-answer scores were given: the best_* keys exist */
    double best_exact, best_exact_thresh, best_f1, best_f1_thresh;
} SquadScores;

/* Scores pred against set as evaluate-v2.0.py does with --na-prob-thresh na_prob_thresh.
 * A question counts as having an answer when its answers list is not empty (as the script
 * does; is_impossible is not read). No-answer scores come from pred->na_prob; without them
 * every score is 0.0 and no best_* figures are computed. Returns 0, or QA_ERR when a question
 * of the set has no prediction or no no-answer score (the script fails there too). */
int squad_evaluate(const SquadSet *set, const Predictions *pred, double na_prob_thresh,
                   SquadScores *out);

/* Returns a new string (free with free()) holding the scores as the script prints them
 * (json.dumps(..., indent=2): official keys and order, floats as Python's repr), or NULL
 * when out of memory. */
char *squad_scores_json(const SquadScores *s);

/* The script's normalize_answer(): lowercase (Python str.lower), drop ASCII punctuation
 * (string.punctuation), replace the words a/an/the by a space, collapse whitespace (Python
 * str.split). Returns a new string (free with free()), or NULL when out of memory. */
char *squad_normalize_answer(const char *s);

/* The script's compute_exact() and compute_f1() for one gold and one predicted answer. */
int squad_exact(const char *gold, const char *pred);
double squad_f1(const char *gold, const char *pred);

#endif
