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
#include "core/model/bert.h"
#include "core/text/tokenizer.h"
#include "tests/test.h"

#define SQUAD_DEV "../shared/data/squad/dev-v2.0.json"
#define BERT_VOCAB "../shared/data/bert-vocab/vocab.txt"
#define GPT2 "../shared/data/gpt2-bpe"

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
    Tokenizer *v = NULL;
    SquadSet *set = NULL;
    Features *f = NULL;
    Predictions *p = NULL;
    TokenizerFiles tf = {.vocab = write_tmp("vocab.txt", vocab_text)};
    CHECK(tokenizer_load(&tf, &v) == 0, "%s", qa_last_error());
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
    tokenizer_free(v);
}

/* The RoBERTa format with a byte-level BPE: <s> q </s></s> c </s> <pad>..., all types 0,
 * the question without its leading spaces, 4 special tokens per window, position ids as
 * transformers computes them, spans without the tokens' leading spaces. Vocabulary: the 256
 * byte symbols at ids 0-255 (GPT-2's map), then <s> <pad> </s> <unk>, then whole words. */
static void test_roberta_windows(void) {
    static const char *const words[] = {"<s>", "<pad>", "</s>", "<unk>", "Who", "Ġis", "Ġit",
                                        "ĠBob", "ĠAl", "ĠCy", "Wh", "Ġi", "ĠB", "ĠBo", "ĠA",
                                        "ĠC", NULL};
    char vocab[8192] = "{";
    for (int x = 0, m = 0; x < 256; x++) {
        int printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
        int cp = printable ? x : 256 + m++;
        char u[8] = {0};
        if (cp == '"' || cp == '\\') u[0] = '\\', u[1] = (char)cp;
        else if (cp < 0x80) u[0] = (char)cp;
        else u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F));
        snprintf(vocab + strlen(vocab), sizeof vocab - strlen(vocab), "\"%s\": %d, ", u, x);
    }
    for (int i = 0; words[i]; i++)
        snprintf(vocab + strlen(vocab), sizeof vocab - strlen(vocab), "%s\"%s\": %d", i ? ", " : "",
                 words[i], 256 + i);
    strcat(vocab, "}");
    char merges[] = "#version: 0.2\nW h\nWh o\nĠ i\nĠi s\nĠi t\nĠ B\nĠB o\nĠBo b\nĠ A\nĠA l\n"
                    "Ġ C\nĠC y\n";
    write_tmp("r_vocab.json", vocab);
    write_tmp("r_merges.txt", merges);
    Tokenizer *v = NULL;
    SquadSet *set = NULL;
    Features *f = NULL;
    char vp[256], mp[256];
    snprintf(vp, sizeof vp, "%s/r_vocab.json", tmp_dir);
    snprintf(mp, sizeof mp, "%s/r_merges.txt", tmp_dir);
    TokenizerFiles tf = {.vocab = vp, .merges = mp, .model_type = "roberta"};
    int rc = tokenizer_load(&tf, &v);
    CHECK(rc == 0, "%s", qa_last_error());
    CHECK(squad_load(write_tmp("r.json",
        "{\"data\": [{\"paragraphs\": [{\"context\": \"Bob is Al is Cy is Bob\","
        "\"qas\": [{\"id\": \"r1\", \"question\": \"  Who is it\", \"answers\": [{\"text\": \"Cy\", "
        "\"answer_start\": 13}]}]}]}]}"), &set) == 0, "%s", qa_last_error());
    FeatureOpts fo = {.max_seq_len = 12, .doc_stride = 2, .max_query_len = 4};
    CHECK(v && set && features_build(set, v, &fo, &f) == 0, "build: %s", qa_last_error());
    if (!f) goto cleanup;
    /* ids: <s>=256 <pad>=257 </s>=258; Who=260 Ġis=261 Ġit=262 ĠBob=263 ĠAl=264 ĠCy=265;
     * "Bob" at the context's start has no space: B o b bytes 66 111 98 (no merge "B o") */
    int B = 'B', o = 'o', b = 'b';
    /* question: Who Ġis Ġit (3) -> 12 - 3 - 4 = 5 context tokens per window;
     * context: B o b Ġis ĠAl Ġis ĠCy Ġis ĠBob (9): windows start 0 2 4 */
    CHECK(f->n == 3, "windows: %d", f->n);
    const int32_t row0[12] = {256, 260, 261, 262, 258, 258, B, o, b, 261, 264, 258};
    CHECK(!memcmp(f->input_ids, row0, sizeof row0), "window 0: <s> q </s></s> c </s>");
    const int32_t row2[12] = {256, 260, 261, 262, 258, 258, 264, 261, 265, 261, 263, 258};
    CHECK(!memcmp(f->input_ids + 24, row2, sizeof row2), "window 2 ids");
    int types = 0;
    for (int i = 0; i < f->n * f->seq; i++) types += f->type_ids[i] != 0;
    CHECK(types == 0, "RoBERTa token types are all 0 (%d are not)", types);
    /* "Cy" is context token 6 -> window 2 (start 4) position 6 + 2 = 8; its span has no space */
    CHECK(f->start_pos[2] == 8 && f->end_pos[2] == 8 && f->start_pos[0] == 0, "gold positions");
    CHECK(f->ctx_start[24 + 8] == 13 && f->ctx_end[24 + 8] == 15, "span of ĠCy: %d-%d",
          f->ctx_start[24 + 8], f->ctx_end[24 + 8]);
    /* a shorter window gets padding, mask 0, and position id padding_idx there */
    FeatureOpts fo2 = {.max_seq_len = 20, .doc_stride = 2, .max_query_len = 8};
    features_free(f);
    f = NULL;
    CHECK(features_build(set, v, &fo2, &f) == 0 && f->n == 1, "one window");
    if (!f) goto cleanup;
    CHECK(f->input_ids[15] == 258 && f->input_ids[16] == 257 && f->mask[15] == 1 &&
          f->mask[16] == 0, "padding after </s>");
    /* a tokenizer_config.json model_max_length below max_seq_len is an error */
    Tokenizer *short_tok = NULL;
    Features *none = NULL;
    tf.config = write_tmp("r_config.json", "{\"model_max_length\": 16}");
    CHECK(tokenizer_load(&tf, &short_tok) == 0 && features_build(set, short_tok, &fo2, &none) &&
              !none && strstr(qa_last_error(), "max_seq_len 20 exceeds the tokenizer's "
                              "model_max_length 16"), "model_max_length: %s", qa_last_error());
    tokenizer_free(short_tok);
    int32_t pos[20]; /* a config.json with pad_token_id 257 (this vocabulary's <pad>) */
    bert_position_ids(pos, f->input_ids, 1, 20, 258);
    CHECK(pos[0] == 258 && pos[15] == 273 && pos[16] == 257 && pos[19] == 257,
          "positions %d %d %d", pos[0], pos[15], pos[16]);
cleanup:
    features_free(f);
    squad_free(set);
    tokenizer_free(v);
}

/* The real dev set: run_squad.py makes 12,232 windows (384/128/64; counted by a throwaway
 * Python reimplementation); logits that point at the gold windows' spans (or [CLS]) must
 * decode to the gold answers, up to answers that do not end on token boundaries. */
static void test_real_dev(const char *label, const TokenizerFiles *tf, int want_windows,
                          double min_exact) {
    if (access(SQUAD_DEV, R_OK) || access(tf->vocab, R_OK)) {
        SKIP("%s or %s not found: no test on the real dev set", SQUAD_DEV, tf->vocab);
        return;
    }
    SquadSet *set = NULL;
    Tokenizer *v = NULL;
    Features *f = NULL;
    Predictions *p = NULL;
    FeatureOpts fo = FEATURE_OPTS_DEFAULT;
    DecodeOpts d = DECODE_OPTS_DEFAULT;
    if (squad_load(SQUAD_DEV, &set) || tokenizer_load(tf, &v) ||
        features_build(set, v, &fo, &f)) {
        CHECK(0, "%s", qa_last_error());
        goto cleanup;
    }
    printf("%s: %d windows of dev-v2.0\n", label, f->n);
    CHECK(want_windows < 0 || f->n == want_windows, "windows %d, run_squad.py makes %d", f->n,
          want_windows);
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
    printf("%s: oracle decode of dev-v2.0: HasAns exact %.3f f1 %.3f, NoAns exact %.3f\n",
           label, s.has_ans_exact, s.has_ans_f1, s.no_ans_exact);
    CHECK(s.no_ans_exact == 100.0 && s.has_ans_f1 > 99.0 && s.has_ans_exact > min_exact,
          "oracle decode: HasAns exact %.3f f1 %.3f, NoAns %.3f", s.has_ans_exact, s.has_ans_f1,
          s.no_ans_exact);
    free(sl);
    free(el);
cleanup:
    predictions_free(p);
    features_free(f);
    tokenizer_free(v);
    squad_free(set);
}

int main(void) {
    if (!mkdtemp(tmp_dir)) {
        CHECK(0, "mkdtemp");
        return TEST_DONE();
    }
    test_reader_errors();
    test_windows_and_decode();
    test_roberta_windows();
    TokenizerFiles wp = {.vocab = BERT_VOCAB};
    test_real_dev("wordpiece", &wp, 12232, 97.0);
    /* GPT-2's vocabulary has no <s> </s> <pad>: its one special token stands for all three */
    TokenizerFiles bpe = {.vocab = GPT2 "/vocab.json", .merges = GPT2 "/merges.txt",
                          .special_map = write_tmp("special_tokens_map.json",
                              "{\"cls_token\": \"<|endoftext|>\", \"sep_token\": "
                              "\"<|endoftext|>\", \"pad_token\": \"<|endoftext|>\"}"),
                          .model_type = "roberta"};
    test_real_dev("bpe (roberta format)", &bpe, -1, 97.0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return TEST_DONE();
}
