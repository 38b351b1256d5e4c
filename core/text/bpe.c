/* core/text/bpe.c: byte-level BPE with byte spans (see bpe.h). Symbols are vocabulary ids
 * from the start (each byte's symbol is a token), so a merge is a lookup of an id pair. */
#include "core/text/bpe.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/text/text.h"
#include "core/util/error.h"
#include "core/util/strmap.h"

enum {
    BPE_MAX_ID = 1 << 24,         /* larger ids in a file are an error, not an allocation */
    CACHE_MAX_PIECE = 128,        /* longer pieces are merged every time */
    CACHE_MAX_ENTRIES = 1 << 20,  /* the cache stops growing here */
    ARENA_BLOCK = 1 << 16,
};

/* One merge: the pair (left id, right id) -> its rank and the id of the merged token. */
typedef struct {
    uint64_t key; /* left << 32 | right; EMPTY_KEY marks a free slot */
    int32_t rank, id;
} MergeSlot;
#define EMPTY_KEY UINT64_MAX

/* An added token (bpe_add_special): matched in the raw text, optionally with the whitespace
 * to its left (lstrip) or right (rstrip). */
typedef struct {
    int id;
    int lstrip, rstrip;
} Added;

/* Storage for cache keys that never moves (StrMap borrows its keys). */
typedef struct ArenaBlock {
    struct ArenaBlock *next;
    size_t used, cap;
    char data[];
} ArenaBlock;

struct BpeModel {
    char **tok;     /* [cap_ids] token strings by id, owned; NULL for unused ids */
    int n_ids, cap_ids;
    StrMap *map;    /* token -> id; keys borrowed from tok */
    int32_t byte_char[256]; /* GPT-2's bytes_to_unicode */
    int16_t char_byte[512]; /* its inverse for code points below 512; -1 elsewhere */
    int byte_id[256];       /* id of each byte's symbol */
    MergeSlot *merges;
    size_t merge_cap, n_merges;
    int next_rank;          /* rank of the next bpe_add_merge */
    BpeOpts opts;
    Added *added;           /* tokens matched in the text before pre-tokenisation */
    int n_added;
    StrMap *cache;          /* piece bytes -> offset of its entry in cache_data */
    int32_t *cache_data;    /* entries: count, then count (id, byte length) pairs */
    size_t cache_len, cache_cap, cache_entries;
    ArenaBlock *arena;
};

/* ---------------------------------------------------------------- building */

/* GPT-2 encoder.py bytes_to_unicode(): bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for
 * themselves; the other 68 bytes get U+0100, U+0101, ... in increasing byte order. */
static void bytes_to_unicode(BpeModel *b) {
    int n = 0;
    for (int i = 0; i < 512; i++) b->char_byte[i] = -1;
    for (int x = 0; x < 256; x++) {
        int printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
        b->byte_char[x] = printable ? x : 256 + n++;
        b->char_byte[b->byte_char[x]] = (int16_t)x;
    }
}

int bpe_new(BpeModel **out) {
    BpeModel *b = calloc(1, sizeof *b);
    *out = b;
    if (!b || !(b->map = strmap_new(1024)) || !(b->cache = strmap_new(1024)))
        return qa_error("bpe: out of memory");
    bytes_to_unicode(b);
    b->opts = BPE_OPTS_DEFAULT;
    return QA_OK;
}

void bpe_free(BpeModel *b) {
    if (!b) return;
    for (int i = 0; i < b->cap_ids; i++) free(b->tok[i]);
    free(b->tok);
    strmap_free(b->map);
    free(b->merges);
    strmap_free(b->cache);
    free(b->cache_data);
    free(b->added);
    for (ArenaBlock *a = b->arena, *next; a; a = next) {
        next = a->next;
        free(a);
    }
    free(b);
}

int bpe_add_token(BpeModel *b, const char *tok, size_t len, int id, const char *file) {
    if (id < 0 || id >= BPE_MAX_ID)
        return qa_error("%s: token \"%.*s\" has id %d outside [0, %d)", file, (int)len, tok, id,
                        BPE_MAX_ID);
    int old = strmap_get(b->map, tok, len);
    if (old >= 0)
        return qa_error("%s: token \"%.*s\" listed twice (ids %d and %d)", file, (int)len, tok,
                        old, id);
    if (id >= b->cap_ids) {
        int cap = b->cap_ids ? b->cap_ids : 1024;
        while (cap <= id) cap *= 2;
        char **t = realloc(b->tok, (size_t)cap * sizeof *t);
        if (!t) return qa_error("%s: out of memory", file);
        memset(t + b->cap_ids, 0, (size_t)(cap - b->cap_ids) * sizeof *t);
        b->tok = t;
        b->cap_ids = cap;
    }
    if (b->tok[id])
        return qa_error("%s: id %d given to both \"%s\" and \"%.*s\"", file, id, b->tok[id],
                        (int)len, tok);
    if (!(b->tok[id] = strndup(tok, len)) || strmap_put(b->map, b->tok[id], len, id))
        return qa_error("%s: out of memory", file);
    if (id >= b->n_ids) b->n_ids = id + 1;
    return QA_OK;
}

static uint64_t pair_key(int left, int right) {
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

static size_t slot_of(const BpeModel *b, uint64_t key) {
    size_t mask = b->merge_cap - 1, i = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 17) & mask;
    while (b->merges[i].key != EMPTY_KEY && b->merges[i].key != key) i = (i + 1) & mask;
    return i;
}

/* Inserts or overwrites (a later duplicate of a merge takes its rank, as a dict would). */
static int merge_put(BpeModel *b, uint64_t key, int rank, int id) {
    if (2 * (b->n_merges + 1) > b->merge_cap) {
        size_t cap = b->merge_cap ? 2 * b->merge_cap : 1024;
        MergeSlot *old = b->merges, *m = malloc(cap * sizeof *m);
        if (!m) return QA_ERR;
        for (size_t i = 0; i < cap; i++) m[i].key = EMPTY_KEY;
        size_t old_cap = b->merge_cap;
        b->merges = m;
        b->merge_cap = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].key != EMPTY_KEY) b->merges[slot_of(b, old[i].key)] = old[i];
        free(old);
    }
    size_t i = slot_of(b, key);
    if (b->merges[i].key == EMPTY_KEY) b->n_merges++;
    b->merges[i] = (MergeSlot){key, rank, id};
    return QA_OK;
}

static const MergeSlot *merge_get(const BpeModel *b, int left, int right) {
    if (!b->merge_cap) return NULL;
    const MergeSlot *s = &b->merges[slot_of(b, pair_key(left, right))];
    return s->key == EMPTY_KEY ? NULL : s;
}

int bpe_add_merge(BpeModel *b, const char *left, size_t nl, const char *right, size_t nr,
                  const char *file, int line) {
    char where[64] = "";
    if (line > 0) snprintf(where, sizeof where, ":%d", line);
    int a = strmap_get(b->map, left, nl), c = strmap_get(b->map, right, nr);
    if (a < 0 || c < 0)
        return qa_error("%s%s: merge \"%.*s %.*s\": \"%.*s\" is not in the vocabulary", file,
                        where, (int)nl, left, (int)nr, right, a < 0 ? (int)nl : (int)nr,
                        a < 0 ? left : right);
    char *joined = malloc(nl + nr + 1);
    if (!joined) return qa_error("%s: out of memory", file);
    memcpy(joined, left, nl);
    memcpy(joined + nl, right, nr);
    int id = strmap_get(b->map, joined, nl + nr);
    if (id < 0) {
        qa_error("%s%s: merge \"%.*s %.*s\" makes \"%.*s\", which is not in the vocabulary",
                 file, where, (int)nl, left, (int)nr, right, (int)(nl + nr), joined);
        free(joined);
        return QA_ERR;
    }
    free(joined);
    if (merge_put(b, pair_key(a, c), b->next_rank++, id)) return qa_error("%s: out of memory", file);
    return QA_OK;
}

int bpe_add_special(BpeModel *b, int id, int lstrip, int rstrip) {
    if (!bpe_token_str(b, id) || !*bpe_token_str(b, id))
        return qa_error("bpe: added token id %d is not in the vocabulary", id);
    for (int i = 0; i < b->n_added; i++)
        if (b->added[i].id == id) return QA_OK; /* the first registration's flags stay */
    Added *a = realloc(b->added, (size_t)(b->n_added + 1) * sizeof *a);
    if (!a) return qa_error("bpe: out of memory");
    b->added = a;
    b->added[b->n_added++] = (Added){id, lstrip != 0, rstrip != 0};
    return QA_OK;
}

int bpe_finish(BpeModel *b, const BpeOpts *opts, const char *file) {
    for (int x = 0; x < 256; x++) {
        char u[8];
        int n = text_put(u, b->byte_char[x]);
        b->byte_id[x] = strmap_get(b->map, u, (size_t)n);
        if (b->byte_id[x] < 0)
            return qa_error("%s: no token \"%.*s\" for byte 0x%02x (a byte-level vocabulary "
                            "needs all 256)", file, n, u, x);
    }
    if (opts) b->opts = *opts;
    return QA_OK;
}

/* ---------------------------------------------------------------- lookups */

int bpe_token_id(const BpeModel *b, const char *tok, size_t len) {
    return strmap_get(b->map, tok, len);
}

const char *bpe_token_str(const BpeModel *b, int id) {
    return id >= 0 && id < b->n_ids ? b->tok[id] : NULL;
}

int bpe_vocab_size(const BpeModel *b) { return b->n_ids; }
int bpe_num_merges(const BpeModel *b) { return (int)b->n_merges; }
BpeOpts bpe_opts(const BpeModel *b) { return b->opts; }

int bpe_token_bytes(const BpeModel *b, int id, char *buf) {
    const char *s = bpe_token_str(b, id);
    if (!s) return -1;
    size_t len = strlen(s), pos = 0;
    int n = 0;
    while (pos < len) {
        int32_t c = text_next(s, len, &pos);
        if (c < 512 && b->char_byte[c] >= 0) buf[n++] = (char)b->char_byte[c];
        else n += text_put(buf + n, c); /* not a byte symbol (an added token): as written */
    }
    return n;
}

/* ---------------------------------------------------------------- pre-tokenisation */

static int is_letter(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static int is_number(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* Unicode White_Space: Zs, Zl, Zp, U+0009..U+000D and U+0085. */
static int is_ws(int32_t c) {
    if ((c >= 9 && c <= 13) || c == 0x85) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

static int is_other(int32_t c) { return !is_ws(c) && !is_letter(c) && !is_number(c); }

static int run_of(const int32_t *c, int n, int i, int (*in_class)(int32_t)) {
    while (i < n && in_class(c[i])) i++;
    return i;
}

/* End of the pattern's match starting at code point i of c[0..n) (i < n); the alternatives
 * in the pattern's order, each the leftmost-first, greedy regex semantics. */
static int piece_end(const int32_t *c, int n, int i) {
    if (c[i] == '\'' && i + 1 < n) { /* 's|'t|'re|'ve|'m|'ll|'d */
        int32_t a = c[i + 1], z = i + 2 < n ? c[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && z == 'e') || (a == 'v' && z == 'e') || (a == 'l' && z == 'l'))
            return i + 3;
    }
    int j = c[i] == ' ' ? i + 1 : i; /* " ?" takes the space when it is there */
    if (j < n && is_letter(c[j])) return run_of(c, n, j, is_letter);
    if (j < n && is_number(c[j])) return run_of(c, n, j, is_number);
    if (j < n && is_other(c[j])) return run_of(c, n, j, is_other);
    if (is_ws(c[i])) {
        int e = run_of(c, n, i, is_ws);
        if (e == n) return e;         /* \s+(?!\S) up to the end of the text */
        if (e - i >= 2) return e - 1; /* \s+(?!\S) backs off one so \S is not next */
        return e;                     /* \s+: a lone whitespace before \S */
    }
    return i + 1; /* not reached: every code point is in one of the classes */
}

int bpe_pretokenize(const char *text, size_t len, int (*fn)(void *ctx, int start, int end),
                    void *ctx) {
    int32_t *cps = NULL;
    int *bstart = NULL, n = 0, rc = QA_OK;
    if (len > INT_MAX / 4) return qa_error("bpe: text of %zu bytes is too long", len);
    if (text_decode(text, len, &cps, &n, &bstart)) return QA_ERR;
    for (int i = 0; i < n && !rc;) {
        int end = piece_end(cps, n, i);
        rc = fn(ctx, bstart[i], bstart[end]);
        i = end;
    }
    free(cps);
    free(bstart);
    return rc;
}

/* ---------------------------------------------------------------- merging */

/* Merges the symbols sym[0..*n) (ids) with byte lengths len[] in place (see bpe.h step 4). */
static void merge_symbols(const BpeModel *b, int32_t *sym, int32_t *len, int *n) {
    for (;;) {
        int best = INT_MAX, at = -1;
        for (int i = 0; i + 1 < *n; i++) {
            const MergeSlot *s = merge_get(b, sym[i], sym[i + 1]);
            if (s && s->rank < best) best = s->rank, at = i;
        }
        if (at < 0) return;
        int32_t left = sym[at], right = sym[at + 1];
        int32_t id = merge_get(b, left, right)->id;
        int w = 0;
        for (int i = 0; i < *n; w++) {
            if (i + 1 < *n && sym[i] == left && sym[i + 1] == right) {
                sym[w] = id;
                len[w] = len[i] + len[i + 1];
                i += 2;
            } else {
                sym[w] = sym[i];
                len[w] = len[i];
                i++;
            }
        }
        *n = w;
    }
}

static char *arena_copy(BpeModel *b, const char *s, size_t n) {
    ArenaBlock *a = b->arena;
    if (!a || a->cap - a->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        if (!(a = malloc(sizeof *a + cap))) return NULL;
        *a = (ArenaBlock){b->arena, 0, cap};
        b->arena = a;
    }
    char *p = a->data + a->used;
    memcpy(p, s, n);
    a->used += n;
    return p;
}

/* Remembers the merged symbols of piece p[0..m); a failure only means no caching. */
static void cache_put(BpeModel *b, const char *p, size_t m, const int32_t *sym,
                      const int32_t *len, int n) {
    if (m > CACHE_MAX_PIECE || b->cache_entries >= CACHE_MAX_ENTRIES) return;
    size_t need = b->cache_len + 1 + 2 * (size_t)n;
    if (need > b->cache_cap) {
        size_t cap = b->cache_cap ? 2 * b->cache_cap : 4096;
        while (cap < need) cap *= 2;
        int32_t *d = realloc(b->cache_data, cap * sizeof *d);
        if (!d) return;
        b->cache_data = d;
        b->cache_cap = cap;
    }
    char *key = arena_copy(b, p, m);
    if (!key || strmap_put(b->cache, key, m, (int)b->cache_len)) return;
    int32_t *e = b->cache_data + b->cache_len;
    e[0] = n;
    for (int i = 0; i < n; i++) {
        e[1 + 2 * i] = sym[i];
        e[2 + 2 * i] = len[i];
    }
    b->cache_len = need;
    b->cache_entries++;
}

/* ---------------------------------------------------------------- encoding */

/* The growing output of one bpe_encode call. */
typedef struct {
    TextToken *t;
    int n, cap;
} Out;

/* One segment of a bpe_encode call: the text as code points (with the prefix space, if any), the byte
 * offset of each, and the growing output. */
typedef struct {
    BpeModel *b;
    const char *text;     /* the original text */
    size_t len;
    const char *work;     /* the bytes tokenized: the text, or " " + the text */
    int shift;            /* 1 when work has the prefix space */
    int *bstart;          /* [n_cp + 1] byte offset of each code point of the original */
    int *char_at;         /* [len] index of the code point holding each original byte */
    int32_t *sym, *slen;  /* [longest piece] scratch for merging */
    int base;             /* byte offset of text in the whole text (a segment between added tokens) */
    Out *out;
} Enc;

static int emit(Out *o, int id, int start, int end) {
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 64;
        TextToken *t = realloc(o->t, (size_t)cap * sizeof *t);
        if (!t) return qa_error("bpe: out of memory");
        o->t = t;
        o->cap = cap;
    }
    o->t[o->n++] = (TextToken){id, start, end};
    return QA_OK;
}

/* The span of work bytes [p, q) in the original: mapped back (the prefix space stands for
 * the first character, as tokenizers aligns it), widened to whole characters, trimmed. */
static int emit_span(Enc *e, int id, int p, int q) {
    int lo = p - e->shift, hi = q - e->shift;
    if (lo < 0) lo = 0;
    int start = 0, end = 0;
    if (e->len > 0) {
        if (hi <= lo) hi = lo + 1; /* only the prefix space: the first character */
        start = e->bstart[e->char_at[lo]];
        end = e->bstart[e->char_at[hi - 1] + 1];
    }
    if (e->b->opts.trim_offsets) { /* ByteLevel process_offsets */
        int lead = 0, trail = 0;
        while (p + lead < q && e->work[p + lead] == ' ') lead++;
        while (q - trail > p && e->work[q - trail - 1] == ' ') trail++;
        if (lead > 0 && (e->out->n == 0 || start + e->base == 0) &&
            e->b->opts.add_prefix_space && lead == 1)
            lead = 0; /* the first token keeps the space add_prefix_space gave it */
        if (lead > 0) start = start + lead < end ? start + lead : end;
        if (trail > 0 && end >= trail) end = end - trail > start ? end - trail : start;
    }
    return emit(e->out, id, e->base + start, e->base + end);
}

/* Tokenizes one piece, work bytes [p, q). */
static int encode_piece(Enc *e, int p, int q) {
    BpeModel *b = e->b;
    const char *s = e->work + p;
    size_t m = (size_t)(q - p);
    int hit = strmap_get(b->cache, s, m);
    if (hit >= 0) {
        const int32_t *c = b->cache_data + hit;
        for (int i = 0, at = p; i < c[0]; at += c[2 + 2 * i], i++)
            if (emit_span(e, c[1 + 2 * i], at, at + c[2 + 2 * i])) return QA_ERR;
        return QA_OK;
    }
    int n = (int)m;
    for (int i = 0; i < n; i++) {
        e->sym[i] = b->byte_id[(unsigned char)s[i]];
        e->slen[i] = 1;
    }
    merge_symbols(b, e->sym, e->slen, &n);
    cache_put(b, s, m, e->sym, e->slen, n);
    for (int i = 0, at = p; i < n; at += e->slen[i], i++)
        if (emit_span(e, e->sym[i], at, at + e->slen[i])) return QA_ERR;
    return QA_OK;
}

/* Tokenizes text[0..len), which sits at byte base of the whole text, appending to o. */
static int encode_segment(BpeModel *b, const char *text, size_t len, int base, Out *o) {
    Enc e = {.b = b, .text = text, .len = len, .work = text, .base = base, .out = o};
    int32_t *cps = NULL, *wcp = NULL;
    char *work = NULL;
    int n = 0, rc = QA_ERR;
    if (len == 0) return QA_OK;
    if (text_decode(text, len, &cps, &n, &e.bstart)) return QA_ERR;
    e.shift = b->opts.add_prefix_space && len > 0 && text[0] != ' ';
    int nw = n + e.shift;
    wcp = malloc(((size_t)nw + 1) * sizeof *wcp);
    e.char_at = malloc((len + 1) * sizeof *e.char_at);
    e.sym = malloc((len + 2) * sizeof *e.sym);
    e.slen = malloc((len + 2) * sizeof *e.slen);
    if (e.shift && (work = malloc(len + 1))) {
        work[0] = ' ';
        memcpy(work + 1, text, len);
        e.work = work;
    }
    if (!wcp || !e.char_at || !e.sym || !e.slen || (e.shift && !work)) {
        qa_error("bpe: out of memory for %zu bytes of text", len);
        goto cleanup;
    }
    for (int k = 0; k < n; k++)
        for (int i = e.bstart[k]; i < e.bstart[k + 1]; i++) e.char_at[i] = k;
    if (e.shift) wcp[0] = ' ';
    memcpy(wcp + e.shift, cps, (size_t)n * sizeof *cps);
    /* byte offset in work of work code point k */
#define WORK_BYTE(k) ((k) < e.shift ? 0 : e.bstart[(k) - e.shift] + e.shift)
    for (int i = 0; i < nw;) {
        int end = b->opts.use_regex ? piece_end(wcp, nw, i) : nw;
        if (encode_piece(&e, WORK_BYTE(i), WORK_BYTE(end))) goto cleanup;
        i = end;
    }
#undef WORK_BYTE
    rc = QA_OK;
cleanup:
    free(cps);
    free(wcp);
    free(work);
    free(e.bstart);
    free(e.char_at);
    free(e.sym);
    free(e.slen);
    return rc;
}

/* The leftmost added token in text[from..len), the longest of those starting there: its
 * index in b->added and its byte span (with the whitespace lstrip / rstrip take, lstrip
 * not reaching before from) in *start, *end; -1 when there is none. */
static int find_added(const BpeModel *b, const char *text, size_t len, size_t from,
                      size_t *start, size_t *end) {
    for (size_t q = from; q < len; q++) {
        int best = -1;
        size_t best_len = 0;
        for (int i = 0; i < b->n_added; i++) {
            const char *s = b->tok[b->added[i].id];
            size_t k = strlen(s);
            if (k > best_len && k <= len - q && !memcmp(text + q, s, k)) best = i, best_len = k;
        }
        if (best < 0) continue;
        size_t lo = q, hi = q + best_len;
        while (b->added[best].lstrip && lo > from) { /* whitespace code points to the left */
            size_t p = lo - 1;
            while (p > from && ((unsigned char)text[p] & 0xC0) == 0x80) p--;
            size_t at = p;
            if (!is_ws(text_next(text, len, &at)) || at != lo) break;
            lo = p;
        }
        while (b->added[best].rstrip && hi < len) {
            size_t at = hi;
            if (!is_ws(text_next(text, len, &at))) break;
            hi = at;
        }
        *start = lo;
        *end = hi;
        return best;
    }
    return -1;
}

int bpe_encode(BpeModel *b, const char *text, size_t len, TextToken **out, int *n_out) {
    Out o = {0};
    *out = NULL;
    *n_out = 0;
    if (len > INT_MAX / 4) return qa_error("bpe: text of %zu bytes is too long", len);
    if (emit(&o, 0, 0, 0)) return QA_ERR; /* allocates, so the result is never NULL */
    o.n = 0;
    size_t at = 0, start = 0, end = 0;
    while (at <= len) {
        int a = b->n_added ? find_added(b, text, len, at, &start, &end) : -1;
        if (a < 0) start = end = len;
        if (encode_segment(b, text + at, start - at, (int)at, &o) ||
            (a >= 0 && emit(&o, b->added[a].id, (int)start, (int)end))) {
            free(o.t);
            return QA_ERR;
        }
        if (a < 0) break;
        at = end;
    }
    *out = o.t;
    *n_out = o.n;
    return QA_OK;
}
