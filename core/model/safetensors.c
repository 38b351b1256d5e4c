/* core/model/safetensors.c: safetensors reader and writer (see safetensors.h).
 *
 * The reader loads the whole file into one allocation, validates the JSON header into an
 * array of StTensor, and serves tensors as byte ranges of that allocation. Tensor data is
 * little-endian and may be unaligned, so elements are loaded with memcpy. */
#include "core/model/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/error.h"
#include "core/util/fileio.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

#define ST_MAX_HEADER 100000000ULL /* the format's own limit on N (100 MB) */
#define ST_MAX_DIM 9007199254740992.0 /* 2^53: larger JSON numbers are not exact doubles */

struct SafeTensors {
    char *path;                 /* owned copy, for error messages */
    unsigned char *file;        /* the whole file, owned */
    const unsigned char *data;  /* the data buffer, inside file */
    size_t data_size;
    StTensor *tensors;          /* count of them, header order; names owned */
    const StTensor **by_name;   /* the same tensors sorted by name, for st_find() */
    int count;
    char **meta;                /* meta_count key, value pairs, all owned */
    int meta_count;
};

static const struct { const char *name; size_t size; } dtypes[ST_DTYPE_COUNT] = {
    [ST_F64] = {"F64", 8}, [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1},
    [ST_U64] = {"U64", 8}, [ST_U32] = {"U32", 4}, [ST_U16] = {"U16", 2}, [ST_U8] = {"U8", 1},
    [ST_BOOL] = {"BOOL", 1},
};

const char *st_dtype_name(StDtype dtype) { return dtypes[dtype].name; }
size_t st_dtype_size(StDtype dtype) { return dtypes[dtype].size; }

int64_t st_numel(int ndim, const int64_t *shape) {
    for (int i = 0; i < ndim; i++) /* first: [2^40, 2^40, 0] is a valid empty tensor */
        if (shape[i] == 0) return 0;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* Formats a shape as "[2, 3]" into buf; returns buf. */
static const char *shape_text(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* Formats a JSON value, truncated, into buf for an error message; returns buf. */
static const char *json_text(const cJSON *v, char *buf, size_t n) {
    char *s = v ? cJSON_PrintUnformatted(v) : NULL;
    snprintf(buf, n, "%s", s ? s : "(missing)");
    cJSON_free(s);
    return buf;
}

/* ---- reading ------------------------------------------------------------------------- */

/* Reads the whole file into a new allocation *buf (free with free()) of *size bytes. */
static int read_file(const char *path, unsigned char **buf, size_t *size) {
    *buf = NULL;
    /* O_NONBLOCK: a FIFO in the file's place must not hang the open (checked below) */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    if (fd < 0) return qa_error("%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return qa_error("%s: not a regular file", path);
    }
    *size = (size_t)sb.st_size;
    *buf = malloc(*size ? *size : 1);
    size_t got = 0;
    while (*buf && got < *size) {
        ssize_t r = read(fd, *buf + got, *size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (*buf && got == *size) return QA_OK;
    free(*buf);
    *buf = NULL;
    return qa_error("%s: cannot read %zu bytes (got %zu)", path, *size, got);
}

/* Sets *out to v if v is an integer-valued JSON number in [0, 2^53]; else returns -1. */
static int json_count(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_DIM) || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

/* Fills t from one header entry {"dtype", "shape", "data_offsets"}, checking each field
 * against the data buffer size. t->name is already set. */
static int parse_tensor(const char *path, const cJSON *e, size_t data_size, StTensor *t) {
    char vb[96];
    if (!cJSON_IsObject(e))
        return qa_error("%s: tensor '%s': entry is %s, not an object", path, t->name,
                        json_text(e, vb, sizeof vb));
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    int known = 0;
    for (int k = 0; k < ST_DTYPE_COUNT && cJSON_IsString(dt); k++)
        if (strcmp(dt->valuestring, dtypes[k].name) == 0) t->dtype = (StDtype)k, known = 1;
    if (!known)
        return qa_error("%s: tensor '%s': unknown dtype %s", path, t->name,
                        json_text(dt, vb, sizeof vb));

    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    int nd = cJSON_IsArray(sh) ? cJSON_GetArraySize(sh) : -1;
    if (nd < 0 || nd > ST_MAX_DIMS)
        return qa_error("%s: tensor '%s': shape %s is not an array of at most %d dims", path,
                        t->name, json_text(sh, vb, sizeof vb), ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1, dim;
    for (int i = 0; i < nd; i++) {
        const cJSON *d = cJSON_GetArrayItem(sh, i);
        if (json_count(d, &dim) != 0)
            return qa_error("%s: tensor '%s': shape[%d] = %s is not a non-negative integer",
                            path, t->name, i, json_text(d, vb, sizeof vb));
        t->shape[i] = (int64_t)dim;
        if (numel == 0 || dim == 0) numel = 0;
        else numel = numel > UINT64_MAX / dim ? UINT64_MAX : numel * dim; /* saturates */
    }

    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    uint64_t begin, end;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        json_count(cJSON_GetArrayItem(off, 0), &begin) != 0 ||
        json_count(cJSON_GetArrayItem(off, 1), &end) != 0 || end < begin)
        return qa_error("%s: tensor '%s': data_offsets %s is not [begin, end] with "
                        "0 <= begin <= end", path, t->name, json_text(off, vb, sizeof vb));
    if (end > data_size)
        return qa_error("%s: tensor '%s': data_offsets [%llu, %llu] beyond the data buffer "
                        "of %zu bytes (truncated file?)", path, t->name,
                        (unsigned long long)begin, (unsigned long long)end, data_size);
    size_t esize = dtypes[t->dtype].size;
    if (numel > (end - begin) / esize || numel * esize != end - begin) {
        char need[32] = "more than 2^64";
        if (numel <= UINT64_MAX / esize)
            snprintf(need, sizeof need, "%llu", (unsigned long long)(numel * esize));
        return qa_error("%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but "
                        "shape %s of %s needs %s", path, t->name, (unsigned long long)begin,
                        (unsigned long long)end, (unsigned long long)(end - begin),
                        shape_text(t->ndim, t->shape, vb, sizeof vb), dtypes[t->dtype].name, need);
    }
    t->offset = (size_t)begin;
    t->nbytes = (size_t)(end - begin);
    return QA_OK;
}

/* Copies the __metadata__ object's string pairs into st->meta. */
static int parse_metadata(SafeTensors *st, const cJSON *m) {
    char vb[96];
    if (st->meta) return qa_error("%s: __metadata__ appears twice in the header", st->path);
    if (!cJSON_IsObject(m))
        return qa_error("%s: __metadata__ is %s, not an object", st->path,
                        json_text(m, vb, sizeof vb));
    int n = cJSON_GetArraySize(m);
    st->meta = calloc((size_t)(2 * n + 1), sizeof *st->meta);
    if (!st->meta) return qa_error("%s: out of memory", st->path);
    for (const cJSON *kv = m->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
            return qa_error("%s: __metadata__ '%s': value %s is not a string", st->path,
                            kv->string, json_text(kv, vb, sizeof vb));
        st->meta[2 * st->meta_count] = strdup(kv->string);
        st->meta[2 * st->meta_count + 1] = strdup(kv->valuestring);
        st->meta_count++;
        if (!st->meta[2 * st->meta_count - 2] || !st->meta[2 * st->meta_count - 1])
            return qa_error("%s: out of memory", st->path);
    }
    return QA_OK;
}

static int by_offset(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const StTensor *const *)a)->name, (*(const StTensor *const *)b)->name);
}

/* Checks that names are unique and that the byte ranges tile the data buffer exactly, as
 * the format requires: sorted by offset, each tensor begins where the previous one ended.
 * Leaves st->by_name sorted by name. */
static int check_layout(SafeTensors *st) {
    const StTensor **v = st->by_name;
    for (int i = 0; i < st->count; i++) v[i] = &st->tensors[i];
    qsort(v, (size_t)st->count, sizeof *v, by_offset);
    size_t pos = 0;
    for (int i = 0; i < st->count; i++) {
        if (v[i]->offset < pos)
            return qa_error("%s: tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s' "
                            "which ends at %zu", st->path, v[i]->name, v[i]->offset,
                            v[i]->offset + v[i]->nbytes, v[i - 1]->name, pos);
        if (v[i]->offset > pos)
            return qa_error("%s: tensor '%s': data_offsets [%zu, %zu] leave a gap: bytes "
                            "[%zu, %zu) of the data buffer belong to no tensor", st->path,
                            v[i]->name, v[i]->offset, v[i]->offset + v[i]->nbytes, pos,
                            v[i]->offset);
        pos = v[i]->offset + v[i]->nbytes;
    }
    if (pos != st->data_size)
        return qa_error("%s: tensor '%s': bytes [%zu, %zu) at the end of the data buffer "
                        "belong to no tensor", st->path,
                        st->count ? v[st->count - 1]->name : "(none)", pos, st->data_size);
    qsort(v, (size_t)st->count, sizeof *v, by_name);
    for (int i = 1; i < st->count; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0)
            return qa_error("%s: tensor '%s': name appears twice in the header", st->path,
                            v[i]->name);
    return QA_OK;
}

/* Parses and validates the JSON header of the file already in st->file. */
static int parse_header(SafeTensors *st, size_t file_size) {
    if (file_size < 8)
        return qa_error("%s: file is %zu bytes, too short for the 8-byte header length",
                        st->path, file_size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | st->file[i];
    if (n > file_size - 8)
        return qa_error("%s: header length %llu exceeds the %zu bytes after it (truncated "
                        "or not a safetensors file)", st->path, (unsigned long long)n,
                        file_size - 8);
    if (n > ST_MAX_HEADER)
        return qa_error("%s: header length %llu exceeds the format's limit of %llu",
                        st->path, (unsigned long long)n, ST_MAX_HEADER);
    const char *hdr = (const char *)st->file + 8, *end = NULL;
    st->data = st->file + 8 + n;
    st->data_size = file_size - 8 - (size_t)n;

    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)n, &end, 0);
    size_t pos = end ? (size_t)(end - hdr) : 0;
    while (root && pos < n && (hdr[pos] == ' ' || hdr[pos] == '\t' || hdr[pos] == '\n' ||
                               hdr[pos] == '\r'))
        pos++;
    if (!root || pos != n) {
        cJSON_Delete(root);
        return qa_error("%s: header is not valid JSON (error at byte %zu of %llu)", st->path,
                        pos, (unsigned long long)n);
    }
    if (!cJSON_IsObject(root)) {
        char vb[96];
        qa_error("%s: header is %s, not a JSON object", st->path, json_text(root, vb, sizeof vb));
        cJSON_Delete(root);
        return QA_ERR;
    }
    int rc = QA_OK, cap = cJSON_GetArraySize(root);
    st->tensors = calloc((size_t)cap + 1, sizeof *st->tensors);
    st->by_name = calloc((size_t)cap + 1, sizeof *st->by_name);
    if (!st->tensors || !st->by_name) rc = qa_error("%s: out of memory", st->path);
    for (const cJSON *e = root->child; e && rc == QA_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            rc = parse_metadata(st, e);
            continue;
        }
        StTensor *t = &st->tensors[st->count++];
        t->name = strdup(e->string);
        rc = t->name ? parse_tensor(st->path, e, st->data_size, t)
                     : qa_error("%s: out of memory", st->path);
    }
    cJSON_Delete(root);
    return rc == QA_OK ? check_layout(st) : rc;
}

int st_open(const char *path, SafeTensors **out) {
    *out = NULL;
    SafeTensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return qa_error("%s: out of memory", path);
    }
    size_t size = 0;
    int rc = read_file(path, &st->file, &size);
    if (rc == QA_OK) rc = parse_header(st, size);
    if (rc != QA_OK) {
        st_close(st);
        return rc;
    }
    *out = st;
    return QA_OK;
}

void st_close(SafeTensors *st) {
    if (!st) return;
    for (int i = 0; i < st->count; i++) free((char *)st->tensors[i].name);
    for (int i = 0; i < 2 * st->meta_count; i++) free(st->meta[i]);
    free(st->meta);
    free(st->tensors);
    free(st->by_name);
    free(st->file);
    free(st->path);
    free(st);
}

int st_count(const SafeTensors *st) { return st->count; }

const StTensor *st_at(const SafeTensors *st, int i) {
    return i >= 0 && i < st->count ? &st->tensors[i] : NULL;
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
    StTensor key = {.name = name};
    const StTensor *kp = &key, **hit =
        bsearch(&kp, st->by_name, (size_t)st->count, sizeof *st->by_name, by_name);
    return hit ? *hit : NULL;
}

const void *st_data(const SafeTensors *st, const StTensor *t) { return st->data + t->offset; }

const char *st_metadata(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->meta_count; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}

/* ---- typed reads --------------------------------------------------------------------- */

/* IEEE binary16 to binary32, exactly: subnormals (man * 2^-24), infinities, NaN payloads. */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0) {
        float m = ldexpf((float)man, -24);
        return sign ? -m : m;
    }
    if (exp == 31) bits = sign | 0x7f800000u | man << 13;
    else bits = sign | (exp + 127 - 15) << 23 | man << 13;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* bfloat16 is the top half of a binary32. */
static float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Finds name and checks its shape against the caller's expectation. */
static const StTensor *find_shaped(const SafeTensors *st, const char *name, int ndim,
                                   const int64_t *expect) {
    const StTensor *t = st_find(st, name);
    if (!t) {
        qa_error("%s: tensor '%s': missing", st->path, name);
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == expect[i];
    if (!same) {
        char want[160], got[160];
        qa_error("%s: tensor '%s': expected shape %s, found %s", st->path, name,
                 shape_text(ndim, expect, want, sizeof want),
                 shape_text(t->ndim, t->shape, got, sizeof got));
        return NULL;
    }
    return t;
}

int st_read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *expect_shape,
                float *dst) {
    const StTensor *t = find_shaped(st, name, ndim, expect_shape);
    if (!t) return QA_ERR;
    const unsigned char *p = st_data(st, t);
    size_t n = t->nbytes / dtypes[t->dtype].size;
    switch (t->dtype) {
    case ST_F32:
        if (n) memcpy(dst, p, t->nbytes);
        return QA_OK;
    case ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return QA_OK;
    case ST_F16:
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t->dtype == ST_F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
        return QA_OK;
    default:
        return qa_error("%s: tensor '%s': dtype %s is not a float type", st->path, name,
                        dtypes[t->dtype].name);
    }
}

/* Loads element i of an integer tensor; returns -1 for a U64 beyond INT64_MAX. */
static int int_at(const StTensor *t, const unsigned char *p, size_t i, int64_t *v) {
    union { int64_t i64; uint64_t u64; int32_t i32; uint32_t u32; int16_t i16; uint16_t u16;
            int8_t i8; uint8_t u8; } u;
    memcpy(&u, p + i * dtypes[t->dtype].size, dtypes[t->dtype].size);
    switch (t->dtype) {
    case ST_I64: *v = u.i64; return 0;
    case ST_U64: *v = (int64_t)u.u64; return u.u64 > INT64_MAX ? -1 : 0;
    case ST_I32: *v = u.i32; return 0;
    case ST_U32: *v = u.u32; return 0;
    case ST_I16: *v = u.i16; return 0;
    case ST_U16: *v = u.u16; return 0;
    case ST_I8: *v = u.i8; return 0;
    default: *v = u.u8; return 0; /* U8, BOOL */
    }
}

/* Shared body of st_read_i64/st_read_i32: exactly one of d64, d32 is non-NULL. */
static int read_ints(const SafeTensors *st, const char *name, int ndim, const int64_t *expect,
                     int64_t *d64, int32_t *d32) {
    const StTensor *t = find_shaped(st, name, ndim, expect);
    if (!t) return QA_ERR;
    if (t->dtype <= ST_BF16)
        return qa_error("%s: tensor '%s': dtype %s is not an integer type", st->path, name,
                        dtypes[t->dtype].name);
    const unsigned char *p = st_data(st, t);
    size_t n = t->nbytes / dtypes[t->dtype].size;
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        int bad = int_at(t, p, i, &v);
        if (bad || (d32 && (v < INT32_MIN || v > INT32_MAX)))
            return qa_error("%s: tensor '%s': element %zu (%s) does not fit in int%d", st->path,
                            name, i, dtypes[t->dtype].name, d32 ? 32 : 64);
        if (d64) d64[i] = v;
        else d32[i] = (int32_t)v;
    }
    return QA_OK;
}

int st_read_i64(const SafeTensors *st, const char *name, int ndim, const int64_t *expect_shape,
                int64_t *dst) {
    return read_ints(st, name, ndim, expect_shape, dst, NULL);
}

int st_read_i32(const SafeTensors *st, const char *name, int ndim, const int64_t *expect_shape,
                int32_t *dst) {
    return read_ints(st, name, ndim, expect_shape, NULL, dst);
}

/* ---- writing ------------------------------------------------------------------------- */

/* Returns why entry e cannot be written (NULL if it can); root holds the names so far. */
static const char *entry_problem(const StEntry *e, const cJSON *root) {
    if (strcmp(e->name, "__metadata__") == 0) return "the name is reserved";
    if (cJSON_GetObjectItemCaseSensitive(root, e->name)) return "the name is repeated";
    if ((unsigned)e->dtype >= ST_DTYPE_COUNT) return "unknown dtype";
    if (e->ndim < 0 || e->ndim > ST_MAX_DIMS) return "ndim outside [0, 8]";
    for (int d = 0; d < e->ndim; d++)
        if (e->shape[d] < 0) return "negative dimension";
    if (!e->data && st_numel(e->ndim, e->shape) > 0) return "NULL data";
    return NULL;
}

/* Adds item to parent (an object if key is non-NULL, else an array); a failed allocation
 * anywhere sets *oom, so a partial header is never written. */
static void add(cJSON *parent, const char *key, cJSON *item, int *oom) {
    int ok = parent && item && (key ? cJSON_AddItemToObject(parent, key, item)
                                    : cJSON_AddItemToArray(parent, item));
    if (!ok) {
        cJSON_Delete(item);
        *oom = 1;
    }
}

/* Builds the header JSON: __metadata__ first, then the entries in order, tiling the buffer.
 * Returns a new string (free with cJSON_free()) or NULL after qa_error(). */
static char *build_header(const char *path, const StEntry *e, int n, const char *const *kv) {
    int oom = 0;
    cJSON *root = cJSON_CreateObject(), *meta = kv && kv[0] ? cJSON_CreateObject() : NULL;
    for (int i = 0; meta && kv[i]; i += 2) {
        if (!kv[i + 1]) {
            cJSON_Delete(meta);
            cJSON_Delete(root);
            qa_error("%s: metadata key '%s' has no value", path, kv[i]);
            return NULL;
        }
        add(meta, kv[i], cJSON_CreateString(kv[i + 1]), &oom);
    }
    if (meta) add(root, "__metadata__", meta, &oom);
    uint64_t pos = 0;
    for (int i = 0; i < n && !oom; i++) {
        const char *why = e[i].name ? entry_problem(&e[i], root) : "NULL name";
        if (why) {
            cJSON_Delete(root);
            qa_error("%s: tensor '%s': cannot write: %s", path, e[i].name ? e[i].name : "",
                     why);
            return NULL;
        }
        /* children first, t into root last: a failed add() frees its item */
        cJSON *t = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *off = cJSON_CreateArray();
        add(t, "dtype", cJSON_CreateString(dtypes[e[i].dtype].name), &oom);
        for (int d = 0; d < e[i].ndim; d++)
            add(shape, NULL, cJSON_CreateNumber((double)e[i].shape[d]), &oom);
        add(t, "shape", shape, &oom);
        uint64_t end = pos + (uint64_t)st_numel(e[i].ndim, e[i].shape) * dtypes[e[i].dtype].size;
        add(off, NULL, cJSON_CreateNumber((double)pos), &oom);
        add(off, NULL, cJSON_CreateNumber((double)end), &oom);
        add(t, "data_offsets", off, &oom);
        add(root, e[i].name, t, &oom);
        pos = end;
    }
    char *json = oom ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) qa_error("%s: out of memory building the header", path);
    return json;
}

int st_write(const char *path, const StEntry *entries, int n, const char *const *meta_kv) {
    char *json = build_header(path, entries, n, meta_kv);
    if (!json) return QA_ERR;
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    unsigned char *head = malloc(8 + padded);
    FileAtomic *w = NULL;
    int rc = QA_ERR;
    if (!head) {
        qa_error("%s: out of memory", path);
        goto cleanup;
    }
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(head + 8, json, len);
    memset(head + 8 + len, ' ', padded - len);
    if (file_atomic_open(path, &w)) goto cleanup;
    int bad = file_atomic_write(w, head, 8 + padded);
    for (int i = 0; i < n && !bad; i++)
        bad = file_atomic_write(w, entries[i].data,
                                (size_t)st_numel(entries[i].ndim, entries[i].shape) *
                                    dtypes[entries[i].dtype].size);
    if (bad) goto cleanup;
    rc = file_atomic_commit(w);
    w = NULL;
cleanup:
    file_atomic_abort(w);
    cJSON_free(json);
    free(head);
    return rc;
}
