/* tests/fuzz/fuzz_vocab.c: a WordPiece vocab.txt (core/text/wordpiece.h wp_vocab_load), then a
 * fixed text tokenized with it, cased and uncased: every id in range, every span inside the
 * text. */
#include <string.h>

#include "core/text/wordpiece.h"
#include "tests/fuzz/fuzz.h"

static const char TEXT[] =
    "Lafel was born in the city of Bupiva in 1962. Where? \xc3\x89mile's caf\xc3\xa9 "
    "\xe4\xb8\xad\xe6\x96\x87 [CLS] unaffable \xce\xa3\xce\xbf\xcf\x86\xce\xaf\xce\xb1\xcf\x82 "
    "\xc4\xb0stanbul \xea\xb0\x80\xea\xb0\x81 x\xef\xbf\xbdy\tz\n";

static void check_tokens(const WpVocab *v) {
    WpToken *tok = NULL;
    int n = -1;
    FUZZ_CHECK(wp_tokenize(v, TEXT, sizeof TEXT - 1, &tok, &n) == 0 && tok && n >= 0,
               "tokenize");
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(tok[i].id >= 0 && tok[i].id < wp_vocab_size(v), "token %d: id %d of %d", i,
                   tok[i].id, wp_vocab_size(v));
        FUZZ_CHECK(tok[i].start >= 0 && tok[i].start < tok[i].end &&
                   tok[i].end <= (int)sizeof TEXT - 1, "token %d: span [%d, %d)", i,
                   tok[i].start, tok[i].end);
        FUZZ_CHECK(wp_token_str(v, tok[i].id), "token %d: string", i);
    }
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    WpVocab *v = NULL;
    if (wp_vocab_load(fuzz_file(0, data, size), &v) != 0) return 0;
    WpSpecial sp = wp_special(v);
    FUZZ_CHECK(sp.unk >= 0 && sp.unk < wp_vocab_size(v), "[UNK] is %d", sp.unk);
    for (int id = 0; id < wp_vocab_size(v); id++) {
        const char *s = wp_token_str(v, id);
        FUZZ_CHECK(s, "token %d has a string", id);
        int back = wp_token_id(v, s);
        FUZZ_CHECK(back >= 0 && !strcmp(wp_token_str(v, back), s), "token %d: \"%s\"", id, s);
    }
    check_tokens(v);
    wp_vocab_set_lowercase(v, !wp_vocab_lowercase(v));
    check_tokens(v);
    wp_vocab_free(v);
    return 0;
}
