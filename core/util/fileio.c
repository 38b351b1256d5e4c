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
