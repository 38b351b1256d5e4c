/* tests/fuzz/fuzz_tokenizer_json.c: a Hugging Face tokenizer.json read alone (core/text/
 * tokenizer.h tokenizer_load: model.type BPE or WordPiece, model.vocab, model.merges,
 * added_tokens, normalizer, pre_tokenizer, post_processor). Once read, a fixed text encodes
 * within the vocabulary (tok_check.h). */
#include "tests/fuzz/tok_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TokenizerFiles f = {.tokenizer_json = fuzz_file(0, data, size)};
    Tokenizer *t = NULL;
    if (tokenizer_load(&f, &t) != 0) return 0;
    tok_check(t);
    tokenizer_free(t);
    return 0;
}
