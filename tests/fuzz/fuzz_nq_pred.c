/* tests/fuzz/fuzz_nq_pred.c: Natural Questions predictions.json (core/qa/nq_metric.h
 * nq_predictions_load), then written back and read again: what was read must survive the
 * round trip exactly (ids as 64-bit integers, spans, yes/no, scores). */
#include <math.h>
#include <string.h>

#include "core/qa/nq_metric.h"
#include "tests/fuzz/fuzz.h"

static int same_span(const NqSpan *a, const NqSpan *b) {
    return a->start_token == b->start_token && a->end_token == b->end_token;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    NqPredictions *p = NULL, *q = NULL;
    if (nq_predictions_load(fuzz_file(0, data, size), &p) != 0) return 0;
    FUZZ_CHECK(p->n >= 0 && (p->p || p->n == 0), "%d predictions", p->n);
    char path[] = "/tmp/fuzz-nq-pred-XXXXXX";
    int fd = mkstemp(path);
    FUZZ_CHECK(fd >= 0, "temporary file");
    close(fd);
    FUZZ_CHECK(nq_predictions_write(p, path) == 0, "write back");
    FUZZ_CHECK(nq_predictions_load(path, &q) == 0, "read back");
    unlink(path);
    FUZZ_CHECK(q->n == p->n, "%d predictions read back as %d", p->n, q->n);
    for (int i = 0; i < p->n; i++) {
        const NqPrediction *a = &p->p[i], *b = &q->p[i];
        FUZZ_CHECK(a->example_id == b->example_id, "prediction %d: id", i);
        FUZZ_CHECK(same_span(&a->label.long_answer, &b->label.long_answer), "prediction %d: long", i);
        FUZZ_CHECK(a->label.n_short == b->label.n_short, "prediction %d: short count", i);
        for (int s = 0; s < a->label.n_short; s++)
            FUZZ_CHECK(same_span(&a->label.short_answers[s], &b->label.short_answers[s]),
                       "prediction %d: short %d", i, s);
        FUZZ_CHECK(a->label.yes_no == b->label.yes_no, "prediction %d: yes/no", i);
        FUZZ_CHECK((isnan(a->long_score) && isnan(b->long_score)) || a->long_score == b->long_score,
                   "prediction %d: long score %.17g read back as %.17g", i, a->long_score,
                   b->long_score);
        FUZZ_CHECK((isnan(a->short_score) && isnan(b->short_score)) ||
                       a->short_score == b->short_score,
                   "prediction %d: short score %.17g read back as %.17g", i, a->short_score,
                   b->short_score);
    }
    nq_predictions_free(q);
    nq_predictions_free(p);
    return 0;
}
