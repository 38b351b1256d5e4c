/* tests/fuzz/fuzz_nq.c: Natural Questions JSON lines (core/qa/nq.h nq_reader_open,
 * nq_reader_next), every example of the file read in full; what nq.h promises of each:
 * candidates and answer spans inside the document, candidate indices in range. */
#include "core/qa/nq.h"
#include "tests/fuzz/fuzz.h"

static void check_span(const NqSpan *s, int n_tokens, const char *what) {
    if (nq_span_is_null(s)) return;
    FUZZ_CHECK(s->start_token >= 0 && s->start_token <= s->end_token &&
               s->end_token <= n_tokens, "%s: tokens [%lld, %lld) of %d", what,
               (long long)s->start_token, (long long)s->end_token, n_tokens);
}

static void check_example(const NqExample *ex) {
    for (int t = 0; t < ex->n_tokens; t++) FUZZ_CHECK(ex->tokens[t], "token %d", t);
    for (int c = 0; c < ex->n_candidates; c++) {
        const NqCandidate *k = &ex->candidates[c];
        FUZZ_CHECK(k->start_token >= 0 && k->start_token <= k->end_token &&
                   k->end_token <= ex->n_tokens, "candidate %d", c);
    }
    for (int a = 0; a < ex->n_annotations; a++) {
        const NqLabel *l = &ex->annotations[a];
        FUZZ_CHECK(l->candidate_index >= -1 && l->candidate_index < ex->n_candidates,
                   "annotation %d: candidate %d of %d", a, l->candidate_index,
                   ex->n_candidates);
        check_span(&l->long_answer, ex->n_tokens, "long answer");
        for (int s = 0; s < l->n_short; s++) check_span(&l->short_answers[s], ex->n_tokens, "short");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    NqReader *r = NULL;
    if (nq_reader_open(fuzz_file(0, data, size), NQ_READ_ALL, &r) != 0) return 0;
    NqExample ex = {0};
    while (nq_reader_next(r, &ex) == 1) check_example(&ex);
    nq_example_clear(&ex);
    nq_reader_close(r);
    return 0;
}
