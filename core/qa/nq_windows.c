/* core/qa/nq_windows.c: BERT-joint windows over NQ documents (see nq_windows.h). Per example:
 * the document sequence (markup + subtokens of the kept candidates), the question, the label
 * span in subtokens, then the windows. */
#include "core/qa/nq_windows.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/util/rng.h"

const char *const nq_type_names[NQ_N_TYPES] = {"none", "long", "short", "yes", "no"};

/* ---- the WordPiece adapter ---------------------------------------------------------------- */

static int wp_encode(void *ctx, const char *word, size_t len, int32_t **ids, int *n) {
    WpToken *t = NULL;
    if (wp_tokenize(ctx, word, len, &t, n)) return QA_ERR;
    *ids = malloc(((size_t)*n + 1) * sizeof **ids);
    if (!*ids) {
        free(t);
        return qa_env_error(ENOMEM, "nq windows: out of memory");
    }
    for (int i = 0; i < *n; i++) (*ids)[i] = t[i].id;
    free(t);
    return QA_OK;
}

static int wp_lookup(void *ctx, const char *name) { return wp_token_id(ctx, name); }

NqTokenizer nq_tokenizer_wordpiece(const WpVocab *v) {
    WpSpecial sp = wp_special(v);
    return (NqTokenizer){.encode = wp_encode, .token_id = wp_lookup, .ctx = (void *)v,
                         .cls = sp.cls, .sep = sp.sep, .pad = sp.pad, .unk = sp.unk,
                         .seps_between = 1, .doc_type = 1};
}

/* ---- the adapter of the generic tokenizer (WordPiece or byte-level BPE) --------------------- */

/* A word as it reads after a space: " word". WordPiece drops the space; a byte-level BPE
 * makes it the word's leading "Ġ", as in running text. */
static int tok_encode(void *ctx, const char *word, size_t len, int32_t **ids, int *n) {
    char buf[256];
    char *w = len + 1 < sizeof buf ? buf : malloc(len + 2);
    TextToken *t = NULL;
    *ids = NULL;
    *n = 0;
    if (!w) return qa_env_error(ENOMEM, "nq windows: out of memory");
    w[0] = ' ';
    memcpy(w + 1, word, len);
    int rc = tokenizer_encode(ctx, w, len + 1, &t, n);
    if (w != buf) free(w);
    if (rc) return QA_ERR;
    *ids = malloc(((size_t)*n + 1) * sizeof **ids);
    if (!*ids) {
        free(t);
        return qa_env_error(ENOMEM, "nq windows: out of memory");
    }
    for (int i = 0; i < *n; i++) (*ids)[i] = t[i].id;
    free(t);
    return QA_OK;
}

static int tok_lookup(void *ctx, const char *name) { return tokenizer_token_id(ctx, name); }

NqTokenizer nq_tokenizer_of(Tokenizer *t) {
    TokSpecial sp = tokenizer_special(t);
    const InputFormat *f = tokenizer_format(t);
    return (NqTokenizer){.encode = tok_encode, .token_id = tok_lookup, .ctx = t,
                         .cls = sp.cls, .sep = sp.sep, .pad = sp.pad,
                         .unk = sp.unk >= 0 ? sp.unk : sp.pad,
                         .seps_between = f->seps_between, .doc_type = f->context_type};
}

/* ---- the example's answer ------------------------------------------------------------------ */

NqAnswerType nq_example_answer(const NqExample *ex, int *start, int *end) {
    *start = *end = -1;
    const NqLabel *first_long = NULL, *first_short = NULL;
    for (int i = 0; i < ex->n_annotations; i++) { /* lowest candidate index first */
        const NqLabel *a = &ex->annotations[i];
        if (a->candidate_index < 0) continue;
        if (!first_long || a->candidate_index < first_long->candidate_index) first_long = a;
        int has_short = 0;
        for (int k = 0; k < a->n_short; k++) has_short |= !nq_span_is_null(&a->short_answers[k]);
        if (has_short && (!first_short || a->candidate_index < first_short->candidate_index))
            first_short = a;
    }
    if (first_short) {
        int64_t s = -1, e = -1; /* first short answer's start .. last one's end */
        for (int k = 0; k < first_short->n_short; k++) {
            const NqSpan *sp = &first_short->short_answers[k];
            if (nq_span_is_null(sp)) continue;
            if (s < 0) s = sp->start_token;
            e = sp->end_token;
        }
        *start = (int)s;
        *end = (int)e;
        return NQ_TYPE_SHORT;
    }
    if (!first_long) return NQ_TYPE_NONE;
    *start = (int)first_long->long_answer.start_token;
    *end = (int)first_long->long_answer.end_token;
    return first_long->yes_no == NQ_YES_NO_YES ? NQ_TYPE_YES
           : first_long->yes_no == NQ_YES_NO_NO ? NQ_TYPE_NO
                                                : NQ_TYPE_LONG;
}

/* ---- the document sequence ------------------------------------------------------------------ */

typedef struct {
    int32_t *ids, *map; /* [n] subtoken ids; document token of each (-1 for markup) */
    int n, cap;
} Seq;

static int seq_push(Seq *s, int32_t id, int32_t map) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        int32_t *ids = realloc(s->ids, (size_t)cap * sizeof *ids);
        if (ids) s->ids = ids;
        int32_t *m = ids ? realloc(s->map, (size_t)cap * sizeof *m) : NULL;
        if (!m) return qa_env_error(ENOMEM, "nq windows: out of memory");
        s->map = m;
        s->cap = cap;
    }
    s->ids[s->n] = id;
    s->map[s->n++] = map;
    return QA_OK;
}

static int lookup(const NqTokenizer *tok, const char *name) {
    int id = tok->token_id(tok->ctx, name);
    return id >= 0 ? id : tok->unk;
}

/* 1 for a token BERT-joint looks up whole: non-space characters in square brackets. */
static int is_bracketed(const char *s, size_t len) {
    return len >= 2 && s[0] == '[' && s[len - 1] == ']' && !memchr(s, ' ', len);
}

/* Appends the subtokens of one document word (spaces inside it removed, as BERT-joint does). */
static int push_word(Seq *s, const NqTokenizer *tok, const char *word, int32_t map) {
    char buf[256];
    size_t n = 0, len = strlen(word);
    char *w = len < sizeof buf ? buf : malloc(len + 1);
    if (!w) return qa_env_error(ENOMEM, "nq windows: out of memory");
    for (size_t i = 0; i < len; i++)
        if (word[i] != ' ') w[n++] = word[i];
    w[n] = '\0';
    int rc = QA_OK;
    if (is_bracketed(w, n)) {
        rc = seq_push(s, lookup(tok, w), map);
    } else if (n) {
        int32_t *ids = NULL;
        int k = 0;
        rc = tok->encode(tok->ctx, w, n, &ids, &k);
        for (int i = 0; !rc && i < k; i++) rc = seq_push(s, ids[i], map);
        free(ids);
    }
    if (w != buf) free(w);
    return rc;
}

/* run_nq's get_candidate_type, from the candidate's first token. */
static const char *candidate_kind(const NqExample *ex, const NqCandidate *c) {
    const char *t = c->start_token < ex->n_tokens ? ex->tokens[c->start_token] : "";
    if (!strcmp(t, "<Table>")) return "Table";
    if (!strcmp(t, "<P>")) return "Paragraph";
    if (!strcmp(t, "<Ul>") || !strcmp(t, "<Dl>") || !strcmp(t, "<Ol>")) return "List";
    return "Other";
}

/* The document as the model reads it: [ContextId=-1] [NoLongAnswer], then per kept top-level
 * candidate [ContextId=i] [Kind=k] and the subtokens of its text tokens. */
static int build_doc(const NqExample *ex, const NqTokenizer *tok, const NqWindowOpts *o, Seq *s) {
    static const char *kinds[4] = {"Table", "Paragraph", "List", "Other"};
    int counts[4] = {0}, kept = 1;
    char name[64];
    if (o->markup && (seq_push(s, lookup(tok, "[ContextId=-1]"), -1) ||
                      seq_push(s, lookup(tok, "[NoLongAnswer]"), -1)))
        return QA_ERR;
    for (int c = 0; c < ex->n_candidates && kept < o->max_contexts; c++) {
        const NqCandidate *cand = &ex->candidates[c];
        if (!cand->top_level) continue;
        kept++;
        if (o->markup) {
            const char *kind = candidate_kind(ex, cand);
            int k = 0;
            while (strcmp(kinds[k], kind)) k++;
            if (counts[k] < o->max_position) counts[k]++;
            snprintf(name, sizeof name, "[ContextId=%d]", c);
            if (seq_push(s, lookup(tok, name), -1)) return QA_ERR;
            snprintf(name, sizeof name, "[%s=%d]", kind, counts[k]);
            if (seq_push(s, lookup(tok, name), -1)) return QA_ERR;
        }
        for (int64_t t = cand->start_token; t < cand->end_token; t++)
            if (!ex->is_html[t] && push_word(s, tok, ex->tokens[t], (int32_t)t)) return QA_ERR;
    }
    return QA_OK;
}

/* "[Q]" and the question's subtokens, the last max_query_len kept. */
static int build_query(const NqExample *ex, const NqTokenizer *tok, const NqWindowOpts *o, Seq *q) {
    if (seq_push(q, lookup(tok, "[Q]"), -1)) return QA_ERR;
    const char *s = ex->question ? ex->question : "";
    while (*s) {
        size_t n = strcspn(s, " \t\n\r");
        if (n) {
            char *word = strndup(s, n);
            int rc = word ? push_word(q, tok, word, -1) : qa_env_error(ENOMEM, "nq windows: out of memory");
            free(word);
            if (rc) return QA_ERR;
        }
        s += n;
        s += strspn(s, " \t\n\r");
    }
    if (q->n > o->max_query_len) {
        int drop = q->n - o->max_query_len;
        memmove(q->ids, q->ids + drop, (size_t)o->max_query_len * sizeof *q->ids);
        q->n = o->max_query_len;
    }
    return QA_OK;
}

/* ---- the set of windows ---------------------------------------------------------------------- */

NqWindows *nq_windows_new(const NqWindowOpts *o) {
    if (o->max_query_len < 1 || o->max_seq_len - o->max_query_len - 4 < 1 || o->doc_stride < 1 ||
        o->max_contexts < 1 || o->max_position < 1) {
        qa_error("nq windows: max_seq_len %d leaves no room for a document after a question of "
                 "up to %d tokens (or doc_stride %d, max_contexts %d, max_position %d < 1)",
                 o->max_seq_len, o->max_query_len, o->doc_stride, o->max_contexts, o->max_position);
        return NULL;
    }
    NqWindows *w = calloc(1, sizeof *w);
    if (!w) {
        qa_env_error(ENOMEM, "nq windows: out of memory");
        return NULL;
    }
    w->seq = o->max_seq_len;
    w->first_window = calloc(1, sizeof *w->first_window);
    w->first_candidate = calloc(1, sizeof *w->first_candidate);
    if (!w->first_window || !w->first_candidate) {
        nq_windows_free(w);
        qa_env_error(ENOMEM, "nq windows: out of memory");
        return NULL;
    }
    return w;
}

void nq_windows_free(NqWindows *w) {
    if (!w) return;
    free(w->input_ids);
    free(w->type_ids);
    free(w->mask);
    free(w->token_map);
    free(w->max_context);
    free(w->start_pos);
    free(w->end_pos);
    free(w->answer_type);
    free(w->example);
    free(w->example_id);
    free(w->first_window);
    free(w->first_candidate);
    free(w->cand_start);
    free(w->cand_end);
    free(w->cand_top);
    free(w->label_type);
    free(w->label_start);
    free(w->label_end);
    free(w);
}

/* realloc of *p to n elements of size sz; 0 or -1 (then *p is unchanged). */
static int grow(void *p, size_t n, size_t sz) {
    void *q = realloc(*(void **)p, n * sz + 1);
    if (!q) return -1;
    *(void **)p = q;
    return 0;
}

static int reserve(NqWindows *w, int more_windows, int more_candidates) {
    size_t need = (size_t)w->n + (size_t)more_windows, seq = (size_t)w->seq;
    if (need > w->cap_windows_) {
        size_t cap = w->cap_windows_ ? w->cap_windows_ : 64;
        while (cap < need) cap *= 2;
        if (grow(&w->input_ids, cap * seq, 4) || grow(&w->type_ids, cap * seq, 4) ||
            grow(&w->mask, cap * seq, 4) || grow(&w->token_map, cap * seq, 4) ||
            grow(&w->max_context, cap * seq, 1) || grow(&w->start_pos, cap, 4) ||
            grow(&w->end_pos, cap, 4) || grow(&w->answer_type, cap, 4) || grow(&w->example, cap, 4))
            return qa_env_error(ENOMEM, "nq windows: out of memory for %zu windows", cap);
        w->cap_windows_ = cap;
    }
    need = (size_t)w->n_examples + 1;
    if (need > w->cap_examples_) {
        size_t cap = w->cap_examples_ ? 2 * w->cap_examples_ : 64;
        if (grow(&w->example_id, cap, 8) || grow(&w->first_window, cap + 1, 4) ||
            grow(&w->first_candidate, cap + 1, 4) || grow(&w->label_type, cap, 4) ||
            grow(&w->label_start, cap, 4) || grow(&w->label_end, cap, 4))
            return qa_env_error(ENOMEM, "nq windows: out of memory for %zu examples", cap);
        w->cap_examples_ = cap;
    }
    need = (size_t)w->n_candidates + (size_t)more_candidates;
    if (need > w->cap_candidates_) {
        size_t cap = w->cap_candidates_ ? w->cap_candidates_ : 256;
        while (cap < need) cap *= 2;
        if (grow(&w->cand_start, cap, 4) || grow(&w->cand_end, cap, 4) || grow(&w->cand_top, cap, 1))
            return qa_env_error(ENOMEM, "nq windows: out of memory for %zu candidates", cap);
        w->cap_candidates_ = cap;
    }
    return QA_OK;
}

/* Window starts over n_doc subtokens, max_doc per window (run_squad's loop); returns the count
 * and fills start/len (NULL to count). An empty document still gets one window. */
static int window_spans(int n_doc, int max_doc, int stride, int *start, int *len) {
    int n = 0, s = 0;
    for (;;) {
        int l = n_doc - s < max_doc ? n_doc - s : max_doc;
        if (start) start[n] = s, len[n] = l;
        n++;
        if (s + l >= n_doc) return n;
        s += l < stride ? l : stride;
    }
}

/* Subtoken span [*ss, *se] of the document-token span [start, end): the first and last
 * subtokens of its tokens that the sequence holds; -1 when it holds none. */
static void label_subtokens(const Seq *d, int start, int end, int *ss, int *se) {
    *ss = *se = -1;
    for (int p = 0; p < d->n && start >= 0; p++) {
        if (d->map[p] < start || d->map[p] >= end) continue;
        if (*ss < 0) *ss = p;
        *se = p;
    }
}

/* Fills window row r from document window [ds, ds+dl) of d after the query q; best_win[p]
 * is the window giving subtoken p its maximal context. */
static void fill_window(NqWindows *w, int r, const NqTokenizer *tok, const Seq *q, const Seq *d,
                        int ds, int dl, int wi, const int *best_win) {
    size_t row = (size_t)r * w->seq;
    int32_t *ids = w->input_ids + row, *ty = w->type_ids + row, *m = w->mask + row;
    int32_t *map = w->token_map + row;
    uint8_t *mc = w->max_context + row;
    int k = 0;
    ids[k++] = tok->cls;
    for (int i = 0; i < q->n; i++) ids[k++] = q->ids[i];
    for (int i = 0; i < tok->seps_between; i++) ids[k++] = tok->sep;
    for (int i = 0; i < k; i++) ty[i] = 0, map[i] = -1, mc[i] = 0;
    for (int j = 0; j < dl; j++, k++) {
        ids[k] = d->ids[ds + j];
        ty[k] = tok->doc_type;
        map[k] = d->map[ds + j];
        mc[k] = map[k] >= 0 && best_win[ds + j] == wi;
    }
    ids[k] = tok->sep;
    ty[k] = tok->doc_type;
    map[k] = -1;
    mc[k++] = 0;
    for (int i = 0; i < w->seq; i++) m[i] = i < k;
    for (int i = k; i < w->seq; i++) ids[i] = tok->pad, ty[i] = 0, map[i] = -1, mc[i] = 0;
}

int nq_windows_add(NqWindows *w, const NqExample *ex, const NqTokenizer *tok,
                   const NqWindowOpts *o) {
    Seq d = {0}, q = {0};
    int *start = NULL, *len = NULL, *best_win = NULL, rc = QA_ERR;
    if (build_doc(ex, tok, o, &d) || build_query(ex, tok, o, &q)) goto cleanup;
    int max_doc = w->seq - q.n - 2 - tok->seps_between;
    int nw = window_spans(d.n, max_doc, o->doc_stride, NULL, NULL);
    start = malloc((size_t)nw * sizeof *start);
    len = malloc((size_t)nw * sizeof *len);
    best_win = malloc(((size_t)d.n + 1) * sizeof *best_win);
    if (!start || !len || !best_win) {
        qa_env_error(ENOMEM, "nq windows: out of memory");
        goto cleanup;
    }
    window_spans(d.n, max_doc, o->doc_stride, start, len);
    /* _check_is_max_context: the window maximising min(left, right) + 0.01 * length */
    double *best = malloc(((size_t)d.n + 1) * sizeof *best);
    if (!best) {
        qa_env_error(ENOMEM, "nq windows: out of memory");
        goto cleanup;
    }
    for (int p = 0; p < d.n; p++) best_win[p] = -1;
    for (int i = 0; i < nw; i++) {
        for (int p = start[i]; p < start[i] + len[i]; p++) {
            int left = p - start[i], right = start[i] + len[i] - 1 - p;
            double score = (left < right ? left : right) + 0.01 * len[i];
            if (best_win[p] < 0 || score > best[p]) best_win[p] = i, best[p] = score;
        }
    }
    free(best);
    if (reserve(w, nw, ex->n_candidates)) goto cleanup;
    int e = w->n_examples, ls, le, ss, se;
    NqAnswerType type = nq_example_answer(ex, &ls, &le);
    label_subtokens(&d, ls, le, &ss, &se);
    w->example_id[e] = ex->example_id;
    w->label_type[e] = type;
    w->label_start[e] = ls;
    w->label_end[e] = le;
    w->first_candidate[e] = w->n_candidates;
    for (int c = 0; c < ex->n_candidates; c++, w->n_candidates++) {
        w->cand_start[w->n_candidates] = (int32_t)ex->candidates[c].start_token;
        w->cand_end[w->n_candidates] = (int32_t)ex->candidates[c].end_token;
        w->cand_top[w->n_candidates] = (uint8_t)ex->candidates[c].top_level;
    }
    w->first_candidate[e + 1] = w->n_candidates;
    w->first_window[e] = w->n;
    int offset = 1 + q.n + tok->seps_between, found = 0;
    for (int i = 0; i < nw; i++) {
        int inside = type != NQ_TYPE_NONE && ss >= 0 && ss >= start[i] && se < start[i] + len[i];
        found |= inside;
        if (o->training && !inside) {
            double u = (double)(rng_hash(o->seed, (uint64_t)ex->example_id, (uint64_t)i) >> 11) *
                       0x1.0p-53;
            if (o->include_unknowns < 0 || u > o->include_unknowns) continue;
        }
        int r = w->n++;
        fill_window(w, r, tok, &q, &d, start[i], len[i], i, best_win);
        w->start_pos[r] = inside ? ss - start[i] + offset : 0;
        w->end_pos[r] = inside ? se - start[i] + offset : 0;
        w->answer_type[r] = inside ? (int32_t)type : NQ_TYPE_NONE;
        w->example[r] = e;
    }
    w->n_answers_outside += type != NQ_TYPE_NONE && !found;
    w->n_examples++;
    w->first_window[w->n_examples] = w->n;
    rc = QA_OK;
cleanup:
    free(d.ids);
    free(d.map);
    free(q.ids);
    free(q.map);
    free(start);
    free(len);
    free(best_win);
    return rc;
}
