/* tests/fuzz/fuzz_predictions.c: predictions.json and na_prob.json (core/qa/predictions.h
 * predictions_load), then scored against a small fixed dev set as `sweep score` does
 * (squad_evaluate, squad_scores_json). The input is predictions.json, optionally followed by
 * a NUL byte and na_prob.json. */
#include <string.h>

#include "core/qa/predictions.h"
#include "core/qa/squad.h"
#include "core/qa/squad_metric.h"
#include "tests/fuzz/fuzz.h"

/* Three questions: two answerable (one with two gold answers), one not. */
static const char DEV[] =
    "{\"version\": \"v2.0\", \"data\": [{\"title\": \"t\", \"paragraphs\": [{"
    "\"context\": \"Lafel was born in the city of Bupiva in 1962.\", \"qas\": ["
    "{\"id\": \"q1\", \"question\": \"Where was Lafel born?\", \"answers\": ["
    "{\"text\": \"Bupiva\", \"answer_start\": 30}, "
    "{\"text\": \"the city of Bupiva\", \"answer_start\": 18}]},"
    "{\"id\": \"q2\", \"question\": \"When?\", \"answers\": [{\"text\": \"1962\", \"answer_start\": 40}]},"
    "{\"id\": \"q3\", \"question\": \"Who?\", \"is_impossible\": true, \"answers\": []}]}]}]}";

static SquadSet *dev;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    FUZZ_CHECK(squad_load(fuzz_file(2, (const uint8_t *)DEV, sizeof DEV - 1), &dev) == 0,
               "the harness's dev set loads");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n0, n1;
    const uint8_t *na;
    fuzz_split(data, size, &n0, &na, &n1);
    const char *pred_path = fuzz_file(0, data, n0), *na_path = na ? fuzz_file(1, na, n1) : NULL;
    Predictions *p = NULL;
    if (predictions_load(pred_path, na_path, &p) == 0) {
        for (int i = 0; i < p->n; i++) FUZZ_CHECK(p->id[i] && p->text[i], "answer %d", i);
        for (int i = 0; i < p->n_na; i++) FUZZ_CHECK(p->na_id[i], "score %d", i);
        for (int i = 0; i < p->n && p->n <= 256; i++) /* a repeated id is kept once */
            for (int j = 0; j < i; j++) FUZZ_CHECK(strcmp(p->id[i], p->id[j]), "id %d twice", i);
        SquadScores s;
        if (squad_evaluate(dev, p, SQUAD_NA_PROB_THRESH, &s) == 0) {
            FUZZ_CHECK(s.total == 3 && s.f1 >= 0 && s.f1 <= 100 && s.exact >= 0 &&
                       s.exact <= 100, "scores: total %d, f1 %g, exact %g", s.total, s.f1,
                       s.exact);
            char *json = squad_scores_json(&s);
            FUZZ_CHECK(json, "the scores format");
            free(json);
        }
    }
    predictions_free(p);
    return 0;
}
