/* core/qa/decode.h: answer spans from start/end logits, as run_squad.py's write_predictions
 * (SQuAD 2.0 mode) does it, with the answer text cut from the original context by byte
 * offsets instead of being detokenised.
 *
 * Per question, over all its windows: the n_best highest start and end logits of each
 * window (over all seq positions, ties to the lower index) give candidate spans that lie
 * inside the context (both ends context tokens), start where the window has the token's
 * max context, have end >= start and at most max_answer_len tokens. Candidates are ranked
 * by start + end logit (stable on ties, in window, start, end order). The null score is the
 * minimum over the windows of start[0] + end[0] (the [CLS] logits). With best = the
 * highest-ranked candidate (run_squad's best non-null n-best entry, which it always is: the
 * n-best list dedupes texts, but the first candidate is never a duplicate),
 *     na_score = null_score - (start_logit(best) + end_logit(best))
 * and the prediction is "" when na_score > null_threshold, else best's text. A question
 * without any valid candidate is predicted "" with na_score = FLT_MAX. */
#ifndef QAPRUNE_DECODE_H
#define QAPRUNE_DECODE_H

#include "core/qa/features.h"
#include "core/qa/predictions.h"
#include "core/qa/squad.h"

typedef struct {
    int n_best;            /* candidate start and end positions per window */
    int max_answer_len;    /* in tokens */
    double null_threshold; /* predict "" when null score - best span score exceeds this */
} DecodeOpts;

#define DECODE_OPTS_DEFAULT ((DecodeOpts){.n_best = 20, .max_answer_len = 30, .null_threshold = 0.0})

/* Decodes every question of set from the logits of its windows (start_logits and end_logits
 * are [f->n * f->seq], row w for window w of f, built from this set). On success *out gets
 * new Predictions (one answer and one na score per question, in question order; free with
 * predictions_free()) and 0 is returned; QA_ERR when out of memory or on bad options. */
int decode_predictions(const SquadSet *set, const Features *f, const float *start_logits,
                       const float *end_logits, const DecodeOpts *opts, Predictions **out);

#endif
