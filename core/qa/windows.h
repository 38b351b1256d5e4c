/* core/qa/windows.h: a split's training windows (QaData) as one binary file, built once per
 * sweep and mapped read-only by every grid point, so that no worker tokenizes the training
 * set again (200,000 questions take seconds per point) and workers share one copy in the
 * page cache.
 *
 * Format (little-endian, as written by this machine):
 *   char magic[8] = "QAPRWIN\0"; uint32 version = 2; uint32 header_bytes = 64;
 *   int64 n (windows); int32 T (tokens per window); uint32 flags (1: answer types follow);
 *   char key[32] (the content key the builder was given, hex; see windows_key)
 *   int32 ids[n*T], types[n*T], mask[n*T], start[n], end[n], and with flag 1
 *   answer_type[n] (Natural Questions windows, nq_windows.h's NqAnswerType)
 * A reader checks the magic, the version, the key, the flags, that the file size is exactly
 * 64 + 4 (3 n T + 2 n (+ n)) bytes and that gold positions and types are in range; anything
 * else is an error naming the file. Version 1 (no flags, no answer types) is refused, and
 * since the version is part of every key a sweep builds a version 2 file beside it. */
#ifndef QAPRUNE_WINDOWS_H
#define QAPRUNE_WINDOWS_H

#include "core/model/train.h"
#include "core/qa/features.h"
#include "core/qa/nq_windows.h"
#include "core/util/hash.h"

/* The content key of the windows of train_path tokenized with tok under fo: a hash of the
 * bytes of train_path and of every file tok was read from, tok's input format and the
 * settings. QA_ERR naming an unreadable file. */
int windows_key(const char *train_path, const Tokenizer *tok, const FeatureOpts *fo,
                char key[HASH_HEX]);

/* The content key of NQ training windows: windows_key's inputs and every setting of o. */
int windows_key_nq(const char *train_path, const Tokenizer *tok, const NqWindowOpts *o,
                   char key[HASH_HEX]);

/* Writes d (its answer types too when d->answer_type is set) to path atomically (core/util/fileio.h) under key. */
int windows_write(const char *path, const QaData *d, const char *key);

/* Maps path read-only and points *view at its arrays (valid until windows_unmap). QA_ERR
 * naming the file when it is not a windows file of this version and key, or is truncated. */
typedef struct WindowsMap WindowsMap;
int windows_map(const char *path, const char *key, WindowsMap **out, QaData *view);
void windows_unmap(WindowsMap *m); /* accepts NULL */

#endif
