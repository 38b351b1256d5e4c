/* tests/test_features.c: the SQuAD reader (validation messages, answer relocation), the
 * windows of features_build against hand-worked run_squad.py layouts, decode_predictions on
 * hand-set logits, and on the real dev set (../shared) the window count of run_squad.py and
 * an oracle decode that must score ~100 through the official metric. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/qa/decode.h"
#include "core/util/error.h"
#include "core/qa/features.h"
#include "core/qa/predictions.h"
#include "core/qa/squad.h"
#include "core/qa/squad_metric.h"
#include "core/text/wordpiece.h"
#include "tests/test.h"

#define SQUAD_DEV "../shared/data/squad/dev-v2.0.json"
#define BERT_VOCAB "../shared/data/bert-vocab/vocab.txt"

static char tmp_dir[] = "/tmp/qaprune_feat_XXXXXX";

static const char *write_tmp(const char *name, const char *text) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static void test_reader_errors(void) {
    SquadSet *set = NULL;
    const char *p = write_tmp("bad.json",
        "{\"data\": [{\"paragraphs\": [{\"context\": \"abc\", \"qas\": ["
        "{\"id\": \"q0\", \"question\": \"?\", \"answers\": []},"
        "{\"id\": \"q1\", \"question\": \"?\", \"answers\": [{\"text\": \"b\", \"answer_start\": \"1\"}]}"
        "]}]}]}");
    CHECK(squad_load(p, &set) == QA_ERR && !set, "bad answer_start fails");
    CHECK(strstr(qa_last_error(), "bad.json: data[0].paragraphs[0].qas[1].answers[0].answer_start: "
                 "expected a non-negative integer") != NULL, "message: %s", qa_last_error());
    p = write_tmp("bad2.json", "{\"data\": [{\"paragraphs\": [{\"qas\": []}]}]}");
    CHECK(squad_load(p, &set) == QA_ERR && strstr(qa_last_error(), "data[0].paragraphs[0].context: "
                 "expected a string"), "message: %s", qa_last_error());
    p = write_tmp("bad3.json", "{\"data\": [}");
    CHECK(squad_load(p, &set) == QA_ERR && strstr(qa_last_error(), "not valid JSON"), "message: %s",
          qa_last_error());
    /* "é" is one character and two bytes: answer_start 2 is byte 3; start 0 is wrong and
     * is relocated by text (a warning on stderr) */
    p = write_tmp("ok.json",
        "{\"version\": \"v2.0\", \"data\": [{\"paragraphs\": [{\"context\": \"\xc3\xa9 cat cat\", \"qas\": ["
        "{\"id\": \"a\", \"question\": \"?\", \"answers\": [{\"text\": \"cat\", \"answer_start\": 2}]},"
        "{\"id\": \"b\", \"question\": \"?\", \"answers\": [{\"text\": \"cat\", \"answer_start\": 0},"
        "{\"text\": \"dog\", \"answer_start\": 0}], \"is_impossible\": false}]}]}]}");
    CHECK(squad_load(p, &set) == 0, "%s", qa_last_error());
    if (!set) return;
    CHECK(set->n_questions == 2 && set->n_paragraphs == 1 && !strcmp(set->version, "v2.0"), "counts");
    CHECK(set->questions[0].answers[0].start == 3 && set->questions[0].answers[0].end == 6, "bytes");
    CHECK(set->questions[1].answers[0].start == 3, "relocated to the nearest occurrence");
    CHECK(set->questions[1].answers[1].start == -1, "not in the context");
    CHECK(set->n_relocated == 1 && set->n_unlocated == 1, "warning counts");
    squad_free(set);
}

/* Context "a b c ... t" (20 one-letter tokens), question "x y": with max_seq_len 12 each
 * window holds 12 - 2 - 3 = 7 context tokens and starts 3 after the previous one. */
static void test_windows_and_decode(void) {
    char vocab_text[256] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (char c = 'a'; c <= 'z'; c++) sprintf(vocab_text + strlen(vocab_text), "%c\n", c);
    WpVocab *v = NULL;
    SquadSet *set = NULL;
    Features *f = NULL;
    Predictions *p = NULL;
    CHECK(wp_vocab_load(write_tmp("vocab.txt", vocab_text), &v) == 0, "%s", qa_last_error());
    CHECK(squad_load(write_tmp("win.json",
        "{\"data\": [{\"paragraphs\": [{\"context\": \"a b c d e f g h i j k l m n o p q r s t\","
        "\"qas\": [{\"id\": \"q1\", \"question\": \"X y\", \"answers\": [{\"text\": \"h i\", "
        "\"answer_start\": 14}]}, {\"id\": \"q2\", \"question\": \"z\", \"answers\": []}]}]}]}"),
        &set) == 0, "%s", qa_last_error());
    FeatureOpts fo = {.max_seq_len = 12, .doc_stride = 3, .max_query_len = 4};
    CHECK(v && set && features_build(set, v, &fo, &f) == 0, "build: %s", qa_last_error());
    if (!f) goto cleanup;
    /* q1: windows start at 0 3 6 9 12 15 (the last is 5 long); q2 (1 token): 8 per window,
     * starts 0 3 6 9 12 (12 + 8 = 20 ends it) */
    CHECK(f->n == 11 && f->seq == 12 && f->first_window[1] == 6 && f->first_window[2] == 11,
          "window counts: n %d", f->n);
    const int32_t row1[12] = {2, 28, 29, 3, 8, 9, 10, 11, 12, 13, 14, 3}; /* [CLS] x y [SEP] d..j [SEP] */
    CHECK(!memcmp(f->input_ids + 12, row1, sizeof row1), "window 1 ids");
    const int32_t row5[12] = {2, 28, 29, 3, 20, 21, 22, 23, 24, 3, 0, 0}; /* p..t, padding */
    CHECK(!memcmp(f->input_ids + 5 * 12, row5, sizeof row5), "window 5 ids");
    CHECK(f->type_ids[12 + 3] == 0 && f->type_ids[12 + 4] == 1 && f->type_ids[12 + 11] == 1 &&
          f->type_ids[5 * 12 + 10] == 0, "type ids");
    CHECK(f->mask[5 * 12 + 9] == 1 && f->mask[5 * 12 + 10] == 0, "mask");
    /* "h i" = context tokens 7..8: inside windows 1 (start 3) and 2 (start 6) */
    CHECK(f->start_pos[0] == 0 && f->start_pos[1] == 8 && f->end_pos[1] == 9 &&
          f->start_pos[2] == 5 && f->end_pos[2] == 6 && f->start_pos[3] == 0, "gold positions");
    CHECK(f->start_pos[6] == 0 && f->end_pos[6] == 0 && f->question[6] == 1, "no answer: [CLS]");
    /* max context: token 7 scores 2.07 in window 1 vs 1.07 in window 2; token 8 the reverse */
    CHECK(f->max_context[12 + 8] == 1 && f->max_context[24 + 5] == 0 &&
          f->max_context[12 + 9] == 0 && f->max_context[24 + 6] == 1, "max context");
    CHECK(f->ctx_start[12 + 8] == 14 && f->ctx_end[12 + 8] == 15 && f->ctx_start[12 + 3] == -1 &&
          f->ctx_start[12 + 11] == -1, "context spans");

    size_t nt = (size_t)f->n * f->seq;
    float *sl = calloc(nt, sizeof *sl), *el = calloc(nt, sizeof *el);
    if (!sl || !el) goto cleanup;
    for (int w = 0; w < f->n; w++) sl[w * 12] = el[w * 12] = 1; /* null score 2 */
    sl[24 + 5] = el[24 + 6] = 9; /* "h i" from window 2: its start is not max-context there */
    sl[12 + 8] = 5;              /* "h i j" from window 1: 5 + 6 = 11 */
    el[12 + 10] = 6;
    for (int w = 6; w < 11; w++) sl[w * 12] = el[w * 12] = 5; /* q2: null 10 > any span 0 */
    DecodeOpts d = DECODE_OPTS_DEFAULT;
    CHECK(decode_predictions(set, f, sl, el, &d, &p) == 0, "%s", qa_last_error());
    if (p) {
        CHECK(p->n == 2 && !strcmp(p->id[0], "q1") && !strcmp(p->text[0], "h i j"),
              "max-context respected: '%s'", p->text[0]);
        CHECK(p->na_prob[0] == 2.0 - 11.0, "na score %g", p->na_prob[0]);
        CHECK(!strcmp(p->text[1], "") && p->na_prob[1] == 10.0, "null answer, na %g", p->na_prob[1]);
        SquadScores s;
        CHECK(squad_evaluate(set, p, 1.0, &s) == 0 && s.total == 2 && s.no_ans_exact == 100.0 &&
              s.has_ans_exact == 0.0, "evaluate");
        char pred_path[256], na_path[256];
        snprintf(pred_path, sizeof pred_path, "%s", write_tmp("pred.json", ""));
        snprintf(na_path, sizeof na_path, "%s", write_tmp("na.json", ""));
        Predictions *back = NULL;
        CHECK(predictions_write(p, pred_path, na_path) == 0 &&
              predictions_load(pred_path, na_path, &back) == 0, "%s", qa_last_error());
        CHECK(back && back->n == 2 && !strcmp(back->text[0], "h i j") && back->na_prob[0] == -9.0 &&
              back->n_na == 2, "written and read back");
        predictions_free(back);
        predictions_free(p);
        p = NULL;
    }
    d.null_threshold = -10; /* na -9 > -10: q1 becomes unanswered */
    CHECK(decode_predictions(set, f, sl, el, &d, &p) == 0 && !strcmp(p->text[0], ""), "threshold");
    free(sl);
    free(el);
cleanup:
    predictions_free(p);
    features_free(f);
    squad_free(set);
    wp_vocab_free(v);
}

/* The real dev set: run_squad.py makes 12,232 windows (384/128/64; counted by a throwaway
 * Python reimplementation); logits that point at the gold windows' spans (or [CLS]) must
 * decode to the gold answers, up to answers that do not end on token boundaries. */
static void test_real_dev(void) {
    if (access(SQUAD_DEV, R_OK) || access(BERT_VOCAB, R_OK)) {
        SKIP("%s or %s not found: no test on the real dev set", SQUAD_DEV, BERT_VOCAB);
        return;
    }
    SquadSet *set = NULL;
    WpVocab *v = NULL;
    Features *f = NULL;
    Predictions *p = NULL;
    FeatureOpts fo = FEATURE_OPTS_DEFAULT;
    DecodeOpts d = DECODE_OPTS_DEFAULT;
    if (squad_load(SQUAD_DEV, &set) || wp_vocab_load(BERT_VOCAB, &v) ||
        features_build(set, v, &fo, &f)) {
        CHECK(0, "%s", qa_last_error());
        goto cleanup;
    }
    CHECK(f->n == 12232, "windows %d, run_squad.py makes 12232", f->n);
    size_t nt = (size_t)f->n * f->seq;
    float *sl = malloc(nt * sizeof *sl), *el = malloc(nt * sizeof *el);
    if (!sl || !el) goto cleanup;
    for (size_t i = 0; i < nt; i++) sl[i] = el[i] = -10;
    for (int w = 0; w < f->n; w++) {
        sl[(size_t)w * f->seq + f->start_pos[w]] = 10;
        el[(size_t)w * f->seq + f->end_pos[w]] = 10;
        if (f->start_pos[w] == 0) sl[(size_t)w * f->seq] = el[(size_t)w * f->seq] = 0;
    }
    SquadScores s;
    CHECK(decode_predictions(set, f, sl, el, &d, &p) == 0 && squad_evaluate(set, p, 1.0, &s) == 0,
          "%s", qa_last_error());
    printf("oracle decode of dev-v2.0: HasAns exact %.3f f1 %.3f, NoAns exact %.3f\n",
           s.has_ans_exact, s.has_ans_f1, s.no_ans_exact);
    CHECK(s.no_ans_exact == 100.0 && s.has_ans_f1 > 99.0 && s.has_ans_exact > 97.0,
          "oracle decode: HasAns exact %.3f f1 %.3f, NoAns %.3f", s.has_ans_exact, s.has_ans_f1,
          s.no_ans_exact);
    free(sl);
    free(el);
cleanup:
    predictions_free(p);
    features_free(f);
    wp_vocab_free(v);
    squad_free(set);
}

int main(void) {
    if (!mkdtemp(tmp_dir)) {
        CHECK(0, "mkdtemp");
        return TEST_DONE();
    }
    test_reader_errors();
    test_windows_and_decode();
    test_real_dev();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return TEST_DONE();
}
