/* sweep/identity.c: see identity.h. */
#include "sweep/identity.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util/error.h"
#include "core/util/fileio.h"

const char *const IDENTITY_CKPT_FILES[] = {
    "config.json",          "model.safetensors",       "vocab.txt",
    "vocab.json",           "merges.txt",              "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "qaprune.json",
};
const int IDENTITY_N_CKPT_FILES =
    (int)(sizeof IDENTITY_CKPT_FILES / sizeof IDENTITY_CKPT_FILES[0]);

typedef struct {
    char *path; /* absolute */
    long long size, mtime_ns, inode;
    char hash[HASH_HEX];
    int stored; /* recorded in the attached database */
} CacheEntry;

struct HashCache {
    CacheEntry *e;
    int n, cap;
    Db *db;
};

HashCache *hash_cache_new(void) {
    HashCache *c = calloc(1, sizeof *c);
    if (!c) qa_error("identity: out of memory");
    return c;
}

void hash_cache_free(HashCache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->e[i].path);
    free(c->e);
    free(c);
}

static int store(HashCache *c, CacheEntry *e) {
    if (!c->db || e->stored) return QA_OK;
    if (db_file_hash_put(c->db, e->path, e->size, e->mtime_ns, e->inode, e->hash))
        return QA_ERR;
    e->stored = 1;
    return QA_OK;
}

int hash_cache_attach(HashCache *c, Db *db) {
    c->db = db;
    for (int i = 0; i < c->n; i++) {
        c->e[i].stored = 0;
        if (store(c, &c->e[i])) return QA_ERR;
    }
    return QA_OK;
}

int identity_file(HashCache *c, const char *path, char out[HASH_HEX]) {
    char abs[PATH_MAX];
    struct stat sb;
    if (stat(path, &sb) != 0) return qa_error("%s: cannot read: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return qa_error("%s: not a regular file", path);
    if (!realpath(path, abs)) return qa_error("%s: cannot resolve: %s", path, strerror(errno));
    long long size = (long long)sb.st_size, ino = (long long)sb.st_ino;
    long long mtime = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
    for (int i = 0; i < c->n; i++) {
        CacheEntry *e = &c->e[i];
        if (strcmp(e->path, abs)) continue;
        if (e->size == size && e->mtime_ns == mtime && e->inode == ino) {
            memcpy(out, e->hash, HASH_HEX);
            return QA_OK;
        }
        free(e->path); /* changed since: forget it */
        c->e[i] = c->e[--c->n];
        break;
    }
    char hash[HASH_HEX];
    int found = 0, stored = 0;
    if (c->db && db_file_hash_get(c->db, abs, size, mtime, ino, hash, sizeof hash, &found))
        return QA_ERR;
    if (found) stored = 1;
    else if (hash_file(path, hash)) return QA_ERR;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        CacheEntry *grown = realloc(c->e, (size_t)cap * sizeof *grown);
        if (!grown) return qa_error("identity: out of memory");
        c->e = grown;
        c->cap = cap;
    }
    CacheEntry *e = &c->e[c->n];
    *e = (CacheEntry){.path = strdup(abs), .size = size, .mtime_ns = mtime, .inode = ino,
                      .stored = stored};
    if (!e->path) return qa_error("identity: out of memory");
    memcpy(e->hash, hash, HASH_HEX);
    c->n++;
    memcpy(out, hash, HASH_HEX);
    return store(c, e);
}

int identity_checkpoint(HashCache *c, const char *dir, char out[HASH_HEX]) {
    HashState *h = hash_begin();
    if (!h) return QA_ERR;
    hash_update_str(h, "qaprune checkpoint identity v1");
    for (int i = 0; i < IDENTITY_N_CKPT_FILES; i++) {
        char path[PATH_MAX], fh[HASH_HEX];
        if (path_join(path, sizeof path, dir, IDENTITY_CKPT_FILES[i])) goto fail;
        if (i >= 2 && !file_exists(path)) continue; /* config and weights are required */
        if (identity_file(c, path, fh)) goto fail;
        hash_update_str(h, IDENTITY_CKPT_FILES[i]);
        hash_update_str(h, fh);
    }
    hash_end(h, out);
    return QA_OK;
fail:
    hash_end(h, out);
    return QA_ERR;
}
