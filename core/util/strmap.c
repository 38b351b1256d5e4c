/* core/util/strmap.c: open-addressing string map with linear probing (see strmap.h). */
#include "core/util/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"

typedef struct {
    const char *key; /* borrowed; NULL marks an empty slot */
    size_t len;
    int value;
} Slot;

struct StrMap {
    Slot *slots;
    size_t cap; /* a power of two, kept at least twice the number of keys */
    size_t used;
};

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

StrMap *strmap_new(int n) {
    StrMap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cap = 16;
    while (m->cap < (size_t)(n > 0 ? n : 1) * 2) m->cap *= 2;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void strmap_free(StrMap *m) {
    if (!m) return;
    free(m->slots);
    free(m);
}

/* Returns the slot holding key, or the empty slot where it would go. */
static Slot *find_slot(Slot *slots, size_t cap, const char *key, size_t len) {
    size_t i = (size_t)hash_bytes(key, len) & (cap - 1);
    while (slots[i].key && !(slots[i].len == len && !memcmp(slots[i].key, key, len)))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(StrMap *m) {
    size_t cap = m->cap * 2;
    Slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return qa_error("strmap: out of memory growing to %zu slots", cap);
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key) *find_slot(slots, cap, m->slots[i].key, m->slots[i].len) = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return QA_OK;
}

int strmap_put(StrMap *m, const char *key, size_t len, int value) {
    if ((m->used + 1) * 2 > m->cap && grow(m)) return QA_ERR;
    Slot *s = find_slot(m->slots, m->cap, key, len);
    if (!s->key) {
        s->key = key;
        s->len = len;
        m->used++;
    }
    s->value = value;
    return QA_OK;
}

int strmap_get(const StrMap *m, const char *key, size_t len) {
    const Slot *s = find_slot(m->slots, m->cap, key, len);
    return s->key ? s->value : -1;
}
