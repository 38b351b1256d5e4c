/* tests/test_synth_nq.c: `sweep gen-data --format nq` (core/qa/synth_nq.c): its files pass
 * the NQ reader's full validation, dev has five annotations with disagreement and train one,
 * yes/no and unanswerable questions occur, the vocabulary covers every window (markup
 * included: no [UNK]), the gold short answers lie in windows, the same seed gives the same
 * bytes, and the official metric gives a single-annotator oracle a high but imperfect F1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qa/nq.h"
#include "core/qa/nq_metric.h"
#include "core/qa/nq_windows.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "tests/test.h"

static char dir[] = "/tmp/test_synth_nq.XXXXXX";

static const char *in_dir(const char *name) {
    static char buf[4][160];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int run_gen(const char *out) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s gen-data --out %s --seed 7 --train 400 --dev 150 --format nq 2>/dev/null",
             test_sweep_bin(), out);
    return system(cmd);
}

typedef struct {
    int n, annotations_ok, yes_no, none, disagree, windows_unk, short_examples, short_found;
} Stats;

static void read_split(const char *path, int want_ann, const WpVocab *v, Stats *s,
                       NqPredictions *oracle) {
    NqReader *r = NULL;
    NqExample ex = {0};
    CHECK(nq_reader_open(path, NQ_READ_ALL, &r) == QA_OK, "open %s: %s", path, qa_last_error());
    if (!r) return;
    NqTokenizer tok = nq_tokenizer_wordpiece(v);
    NqWindowOpts o = NQ_WINDOW_OPTS_DEFAULT;
    o.max_seq_len = 64;
    o.doc_stride = 16;
    o.max_query_len = 24;
    int got;
    while ((got = nq_reader_next(r, &ex)) == 1) {
        s->n++;
        s->annotations_ok += ex.n_annotations == want_ann;
        int votes = 0, yn = 0;
        for (int a = 0; a < ex.n_annotations; a++) {
            votes += ex.annotations[a].candidate_index >= 0;
            yn |= ex.annotations[a].yes_no != NQ_YES_NO_NONE;
        }
        s->yes_no += yn;
        s->none += votes == 0;
        s->disagree += votes > 0 && votes < ex.n_annotations;
        NqWindows *w = nq_windows_new(&o);
        if (w && nq_windows_add(w, &ex, &tok, &o) == QA_OK) {
            WpSpecial sp = wp_special(v);
            for (size_t k = 0; k < (size_t)w->n * w->seq; k++) s->windows_unk += w->input_ids[k] == sp.unk;
            if (w->label_type[0] == NQ_TYPE_SHORT) {
                s->short_examples++;
                int found = 0;
                for (int k = 0; k < w->n; k++) found |= w->answer_type[k] == NQ_TYPE_SHORT;
                s->short_found += found;
            }
        }
        nq_windows_free(w);
        if (oracle) { /* the first annotator's answer, scored by its position in the file */
            NqPrediction *p = &oracle->p[oracle->n++];
            const NqLabel *a = &ex.annotations[0];
            p->example_id = ex.example_id;
            p->label = *a;
            p->label.short_answers = malloc(sizeof(NqSpan) * (size_t)(a->n_short + 1));
            memcpy(p->label.short_answers, a->short_answers, sizeof(NqSpan) * (size_t)a->n_short);
            p->long_score = p->short_score = 1.0;
        }
    }
    CHECK(got == 0, "%s: read to the end: %s", path, qa_last_error());
    nq_example_clear(&ex);
    nq_reader_close(r);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    const char *out = in_dir("a"), *again = in_dir("b");
    CHECK(run_gen(out) == 0 && run_gen(again) == 0, "gen-data --format nq runs");
    WpVocab *v = NULL;
    char vocab[200], dev[200], train[200], dev2[200];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", out);
    snprintf(dev, sizeof dev, "%s/nq-dev.jsonl.gz", out);
    snprintf(train, sizeof train, "%s/nq-train.jsonl.gz", out);
    snprintf(dev2, sizeof dev2, "%s/nq-dev.jsonl.gz", again);
    if (wp_vocab_load(vocab, &v)) {
        SKIP("no vocabulary: %s", qa_last_error());
        return TEST_DONE();
    }
    CHECK(wp_token_id(v, "[ContextId=-1]") >= 0 && wp_token_id(v, "[Table=3]") >= 0 &&
          wp_token_id(v, "[Q]") >= 0, "markup tokens in vocab.txt");
    Stats d = {0}, t = {0};
    NqPredictions oracle = {0, calloc(200, sizeof(NqPrediction))};
    read_split(dev, 5, v, &d, &oracle);
    read_split(train, 1, v, &t, NULL);
    CHECK(d.n == 150 && d.annotations_ok == d.n, "dev: %d examples, %d with 5 annotations", d.n,
          d.annotations_ok);
    CHECK(t.n == 400 && t.annotations_ok == t.n, "train: %d examples, %d with 1 annotation", t.n,
          t.annotations_ok);
    CHECK(d.yes_no > 5 && t.yes_no > 20, "yes/no questions: dev %d, train %d", d.yes_no, t.yes_no);
    CHECK(d.none > 10 && t.none > 50, "unanswerable: dev %d, train %d", d.none, t.none);
    CHECK(d.disagree > 30, "dev annotators disagree on %d of %d", d.disagree, d.n);
    CHECK(d.windows_unk == 0 && t.windows_unk == 0, "no [UNK] in any window (%d, %d)",
          d.windows_unk, t.windows_unk);
    CHECK(t.short_examples > 100 && t.short_found == t.short_examples,
          "train: every short answer is in a window (%d of %d)", t.short_found, t.short_examples);
    /* the same seed, the same bytes */
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    CHECK(file_read(dev, 0, &a, &la) == QA_OK && file_read(dev2, 0, &b, &lb) == QA_OK &&
          la == lb && !memcmp(a, b, la), "deterministic per seed (%zu, %zu bytes)", la, lb);
    free(a);
    free(b);
    /* one annotator against the 2-of-5 gold */
    NqGold *g = NULL;
    NqScores s;
    CHECK(nq_gold_load(dev, NULL, NULL, &g) == QA_OK && nq_evaluate(g, &oracle, &s) == QA_OK,
          "score: %s", qa_last_error());
    CHECK(s.long_answer.f1 > 0.75 && s.long_answer.f1 < 1.0 && s.short_answer.f1 > 0.7 &&
          s.short_answer.f1 < 1.0, "a single annotator: long F1 %.3f, short F1 %.3f",
          s.long_answer.f1, s.short_answer.f1);
    printf("synthetic NQ dev: %d examples (%d yes/no, %d unanswerable, %d with disagreement); "
           "one annotator scores long F1 %.3f, short F1 %.3f\n", d.n, d.yes_no, d.none,
           d.disagree, s.long_answer.f1, s.short_answer.f1);
    nq_gold_free(g);
    for (int i = 0; i < oracle.n; i++) free(oracle.p[i].label.short_answers);
    free(oracle.p);
    wp_vocab_free(v);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
