/* tests/test.h: the tiny harness every test program uses.
 *
 * CHECK(cond, fmt, ...)       counts a pass or prints the failure with file:line.
 * CHECK_CLOSE(a, b, tol, ...) passes when |a-b| <= tol * max(1, |a|, |b|).
 * SKIP(fmt, ...)              prints "skipped: ..." (a missing fixture never passes silently).
 * TEST_DONE()                 prints "tests: N passed, N failed" and returns the exit code.
 * Header-only on purpose: each test is one C file plus this header. */
#ifndef QAPRUNE_TEST_H
#define QAPRUNE_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_passed, test_failed, test_skipped;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (cond) {                                                           \
            test_passed++;                                                    \
        } else {                                                              \
            test_failed++;                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);              \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

static inline int test_close(double a, double b, double tol) {
    double scale = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    if (scale < 1.0) scale = 1.0;
    return !(fabs(a - b) > tol * scale); /* NaN fails */
}

#define CHECK_CLOSE(a, b, tol, ...)                                           \
    do {                                                                      \
        double ca_ = (a), cb_ = (b);                                          \
        if (test_close(ca_, cb_, (tol))) {                                    \
            test_passed++;                                                    \
        } else {                                                              \
            test_failed++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %.9g vs %.9g (tol %g): ", __FILE__,  \
                    __LINE__, ca_, cb_, (double)(tol));                       \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

#define SKIP(...)                                                             \
    do {                                                                      \
        test_skipped++;                                                       \
        printf("skipped: ");                                                  \
        printf(__VA_ARGS__);                                                  \
        putchar('\n');                                                        \
    } while (0)

#define TEST_DONE()                                                           \
    (printf("tests: %d passed, %d failed%s\n", test_passed, test_failed,      \
            test_skipped ? " (some skipped, see above)" : ""),                \
     test_failed ? 1 : 0)

/* names[0..n) joined by sep into buf (cap bytes, truncated); returns buf. For checking that a
 * name list's hand-written text (e.g. STRATEGY_NAMES_TEXT) still says what the list holds. */
static inline char *test_join(const char *const *names, int n, const char *sep, char *buf,
                              size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i ? sep : "", names[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    return buf;
}

/* The CLI under test: $SWEEP_BIN, else bin/sweep (tests run from the project root). */
static inline const char *test_sweep_bin(void) {
    const char *s = getenv("SWEEP_BIN");
    return s && *s ? s : "bin/sweep";
}

#endif
