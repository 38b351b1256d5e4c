/* tests/fuzz/fuzz.h: what every libFuzzer harness shares.
 *
 * One harness per reader of outside data: tests/fuzz/fuzz_NAME.c defines
 * LLVMFuzzerTestOneInput(data, size), hands the bytes to the reader as a file (the readers
 * take paths, so the bytes go into an in-memory file, see fuzz_file) and checks what the
 * reader promises on success (FUZZ_CHECK). A reader may refuse an input with QA_ERR and a
 * message; it may not crash, leak, read out of bounds, overflow, or return data that breaks
 * its own contract. Seeds live in tests/fuzz/corpus/NAME/ (small files: the repository's
 * fixtures cut down, hand-made edge cases, and every input that once crashed, named
 * regress-WHAT); the Makefile finds harness and corpus by that name alone, so a new reader
 * gets its harness by adding fuzz_NAME.c and corpus/NAME/, nothing else. Harnesses: config
 * (qaprune.json settings), grid, nq (NQ JSON lines), nq_pred (NQ predictions.json),
 * predictions (SQuAD), result (a point's result file), safetensors, squad, vocab (WordPiece),
 * bpe (vocab.json + merges.txt), tokenizer_json, windows (the window cache).
 *
 *   make fuzz                       every harness for FUZZ_SECONDS (60) each, one at a time
 *   make fuzz-smoke                 every harness for 3 s (run at the end of make test)
 *   make fuzz FUZZ_ONLY=squad       one harness
 * Built with clang -fsanitize=fuzzer,address,undefined into build/fuzz/; new inputs the
 * fuzzer finds go to build/fuzz/corpus/NAME/, crashes to build/fuzz/artifacts/. The keys and
 * tokens of a format go in tests/fuzz/dict/NAME.dict (libFuzzer dictionary), when it has any. */
#ifndef QAPRUNE_FUZZ_H
#define QAPRUNE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h> /* memfd_create (the Makefile defines _GNU_SOURCE) */
#include <unistd.h>

/* Aborts (a finding) when a reader broke its promise; the message says which one. */
#define FUZZ_CHECK(cond, ...)                                                     \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "fuzz check failed %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
            abort();                                                              \
        }                                                                         \
    } while (0)

enum { FUZZ_SLOTS = 4 };

/* Returns a path ("/proc/self/fd/N", a regular file in memory) whose contents are now
 * data[0..n); slot 0..FUZZ_SLOTS-1 picks one of several files for readers that take more than
 * one. The path is borrowed and stays valid for the process; the next call on the same slot
 * replaces the contents. Aborts when no memory file can be made (the harness cannot run). */
static inline const char *fuzz_file(int slot, const uint8_t *data, size_t n) {
    static int fds[FUZZ_SLOTS] = {-1, -1, -1, -1};
    static char paths[FUZZ_SLOTS][32];
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("qaprune-fuzz", 0);
        FUZZ_CHECK(fds[slot] >= 0, "memfd_create");
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    FUZZ_CHECK(ftruncate(fds[slot], 0) == 0, "ftruncate");
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(fds[slot], data + done, n - done, (off_t)done);
        FUZZ_CHECK(w > 0, "pwrite");
        done += (size_t)w;
    }
    return paths[slot];
}

/* Splits data at its first NUL byte: [0, k) is returned in *n0, the rest after the NUL in
 * *rest / *n1 (NULL, 0 when there is no NUL). For harnesses that feed two files. */
static inline void fuzz_split(const uint8_t *data, size_t n, size_t *n0, const uint8_t **rest,
                       size_t *n1) {
    size_t k = 0;
    while (k < n && data[k]) k++;
    *n0 = k;
    *rest = k < n ? data + k + 1 : NULL;
    *n1 = k < n ? n - k - 1 : 0;
}

#endif
