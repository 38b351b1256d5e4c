/* core/text/bpe_train.c: the BPE trainer (see bpe_train.h). Distinct pieces are words of
 * symbol ids (0-255 the bytes, 256 + k the k-th merge's token); every round recounts the
 * pairs over the words, which is cheap for a corpus of few distinct pieces. */
#include "core/text/bpe_train.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text/bpe.h"
#include "core/text/text.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "core/util/strmap.h"

typedef struct {
    char *bytes;  /* the piece (owned; the map's key) */
    int32_t *sym; /* [n] its current symbols */
    int n;
    long count;
} Word;

/* One pair's count in the per-round table; key EMPTY marks a free slot. */
typedef struct {
    uint64_t key;
    long count;
} PairSlot;
#define EMPTY UINT64_MAX

struct BpeTrainer {
    StrMap *map; /* piece bytes -> word index */
    Word *words;
    int n_words, cap_words;
    char **sym;  /* [n_sym] symbol strings (UTF-8 of the byte-mapped characters), owned */
    int n_sym, cap_sym;
    StrMap *sym_map; /* symbol string -> id, so two merges making one string make one symbol */
    PairSlot *pairs;
    size_t pair_cap;
    const char *text; /* the text being added (for the piece callback) */
};

int bpe_trainer_new(BpeTrainer **out) {
    BpeTrainer *t = calloc(1, sizeof *t);
    *out = t;
    if (!t || !(t->map = strmap_new(1024)) || !(t->sym_map = strmap_new(1024)))
        return qa_error("bpe train: out of memory");
    /* GPT-2's bytes_to_unicode (bpe.h step 3) */
    t->cap_sym = 1024;
    if (!(t->sym = calloc((size_t)t->cap_sym, sizeof *t->sym))) return qa_error("bpe train: out of memory");
    for (int x = 0, m = 0; x < 256; x++) {
        int printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
        char u[8] = {0};
        text_put(u, printable ? x : 256 + m++);
        if (!(t->sym[t->n_sym] = strdup(u)) ||
            strmap_put(t->sym_map, t->sym[t->n_sym], strlen(u), t->n_sym))
            return qa_error("bpe train: out of memory");
        t->n_sym++;
    }
    return QA_OK;
}

void bpe_trainer_free(BpeTrainer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_words; i++) {
        free(t->words[i].bytes);
        free(t->words[i].sym);
    }
    free(t->words);
    for (int i = 0; i < t->n_sym; i++) free(t->sym[i]);
    free(t->sym);
    free(t->pairs);
    strmap_free(t->map);
    strmap_free(t->sym_map);
    free(t);
}

static int add_piece(void *ctx, int start, int end) {
    BpeTrainer *t = ctx;
    const char *p = t->text + start;
    size_t n = (size_t)(end - start);
    int w = strmap_get(t->map, p, n);
    if (w >= 0) {
        t->words[w].count++;
        return QA_OK;
    }
    if (t->n_words == t->cap_words) {
        int cap = t->cap_words ? 2 * t->cap_words : 1024;
        Word *nw = realloc(t->words, (size_t)cap * sizeof *nw);
        if (!nw) return qa_error("bpe train: out of memory");
        t->words = nw;
        t->cap_words = cap;
    }
    Word *wd = &t->words[t->n_words];
    wd->bytes = malloc(n + 1);
    wd->sym = malloc((n + 1) * sizeof *wd->sym);
    if (!wd->bytes || !wd->sym) {
        free(wd->bytes);
        free(wd->sym);
        return qa_error("bpe train: out of memory");
    }
    memcpy(wd->bytes, p, n);
    wd->bytes[n] = '\0';
    for (size_t i = 0; i < n; i++) wd->sym[i] = (unsigned char)p[i];
    wd->n = (int)n;
    wd->count = 1;
    if (strmap_put(t->map, wd->bytes, n, t->n_words)) {
        free(wd->bytes);
        free(wd->sym);
        return QA_ERR;
    }
    t->n_words++;
    return QA_OK;
}

int bpe_trainer_add(BpeTrainer *t, const char *text, size_t len) {
    t->text = text;
    return bpe_pretokenize(text, len, add_piece, t);
}

/* ---------------------------------------------------------------- one round */

static size_t pair_slot(const BpeTrainer *t, uint64_t key) {
    size_t mask = t->pair_cap - 1, i = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 17) & mask;
    while (t->pairs[i].key != EMPTY && t->pairs[i].key != key) i = (i + 1) & mask;
    return i;
}

/* Counts every adjacent pair over the words into t->pairs (sized for all of them). */
static int count_pairs(BpeTrainer *t) {
    size_t total = 0;
    for (int w = 0; w < t->n_words; w++) total += t->words[w].n;
    size_t cap = 1024;
    while (cap < 2 * total + 2) cap *= 2;
    if (cap > t->pair_cap) {
        free(t->pairs);
        if (!(t->pairs = malloc(cap * sizeof *t->pairs))) {
            t->pair_cap = 0;
            return qa_error("bpe train: out of memory");
        }
        t->pair_cap = cap;
    }
    for (size_t i = 0; i < t->pair_cap; i++) t->pairs[i] = (PairSlot){EMPTY, 0};
    for (int w = 0; w < t->n_words; w++) {
        const Word *wd = &t->words[w];
        for (int i = 0; i + 1 < wd->n; i++) {
            uint64_t key = (uint64_t)(uint32_t)wd->sym[i] << 32 | (uint32_t)wd->sym[i + 1];
            size_t s = pair_slot(t, key);
            t->pairs[s].key = key;
            t->pairs[s].count += wd->count;
        }
    }
    return QA_OK;
}

/* The most frequent pair, ties to the smallest (left string, right string); 0 if none. */
static int best_pair(const BpeTrainer *t, int *left, int *right) {
    long best = 0;
    for (size_t i = 0; i < t->pair_cap; i++) {
        const PairSlot *p = &t->pairs[i];
        if (p->key == EMPTY) continue;
        int a = (int)(p->key >> 32), b = (int)(uint32_t)p->key;
        int better = p->count > best;
        if (!better && p->count == best) {
            int c = strcmp(t->sym[a], t->sym[*left]);
            better = c < 0 || (c == 0 && strcmp(t->sym[b], t->sym[*right]) < 0);
        }
        if (better) best = p->count, *left = a, *right = b;
    }
    return best > 0;
}

/* Merges every non-overlapping (a, b), left to right, into the new symbol id in all words. */
static void apply_merge(BpeTrainer *t, int a, int b, int id) {
    for (int w = 0; w < t->n_words; w++) {
        Word *wd = &t->words[w];
        int k = 0;
        for (int i = 0; i < wd->n; k++) {
            if (i + 1 < wd->n && wd->sym[i] == a && wd->sym[i + 1] == b) {
                wd->sym[k] = id;
                i += 2;
            } else {
                wd->sym[k] = wd->sym[i++];
            }
        }
        wd->n = k;
    }
}

/* ---------------------------------------------------------------- training and writing */

static int write_vocab(const BpeTrainer *t, const char *path) {
    static const char *const head[] = {"<s>", "<pad>", "</s>", "<unk>"};
    cJSON *v = cJSON_CreateObject();
    int id = 0, rc = QA_OK;
    for (int i = 0; i < 4 && v; i++) cJSON_AddNumberToObject(v, head[i], id++);
    for (int s = 0; s < t->n_sym && v; s++) /* the bytes, then each merge's new token */
        if (!cJSON_GetObjectItemCaseSensitive(v, t->sym[s])) /* not a special's string */
            cJSON_AddNumberToObject(v, t->sym[s], id++);
    if (v) cJSON_DeleteItemFromObjectCaseSensitive(v, "<mask>");
    if (v) cJSON_AddNumberToObject(v, "<mask>", id);
    char *js = v ? cJSON_PrintUnformatted(v) : NULL;
    rc = js ? file_write_atomic(path, js, strlen(js)) : qa_error("%s: out of memory", path);
    cJSON_free(js);
    cJSON_Delete(v);
    return rc;
}

int bpe_trainer_write(BpeTrainer *t, int n_merges, const char *vocab_path,
                      const char *merges_path) {
    char *merges = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&merges, &len);
    if (!m) return qa_error("%s: out of memory", merges_path);
    fputs("#version: 0.2\n", m);
    int done = 0, rc = QA_OK;
    for (; done < n_merges; done++) {
        int a = 0, b = 0;
        if (count_pairs(t)) {
            rc = QA_ERR;
            break;
        }
        if (!best_pair(t, &a, &b)) break;
        if (t->n_sym == t->cap_sym) {
            char **s = realloc(t->sym, 2 * (size_t)t->cap_sym * sizeof *s);
            if (!s) {
                rc = qa_error("bpe train: out of memory");
                break;
            }
            t->sym = s;
            t->cap_sym *= 2;
        }
        size_t na = strlen(t->sym[a]), nb = strlen(t->sym[b]);
        char *joined = malloc(na + nb + 1);
        if (!joined) {
            rc = qa_error("bpe train: out of memory");
            break;
        }
        memcpy(joined, t->sym[a], na);
        memcpy(joined + na, t->sym[b], nb + 1);
        int id = strmap_get(t->sym_map, joined, na + nb);
        if (id >= 0) { /* the string is a symbol already: the merge makes that one */
            free(joined);
        } else {
            id = t->n_sym;
            t->sym[t->n_sym++] = joined;
            if (strmap_put(t->sym_map, joined, na + nb, id)) {
                rc = QA_ERR;
                break;
            }
        }
        apply_merge(t, a, b, id);
        fprintf(m, "%s %s\n", t->sym[a], t->sym[b]);
    }
    int bad = ferror(m);
    fclose(m);
    if (!rc && bad) rc = qa_error("%s: out of memory", merges_path);
    if (!rc) rc = write_vocab(t, vocab_path);
    if (!rc) rc = file_write_atomic(merges_path, merges, len);
    free(merges);
    return rc ? QA_ERR : done;
}
