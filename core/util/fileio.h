/* core/util/fileio.h: the one place that reads, writes and creates files and directories.
 *
 * Every file qaprune writes goes through an atomic writer: the bytes go to PATH.PID.tmp, which is
 * fsynced and renamed over PATH, and then PATH's directory is fsynced, so a reader (or a
 * crash) sees the old file or the whole new one, never a part. Every function that can fail
 * returns QA_OK or QA_ERR with one qa_error() line naming the path and the cause. */
#ifndef QAPRUNE_FILEIO_H
#define QAPRUNE_FILEIO_H

#include <stddef.h>

/* Reads the whole regular file at path into a new NUL-terminated buffer (free with free());
 * *len gets its size. A file larger than max bytes is an error (max 0: no limit). */
int file_read(const char *path, size_t max, char **out, size_t *len);

/* An atomic write in progress: file_atomic_open, any number of file_atomic_write, then
 * file_atomic_commit (rename into place) or file_atomic_abort (remove the temporary).
 * Both end calls free the writer; either accepts NULL. */
typedef struct FileAtomic FileAtomic;
int file_atomic_open(const char *path, FileAtomic **out);
int file_atomic_write(FileAtomic *w, const void *data, size_t n);
int file_atomic_commit(FileAtomic *w);
void file_atomic_abort(FileAtomic *w);

/* Writes data[0..n) to path atomically (the three calls above). On failure path is untouched. */
int file_write_atomic(const char *path, const void *data, size_t n);

/* fsync of the directory that holds path (path itself when it is a directory), so that
 * renames into it survive a crash; best effort. */
void file_sync_dir(const char *path);

/* Creates dir and its missing parents (mkdir -p); QA_ERR naming the part that failed. */
int file_mkdirs(const char *dir);

/* 1 when path exists (any type), else 0. */
int file_exists(const char *path);

/* Writes "dir/name" into buf (size n); QA_ERR if it does not fit. */
int path_join(char *buf, size_t n, const char *dir, const char *name);

#endif

/* A file read line by line without holding it whole: gzip-compressed or plain (zlib tells
 * them apart by the gzip magic), for JSON-lines data sets of gigabytes (Natural Questions).
 * file_lines_open, file_lines_next until it returns 0, file_lines_close (accepts NULL). */
typedef struct FileLines FileLines;
/* On success *out gets a new reader (free with file_lines_close()); QA_ERR naming the path. */
int file_lines_open(const char *path, FileLines **out);
/* Reads the next line: *line gets it without its '\n' (NUL-terminated; borrowed, valid until
 * the next call), *len its length. Returns 1 for a line, 0 at the end of the file, QA_ERR on a
 * read error or a corrupt or cut gzip stream (naming the path and the line number). */
int file_lines_next(FileLines *r, const char **line, size_t *len);
/* The 1-based number of the line last returned (0 before the first). */
long file_lines_number(const FileLines *r);
/* 1 when the line last returned ended with '\n' (a last line without one may be cut). */
int file_lines_terminated(const FileLines *r);
/* The fraction in [0, 1] of the file's bytes (compressed bytes for gzip) consumed so far. */
double file_lines_progress(const FileLines *r);
void file_lines_close(FileLines *r);

/* A gzip file written atomically (file_atomic_open underneath): file_gz_open, any number of
 * file_gz_write, then file_gz_commit or file_gz_abort (both free the writer; accept NULL). */
typedef struct FileGz FileGz;
int file_gz_open(const char *path, FileGz **out);
int file_gz_write(FileGz *w, const void *data, size_t n);
int file_gz_commit(FileGz *w);
void file_gz_abort(FileGz *w);
