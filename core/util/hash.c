/* core/util/hash.c: see hash.h. */
#include "core/util/hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/util/error.h"

struct HashState {
    XXH3_state_t *s;
};

HashState *hash_begin(void) {
    HashState *h = malloc(sizeof *h);
    if (h) h->s = XXH3_createState();
    if (!h || !h->s || XXH3_128bits_reset(h->s) != XXH_OK) {
        if (h && h->s) XXH3_freeState(h->s);
        free(h);
        qa_error("hash: out of memory");
        return NULL;
    }
    return h;
}

void hash_update(HashState *h, const void *data, size_t n) {
    if (n) XXH3_128bits_update(h->s, data, n);
}

void hash_update_str(HashState *h, const char *s) { hash_update(h, s, strlen(s) + 1); }

static void to_hex(XXH128_hash_t d, char out[HASH_HEX]) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, d); /* big-endian bytes: the same hex on every machine */
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", c.digest[i]);
}

void hash_end(HashState *h, char out[HASH_HEX]) {
    if (!h) return;
    to_hex(XXH3_128bits_digest(h->s), out);
    XXH3_freeState(h->s);
    free(h);
}

void hash_bytes(const void *data, size_t n, char out[HASH_HEX]) {
    to_hex(XXH3_128bits(data, n), out);
}

int hash_file(const char *path, char out[HASH_HEX]) {
    FILE *f = fopen(path, "rb");
    if (!f) return qa_error("%s: cannot open: %s", path, strerror(errno));
    HashState *h = hash_begin();
    char *buf = malloc(1 << 20);
    if (!h || !buf) {
        fclose(f);
        free(buf);
        hash_end(h, out);
        return qa_error("%s: out of memory hashing it", path);
    }
    size_t k;
    while ((k = fread(buf, 1, 1 << 20, f)) > 0) hash_update(h, buf, k);
    int bad = ferror(f);
    fclose(f);
    free(buf);
    hash_end(h, out);
    return bad ? qa_error("%s: read error while hashing it", path) : QA_OK;
}
