/* core/text/text.c: Unicode primitives on top of libutf8proc (see text.h). */
#include "core/text/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/util/error.h"

int32_t text_next(const char *s, size_t len, size_t *pos) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + *pos,
                                          (utf8proc_ssize_t)(len - *pos), &c);
    if (k <= 0) {
        *pos += 1;
        return 0xFFFD;
    }
    *pos += (size_t)k;
    return c;
}

int text_put(char *buf, int32_t c) {
    return (int)utf8proc_encode_char(c, (utf8proc_uint8_t *)buf);
}

int text_is_space(int32_t c) {
    const utf8proc_property_t *p = utf8proc_get_property(c);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

int text_is_word(int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

/* Unicode "Cased": has the Lowercase or Uppercase property or is titlecase; approximated
 * by the letter case categories plus any code point with a case mapping. */
static int is_cased(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}

/* Unicode "Case_Ignorable": categories Mn, Me, Cf, Lm, Sk, plus the Word_Break classes
 * MidLetter, MidNumLet and Single_Quote, of which the common members are listed. */
static int is_case_ignorable(int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
        return 1;
    default:
        return c == '\'' || c == '.' || c == ':' || c == 0x00B7 || c == 0x2018 || c == 0x2019 ||
               c == 0x2024;
    }
}

/* CPython's handle_capital_sigma(): \p{cased}\p{case-ignorable}* SIGMA
 * !(\p{case-ignorable}* \p{cased}) gives the final form U+03C2. */
static int32_t lower_sigma(const int32_t *cps, int n, int i) {
    int j = i - 1;
    while (j >= 0 && is_case_ignorable(cps[j])) j--;
    int final = j >= 0 && is_cased(cps[j]);
    if (final) {
        j = i + 1;
        while (j < n && is_case_ignorable(cps[j])) j++;
        final = j == n || !is_cased(cps[j]);
    }
    return final ? 0x03C2 : 0x03C3;
}

int text_lower_at(const int32_t *cps, int n, int i, int32_t out[3]) {
    int32_t c = cps[i];
    if (c == 0x03A3) {
        out[0] = lower_sigma(cps, n, i);
        return 1;
    }
    if (c == 0x0130) { /* the one unconditional multi-code-point lowercase (SpecialCasing) */
        out[0] = 'i';
        out[1] = 0x0307;
        return 2;
    }
    out[0] = utf8proc_tolower(c);
    return 1;
}

int text_decode(const char *s, size_t len, int32_t **cps, int *n, int **byte_start) {
    int32_t *c = malloc((len + 1) * sizeof *c);
    int *b = byte_start ? malloc((len + 1) * sizeof *b) : NULL;
    if (!c || (byte_start && !b)) {
        free(c);
        free(b);
        return qa_error("text: out of memory decoding %zu bytes", len);
    }
    size_t pos = 0;
    int k = 0;
    while (pos < len) {
        if (b) b[k] = (int)pos;
        c[k++] = text_next(s, len, &pos);
    }
    if (b) b[k] = (int)pos;
    *cps = c;
    *n = k;
    if (byte_start) *byte_start = b;
    return QA_OK;
}
