/* core/text/text.h: the few Unicode text primitives shared by the tokenizer and the metric.
 *
 * Everything is built on libutf8proc (categories, bidi classes, case and decomposition);
 * there are no hand-written Unicode tables. Code points are int32_t; text is UTF-8 bytes.
 * Where a function mirrors a Python built-in (str.isspace, str.lower, the regex \w), the
 * comment says which, because the official SQuAD script and the reference BERT tokenizer
 * are Python and their results must be reproduced exactly. */
#ifndef QAPRUNE_TEXT_H
#define QAPRUNE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the code point at s[*pos] (len bytes in s), advances *pos past it and returns it.
 * An invalid or truncated sequence yields U+FFFD and advances one byte. */
int32_t text_next(const char *s, size_t len, size_t *pos);

/* Appends the UTF-8 encoding of c to buf (room for 4 bytes needed); returns bytes written. */
int text_put(char *buf, int32_t c);

/* Python str.isspace(): general category Zs, or bidirectional class WS, B or S. */
int text_is_space(int32_t c);

/* Python's regex \w (re.UNICODE) without the underscore: letters (L*) and numbers (N*). */
int text_is_word(int32_t c);

/* Python str.lower() of the code point cps[i] within cps[0..n): writes 1-3 code points to
 * out and returns their count. Full lowercase mapping: U+0130 becomes "i\u0307", and a
 * capital sigma becomes a final sigma at the end of a word (Unicode Final_Sigma, as
 * CPython implements it). Other code points use the simple mapping, which is what the
 * full mapping is for all of them. */
int text_lower_at(const int32_t *cps, int n, int i, int32_t out[3]);

/* Decodes all of s[0..len) into a new array of code points (free with free()); *n gets the
 * count; if byte_start is not NULL it gets a new array of n+1 byte offsets (code point k
 * spans s[byte_start[k] .. byte_start[k+1])). Returns 0, or QA_ERR when out of memory. */
int text_decode(const char *s, size_t len, int32_t **cps, int *n, int **byte_start);

#endif
