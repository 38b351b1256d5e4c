/* tests/fuzz/fuzz_squad.c: SQuAD JSON (core/qa/squad.h squad_load), then the windows of what
 * loaded (core/qa/features.h features_build) with a small fixed vocabulary, as a split is
 * read for training and scoring. */
#include <string.h>

#include "core/qa/features.h"
#include "core/qa/squad.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz.h"

/* A vocabulary with the special tokens, some words and word pieces of the fixtures. */
static const char VOCAB[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nof\nin\nis\nwas\nborn\nwhere\nwhat\nwho\n"
    "a\nb\nc\ne\ni\nl\nn\no\nr\ns\nt\n##a\n##e\n##i\n##l\n##n\n##o\n##r\n##s\n##t\n"
    "1\n2\n9\n##1\n##2\n##9\n.\n,\n?\n\"\n\xc3\xa9\n\xe4\xb8\xad\n";

static Tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *path = fuzz_file(1, (const uint8_t *)VOCAB, sizeof VOCAB - 1);
    TokenizerFiles files = {.vocab = path, .model_type = "bert"};
    FUZZ_CHECK(tokenizer_load(&files, &tok) == 0, "the harness's vocabulary loads");
    return 0;
}

/* What squad.h promises of a loaded set. */
static void check_set(const SquadSet *set) {
    for (int i = 0; i < set->n_questions; i++) {
        const SquadQuestion *q = &set->questions[i];
        FUZZ_CHECK(q->id && q->question && q->context, "question %d: strings", i);
        FUZZ_CHECK(q->paragraph >= 0 && q->paragraph < set->n_paragraphs &&
                   q->context == set->contexts[q->paragraph] &&
                   q->context_len == (int)strlen(q->context), "question %d: context", i);
        for (int a = 0; a < q->n_answers; a++) {
            const SquadAnswer *ans = &q->answers[a];
            if (ans->start < 0) {
                FUZZ_CHECK(ans->start == -1 && ans->end == -1, "question %d answer %d", i, a);
                continue;
            }
            size_t len = strlen(ans->text);
            FUZZ_CHECK(ans->end - ans->start == (int)len && ans->end <= q->context_len &&
                       !memcmp(q->context + ans->start, ans->text, len),
                       "question %d answer %d: span [%d, %d) of a %d-byte context", i, a,
                       ans->start, ans->end, q->context_len);
        }
    }
}

/* What features.h promises of the windows. */
static void check_features(const Features *f, const SquadSet *set, int seq) {
    FUZZ_CHECK(f->seq == seq && f->n_questions == set->n_questions, "shape");
    FUZZ_CHECK(f->first_window[0] == 0 && f->first_window[f->n_questions] == f->n, "windows");
    for (int q = 0; q < f->n_questions; q++)
        FUZZ_CHECK(f->first_window[q] <= f->first_window[q + 1], "question %d windows", q);
    for (int w = 0; w < f->n; w++) {
        FUZZ_CHECK(f->start_pos[w] >= 0 && f->start_pos[w] <= f->end_pos[w] &&
                   f->end_pos[w] < seq, "window %d: gold [%d, %d]", w, f->start_pos[w],
                   f->end_pos[w]);
        FUZZ_CHECK(f->question[w] >= 0 && f->question[w] < set->n_questions, "window %d", w);
        int ctx_len = set->questions[f->question[w]].context_len;
        for (int t = 0; t < seq; t++) {
            size_t i = (size_t)w * seq + t;
            FUZZ_CHECK(f->input_ids[i] >= 0 && f->input_ids[i] < tokenizer_vocab_size(tok),
                       "window %d token %d: id %d", w, t, f->input_ids[i]);
            FUZZ_CHECK(f->mask[i] == 0 || f->mask[i] == 1, "mask");
            FUZZ_CHECK(f->type_ids[i] == 0 || f->type_ids[i] == 1, "type");
            FUZZ_CHECK(f->ctx_start[i] < 0 || (f->ctx_start[i] < f->ctx_end[i] &&
                                               f->ctx_end[i] <= ctx_len),
                       "window %d token %d: span [%d, %d) of %d bytes", w, t, f->ctx_start[i],
                       f->ctx_end[i], ctx_len);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SquadSet *set = NULL;
    if (squad_load(fuzz_file(0, data, size), &set) == 0) {
        check_set(set);
        FeatureOpts fo = {.max_seq_len = 24, .doc_stride = 6, .max_query_len = 8};
        Features *f = NULL;
        FUZZ_CHECK(features_build(set, tok, &fo, &f) == 0, "features: %s", qa_last_error());
        check_features(f, set, fo.max_seq_len);
        features_free(f);
    }
    squad_free(set);
    return 0;
}
