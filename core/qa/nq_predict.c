/* core/qa/nq_predict.c: see nq_predict.h. */
#include "core/qa/nq_predict.h"

#include <errno.h>
#include <stdlib.h>

#include "core/util/error.h"

typedef struct {
    double score;
    int window, s, e; /* window index and subtoken positions; window -1 = none found */
} Best;

/* The best span of window r (see nq_predict.h), folded into *best. */
static void best_span(const NqWindows *w, int r, const float *start, const float *end,
                      int max_len, Best *best) {
    size_t row = (size_t)r * w->seq;
    const int32_t *map = w->token_map + row;
    const uint8_t *mc = w->max_context + row;
    const float *sl = start + row, *el = end + row;
    double null = (double)sl[0] + el[0];
    for (int s = 0; s < w->seq; s++) {
        if (map[s] < 0 || !mc[s]) continue;
        for (int e = s; e < w->seq && e - s < max_len && map[e] >= 0; e++) {
            double score = (double)sl[s] + el[e] - null;
            if (best->window < 0 || score > best->score) *best = (Best){score, r, s, e};
        }
    }
}

static int argmax(const float *x, int n) {
    int k = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[k]) k = i;
    return k;
}

int nq_decode(const NqWindows *w, const float *start, const float *end, const float *type,
              int max_answer_len, NqPredictions **out) {
    *out = NULL;
    NqPredictions *p = calloc(1, sizeof *p);
    if (!p || !(p->p = calloc((size_t)w->n_examples + 1, sizeof *p->p))) {
        free(p);
        return qa_env_error(ENOMEM, "nq decode: out of memory for %d examples", w->n_examples);
    }
    for (int e = 0; e < w->n_examples; e++, p->n++) {
        NqPrediction *q = &p->p[e];
        q->example_id = w->example_id[e];
        q->label = (NqLabel){.long_answer = NQ_NULL_SPAN, .candidate_index = -1};
        q->long_score = q->short_score = -1e30;
        Best b = {0, -1, 0, 0};
        for (int r = w->first_window[e]; r < w->first_window[e + 1]; r++)
            best_span(w, r, start, end, max_answer_len, &b);
        if (b.window < 0) continue;
        const int32_t *map = w->token_map + (size_t)b.window * w->seq;
        int ts = map[b.s], te = map[b.e] + 1;
        for (int c = w->first_candidate[e]; c < w->first_candidate[e + 1]; c++) {
            if (w->cand_top[c] && w->cand_start[c] <= ts && te <= w->cand_end[c]) {
                q->label.long_answer = (NqSpan){-1, -1, w->cand_start[c], w->cand_end[c]};
                q->label.candidate_index = c - w->first_candidate[e];
                break;
            }
        }
        q->long_score = q->short_score = b.score;
        int kind = type ? argmax(type + (size_t)b.window * NQ_N_TYPES, NQ_N_TYPES) : NQ_TYPE_SHORT;
        if (kind == NQ_TYPE_YES || kind == NQ_TYPE_NO) {
            q->label.yes_no = kind == NQ_TYPE_YES ? NQ_YES_NO_YES : NQ_YES_NO_NO;
        } else if (kind == NQ_TYPE_SHORT) {
            if (!(q->label.short_answers = malloc(sizeof *q->label.short_answers))) {
                nq_predictions_free(p);
                return qa_env_error(ENOMEM, "nq decode: out of memory");
            }
            q->label.short_answers[0] = (NqSpan){-1, -1, ts, te};
            q->label.n_short = 1;
        }
    }
    *out = p;
    return QA_OK;
}
