/* core/util/strmap.h: a string -> int hash map (open addressing, FNV-1a), for vocabularies and
 * question ids.
 *
 * Keys are borrowed: the caller keeps every key string alive (and unchanged) for as long as
 * the map is used; the map stores only the pointers. */
#ifndef QAPRUNE_STRMAP_H
#define QAPRUNE_STRMAP_H

#include <stddef.h>

typedef struct StrMap StrMap;

/* Returns a new empty map sized for about n keys (it grows as needed), or NULL when out of
 * memory; free with strmap_free(). */
StrMap *strmap_new(int n);
void strmap_free(StrMap *m);

/* Maps key (len bytes, need not be NUL-terminated; borrowed) to value; an existing key gets
 * the new value. Returns 0, or QA_ERR when out of memory. */
int strmap_put(StrMap *m, const char *key, size_t len, int value);

/* Returns the value of key (len bytes), or -1 when it is absent. */
int strmap_get(const StrMap *m, const char *key, size_t len);

#endif
