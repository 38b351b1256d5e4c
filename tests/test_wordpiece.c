/* tests/test_wordpiece.c: the WordPiece tokenizer against the reference BERT tokenizer.
 * Expected outputs were checked by hand and agree with a throwaway Python reimplementation
 * of google-research/bert tokenization.py (which also agrees with bin/sweep tokenize on all
 * 80,742 contexts, questions and answers of the SQuAD dev sets). A tiny vocabulary written
 * here tests pieces and spans everywhere; the real BERT vocabulary (../shared) is skipped
 * when absent. The last part runs the tokenize CLI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util/error.h"
#include "core/text/wordpiece.h"
#include "tests/test.h"

#define BERT_VOCAB "../shared/data/bert-vocab/vocab.txt"

/* Tokenizes text and returns the tokens joined by spaces (static buffer), spans in *spans
 * as "start-end" joined by spaces when spans is not NULL. */
static const char *tokens_of(const WpVocab *v, const char *text, char *spans) {
    static char buf[8192];
    WpToken *t = NULL;
    int n = 0;
    size_t k = 0, ks = 0;
    buf[0] = '\0';
    if (spans) spans[0] = '\0';
    if (wp_tokenize(v, text, strlen(text), &t, &n)) return "(error)";
    for (int i = 0; i < n && k < sizeof buf - 64; i++) {
        k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", i ? " " : "", wp_token_str(v, t[i].id));
        if (spans) ks += (size_t)sprintf(spans + ks, "%s%d-%d", i ? " " : "", t[i].start, t[i].end);
    }
    free(t);
    return buf;
}

static void check_tokens(const WpVocab *v, const char *text, const char *want) {
    const char *got = tokens_of(v, text, NULL);
    CHECK(!strcmp(got, want), "tokenize(\"%s\"):\n  got  %s\n  want %s", text, got, want);
}

static const char *tiny_vocab[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "##a", "hello",
    "world", ",", "!", "cafe", "naive", "東", "京", "a", "##b", "ab", "foo", "##bar", "'",
    "s", "x", NULL,
};

static WpVocab *load_tiny(void) {
    char path[] = "/tmp/qaprune_vocab_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    WpVocab *v = NULL;
    if (!f) return NULL;
    for (int i = 0; tiny_vocab[i]; i++) fprintf(f, "%s\n", tiny_vocab[i]);
    fclose(f);
    CHECK(wp_vocab_load(path, &v) == 0, "load tiny vocab: %s", qa_last_error());
    unlink(path);
    return v;
}

static void test_tiny(void) {
    WpVocab *v = load_tiny();
    if (!v) return;
    WpSpecial sp = wp_special(v);
    CHECK(wp_vocab_size(v) == 25 && sp.pad == 0 && sp.unk == 1 && sp.cls == 2 && sp.sep == 3 &&
          sp.mask == 4, "size and special ids");
    CHECK(wp_token_id(v, "##aff") == 6 && wp_token_id(v, "aff") == -1, "token ids");
    CHECK(wp_token_str(v, 9) && !strcmp(wp_token_str(v, 9), "hello") && !wp_token_str(v, 25),
          "token strings");
    CHECK(wp_vocab_lowercase(v), "no uppercase entries: uncased");
    char spans[512];
    /* "Naïve CAFÉ": lowercased, accents stripped for lookup; spans are bytes of the input */
    const char *got = tokens_of(v, "Na\xc3\xafve CAF\xc3\x89, Unaffable!", spans);
    CHECK(!strcmp(got, "naive cafe , un ##aff ##able !"), "got %s", got);
    CHECK(!strcmp(spans, "0-6 7-12 12-13 14-16 16-19 19-23 23-24"), "spans %s", spans);
    /* greedy longest match: "aba" = ab ##a, not a ##b ##a; "abx" has no ##x: [UNK] */
    check_tokens(v, "aba abx", "ab ##a [UNK]");
    /* zero-width space (Cf) is dropped, so the word is "foobar"; U+00A0 splits */
    got = tokens_of(v, "foo\xe2\x80\x8b" "bar foo\xc2\xa0" "x", spans);
    CHECK(!strcmp(got, "foo ##bar foo x"), "got %s", got);
    CHECK(!strcmp(spans, "0-3 6-9 10-13 15-16"), "spans %s", spans);
    check_tokens(v, "\x01hello\x7f\tworld\r\n", "hello world"); /* controls dropped */
    check_tokens(v, "東京x", "東 京 x");                         /* CJK are words */
    check_tokens(v, "x's", "x ' s");
    check_tokens(v, "", "");
    char long_word[130];
    memset(long_word, 'a', 101);
    long_word[101] = '\0';
    check_tokens(v, long_word, "[UNK]"); /* over 100 characters */
    long_word[100] = '\0';
    got = tokens_of(v, long_word, NULL);
    CHECK(!strncmp(got, "a ##a ##a", 9) && strlen(got) == 1 + 99 * 4, "100 a's: pieces");
    wp_vocab_free(v);
}

static void test_bert_vocab(void) {
    WpVocab *v = NULL;
    if (access(BERT_VOCAB, R_OK)) {
        SKIP("%s not found: no test on the real BERT vocabulary", BERT_VOCAB);
        return;
    }
    CHECK(wp_vocab_load(BERT_VOCAB, &v) == 0, "%s", qa_last_error());
    if (!v) return;
    WpSpecial sp = wp_special(v);
    CHECK(wp_vocab_size(v) == 30522 && sp.pad == 0 && sp.unk == 100 && sp.cls == 101 &&
          sp.sep == 102 && sp.mask == 103, "BERT sizes and special ids");
    CHECK(wp_vocab_lowercase(v), "the uncased vocabulary is detected as uncased");
    check_tokens(v, "Hello, World!", "hello , world !");
    check_tokens(v, "na\xc3\xafve caf\xc3\xa9 R\xc3\xa9sum\xc3\xa9 \xc3\x89" "COLE", "naive cafe resume ecole");
    check_tokens(v, "don't stop-believing... (ok) $5 ^_^ `x`",
                 "don ' t stop - believing . . . ( ok ) $ 5 ^ _ ^ ` x `");
    check_tokens(v, "\xe6\x9d\xb1\xe4\xba\xac\xe3\x82\xbf\xe3\x83\xaf\xe3\x83\xbc",
                 "\xe6\x9d\xb1 \xe4\xba\xac \xe3\x82\xbf ##\xe3\x83\xaf ##\xe3\x83\xbc"); /* 東京タワー */
    check_tokens(v, "I \xe2\x9d\xa4 NY \xf0\x9f\x98\x80", "i [UNK] ny [UNK]");          /* ❤ 😀 */
    check_tokens(v, "qxzqxz unaffable", "q ##x ##z ##q ##x ##z una ##ffa ##ble");
    check_tokens(v, "\xe2\xb1\xa5\xe2\xb1\xa5", "[UNK]");                                /* ⱥⱥ */
    check_tokens(v, "\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf ##\xce\xb4 ##\xce\xbf\xcf\x82"); /* ΟΔΟΣ */
    check_tokens(v, "\xc4\xb0stanbul", "istanbul");                                      /* İ */
    check_tokens(v, "[CLS] x", "[ cl ##s ] x");
    check_tokens(v, "x\xe2\x80\xa8y \xc2\x85z", "x y z"); /* U+2028 splits, U+0085 is dropped */
    check_tokens(v, "ab\xff" "cd", "abc ##d");           /* an invalid byte is dropped */
    wp_vocab_free(v);
}

static void test_cli(void) {
    if (access(BERT_VOCAB, R_OK)) {
        SKIP("%s not found: no tokenize CLI test", BERT_VOCAB);
        return;
    }
    char in[] = "/tmp/qaprune_tok_XXXXXX", cmd[512], line[256];
    int fd = mkstemp(in);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) return;
    fputs("Hello, World!\nUnaffable caf\xc3\xa9\n", f);
    fclose(f);
    const char *want[2][2] = {{"7592 1010 2088 999", "14477 20961 3468 7668"},
                              {"hello , world !", "una ##ffa ##ble cafe"}};
    for (int mode = 0; mode < 2; mode++) {
        snprintf(cmd, sizeof cmd, "%s tokenize --vocab %s %s < %s 2>/dev/null", test_sweep_bin(),
                 BERT_VOCAB, mode ? "--tokens" : "", in);
        FILE *p = popen(cmd, "r");
        for (int i = 0; p && i < 2; i++) {
            if (!fgets(line, sizeof line, p)) line[0] = '\0';
            line[strcspn(line, "\n")] = '\0';
            CHECK(!strcmp(line, want[mode][i]), "tokenize CLI line %d: '%s' want '%s'", i, line,
                  want[mode][i]);
        }
        CHECK(p && pclose(p) == 0, "tokenize CLI exit status");
    }
    unlink(in);
}

int main(void) {
    test_tiny();
    test_bert_vocab();
    test_cli();
    return TEST_DONE();
}
