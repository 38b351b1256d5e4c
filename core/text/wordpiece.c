/* core/text/wordpiece.c: BERT BasicTokenizer + WordpieceTokenizer with byte spans (see
 * wordpiece.h). Characters travel through the pipeline as (code point, origin span) pairs,
 * so every output piece knows which bytes of the input it came from. */
#include "core/text/wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/util/error.h"
#include "core/util/strmap.h"
#include "core/text/text.h"
#include "core/util/fileio.h"

struct WpVocab {
    char *buf;   /* the file's bytes, each line NUL-terminated in place (owned) */
    char **tok;  /* [size] token strings, pointers into buf */
    int size;
    StrMap *map; /* token -> id; keys borrowed from buf */
    int lowercase;
    WpSpecial special;
};

/* ---- the vocabulary ---- */

static int looks_cased(const char *tok) {
    size_t len = strlen(tok), pos = 0;
    if (len >= 2 && tok[0] == '[' && tok[len - 1] == ']') return 0;
    while (pos < len) {
        int32_t c = text_next(tok, len, &pos);
        if (utf8proc_tolower(c) != c) return 1; /* an uppercase letter that lowercases */
    }
    return 0;
}

int wp_vocab_load(const char *path, WpVocab **out) {
    *out = NULL;
    WpVocab *v = calloc(1, sizeof *v);
    size_t len = 0;
    if (!v) return qa_error("%s: out of memory", path);
    if (file_read(path, 0, &v->buf, &len)) {
        free(v);
        return QA_ERR;
    }
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += v->buf[i] == '\n';
    v->tok = malloc((lines + 1) * sizeof *v->tok);
    v->map = strmap_new(lines + 1);
    if (!v->tok || !v->map) {
        wp_vocab_free(v);
        return qa_error("%s: out of memory", path);
    }
    for (char *p = v->buf; p < v->buf + len;) {
        char *nl = memchr(p, '\n', (size_t)(v->buf + len - p));
        char *end = nl ? nl : v->buf + len;
        *end = '\0';
        if (end > p && end[-1] == '\r') end[-1] = '\0';
        v->tok[v->size] = p;
        int seen = strmap_get(v->map, p, strlen(p));
        if (seen >= 0) {
            char tok[64];
            snprintf(tok, sizeof tok, "%s", p);
            int line = v->size + 1;
            wp_vocab_free(v);
            return qa_error("%s: line %d: token '%s' repeats line %d (ids would not match the "
                            "model's)", path, line, tok, seen + 1);
        }
        if (strmap_put(v->map, p, strlen(p), v->size)) {
            wp_vocab_free(v);
            return QA_ERR;
        }
        v->size++;
        p = end + 1;
    }
    v->lowercase = 1;
    for (int i = 0; i < v->size && v->lowercase; i++) v->lowercase = !looks_cased(v->tok[i]);
    v->special = (WpSpecial){wp_token_id(v, "[PAD]"), wp_token_id(v, "[UNK]"),
                             wp_token_id(v, "[CLS]"), wp_token_id(v, "[SEP]"),
                             wp_token_id(v, "[MASK]")};
    if (v->special.unk < 0) {
        wp_vocab_free(v);
        return qa_error("%s: no [UNK] token in the vocabulary", path);
    }
    *out = v;
    return QA_OK;
}

void wp_vocab_free(WpVocab *v) {
    if (!v) return;
    strmap_free(v->map);
    free(v->tok);
    free(v->buf);
    free(v);
}

int wp_token_id(const WpVocab *v, const char *tok) { return strmap_get(v->map, tok, strlen(tok)); }

const char *wp_token_str(const WpVocab *v, int id) {
    return id >= 0 && id < v->size ? v->tok[id] : NULL;
}

int wp_vocab_size(const WpVocab *v) { return v->size; }
WpSpecial wp_special(const WpVocab *v) { return v->special; }
int wp_vocab_lowercase(const WpVocab *v) { return v->lowercase; }
void wp_vocab_set_lowercase(WpVocab *v, int lowercase) { v->lowercase = lowercase != 0; }

/* ---- character classes of the reference tokenizer ---- */

/* _is_control: categories Cc and Cf, except tab, newline and carriage return. */
static int is_control(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF;
}

/* _is_whitespace: space, tab, newline, carriage return, category Zs. */
static int is_whitespace(int32_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
           utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

/* _is_punctuation: all non-alphanumeric printable ASCII, plus Unicode categories P*. */
static int is_punctuation(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* _is_chinese_char: the CJK Unified Ideographs blocks, as the reference defines them. */
static int is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* ---- the pipeline ---- */

/* Normalised characters of one word, each with the byte span of the input character it
 * came from, plus the output tokens and scratch space; one per wp_tokenize call. */
typedef struct {
    const WpVocab *v;
    int32_t *cp, *from, *to; /* [n] normalised word characters and their origin spans */
    int n, cap;              /* cap: room in cp, from, to and at */
    char *utf8;              /* [4 * cap + 2] "##" then the word in UTF-8, for lookups */
    int *at;                 /* [cap + 1] byte offset of character k in utf8 (from 2) */
    WpToken *out;
    int n_out, cap_out;
} Run;

static int emit(Run *r, int id, int start, int end) {
    if (r->n_out == r->cap_out) {
        int cap = r->cap_out ? 2 * r->cap_out : 64;
        WpToken *t = realloc(r->out, (size_t)cap * sizeof *t);
        if (!t) return qa_error("wordpiece: out of memory");
        r->out = t;
        r->cap_out = cap;
    }
    r->out[r->n_out++] = (WpToken){id, start, end};
    return QA_OK;
}

/* Makes room for `need` normalised characters in r's word buffers. */
static int reserve(Run *r, int need) {
    if (need <= r->cap) return QA_OK;
    int cap = need > 2 * r->cap ? need : 2 * r->cap;
    int32_t *cp = realloc(r->cp, (size_t)cap * sizeof *cp);
    if (cp) r->cp = cp;
    int32_t *from = cp ? realloc(r->from, (size_t)cap * sizeof *from) : NULL;
    if (from) r->from = from;
    int32_t *to = from ? realloc(r->to, (size_t)cap * sizeof *to) : NULL;
    if (to) r->to = to;
    char *utf8 = to ? realloc(r->utf8, 4 * (size_t)cap + 2) : NULL;
    if (utf8) r->utf8 = utf8;
    int *at = utf8 ? realloc(r->at, ((size_t)cap + 1) * sizeof *at) : NULL;
    if (!at) return qa_error("wordpiece: out of memory");
    r->at = at;
    r->cap = cap;
    return QA_OK;
}

/* WordpieceTokenizer on the characters r->cp[lo..hi): greedy longest match first. */
static int wordpiece(Run *r, int lo, int hi) {
    if (hi <= lo) return QA_OK;
    int unk = r->v->special.unk, first = r->n_out;
    if (hi - lo > WP_MAX_WORD_CHARS) return emit(r, unk, r->from[lo], r->to[hi - 1]);
    r->at[0] = 2;
    memcpy(r->utf8, "##", 2);
    for (int k = lo; k < hi; k++)
        r->at[k - lo + 1] = r->at[k - lo] + text_put(r->utf8 + r->at[k - lo], r->cp[k]);
    for (int start = lo; start < hi;) {
        int end = hi, id = -1;
        for (; end > start && id < 0; end--) {
            int b = r->at[start - lo], e = r->at[end - lo];
            if (start == lo) {
                id = strmap_get(r->v->map, r->utf8 + b, (size_t)(e - b));
            } else { /* a continuation: look up "##" + piece, the "##" put just before it */
                char saved[2] = {r->utf8[b - 2], r->utf8[b - 1]};
                memcpy(r->utf8 + b - 2, "##", 2);
                id = strmap_get(r->v->map, r->utf8 + b - 2, (size_t)(e - b + 2));
                memcpy(r->utf8 + b - 2, saved, 2);
            }
        }
        if (id < 0) { /* a piece is missing: the whole word is [UNK] */
            r->n_out = first;
            return emit(r, unk, r->from[lo], r->to[hi - 1]);
        }
        end++; /* undo the loop's last decrement */
        if (emit(r, id, r->from[start], r->to[end - 1])) return QA_ERR;
        start = end;
    }
    return QA_OK;
}

/* Splits r->cp[0..n) at punctuation and word-pieces each part. */
static int split_punctuation(Run *r) {
    int lo = 0;
    for (int k = 0; k < r->n; k++) {
        if (!is_punctuation(r->cp[k])) continue;
        if (wordpiece(r, lo, k) || wordpiece(r, k, k + 1)) return QA_ERR;
        lo = k + 1;
    }
    return wordpiece(r, lo, r->n);
}

/* One whitespace-delimited word of the cleaned text: idx[0..nw) are its input characters.
 * Lowercases and strips accents (uncased vocabularies), then splits and word-pieces. */
static int word(Run *r, const int32_t *cps, const int *bstart, const int *idx, int nw,
                int32_t *wcps) {
    r->n = 0;
    for (int k = 0; k < nw; k++) wcps[k] = cps[idx[k]];
    for (int k = 0; k < nw; k++) {
        int32_t low[3], dec[16];
        int n_low = 1;
        low[0] = wcps[k];
        if (r->v->lowercase) n_low = text_lower_at(wcps, nw, k, low);
        for (int j = 0; j < n_low; j++) {
            int n_dec = 1;
            dec[0] = low[j];
            if (r->v->lowercase) {
                int bound = 0;
                utf8proc_ssize_t d = utf8proc_decompose_char(low[j], dec, 16, UTF8PROC_DECOMPOSE,
                                                              &bound);
                n_dec = d > 0 && d <= 16 ? (int)d : (dec[0] = low[j], 1);
            }
            if (reserve(r, r->n + n_dec)) return QA_ERR;
            for (int q = 0; q < n_dec; q++) {
                if (r->v->lowercase && utf8proc_category(dec[q]) == UTF8PROC_CATEGORY_MN) continue;
                r->cp[r->n] = dec[q];
                r->from[r->n] = bstart[idx[k]];
                r->to[r->n] = bstart[idx[k] + 1];
                r->n++;
            }
        }
    }
    return split_punctuation(r);
}

int wp_tokenize(const WpVocab *v, const char *text, size_t len, WpToken **out, int *n_out) {
    int32_t *cps = NULL, *wcps = NULL;
    int *bstart = NULL, *idx = NULL, n = 0, nw = 0, rc = QA_ERR;
    Run r = {.v = v};
    *out = NULL;
    *n_out = 0;
    if (text_decode(text, len, &cps, &n, &bstart)) return QA_ERR;
    idx = malloc(((size_t)n + 1) * sizeof *idx);
    wcps = malloc(((size_t)n + 1) * sizeof *wcps);
    if (!idx || !wcps || reserve(&r, 64)) {
        qa_error("wordpiece: out of memory for %zu bytes of text", len);
        goto cleanup;
    }
    if (emit(&r, 0, 0, 0)) goto cleanup; /* allocates the output, so it is never NULL */
    r.n_out = 0;
    for (int i = 0; i <= n; i++) {
        int32_t c = i < n ? cps[i] : ' ';
        if (c == 0 || c == 0xFFFD || is_control(c)) continue;
        int cjk = is_cjk(c);
        /* whitespace_tokenize() is Python's str.split(), which also splits at U+2028/9 */
        if (is_whitespace(c) || text_is_space(c) || cjk) {
            if (word(&r, cps, bstart, idx, nw, wcps)) goto cleanup;
            nw = 0;
            if (cjk && word(&r, cps, bstart, &i, 1, wcps)) goto cleanup;
            continue;
        }
        idx[nw++] = i;
    }
    *out = r.out;
    *n_out = r.n_out;
    r.out = NULL;
    rc = QA_OK;
cleanup:
    free(cps);
    free(bstart);
    free(idx);
    free(wcps);
    free(r.cp);
    free(r.from);
    free(r.to);
    free(r.utf8);
    free(r.at);
    free(r.out);
    return rc;
}
