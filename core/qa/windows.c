/* core/qa/windows.c: see windows.h. */
#include "core/qa/windows.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/error.h"
#include "core/util/fileio.h"

#define WIN_MAGIC "QAPRWIN"
#define WIN_VERSION 2u
#define WIN_HEADER 64
#define WIN_TYPES 1u /* flags: answer_type[n] follows end[n] */

typedef struct {
    char magic[8];
    uint32_t version, header_bytes;
    int64_t n;
    int32_t T;
    uint32_t flags;
    char key[32];
} WinHeader;
_Static_assert(sizeof(WinHeader) == WIN_HEADER, "the header is 64 bytes");

struct WindowsMap {
    void *base;
    size_t size;
};

int windows_key(const char *train_path, const Tokenizer *tok, const FeatureOpts *fo,
                char key[HASH_HEX]) {
    char th[HASH_HEX], vh[HASH_HEX], text[1024];
    if (hash_file(train_path, th)) return QA_ERR;
    int k = snprintf(text, sizeof text, "qaprune train windows v%u %s %s", WIN_VERSION, th,
                     tokenizer_format(tok)->name);
    for (const char *const *f = tokenizer_files(tok); *f && k < (int)sizeof text; f++) {
        if (hash_file(*f, vh)) return QA_ERR;
        k += snprintf(text + k, sizeof text - (size_t)k, " %s", vh);
    }
    if (k < (int)sizeof text)
        snprintf(text + k, sizeof text - (size_t)k, " %d %d %d", fo->max_seq_len,
                 fo->doc_stride, fo->max_query_len);
    hash_bytes(text, strlen(text), key);
    return QA_OK;
}

int windows_key_nq(const char *train_path, const Tokenizer *tok, const NqWindowOpts *o,
                   char key[HASH_HEX]) {
    char base[HASH_HEX], text[512];
    FeatureOpts fo = {o->max_seq_len, o->doc_stride, o->max_query_len};
    if (windows_key(train_path, tok, &fo, base)) return QA_ERR;
    /* %a: the exact bits of include_unknowns */
    snprintf(text, sizeof text, "nq %s %d %d %d %d %a %llu", base, o->max_contexts,
             o->max_position, o->markup, o->training, o->include_unknowns,
             (unsigned long long)o->seed);
    hash_bytes(text, strlen(text), key);
    return QA_OK;
}

static size_t data_bytes(int64_t n, int64_t T, int typed) {
    return sizeof(int32_t) * (size_t)(3 * n * T + (typed ? 3 : 2) * n);
}

int windows_write(const char *path, const QaData *d, const char *key) {
    WinHeader h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, WIN_MAGIC, 8);
    h.version = WIN_VERSION;
    h.header_bytes = WIN_HEADER;
    h.n = d->n;
    h.T = d->T;
    h.flags = d->answer_type ? WIN_TYPES : 0;
    memcpy(h.key, key, 32);
    size_t nt = (size_t)d->n * (size_t)d->T;
    FileAtomic *w;
    if (file_atomic_open(path, &w)) return QA_ERR;
    int bad = file_atomic_write(w, &h, sizeof h) ||
              file_atomic_write(w, d->ids, nt * sizeof(int32_t)) ||
              file_atomic_write(w, d->types, nt * sizeof(int32_t)) ||
              file_atomic_write(w, d->mask, nt * sizeof(int32_t)) ||
              file_atomic_write(w, d->start, (size_t)d->n * sizeof(int32_t)) ||
              file_atomic_write(w, d->end, (size_t)d->n * sizeof(int32_t)) ||
              (d->answer_type &&
               file_atomic_write(w, d->answer_type, (size_t)d->n * sizeof(int32_t)));
    if (bad) {
        file_atomic_abort(w);
        return QA_ERR;
    }
    return file_atomic_commit(w);
}

int windows_map(const char *path, const char *key, WindowsMap **out, QaData *view) {
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return qa_error("%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    WinHeader h;
    if (fstat(fd, &sb) != 0 || sb.st_size < WIN_HEADER ||
        pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
        close(fd);
        return qa_error("%s: not a windows file (shorter than its %d-byte header)", path,
                        WIN_HEADER);
    }
    if (memcmp(h.magic, WIN_MAGIC, 8) || h.header_bytes != WIN_HEADER) {
        close(fd);
        return qa_error("%s: not a windows file", path);
    }
    if (h.version != WIN_VERSION) { /* version 1 had no answer types: rebuilt, never misread */
        close(fd);
        return qa_error("%s: a windows file of version %u, not %u (build it again)", path,
                        h.version, WIN_VERSION);
    }
    if (h.flags & ~WIN_TYPES) {
        close(fd);
        return qa_error("%s: header: unknown flags 0x%x", path, h.flags & ~WIN_TYPES);
    }
    if (strncmp(h.key, key, 32)) {
        close(fd);
        return qa_error("%s: built from other data or settings (key %.32s, expected %.32s)",
                        path, h.key, key);
    }
    if (h.n < 0 || h.T <= 0 || h.n > INT32_MAX || h.T > 65536) {
        close(fd);
        return qa_error("%s: header: %lld windows of %lld tokens, outside [0, %d] x [1, 65536]",
                        path, (long long)h.n, (long long)h.T, INT32_MAX);
    }
    int typed = (h.flags & WIN_TYPES) != 0;
    if ((size_t)sb.st_size != WIN_HEADER + data_bytes(h.n, h.T, typed)) {
        close(fd);
        return qa_error("%s: %lld bytes, expected %zu for %lld windows of %lld tokens%s", path,
                        (long long)sb.st_size, WIN_HEADER + data_bytes(h.n, h.T, typed),
                        (long long)h.n, (long long)h.T, typed ? " with answer types" : "");
    }
    WindowsMap *m = malloc(sizeof *m);
    void *base = m ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    close(fd);
    if (base == MAP_FAILED) {
        free(m);
        return qa_error("%s: cannot map: %s", path, strerror(errno));
    }
    m->base = base;
    m->size = (size_t)sb.st_size;
    const int32_t *a = (const int32_t *)((const char *)base + WIN_HEADER);
    size_t nt = (size_t)h.n * (size_t)h.T;
    *view = (QaData){(int)h.n, (int)h.T, a, a + nt, a + 2 * nt, a + 3 * nt, a + 3 * nt + h.n,
                     typed ? a + 3 * nt + 2 * h.n : NULL};
    /* the span loss asserts gold positions inside the window: refuse them here instead */
    for (int64_t w = 0; w < h.n; w++)
        if (view->start[w] < 0 || view->start[w] >= h.T || view->end[w] < 0 ||
            view->end[w] >= h.T) {
            qa_error("%s: window %lld: gold positions [%d, %d] outside [0, %lld)", path,
                     (long long)w, view->start[w], view->end[w], (long long)h.T);
            windows_unmap(m);
            return QA_ERR;
        }
    for (int64_t w = 0; typed && w < h.n; w++) /* the type loss indexes its logits with them */
        if (view->answer_type[w] < 0 || view->answer_type[w] >= NQ_N_TYPES) {
            qa_error("%s: window %lld: answer type %d outside [0, %d)", path, (long long)w,
                     view->answer_type[w], NQ_N_TYPES);
            windows_unmap(m);
            return QA_ERR;
        }
    *out = m;
    return QA_OK;
}

void windows_unmap(WindowsMap *m) {
    if (!m) return;
    munmap(m->base, m->size);
    free(m);
}
