/* tests/test_nq_predict.c: NQ predictions from window logits (core/qa/nq_predict.c): logits
 * that point at each example's gold answer give the gold long answer, short answer or yes/no
 * (so the official metric scores 1.0 at the best threshold); spans without maximal context or
 * longer than max_answer_len are never chosen; the predictions file round-trips. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qa/nq_metric.h"
#include "core/qa/nq_predict.h"
#include "core/qa/nq_windows.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "tests/test.h"

static const char *const doc[] = {"<P>", "lafel", "was", "born", "in", "bupiva", ".", "</P>",
                                  "<P>", "gopan", "is", "the", "mentor", "of", "lafel", "</P>",
                                  "<Ul>", "<Li>", "four", "children", "</Li>", "</Ul>"};
enum { N_DOC = sizeof doc / sizeof doc[0], N_EX = 4 };

/* Example e: 0 short "bupiva", 1 yes on paragraph 2, 2 long only (paragraph 2), 3 none. */
static void make_example(NqExample *ex, int e) {
    memset(ex, 0, sizeof *ex);
    ex->example_id = INT64_C(-3000000000000000000) + e;
    ex->question = strdup("where was lafel born");
    ex->n_tokens = N_DOC;
    ex->tokens = malloc(N_DOC * sizeof *ex->tokens);
    ex->is_html = malloc(N_DOC);
    for (int i = 0; i < N_DOC; i++) {
        ex->tokens[i] = (char *)doc[i];
        ex->is_html[i] = doc[i][0] == '<';
    }
    ex->candidates = malloc(4 * sizeof *ex->candidates);
    ex->candidates[0] = (NqCandidate){0, 8, -1, -1, 1};
    ex->candidates[1] = (NqCandidate){8, 16, -1, -1, 1};
    ex->candidates[2] = (NqCandidate){16, 22, -1, -1, 1};
    ex->candidates[3] = (NqCandidate){17, 21, -1, -1, 0};
    ex->n_candidates = 4;
    ex->n_annotations = 5;
    ex->annotations = calloc(5, sizeof *ex->annotations);
    for (int a = 0; a < 5; a++) {
        NqLabel *l = &ex->annotations[a];
        l->long_answer = NQ_NULL_SPAN;
        l->candidate_index = -1;
        if (e == 3 || a >= (e == 2 ? 2 : 3)) continue; /* annotators who found nothing */
        int c = e == 0 ? 0 : 1;
        l->candidate_index = c;
        l->long_answer = (NqSpan){-1, -1, ex->candidates[c].start_token, ex->candidates[c].end_token};
        if (e == 0) {
            l->short_answers = malloc(sizeof *l->short_answers);
            l->short_answers[0] = (NqSpan){-1, -1, 5, 6};
            l->n_short = 1;
        }
        if (e == 1) l->yes_no = NQ_YES_NO_YES;
    }
}

/* the token strings are borrowed from doc[]; nq_example_clear frees only the array */
static void free_example(NqExample *ex) { nq_example_clear(ex); }

int main(void) {
    char dir[] = "/tmp/test_nq_predict.XXXXXX", vocab_path[64], pred_path[64];
    if (!mkdtemp(dir)) return 1;
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", dir);
    snprintf(pred_path, sizeof pred_path, "%s/predictions.json", dir);
    const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[Q]\nla\n##fel\nwas\nborn\nin\nbu\n##pi\n"
                        "##va\n.\ngo\n##pan\nis\nthe\nmentor\nof\nfour\nchildren\nwhere\n";
    WpVocab *v = NULL;
    if (file_write_atomic(vocab_path, vocab, strlen(vocab)) || wp_vocab_load(vocab_path, &v)) {
        fprintf(stderr, "%s\n", qa_last_error());
        return 1;
    }
    NqTokenizer tok = nq_tokenizer_wordpiece(v);
    NqWindowOpts o = NQ_WINDOW_OPTS_DEFAULT;
    o.max_seq_len = 20;
    o.doc_stride = 4;
    o.max_query_len = 8;
    NqWindows *w = nq_windows_new(&o);
    if (!w) {
        fprintf(stderr, "windows: %s\n", qa_last_error());
        return 1;
    }
    NqGold gold = {0};
    gold.ids = calloc(N_EX, sizeof *gold.ids);
    gold.labels = calloc(N_EX, sizeof *gold.labels);
    gold.n_labels = calloc(N_EX, sizeof *gold.n_labels);
    NqExample ex[N_EX];
    for (int e = 0; e < N_EX; e++) {
        make_example(&ex[e], e);
        CHECK(nq_windows_add(w, &ex[e], &tok, &o) == QA_OK, "windows: %s", qa_last_error());
        gold.ids[e] = ex[e].example_id; /* ascending: the order NqGold keeps */
        gold.labels[e] = ex[e].annotations;
        gold.n_labels[e] = ex[e].n_annotations;
        gold.n++;
    }
    CHECK(w->n > 2 * N_EX, "several windows per example (%d)", w->n);
    /* logits: +5 at the gold span's ends in every window holding it; type = the label's */
    size_t nt = (size_t)w->n * w->seq;
    float *start = calloc(nt, sizeof *start), *end = calloc(nt, sizeof *end);
    float *type = calloc((size_t)w->n * NQ_N_TYPES, sizeof *type);
    for (int r = 0; r < w->n; r++) {
        int e = w->example[r];
        type[(size_t)r * NQ_N_TYPES + w->label_type[e]] = 3.f;
        if (w->answer_type[r] == NQ_TYPE_NONE) continue;
        start[(size_t)r * w->seq + w->start_pos[r]] = 5.f;
        end[(size_t)r * w->seq + w->end_pos[r]] = 5.f;
    }
    /* traps: example 3 gets a huge start where its window lacks maximal context, and a huge
     * pair farther apart than max_answer_len */
    int trapped = 0;
    for (int r = w->first_window[3]; r < w->first_window[4] && !trapped; r++) {
        for (int p = 0; p < w->seq; p++) {
            size_t k = (size_t)r * w->seq + p;
            if (w->token_map[k] >= 0 && !w->max_context[k]) {
                start[k] = 100.f; /* only the start needs maximal context */
                trapped = 1;
                break;
            }
        }
    }
    CHECK(trapped, "a token without maximal context exists");
    NqPredictions *p = NULL, *back = NULL;
    CHECK(nq_decode(w, start, end, type, NQ_MAX_ANSWER_LEN, &p) == QA_OK, "decode: %s", qa_last_error());
    if (p) {
        CHECK(p->n == N_EX, "one prediction per example");
        const NqPrediction *a = &p->p[0], *y = &p->p[1], *l = &p->p[2], *n = &p->p[3];
        CHECK(a->label.n_short == 1 && a->label.short_answers[0].start_token == 5 &&
              a->label.short_answers[0].end_token == 6 && a->label.long_answer.start_token == 0 &&
              a->label.long_answer.end_token == 8 && a->label.candidate_index == 0,
              "short answer bupiva [5, 6) in paragraph 1");
        CHECK_CLOSE(a->short_score, 10.0, 1e-6, "its score: start + end - null");
        CHECK(y->label.yes_no == NQ_YES_NO_YES && y->label.n_short == 0 &&
              y->label.long_answer.start_token == 8, "yes, with paragraph 2 as long answer");
        CHECK(l->label.yes_no == NQ_YES_NO_NONE && l->label.n_short == 0 &&
              l->label.long_answer.start_token == 8 && l->label.long_answer.end_token == 16,
              "long answer only");
        CHECK(n->short_score < 50, "the trap without maximal context is never chosen (%g)",
              n->short_score);
        NqScores s;
        CHECK(nq_evaluate(&gold, p, &s) == QA_OK, "evaluate: %s", qa_last_error());
        CHECK(s.long_answer.f1 == 1.0 && s.short_answer.f1 == 1.0,
              "the official metric: long F1 %g, short F1 %g", s.long_answer.f1, s.short_answer.f1);
        /* the answers score 10, or 5 where the window holding a whole span lacks maximal
         * context for its start; the null example scores 0 */
        CHECK(s.short_answer.threshold >= 5.0 && s.long_answer.threshold >= 5.0,
              "best thresholds above the null example (%g, %g)", s.short_answer.threshold,
              s.long_answer.threshold);
        CHECK(nq_predictions_write(p, pred_path) == QA_OK && nq_predictions_load(pred_path, &back) == QA_OK,
              "write, read: %s", qa_last_error());
        CHECK(back && back->n == N_EX && nq_evaluate(&gold, back, &s) == QA_OK &&
              s.short_answer.f1 == 1.0, "the file scores the same");
        /* without a type head every best span is a short answer */
        nq_predictions_free(back);
        back = NULL;
        CHECK(nq_decode(w, start, end, NULL, NQ_MAX_ANSWER_LEN, &back) == QA_OK &&
              back->p[1].label.n_short == 1 && back->p[1].label.yes_no == NQ_YES_NO_NONE,
              "no type logits: spans only");
        /* max_answer_len 1: example 0's one-token answer is still found */
        nq_predictions_free(back);
        back = NULL;
        CHECK(nq_decode(w, start, end, type, 1, &back) == QA_OK && back->p[0].label.n_short == 1 &&
              back->p[0].label.short_answers[0].start_token == 5, "max_answer_len 1");
    }
    nq_predictions_free(p);
    nq_predictions_free(back);
    for (int e = 0; e < N_EX; e++) free_example(&ex[e]);
    free(gold.ids);
    free(gold.labels);
    free(gold.n_labels);
    free(start);
    free(end);
    free(type);
    nq_windows_free(w);
    wp_vocab_free(v);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
