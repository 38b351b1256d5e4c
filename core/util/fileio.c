/* core/util/fileio.c: see fileio.h. */
#include "core/util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/util/error.h"

int file_read(const char *path, size_t max, char **out, size_t *len) {
    *out = NULL;
    struct stat pre;
    /* before opening: a FIFO (or device) in a file's place would block the open */
    if (stat(path, &pre) == 0 && !S_ISREG(pre.st_mode))
        return qa_error("%s: not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return qa_error("%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return qa_error("%s: not a regular file", path);
    }
    if (max && (size_t)sb.st_size > max) {
        fclose(f);
        return qa_error("%s: %lld bytes, more than the %zu allowed", path,
                        (long long)sb.st_size, max);
    }
    /* read to EOF rather than trusting st_size: the file may change while it is read */
    size_t cap = (size_t)sb.st_size + 1 > 4096 ? (size_t)sb.st_size + 1 : 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1 || ferror(f)) break;
        if (max && n > max) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int io_error = ferror(f);
    fclose(f);
    if (!buf) return qa_env_error(ENOMEM, "%s: out of memory reading it", path);
    if (io_error || (max && n > max)) {
        free(buf);
        return io_error ? qa_error("%s: I/O error reading it", path)
                        : qa_error("%s: grew past the %zu bytes allowed while read", path, max);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return QA_OK;
}

struct FileAtomic {
    int fd;
    int failed;   /* a write failed: commit refuses */
    int err;      /* errno of the first failure */
    char *path, *tmp;
};

int file_atomic_open(const char *path, FileAtomic **out) {
    *out = NULL;
    FileAtomic *w = calloc(1, sizeof *w);
    size_t n = strlen(path);
    if (w) w->path = malloc(n + 1), w->tmp = malloc(n + 32);
    if (!w || !w->path || !w->tmp) {
        if (w) free(w->path), free(w->tmp);
        free(w);
        return qa_error("%s: out of memory", path);
    }
    memcpy(w->path, path, n + 1);
    /* the process id in the name: two processes writing one path never share a temporary */
    snprintf(w->tmp, n + 32, "%s.%ld.tmp", path, (long)getpid());
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (w->fd < 0) {
        int e = errno;
        qa_env_error(e, "%s: cannot create: %s", w->tmp, strerror(e));
        free(w->path), free(w->tmp), free(w);
        return QA_ERR;
    }
    *out = w;
    return QA_OK;
}

int file_atomic_write(FileAtomic *w, const void *data, size_t n) {
    const char *p = data;
    while (n > 0 && !w->failed) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            w->failed = 1;
            w->err = k < 0 ? errno : EIO;
            break;
        }
        p += k;
        n -= (size_t)k;
    }
    return w->failed ? qa_env_error(w->err, "%s: cannot write: %s", w->path, strerror(w->err))
                     : QA_OK;
}

static void atomic_free(FileAtomic *w) {
    free(w->path);
    free(w->tmp);
    free(w);
}

void file_atomic_abort(FileAtomic *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    atomic_free(w);
}

int file_atomic_commit(FileAtomic *w) {
    if (!w) return QA_ERR;
    if (!w->failed && fsync(w->fd) != 0) w->failed = 1, w->err = errno;
    if (close(w->fd) != 0 && !w->failed) w->failed = 1, w->err = errno;
    w->fd = -1;
    if (!w->failed && rename(w->tmp, w->path) != 0) w->failed = 1, w->err = errno;
    if (w->failed) {
        qa_env_error(w->err, "%s: cannot write: %s", w->path, strerror(w->err));
        file_atomic_abort(w);
        return QA_ERR;
    }
    file_sync_dir(w->path);
    atomic_free(w);
    return QA_OK;
}

int file_write_atomic(const char *path, const void *data, size_t n) {
    FileAtomic *w;
    if (file_atomic_open(path, &w)) return QA_ERR;
    if (file_atomic_write(w, data, n)) {
        file_atomic_abort(w);
        return QA_ERR;
    }
    return file_atomic_commit(w);
}

void file_sync_dir(const char *path) {
    struct stat sb;
    char dir[PATH_MAX];
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(dir, sizeof dir, "%s", path);
    } else {
        const char *slash = strrchr(path, '/');
        if (!slash) snprintf(dir, sizeof dir, ".");
        else if (slash == path) snprintf(dir, sizeof dir, "/");
        else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

int file_mkdirs(const char *dir) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return qa_error("%s: path too long", dir);
    for (char *p = buf + 1;; p++)
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST)
                return qa_env_error(errno, "%s: cannot create the directory: %s", buf,
                                    strerror(errno));
            if (!(*p = c)) break;
        }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return qa_error("%s: not a directory", dir);
    return QA_OK;
}

int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

int path_join(char *buf, size_t n, const char *dir, const char *name) {
    if ((size_t)snprintf(buf, n, "%s/%s", dir, name) >= n)
        return qa_error("%s/%s: path too long", dir, name);
    return QA_OK;
}

struct FileLines {
    gzFile gz;
    char *path;
    double size;      /* bytes of the file on disk, for file_lines_progress */
    char *chunk;      /* decompressed bytes not yet returned: chunk[pos .. fill) */
    size_t pos, fill;
    char *line;       /* the line returned last, NUL-terminated */
    size_t line_cap;
    long number;
    int terminated, eof;
};

enum { FILE_LINES_CHUNK = 1 << 18 };

int file_lines_open(const char *path, FileLines **out) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return qa_env_error(errno, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return qa_error("%s: not a regular file", path);
    FileLines *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path)) || !(r->chunk = malloc(FILE_LINES_CHUNK)) ||
        !(r->line = malloc(r->line_cap = 4096))) {
        file_lines_close(r);
        return qa_env_error(ENOMEM, "%s: out of memory opening it", path);
    }
    r->size = (double)sb.st_size;
    if (!(r->gz = gzopen(path, "rb"))) {
        int e = errno;
        file_lines_close(r);
        return qa_env_error(e, "%s: cannot open: %s", path, e ? strerror(e) : "zlib error");
    }
    gzbuffer(r->gz, FILE_LINES_CHUNK);
    *out = r;
    return QA_OK;
}

/* Refills r->chunk; returns the bytes read (0 at the end), or QA_ERR naming the zlib error. */
static int file_lines_fill(FileLines *r) {
    int n = gzread(r->gz, r->chunk, FILE_LINES_CHUNK);
    int zerr = Z_OK;
    const char *msg = gzerror(r->gz, &zerr);
    if (n < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
        int e = zerr == Z_ERRNO ? errno : zerr == Z_MEM_ERROR ? ENOMEM : 0;
        return qa_env_error(e, "%s: line %ld: read error: %s", r->path, r->number + 1,
                            zerr == Z_ERRNO ? strerror(e) : msg);
    }
    r->pos = 0;
    r->fill = (size_t)n;
    return n;
}

int file_lines_next(FileLines *r, const char **line, size_t *len) {
    size_t n = 0;
    r->terminated = 0;
    for (;;) {
        if (r->pos == r->fill) {
            if (r->eof) break;
            int got = file_lines_fill(r);
            if (got < 0) return QA_ERR;
            if (got == 0) {
                r->eof = 1;
                break;
            }
        }
        char *nl = memchr(r->chunk + r->pos, '\n', r->fill - r->pos);
        size_t take = nl ? (size_t)(nl - (r->chunk + r->pos)) : r->fill - r->pos;
        if (n + take + 1 > r->line_cap) {
            size_t cap = r->line_cap;
            while (n + take + 1 > cap) cap *= 2;
            char *bigger = realloc(r->line, cap);
            if (!bigger)
                return qa_env_error(ENOMEM, "%s: line %ld: out of memory", r->path, r->number + 1);
            r->line = bigger;
            r->line_cap = cap;
        }
        memcpy(r->line + n, r->chunk + r->pos, take);
        n += take;
        r->pos += take + (nl != NULL);
        if (nl) {
            r->terminated = 1;
            break;
        }
    }
    if (n == 0 && !r->terminated) return 0; /* the end of the file */
    r->line[n] = '\0';
    r->number++;
    *line = r->line;
    *len = n;
    return 1;
}

long file_lines_number(const FileLines *r) { return r->number; }

int file_lines_terminated(const FileLines *r) { return r->terminated; }

double file_lines_progress(const FileLines *r) {
    if (r->size <= 0) return 1.0;
    double f = (double)gzoffset(r->gz) / r->size;
    return f > 1.0 ? 1.0 : f < 0.0 ? 0.0 : f;
}

void file_lines_close(FileLines *r) {
    if (!r) return;
    if (r->gz) gzclose(r->gz);
    free(r->path);
    free(r->chunk);
    free(r->line);
    free(r);
}

struct FileGz {
    FileAtomic *out;
    z_stream z;
    unsigned char buf[1 << 16];
    char *path;
};

int file_gz_open(const char *path, FileGz **out) {
    *out = NULL;
    FileGz *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return qa_env_error(ENOMEM, "%s: out of memory", path);
    }
    /* windowBits 15 + 16: a gzip header and trailer around the deflate stream */
    if (deflateInit2(&w->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(w->path);
        free(w);
        return qa_error("%s: zlib: cannot start compressing", path);
    }
    if (file_atomic_open(path, &w->out)) {
        deflateEnd(&w->z);
        free(w->path);
        free(w);
        return QA_ERR;
    }
    *out = w;
    return QA_OK;
}

/* Runs deflate over the pending input with flush mode, writing every output buffer. */
static int file_gz_pump(FileGz *w, int flush) {
    int zr;
    do {
        w->z.next_out = w->buf;
        w->z.avail_out = sizeof w->buf;
        zr = deflate(&w->z, flush);
        if (zr == Z_STREAM_ERROR) return qa_error("%s: zlib: compression failed", w->path);
        size_t have = sizeof w->buf - w->z.avail_out;
        if (have && file_atomic_write(w->out, w->buf, have)) return QA_ERR;
    } while (w->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    return QA_OK;
}

int file_gz_write(FileGz *w, const void *data, size_t n) {
    while (n) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        w->z.next_in = (Bytef *)data;
        w->z.avail_in = chunk;
        if (file_gz_pump(w, Z_NO_FLUSH)) return QA_ERR;
        data = (const char *)data + chunk;
        n -= chunk;
    }
    return QA_OK;
}

int file_gz_commit(FileGz *w) {
    if (!w) return QA_OK;
    int rc = file_gz_pump(w, Z_FINISH);
    deflateEnd(&w->z);
    if (rc) file_atomic_abort(w->out);
    else rc = file_atomic_commit(w->out);
    free(w->path);
    free(w);
    return rc;
}

void file_gz_abort(FileGz *w) {
    if (!w) return;
    deflateEnd(&w->z);
    file_atomic_abort(w->out);
    free(w->path);
    free(w);
}
