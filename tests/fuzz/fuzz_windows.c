/* tests/fuzz/fuzz_windows.c: a training-windows file (core/qa/windows.h windows_map). The key
 * the reader is asked for is the one in the file's header (so the fuzzer gets past the key
 * check to the sizes), or a fixed one for a file too short to have it. A mapped file must
 * hold arrays the trainer can use: every element readable and every gold position inside its
 * window (the span loss asserts it; token ids and types are checked by bert_forward against
 * the model, so any value is allowed here), and every answer type, when the file has them, one
 * of the type head's (the type loss indexes its logits with it). */
#include <string.h>

#include "core/qa/windows.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char key[HASH_HEX];
    memset(key, '0', sizeof key);
    key[HASH_HEX - 1] = '\0';
    if (size >= 64) memcpy(key, data + 32, 32); /* the header's key field */
    WindowsMap *m = NULL;
    QaData d;
    if (windows_map(fuzz_file(0, data, size), key, &m, &d) != 0) {
        FUZZ_CHECK(m == NULL, "a refused file leaves *out NULL");
        return 0;
    }
    FUZZ_CHECK(d.n >= 0 && d.T > 0, "%d windows of %d tokens", d.n, d.T);
    volatile int64_t sum = 0;
    for (size_t i = 0; i < (size_t)d.n * (size_t)d.T; i++)
        sum += (int64_t)d.ids[i] + d.types[i] + d.mask[i]; /* touches every page: the map covers it */
    for (int w = 0; w < d.n; w++)
        FUZZ_CHECK(d.start[w] >= 0 && d.start[w] < d.T && d.end[w] >= 0 && d.end[w] < d.T,
                   "window %d: gold [%d, %d] of %d tokens", w, d.start[w], d.end[w], d.T);
    for (int w = 0; d.answer_type && w < d.n; w++)
        FUZZ_CHECK(d.answer_type[w] >= 0 && d.answer_type[w] < NQ_N_TYPES,
                   "window %d: answer type %d", w, d.answer_type[w]);
    (void)sum;
    windows_unmap(m);
    return 0;
}
