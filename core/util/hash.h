/* core/util/hash.h: content hashes (XXH3-128 from libxxhash), as 32 lowercase hex digits.
 *
 * Used for identities: a grid point's identity is the hash of its inputs' contents, so
 * equal bytes give equal hashes wherever they live, and any edit gives a new one. XXH3 is not
 * a cryptographic hash: it guards against accidents (a stale result), not against an
 * adversary crafting collisions. xxhash types stay inside hash.c. */
#ifndef QAPRUNE_HASH_H
#define QAPRUNE_HASH_H

#include <stddef.h>

#define HASH_HEX 33 /* 32 hex digits and the NUL */

typedef struct HashState HashState;

/* Returns a new streaming hash (end it with hash_end, which frees it), or NULL after
 * qa_error when out of memory. */
HashState *hash_begin(void);
void hash_update(HashState *h, const void *data, size_t n);
/* Adds s with its terminating NUL, so that ("ab", "c") and ("a", "bc") differ. */
void hash_update_str(HashState *h, const char *s);
/* Writes the digest as hex into out and frees h; NULL h writes nothing. */
void hash_end(HashState *h, char out[HASH_HEX]);

/* The hash of data[0..n) in one call. */
void hash_bytes(const void *data, size_t n, char out[HASH_HEX]);

/* The hash of the file's bytes, streamed; QA_ERR naming the file when it cannot be read. */
int hash_file(const char *path, char out[HASH_HEX]);

#endif
