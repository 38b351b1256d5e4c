/* core/text.c: Unicode primitives on top of libutf8proc (see text.h). */
#include "core/text.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#include "core/error.h"

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

int text_read_file(const char *path, char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return qa_error("%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int io_error = ferror(f);
    fclose(f);
    if (!buf) return qa_error("%s: out of memory reading it", path);
    if (io_error) {
        free(buf);
        return qa_error("%s: I/O error reading it", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return QA_OK;
}

/* fsync of path's directory, so that a rename into it survives a crash. */
static void sync_parent(const char *path) {
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

int text_write_file(const char *path, const void *data, size_t n) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return qa_error("%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return qa_error("%s: cannot create: %s", tmp, strerror(errno));
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const char *)data + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    int ok = done == n && fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        unlink(tmp);
        return qa_error("%s: cannot write: %s", path, strerror(err));
    }
    sync_parent(path);
    return QA_OK;
}

int text_mkdirs(const char *dir) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return qa_error("%s: path too long", dir);
    for (char *p = buf + 1;; p++)
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST)
                return qa_error("%s: cannot create the directory: %s", buf, strerror(errno));
            if (!(*p = c)) break;
        }
    return QA_OK;
}
