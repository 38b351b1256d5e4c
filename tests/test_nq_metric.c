/* tests/test_nq_metric.c: the Natural Questions metric (core/qa/nq_metric.c) against the
 * official nq_eval.py: every rule on hand-worked cases, then the script's own figures on the
 * fixtures of tests/make_nq_fixture.py (tests/data/nq), through the library and the CLI. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/qa/nq_metric.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "tests/test.h"

#define NQ_DIR "tests/data/nq"

static NqSpan tok(int s, int e) { return (NqSpan){-1, -1, s, e}; }
static NqSpan both(int sb, int eb, int s, int e) { return (NqSpan){sb, eb, s, e}; }

static NqLabel long_only(NqSpan s) { return (NqLabel){.long_answer = s, .candidate_index = -1}; }
static NqLabel null_label(void) { return long_only(NQ_NULL_SPAN); }
static NqLabel with_short(NqSpan *spans, int n) {
    return (NqLabel){.long_answer = tok(0, 50), .short_answers = spans, .n_short = n};
}
static NqLabel yes_no(NqYesNo y) { return (NqLabel){.long_answer = tok(0, 50), .yes_no = y}; }

static void test_long_votes(void) {
    NqLabel g[5] = {null_label(), null_label(), null_label(), null_label(), null_label()};
    NqLabel p = long_only(tok(10, 20));
    g[3] = long_only(tok(10, 20));
    NqStat s = nq_score_long(g, 5, &p, 1.0);
    CHECK(!s.has_gold && s.has_pred && !s.correct, "1 of 5 votes: no gold long answer");
    g[1] = long_only(tok(30, 40));
    s = nq_score_long(g, 5, &p, 1.0);
    CHECK(s.has_gold && s.has_pred && s.correct, "2 of 5: matches the second non-null one");
    NqLabel other = long_only(tok(11, 20));
    s = nq_score_long(g, 5, &other, 1.0);
    CHECK(s.has_gold && !s.correct, "a different span is wrong");
    NqLabel none = null_label();
    s = nq_score_long(g, 5, &none, 1.0);
    CHECK(s.has_gold && !s.has_pred && !s.correct, "a null prediction predicts nothing");
    CHECK(!nq_score_long(g, 0, &p, 1.0).has_gold, "no annotations: no gold");
}

/* eval_utils.nonnull_span_equal: bytes when both sides have them, then tokens */
static void test_span_equality(void) {
    NqLabel g[2] = {long_only(both(100, 200, 10, 20)), long_only(both(100, 200, 10, 20))};
    struct { NqSpan pred; int want; const char *what; } cases[] = {
        {both(100, 200, 10, 20), 1, "bytes and tokens equal"},
        {both(100, 200, 11, 21), 1, "bytes equal, tokens not: bytes decide"},
        {both(101, 200, 10, 20), 1, "bytes differ, tokens equal: tokens still match"},
        {tok(10, 20), 1, "no predicted bytes: tokens"},
        {both(100, 200, -1, -1), 1, "bytes only"},
        {both(101, 200, -1, -1), 0, "bytes differ, no tokens"},
        {tok(10, 21), 0, "tokens differ, no bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        NqLabel p = long_only(cases[i].pred);
        CHECK(nq_score_long(g, 2, &p, 0).correct == cases[i].want, "%s", cases[i].what);
    }
    NqLabel tok_gold[2] = {long_only(tok(10, 20)), long_only(tok(10, 20))};
    NqLabel p = long_only(both(5, 9, 10, 20));
    CHECK(nq_score_long(tok_gold, 2, &p, 0).correct, "gold without bytes: tokens");
}

static void test_short_sets(void) {
    NqSpan ab[2] = {tok(3, 5), tok(7, 9)}, c[1] = {tok(20, 22)};
    NqLabel g[5] = {with_short(ab, 2), with_short(c, 1), null_label(), null_label(), null_label()};
    struct { NqSpan spans[4]; int n; int has_pred, correct; const char *what; } cases[] = {
        {{tok(7, 9), tok(3, 5)}, 2, 1, 1, "the same set in another order"},
        {{tok(3, 5)}, 1, 1, 0, "a subset is wrong"},
        {{tok(3, 5), tok(7, 9), tok(20, 22)}, 3, 1, 0, "a superset is wrong"},
        {{tok(3, 5), NQ_NULL_SPAN, tok(7, 9)}, 3, 1, 1, "null spans are ignored"},
        {{tok(20, 22)}, 1, 1, 1, "the second annotator's set"},
        {{tok(3, 5), tok(3, 5), tok(7, 9)}, 3, 1, 1, "a repeated span: still the same set"},
        {{NQ_NULL_SPAN}, 1, 0, 0, "only null spans predict nothing"},
        {{{0}}, 0, 0, 0, "no spans predict nothing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        NqLabel p = with_short(cases[i].spans, cases[i].n);
        NqStat s = nq_score_short(g, 5, &p, 0);
        CHECK(s.has_gold && s.has_pred == cases[i].has_pred && s.correct == cases[i].correct,
              "%s: has_pred %d correct %d", cases[i].what, s.has_pred, s.correct);
    }
    NqLabel one[5] = {with_short(ab, 2), null_label(), null_label(), yes_no(NQ_YES_NO_NONE),
                      null_label()};
    NqLabel p = with_short(ab, 2);
    NqStat s = nq_score_short(one, 5, &p, 0);
    CHECK(!s.has_gold && s.has_pred && !s.correct, "1 of 5 short votes: no gold short answer");
}

static void test_yes_no(void) {
    NqSpan a[1] = {tok(3, 5)};
    NqLabel g[5] = {yes_no(NQ_YES_NO_YES), with_short(a, 1), null_label(), null_label(),
                    null_label()};
    NqLabel yes = yes_no(NQ_YES_NO_YES), no = yes_no(NQ_YES_NO_NO), span = with_short(a, 1);
    NqStat s = nq_score_short(g, 5, &yes, 0);
    CHECK(s.has_gold && s.has_pred && s.correct, "a yes/no vote counts; YES matches");
    CHECK(!nq_score_short(g, 5, &no, 0).correct, "NO does not match YES");
    CHECK(nq_score_short(g, 5, &span, 0).correct, "a span set matches the other annotator");
    NqLabel g2[2] = {with_short(a, 1), with_short(a, 1)};
    s = nq_score_short(g2, 2, &yes, 0);
    CHECK(s.has_gold && s.has_pred && !s.correct, "YES against span-only gold is wrong");
    NqLabel g3[2] = {yes_no(NQ_YES_NO_NO), yes_no(NQ_YES_NO_NO)};
    NqLabel none = yes_no(NQ_YES_NO_NONE);
    s = nq_score_short(g3, 2, &none, 0);
    CHECK(s.has_gold && !s.has_pred, "NONE without spans predicts nothing");
}

/* compute_pr_curves on a hand-worked list. 5 gold answers; by descending score:
 *   score 3:   correct               -> P 1/1, R 1/5, F1 1/3
 *   score 2:   wrong, correct (tie)  -> P 2/3, R 2/5, F1 1/2   (one point for the tie)
 *   score 1:   wrong                 -> P 2/4, R 2/5, F1 4/9
 *   score 0.5: no prediction         -> P 2/4, R 2/5
 * best: F1 1/2 at threshold 2; R@P>=0.5: 2/5 (P 2/3); R@P>=0.75 and >=0.9: 1/5 (P 1). */
static void test_pr_curve(void) {
    NqStat st[5] = {{1, 1, 0, 1.0}, {1, 1, 1, 2.0}, {1, 0, 0, 0.5}, {1, 1, 1, 3.0}, {1, 1, 0, 2.0}};
    NqAnswerScores a;
    nq_pr_curve(st, 5, &a);
    CHECK_CLOSE(a.f1, 0.5, 1e-15, "best F1");
    CHECK_CLOSE(a.precision, 2.0 / 3.0, 1e-15, "precision at the best threshold");
    CHECK_CLOSE(a.recall, 0.4, 1e-15, "recall at the best threshold");
    CHECK(a.threshold == 2.0, "best threshold %g", a.threshold);
    CHECK_CLOSE(a.recall_at[0], 0.4, 1e-15, "R@P>=0.5");
    CHECK_CLOSE(a.precision_at[0], 2.0 / 3.0, 1e-15, "its precision");
    CHECK(a.recall_at[1] == 0.2 && a.precision_at[1] == 1.0, "R@P>=0.75");
    CHECK(a.recall_at[2] == 0.2 && a.precision_at[2] == 1.0, "R@P>=0.9");
    CHECK(a.n == 5 && a.n_gold == 5, "counts");
    /* equal F1 at two thresholds: the higher one is kept (strictly greater in the script) */
    NqStat eq[4] = {{1, 1, 1, 5.0}, {1, 1, 0, 4.0}, {1, 1, 1, 3.0}, {1, 1, 0, 2.0}};
    /* 5: P 1 R 1/4 F1 .4;  4: P .5 R .25 F1 1/3;  3: P 2/3 R .5 F1 4/7;  2: P .5 R .5 F1 .5 */
    nq_pr_curve(eq, 4, &a);
    CHECK(a.threshold == 3.0 && fabs(a.f1 - 4.0 / 7.0) < 1e-15, "threshold %g f1 %g", a.threshold, a.f1);
    NqStat tie[2] = {{1, 1, 1, 1.0}, {1, 1, 1, 1.0}};
    nq_pr_curve(tie, 2, &a);
    CHECK(a.f1 == 1.0 && a.threshold == 1.0, "ties form one point");
    NqStat zero[2] = {{0, 1, 0, 4.0}, {1, 0, 0, 1.0}};
    nq_pr_curve(zero, 2, &a);
    CHECK(a.f1 == 0.0 && a.threshold == 0.0 && a.recall_at[0] == 0.0, "no correct: all 0");
}

static char tmp_dir[64];

static const char *tmp_path(const char *name) {
    static char buf[2][128];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

static void write_text(const char *path, const char *text) {
    CHECK(file_write_atomic(path, text, strlen(text)) == QA_OK, "write %s", path);
}

/* ids near 2^62 that one double cannot tell apart; absent fields; the id checks */
static void test_files(void) {
    const char *gold = tmp_path("gold.jsonl");
    write_text(gold,
               "{\"example_id\": 4611686018427387905, \"annotations\": ["
               "{\"long_answer\": {\"start_token\": 1, \"end_token\": 9, \"candidate_index\": 0},"
               " \"short_answers\": [{\"start_token\": 2, \"end_token\": 3}], \"yes_no_answer\": \"NONE\"},"
               "{\"long_answer\": {\"start_token\": 1, \"end_token\": 9, \"candidate_index\": 0},"
               " \"short_answers\": [], \"yes_no_answer\": \"YES\"}]}\n"
               "\n"
               "{\"example_id\": 4611686018427387904, \"annotations\": ["
               "{\"long_answer\": {\"start_token\": -1, \"end_token\": -1, \"candidate_index\": -1},"
               " \"short_answers\": [], \"yes_no_answer\": \"NONE\"}]}\n");
    NqGold *g = NULL;
    CHECK(nq_gold_load(gold, NULL, NULL, &g) == QA_OK, "gold: %s", qa_last_error());
    if (!g) return;
    CHECK(g->n == 2 && g->ids[0] == INT64_C(4611686018427387904) &&
          g->ids[1] == INT64_C(4611686018427387905), "64-bit ids kept exact");
    const char *pred = tmp_path("pred.json");
    write_text(pred, "{\"predictions\": ["
                     "{\"example_id\": 4611686018427387905, \"long_answer_score\": 2,"
                     " \"short_answers_score\": 1.5, \"yes_no_answer\": \"yes\","
                     " \"long_answer\": {\"start_byte\": -1, \"end_byte\": -1,"
                     " \"start_token\": 1, \"end_token\": 9}},"
                     "{\"example_id\": 4611686018427387904, \"long_answer_score\": 1,"
                     " \"short_answers_score\": 1}]}");
    NqPredictions *p = NULL;
    NqScores s;
    CHECK(nq_predictions_load(pred, &p) == QA_OK, "predictions: %s", qa_last_error());
    if (p) {
        CHECK(p->n == 2 && p->p[0].example_id == INT64_C(4611686018427387904), "sorted by id");
        CHECK(nq_span_is_null(&p->p[0].label.long_answer) && p->p[0].label.n_short == 0 &&
              p->p[0].label.yes_no == NQ_YES_NO_NONE, "absent fields are null");
        CHECK(nq_evaluate(g, p, &s) == QA_OK, "evaluate: %s", qa_last_error());
        CHECK(s.long_answer.f1 == 1.0 && s.short_answer.f1 == 1.0, "both right: F1 %g %g",
              s.long_answer.f1, s.short_answer.f1);
        const char *again = tmp_path("again.json");
        NqPredictions *q = NULL;
        CHECK(nq_predictions_write(p, again) == QA_OK && nq_predictions_load(again, &q) == QA_OK,
              "write and read back: %s", qa_last_error());
        CHECK(q && q->n == 2 && q->p[1].example_id == INT64_C(4611686018427387905) &&
              q->p[1].label.yes_no == NQ_YES_NO_YES && q->p[1].long_score == 2.0 &&
              q->p[1].label.long_answer.end_token == 9, "round trip");
        nq_predictions_free(q);
        p->n = 1; /* one prediction missing */
        CHECK(nq_evaluate(g, p, &s) == QA_ERR && strstr(qa_last_error(), "lack 1 of the 2"),
              "missing: %s", qa_last_error());
        p->n = 2;
        p->p[0].example_id = 7; /* one missing, one extra */
        CHECK(nq_evaluate(g, p, &s) == QA_ERR, "a wrong id fails");
    }
    nq_predictions_free(p);
    struct { const char *text, *want; } bad[] = {
        {"{\"predictions\": [{\"example_id\": 1, \"short_answers_score\": 1}]}",
         "predictions[0].long_answer_score"},
        {"{\"predictions\": [{\"example_id\": 1, \"long_answer_score\": 1, \"short_answers_score\": 1,"
         " \"yes_no_answer\": \"YES\", \"short_answers\": [{\"start_token\": 1, \"end_token\": 2}]}]}",
         "yes/no answer beside short answers"},
        {"{\"predictions\": [{\"example_id\": 1, \"long_answer_score\": 1, \"short_answers_score\": 1,"
         " \"yes_no_answer\": \"maybe\"}]}", "predictions[0].yes_no_answer"},
        {"{\"predictions\": [{\"example_id\": 1.5, \"long_answer_score\": 1, \"short_answers_score\": 1}]}",
         "predictions[0].example_id"},
        {"{\"predictions\": [{\"example_id\": 1, \"long_answer_score\": 1, \"short_answers_score\": 1,"
         " \"long_answer\": {\"start_token\": 5, \"end_token\": 5}}]}", "not before end_token"},
        {"{\"predictions\": [{\"example_id\": 1, \"long_answer_score\": 1, \"short_answers_score\": 1,"
         " \"long_answer\": {\"start_token\": 5, \"end_token\": -1}}]}", "one end null"},
        {"[1, 2]", "predictions: expected an array"},
        {"{\"predictions\": [{\"example_id\": 1, \"long_answer_score\": 1,"
         " \"short_answers_score\": 1e400}]}", "predictions[0].short_answers_score: out of"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(pred, bad[i].text);
        p = NULL;
        int rc = nq_predictions_load(pred, &p);
        CHECK(rc == QA_ERR && strstr(qa_last_error(), bad[i].want) && strstr(qa_last_error(), pred),
              "bad case %zu: '%s'", i, qa_last_error());
        nq_predictions_free(p);
    }
    nq_gold_free(g);
}

static const char *const keys[] = {
    "best-threshold-f1", "best-threshold-precision", "best-threshold-recall", "best-threshold",
    "recall-at-precision>=0.5", "precision-at-precision>=0.5", "recall-at-precision>=0.75",
    "precision-at-precision>=0.75", "recall-at-precision>=0.9", "precision-at-precision>=0.9"};
enum { N_KEYS = sizeof keys / sizeof keys[0] };

static cJSON *read_json(const char *path) {
    char *text = NULL;
    size_t len = 0;
    if (file_read(path, 0, &text, &len)) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

/* got: our JSON (library or CLI); want: the official script's */
static void compare_json(const cJSON *got, const cJSON *want, const char *what) {
    CHECK(cJSON_GetArraySize(got) == cJSON_GetArraySize(want) && cJSON_GetArraySize(want) == 20,
          "%s: %d keys, the script %d", what, cJSON_GetArraySize(got), cJSON_GetArraySize(want));
    const char *prefix[2] = {"long-", "short-"};
    double worst = 0;
    for (int p = 0; p < 2; p++) {
        for (int k = 0; k < N_KEYS; k++) {
            char key[80];
            snprintf(key, sizeof key, "%s%s", prefix[p], keys[k]);
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(got, key);
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(want, key);
            CHECK(cJSON_IsNumber(a) && cJSON_IsNumber(b), "%s: key %s", what, key);
            if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b)) continue;
            CHECK_CLOSE(a->valuedouble, b->valuedouble, 1e-6, "%s: %s", what, key);
            double d = fabs(a->valuedouble - b->valuedouble);
            if (d > worst) worst = d;
        }
    }
    printf("%s: largest difference from nq_eval.py %.3g\n", what, worst);
}

static void test_official(const char *name) {
    char gold[128], pred[128], exp[128], cmd[512];
    snprintf(gold, sizeof gold, NQ_DIR "/%s-gold.jsonl.gz", name);
    snprintf(pred, sizeof pred, NQ_DIR "/%s-pred.json", name);
    snprintf(exp, sizeof exp, NQ_DIR "/%s-expected.json", name);
    cJSON *want = read_json(exp);
    if (!want || access(gold, R_OK) || access(pred, R_OK)) {
        SKIP("NQ fixture %s missing (tests/make_nq_fixture.py writes it)", name);
        cJSON_Delete(want);
        return;
    }
    NqGold *g = NULL;
    NqPredictions *p = NULL;
    NqScores s;
    CHECK(nq_gold_load(gold, NULL, NULL, &g) == QA_OK && nq_predictions_load(pred, &p) == QA_OK &&
              nq_evaluate(g, p, &s) == QA_OK, "%s: %s", name, qa_last_error());
    char *json = g && p ? nq_scores_json(&s) : NULL;
    cJSON *got = json ? cJSON_Parse(json) : NULL;
    if (got) compare_json(got, want, name);
    /* the figures themselves, not only their printed form: exact to the last bit */
    const cJSON *f1 = cJSON_GetObjectItemCaseSensitive(want, "short-best-threshold-f1");
    CHECK(got && f1 && s.short_answer.f1 == f1->valuedouble, "%s: short F1 bit-exact", name);
    cJSON_Delete(got);
    free(json);
    nq_gold_free(g);
    nq_predictions_free(p);
    /* the CLI */
    snprintf(cmd, sizeof cmd, "%s score --nq %s %s 2>/dev/null", test_sweep_bin(), gold, pred);
    FILE *f = popen(cmd, "r");
    char buf[8192];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    int rc = f ? pclose(f) : -1;
    buf[n] = '\0';
    got = cJSON_Parse(buf);
    CHECK(rc == 0 && got, "%s: sweep score --nq exit %d", name, rc);
    if (got) compare_json(got, want, "sweep score --nq");
    cJSON_Delete(got);
    cJSON_Delete(want);
}

/* a later line (or prediction) for the same example wins, as in the script's dicts; a glob
 * reads every shard */
static void test_duplicates_and_shards(void) {
    const char *ann_null = "{\"long_answer\": {\"start_token\": -1, \"end_token\": -1}, "
                           "\"short_answers\": [], \"yes_no_answer\": \"NONE\"}";
    const char *ann_long = "{\"long_answer\": {\"start_token\": 3, \"end_token\": 8}, "
                           "\"short_answers\": [], \"yes_no_answer\": \"NONE\"}";
    char text[1024];
    snprintf(text, sizeof text,
             "{\"example_id\": 5, \"annotations\": [%s, %s]}\n"
             "{\"example_id\": 5, \"annotations\": [%s, %s]}\n", ann_null, ann_null, ann_long, ann_long);
    write_text(tmp_path("shard-0.jsonl"), text);
    snprintf(text, sizeof text, "{\"example_id\": -9, \"annotations\": [%s, %s]}\n", ann_long, ann_long);
    write_text(tmp_path("shard-1.jsonl"), text);
    char pattern[128];
    snprintf(pattern, sizeof pattern, "%s/shard-*.jsonl", tmp_dir);
    NqGold *g = NULL;
    CHECK(nq_gold_load(pattern, NULL, NULL, &g) == QA_OK, "glob: %s", qa_last_error());
    if (!g) return;
    CHECK(g->n == 2 && g->ids[0] == -9 && g->ids[1] == 5 && g->n_labels[1] == 2 &&
          g->labels[1][0].long_answer.start_token == 3, "two shards; the later line of id 5 wins");
    write_text(tmp_path("pred.json"),
               "{\"predictions\": ["
               "{\"example_id\": 5, \"long_answer_score\": 1, \"short_answers_score\": 1},"
               "{\"example_id\": -9, \"long_answer_score\": 1, \"short_answers_score\": 1,"
               " \"long_answer\": {\"start_token\": 3, \"end_token\": 8}},"
               "{\"example_id\": 5, \"long_answer_score\": 1, \"short_answers_score\": 1,"
               " \"long_answer\": {\"start_token\": 3, \"end_token\": 8}}]}");
    NqPredictions *p = NULL;
    NqScores s;
    CHECK(nq_predictions_load(tmp_path("pred.json"), &p) == QA_OK && p->n == 2 &&
          nq_evaluate(g, p, &s) == QA_OK && s.long_answer.f1 == 1.0,
          "the later prediction of id 5 wins: long F1 %g", p ? s.long_answer.f1 : -1);
    nq_predictions_free(p);
    nq_gold_free(g);
    snprintf(pattern, sizeof pattern, "%s/none-*.jsonl", tmp_dir);
    CHECK(nq_gold_load(pattern, NULL, NULL, &g) == QA_ERR && strstr(qa_last_error(), "no such file"),
          "a pattern matching nothing: '%s'", qa_last_error());
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/test_nq_metric.XXXXXX");
    if (!mkdtemp(tmp_dir)) return 1;
    test_long_votes();
    test_span_equality();
    test_short_sets();
    test_yes_no();
    test_pr_curve();
    test_files();
    test_duplicates_and_shards();
    test_official("mixed");
    test_official("ties");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return TEST_DONE();
}
