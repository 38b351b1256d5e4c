/* tests/fuzz/tok_check.h: what every tokenizer promises once its files are read (core/text/
 * tokenizer.h), shared by the harnesses of the BPE and tokenizer.json readers: a fixed text
 * encodes with every id inside the vocabulary and a string for it, and every token's byte span
 * inside the text, in order. */
#ifndef QAPRUNE_FUZZ_TOK_CHECK_H
#define QAPRUNE_FUZZ_TOK_CHECK_H

#include "core/text/tokenizer.h"
#include "tests/fuzz/fuzz.h"

static const char TOK_TEXT[] =
    " Lafel was born in the city of Bupiva in 1962. Where?  \xc3\x89mile's caf\xc3\xa9 "
    "\xe4\xb8\xad\xe6\x96\x87 <s> unaffable</s> \xce\xa3\xce\xbf\xcf\x86\xce\xaf\xce\xb1\xcf\x82 "
    "\xc4\xb0stanbul 12,345 x\xef\xbf\xbdy\tz\n\xff\xfe broken \xe2\x82";

static inline void tok_check(Tokenizer *t) {
    int size = tokenizer_vocab_size(t);
    FUZZ_CHECK(size > 0, "vocabulary of %d", size);
    TokSpecial sp = tokenizer_special(t);
    int ids[] = {sp.cls, sp.sep, sp.pad, sp.unk, sp.mask};
    for (int i = 0; i < 5; i++)
        FUZZ_CHECK(ids[i] >= -1 && ids[i] < size, "special %d is %d of %d", i, ids[i], size);
    TextToken *tok = NULL;
    int n = -1;
    if (tokenizer_encode(t, TOK_TEXT, sizeof TOK_TEXT - 1, &tok, &n) != 0) return;
    FUZZ_CHECK(n >= 0 && (tok || n == 0), "encode gave %d tokens", n);
    int last_start = 0;
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(tok[i].id >= 0 && tok[i].id < size, "token %d: id %d of %d", i, tok[i].id,
                   size);
        FUZZ_CHECK(tokenizer_token_str(t, tok[i].id), "token %d: id %d has no string", i,
                   tok[i].id);
        FUZZ_CHECK(tok[i].start >= last_start && tok[i].start <= tok[i].end &&
                       tok[i].end <= (int)sizeof TOK_TEXT - 1,
                   "token %d: span [%d, %d) after %d", i, tok[i].start, tok[i].end, last_start);
        last_start = tok[i].start;
    }
    free(tok);
}

#endif
