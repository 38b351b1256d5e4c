/* sweep/identity.h: the content identity of a sweep's inputs (DESIGN.md, "Identity").
 *
 * A grid point's identity is the hash of its resolved settings and of the contents of every
 * input it reads, so an edited file yields new points (never a stale "done") and the same
 * bytes at another path yield the same point. Inputs:
 *   a file           XXH3-128 of its bytes (core/util/hash.h);
 *   a checkpoint     the hashes of config.json, model.safetensors and every tokenizer or
 *                    settings file present (IDENTITY_CKPT_FILES), by name;
 *   synthetic data   the generator's version and settings (the files are a function of them;
 *                    the sweep checks the generated files against their stamp);
 *   a trained teacher its settings and its data's identity.
 *
 * Hashing a 1 GB file takes seconds, so file hashes are cached by (absolute path, size,
 * mtime in ns, inode): in memory for the process and, once a results database is attached,
 * in its file_hashes table, so an unchanged file is read once, not once per point or run. */
#ifndef QAPRUNE_IDENTITY_H
#define QAPRUNE_IDENTITY_H

#include "core/util/hash.h"
#include "db/results.h"

/* The files of a checkpoint directory that take part in its identity (when present). */
extern const char *const IDENTITY_CKPT_FILES[];
extern const int IDENTITY_N_CKPT_FILES;

typedef struct HashCache HashCache;

/* Returns a new cache (free with hash_cache_free), or NULL after qa_error. */
HashCache *hash_cache_new(void);
void hash_cache_free(HashCache *c); /* accepts NULL */

/* Attaches a results database: lookups consult its file_hashes, and every hash known so far
 * and computed from now on is recorded there. db is borrowed; NULL detaches. */
int hash_cache_attach(HashCache *c, Db *db);

/* The content hash of the regular file at path (cached); QA_ERR naming the file when it is
 * missing, not a regular file or unreadable. */
int identity_file(HashCache *c, const char *path, char out[HASH_HEX]);

/* The identity of the checkpoint directory dir: QA_ERR when config.json or
 * model.safetensors is missing or any present file is unreadable. */
int identity_checkpoint(HashCache *c, const char *dir, char out[HASH_HEX]);

#endif
