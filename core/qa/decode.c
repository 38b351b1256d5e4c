/* core/qa/decode.c: n-best span decoding (see decode.h), following run_squad.py's
 * write_predictions and _get_best_indexes step by step. */
#include "core/qa/decode.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"

typedef struct {
    double score; /* start logit + end logit */
    int window, start, end;
    int order;    /* insertion order, for a stable sort */
} Candidate;

/* _get_best_indexes: the n highest of logits[0..seq) by value, ties to the lower index
 * (Python's stable sort, reverse=True). Returns how many were written to best. */
static int best_indexes(const float *logits, int seq, int n, int *best) {
    int k = 0;
    for (int i = 0; i < seq; i++) {
        if (k == n && !(logits[i] > logits[best[k - 1]])) continue;
        int j = k < n ? k++ : k - 1;
        while (j > 0 && logits[i] > logits[best[j - 1]]) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = i;
    }
    return k;
}

static int by_score_desc(const void *a, const void *b) {
    const Candidate *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* Candidate spans of question q's windows, appended to c (room for all); returns the count
 * and the null score (minimum [CLS] score over the windows) in *null_score. */
static int collect(const Features *f, int q, const float *sl, const float *el,
                   const DecodeOpts *o, Candidate *c, int *bs, int *be, double *null_score) {
    int n = 0;
    *null_score = DBL_MAX;
    for (int w = f->first_window[q]; w < f->first_window[q + 1]; w++) {
        size_t row = (size_t)w * f->seq;
        const float *s = sl + row, *e = el + row;
        double null = (double)s[0] + (double)e[0];
        if (null < *null_score) *null_score = null;
        int ns = best_indexes(s, f->seq, o->n_best, bs), ne = best_indexes(e, f->seq, o->n_best, be);
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < ne; j++) {
                int a = bs[i], b = be[j];
                if (f->ctx_start[row + a] < 0 || f->ctx_start[row + b] < 0) continue;
                if (!f->max_context[row + a] || b < a || b - a + 1 > o->max_answer_len) continue;
                c[n] = (Candidate){(double)s[a] + (double)e[b], w, a, b, n};
                n++;
            }
    }
    return n;
}

int decode_predictions(const SquadSet *set, const Features *f, const float *start_logits,
                       const float *end_logits, const DecodeOpts *opts, Predictions **out) {
    *out = NULL;
    if (opts->n_best < 1 || opts->max_answer_len < 1)
        return qa_error("decode: n_best %d and max_answer_len %d must be positive", opts->n_best,
                        opts->max_answer_len);
    if (f->n_questions != set->n_questions)
        return qa_error("decode: features of %d questions for a set of %d", f->n_questions,
                        set->n_questions);
    int most = 1;
    for (int q = 0; q < set->n_questions; q++) {
        int nw = f->first_window[q + 1] - f->first_window[q];
        if (nw > most) most = nw;
    }
    size_t room = (size_t)most * opts->n_best * opts->n_best;
    Candidate *c = malloc(room * sizeof *c);
    int *bs = malloc(opts->n_best * sizeof *bs), *be = malloc(opts->n_best * sizeof *be);
    Predictions *p = predictions_new(set->n_questions, set->n_questions);
    int rc = QA_ERR;
    if (!c || !bs || !be || !p) {
        qa_error("decode: out of memory");
        goto cleanup;
    }
    for (int q = 0; q < set->n_questions; q++) {
        const SquadQuestion *sq = &set->questions[q];
        double null_score;
        int n = collect(f, q, start_logits, end_logits, opts, c, bs, be, &null_score);
        qsort(c, n, sizeof *c, by_score_desc);
        /* the best non-null n-best entry is the top candidate: before it, only the null
         * answer can enter the n-best list, and no candidate's text is a duplicate or "" */
        double na = n > 0 ? null_score - c[0].score : FLT_MAX;
        int a = 0, b = 0;
        if (n > 0 && !(na > opts->null_threshold)) {
            size_t row = (size_t)c[0].window * f->seq;
            a = f->ctx_start[row + c[0].start];
            b = f->ctx_end[row + c[0].end];
            if (b < a) b = a;
        }
        p->id[q] = strdup(sq->id);
        p->na_id[q] = strdup(sq->id);
        p->text[q] = strndup(sq->context + a, (size_t)(b - a));
        p->na_prob[q] = na;
        if (!p->id[q] || !p->na_id[q] || !p->text[q]) {
            qa_error("decode: out of memory");
            goto cleanup;
        }
    }
    *out = p;
    p = NULL;
    rc = QA_OK;
cleanup:
    free(c);
    free(bs);
    free(be);
    predictions_free(p);
    return rc;
}
