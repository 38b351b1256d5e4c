/* core/qa/nq_predict.h: per-example NQ predictions from window logits, in the official
 * prediction format (nq_metric.h's NqPredictions; nq_predictions_write() writes the file).
 *
 * For each example, over all its windows (BERT-joint's compute_predictions, our code):
 *   - the best short span: document subtokens s <= e of one window, e - s < max_answer_len,
 *     s where that window gives its token the maximal context, maximising
 *         score = start[s] + end[e] - (start[0] + end[0])     (0 = [CLS], the null answer);
 *   - the long answer: the top-level candidate holding that span;
 *   - the answer type: argmax of that window's type logits (when the model has a type head):
 *     short -> the span is the short answer; yes / no -> that yes/no answer, no span;
 *     long or none -> the long answer alone;
 *   - long_answer_score = short_answers_score = score, so the metric's threshold search
 *     trades precision for recall on it.
 * An example without windows, or whose windows have no valid span, gets null answers with
 * scores -1e30 (never above a threshold). */
#ifndef QAPRUNE_NQ_PREDICT_H
#define QAPRUNE_NQ_PREDICT_H

#include "core/qa/nq_metric.h"
#include "core/qa/nq_windows.h"

#define NQ_MAX_ANSWER_LEN 30 /* subtokens, run_nq.py's --max_answer_length */

/* start, end: [w->n * w->seq] logits; type: [w->n * NQ_N_TYPES] or NULL (every span then
 * counts as short). On success *out gets new predictions in example order (free with
 * nq_predictions_free()); QA_ERR when out of memory. */
int nq_decode(const NqWindows *w, const float *start, const float *end, const float *type,
              int max_answer_len, NqPredictions **out);

#endif
