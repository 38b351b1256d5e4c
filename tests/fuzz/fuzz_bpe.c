/* tests/fuzz/fuzz_bpe.c: a byte-level BPE tokenizer's vocab.json and merges.txt (core/text/
 * tokenizer.h tokenizer_load; core/text/bpe.c), as one input: the bytes before the first NUL
 * are vocab.json, the rest merges.txt. Once read, a fixed text encodes within the vocabulary
 * (tok_check.h). */
#include <string.h>

#include "tests/fuzz/tok_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t nv = nul ? (size_t)(nul - data) : size;
    const char *vocab = fuzz_file(0, data, nv);
    const char *merges = fuzz_file(1, nul ? nul + 1 : data + size, nul ? size - nv - 1 : 0);
    TokenizerFiles f = {.vocab = vocab, .merges = merges};
    Tokenizer *t = NULL;
    if (tokenizer_load(&f, &t) != 0) return 0;
    tok_check(t);
    tokenizer_free(t);
    return 0;
}
