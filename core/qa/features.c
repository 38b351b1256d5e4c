/* core/qa/features.c: windows over SQuAD contexts (see features.h). Two passes: tokenize every
 * context once and every question, count the windows, then fill the flat arrays. */
#include "core/qa/features.h"

#include <stdlib.h>
#include <string.h>

#include "core/text/text.h"
#include "core/util/error.h"

void features_free(Features *f) {
    if (!f) return;
    free(f->input_ids);
    free(f->type_ids);
    free(f->mask);
    free(f->start_pos);
    free(f->end_pos);
    free(f->question);
    free(f->ctx_start);
    free(f->ctx_end);
    free(f->max_context);
    free(f->first_window);
    free(f);
}

/* Tokens of every context (by paragraph) and question (cut to max_query_len). */
typedef struct {
    TextToken **ctx;
    int *n_ctx;
    TextToken **q;
    int *n_q;
} Tokens;

static void tokens_free(Tokens *t, const SquadSet *set) {
    for (int i = 0; t->ctx && i < set->n_paragraphs; i++) free(t->ctx[i]);
    for (int i = 0; t->q && i < set->n_questions; i++) free(t->q[i]);
    free(t->ctx);
    free(t->n_ctx);
    free(t->q);
    free(t->n_q);
}

/* Bytes of leading Python-whitespace (str.isspace) in s: run_qa.py's question.lstrip(). */
static size_t leading_space(const char *s, size_t len) {
    size_t pos = 0, at = 0;
    while (pos < len && text_is_space(text_next(s, len, &pos))) at = pos;
    return at;
}

static int tokenize_all(const SquadSet *set, Tokenizer *v, int max_query_len, Tokens *t) {
    t->ctx = calloc(set->n_paragraphs + 1, sizeof *t->ctx);
    t->n_ctx = calloc(set->n_paragraphs + 1, sizeof *t->n_ctx);
    t->q = calloc(set->n_questions + 1, sizeof *t->q);
    t->n_q = calloc(set->n_questions + 1, sizeof *t->n_q);
    if (!t->ctx || !t->n_ctx || !t->q || !t->n_q) return qa_error("features: out of memory");
    for (int i = 0; i < set->n_paragraphs; i++) {
        const char *c = set->contexts[i];
        if (tokenizer_encode(v, c, strlen(c), &t->ctx[i], &t->n_ctx[i])) return QA_ERR;
    }
    for (int i = 0; i < set->n_questions; i++) {
        const char *q = set->questions[i].question;
        size_t len = strlen(q), skip = leading_space(q, len);
        if (tokenizer_encode(v, q + skip, len - skip, &t->q[i], &t->n_q[i])) return QA_ERR;
        if (t->n_q[i] > max_query_len) t->n_q[i] = max_query_len;
    }
    return QA_OK;
}

/* The window starts over a context of n_doc tokens, max_doc tokens per window: returns the
 * number of windows and writes their starts to start (NULL to count only). A context without
 * tokens still gets one (empty) window, so every question has a window. */
static int window_starts(int n_doc, int max_doc, int stride, int *start) {
    int n = 0;
    for (int s = 0;; ) {
        if (start) start[n] = s;
        n++;
        int len = n_doc - s < max_doc ? n_doc - s : max_doc;
        if (s + len >= n_doc) break;
        s += len < stride ? len : stride;
    }
    return n;
}

/* _check_is_max_context: is window w (of nw, starts start[], lengths len[]) the one where
 * context token pos has the most context, min(left, right) + 0.01 * length? */
static int is_max_context(const int *start, const int *len, int nw, int w, int pos) {
    int best = -1;
    double best_score = 0;
    for (int i = 0; i < nw; i++) {
        int end = start[i] + len[i] - 1;
        if (pos < start[i] || pos > end) continue;
        int left = pos - start[i], right = end - pos;
        double score = (left < right ? left : right) + 0.01 * len[i];
        if (best < 0 || score > best_score) best = i, best_score = score;
    }
    return best == w;
}

/* The gold token span [*ts, *te] of q's first answer among the context tokens; -1 if none. */
static void gold_tokens(const SquadQuestion *q, const TextToken *ctx, int n_ctx, int *ts,
                        int *te) {
    *ts = *te = -1;
    if (q->n_answers == 0 || q->answers[0].start < 0) return;
    int a = q->answers[0].start, b = q->answers[0].end;
    for (int i = 0; i < n_ctx && *ts < 0; i++)
        if (ctx[i].end > a) *ts = i;
    for (int i = n_ctx - 1; i >= 0 && *te < 0; i--)
        if (ctx[i].start < b) *te = i;
    if (*ts < 0 || *te < *ts) *ts = *te = -1;
}

static int alloc_arrays(Features *f) {
    size_t nt = (size_t)f->n * f->seq;
    f->input_ids = calloc(nt, sizeof *f->input_ids);
    f->type_ids = calloc(nt, sizeof *f->type_ids);
    f->mask = calloc(nt, sizeof *f->mask);
    f->ctx_start = malloc(nt * sizeof *f->ctx_start);
    f->ctx_end = malloc(nt * sizeof *f->ctx_end);
    f->max_context = calloc(nt, sizeof *f->max_context);
    f->start_pos = calloc(f->n, sizeof *f->start_pos);
    f->end_pos = calloc(f->n, sizeof *f->end_pos);
    f->question = calloc(f->n, sizeof *f->question);
    f->first_window = calloc(f->n_questions + 1, sizeof *f->first_window);
    if (!f->input_ids || !f->type_ids || !f->mask || !f->ctx_start || !f->ctx_end ||
        !f->max_context || !f->start_pos || !f->end_pos || !f->question || !f->first_window)
        return qa_error("features: out of memory for %d windows of %d tokens", f->n, f->seq);
    for (size_t i = 0; i < nt; i++) f->ctx_start[i] = f->ctx_end[i] = -1;
    return QA_OK;
}

/* One context's tokens and its windows. */
typedef struct {
    const TextToken *tok;
    int n_tok;
    const int *start, *len; /* [n_win] first context token and token count of each window */
    int n_win;
} Doc;

/* Fills window w: cls question sep (x seps_between) window wi of d sep padding, and its
 * gold span from the context token span [ts, te] (ts < 0: none). Returns 1 when the gold
 * span is inside. */
static int fill_window(Features *f, int w, const TextToken *q, int nq, const Doc *d, int wi,
                       const TokSpecial *sp, const InputFormat *fmt, int ts, int te) {
    size_t row = (size_t)w * f->seq;
    int32_t *ids = f->input_ids + row, *ty = f->type_ids + row, *m = f->mask + row;
    int k = 0;
    ids[k++] = sp->cls;
    for (int i = 0; i < nq; i++) ids[k++] = q[i].id;
    for (int i = 0; i < fmt->seps_between; i++) ids[k++] = sp->sep;
    int offset = k, ds = d->start[wi], dl = d->len[wi];
    for (int j = 0; j < dl; j++, k++) {
        const TextToken *t = &d->tok[ds + j];
        ids[k] = t->id;
        ty[k] = fmt->context_type;
        f->ctx_start[row + k] = t->start;
        f->ctx_end[row + k] = t->end;
        f->max_context[row + k] = (uint8_t)is_max_context(d->start, d->len, d->n_win, wi, ds + j);
    }
    ty[k] = fmt->context_type;
    ids[k++] = sp->sep;
    for (int i = 0; i < k; i++) m[i] = 1;
    for (int i = k; i < f->seq; i++) ids[i] = sp->pad;
    int inside = ts >= 0 && ts >= ds && te <= ds + dl - 1;
    f->start_pos[w] = inside ? ts - ds + offset : 0;
    f->end_pos[w] = inside ? te - ds + offset : 0;
    return inside;
}

int features_build(const SquadSet *set, Tokenizer *tok, const FeatureOpts *opts,
                   Features **out) {
    *out = NULL;
    if (tokenizer_check_special(tok)) return QA_ERR;
    TokSpecial sp = tokenizer_special(tok);
    const InputFormat *fmt = tokenizer_format(tok);
    int n_special = 2 + fmt->seps_between; /* cls, the separators, the final sep */
    int max_doc = opts->max_seq_len - opts->max_query_len - n_special;
    int max_len = tokenizer_model_max_length(tok);
    if (max_len > 0 && opts->max_seq_len > max_len)
        return qa_error("features: max_seq_len %d exceeds the tokenizer's model_max_length %d "
                        "(tokenizer_config.json)", opts->max_seq_len, max_len);
    if (opts->max_query_len < 1 || max_doc < 1 || opts->doc_stride < 1)
        return qa_error("features: max_seq_len %d leaves no room for the context after a "
                        "question of up to %d tokens (or doc_stride %d < 1)", opts->max_seq_len,
                        opts->max_query_len, opts->doc_stride);
    Tokens t = {0};
    Features *f = calloc(1, sizeof *f);
    int *start = NULL, *len = NULL, rc = QA_ERR, longest = 1;
    if (!f) {
        qa_error("features: out of memory");
        goto cleanup;
    }
    if (tokenize_all(set, tok, opts->max_query_len, &t)) goto cleanup;
    f->seq = opts->max_seq_len;
    f->n_questions = set->n_questions;
    for (int i = 0; i < set->n_questions; i++) { /* pass 1: count the windows */
        const SquadQuestion *q = &set->questions[i];
        int nw = window_starts(t.n_ctx[q->paragraph], opts->max_seq_len - t.n_q[i] - n_special,
                               opts->doc_stride, NULL);
        f->n += nw;
        if (nw > longest) longest = nw;
    }
    start = malloc(longest * sizeof *start);
    len = malloc(longest * sizeof *len);
    if (!start || !len) {
        qa_error("features: out of memory");
        goto cleanup;
    }
    if (alloc_arrays(f)) goto cleanup;
    int w = 0;
    for (int i = 0; i < set->n_questions; i++) { /* pass 2: fill them */
        const SquadQuestion *q = &set->questions[i];
        int n_doc = t.n_ctx[q->paragraph], per_window = opts->max_seq_len - t.n_q[i] - n_special;
        Doc d = {t.ctx[q->paragraph], n_doc, start, len,
                 window_starts(n_doc, per_window, opts->doc_stride, start)};
        for (int k = 0; k < d.n_win; k++)
            len[k] = n_doc - start[k] < per_window ? n_doc - start[k] : per_window;
        int ts, te, found = 0;
        gold_tokens(q, d.tok, n_doc, &ts, &te);
        f->first_window[i] = w;
        for (int k = 0; k < d.n_win; k++, w++) {
            found |= fill_window(f, w, t.q[i], t.n_q[i], &d, k, &sp, fmt, ts, te);
            f->question[w] = i;
        }
        f->n_answers_outside += ts >= 0 && !found;
    }
    f->first_window[set->n_questions] = w;
    *out = f;
    f = NULL;
    rc = QA_OK;
cleanup:
    tokens_free(&t, set);
    free(start);
    free(len);
    features_free(f);
    return rc;
}
