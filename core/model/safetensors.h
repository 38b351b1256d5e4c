/* core/model/safetensors.h: reader and writer of the safetensors format (Hugging Face).
 *
 * Layout: an 8-byte little-endian header length N, then N bytes of JSON,
 *   {"__metadata__": {"key": "value", ...},
 *    "tensor name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...}
 * then the data buffer. Offsets are relative to the start of the data buffer; tensors are
 * little-endian, row-major, and their byte ranges tile the buffer with no gap or overlap.
 *
 * st_open() validates the whole header before returning (known dtype, non-negative integer
 * shape, offsets inside the buffer, end - begin == numel * dtype size, contiguous tiling,
 * unique names); every failure is one qa_error() line naming the file, the tensor and the
 * bad value. The st_read_*() functions check the tensor's presence and shape against what
 * the caller expects, then convert into the caller's buffer. */
#ifndef QAPRUNE_SAFETENSORS_H
#define QAPRUNE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum {
    ST_F64, ST_F32, ST_F16, ST_BF16,
    ST_I64, ST_I32, ST_I16, ST_I8,
    ST_U64, ST_U32, ST_U16, ST_U8, ST_BOOL,
    ST_DTYPE_COUNT
} StDtype;

/* One tensor of an open file. name is owned by the SafeTensors; offset is relative to the
 * data buffer; nbytes = numel * st_dtype_size(dtype). A 0-dim tensor (shape []) has one
 * element; a tensor with a 0 in its shape has none. */
typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t offset;
    size_t nbytes;
} StTensor;

typedef struct SafeTensors SafeTensors;

/* Returns the dtype's header spelling ("F32") and element size in bytes. */
const char *st_dtype_name(StDtype dtype);
size_t st_dtype_size(StDtype dtype);
/* Returns the number of elements of a shape (1 for ndim 0). */
int64_t st_numel(int ndim, const int64_t *shape);

/* Reads and validates the file at path. On success returns QA_OK and sets *out to a new
 * SafeTensors (free with st_close()); on failure returns QA_ERR, sets *out to NULL, and
 * qa_last_error() holds the reason. */
int st_open(const char *path, SafeTensors **out);
/* Frees everything st_open() allocated; accepts NULL. */
void st_close(SafeTensors *st);

/* Tensors in header order. st_at() and st_find() return pointers borrowed from st, valid
 * until st_close(); st_find() returns NULL if the name is absent (no error is set). */
int st_count(const SafeTensors *st);
const StTensor *st_at(const SafeTensors *st, int i);
const StTensor *st_find(const SafeTensors *st, const char *name);
/* The tensor's raw little-endian bytes (nbytes of them, maybe unaligned); borrowed. */
const void *st_data(const SafeTensors *st, const StTensor *t);
/* The __metadata__ value for key, or NULL if absent; borrowed, valid until st_close(). */
const char *st_metadata(const SafeTensors *st, const char *key);

/* Copies tensor name into dst (numel(expect_shape) elements, caller-owned) after checking
 * that it exists and has exactly ndim dims equal to expect_shape (the error names the tensor,
 * the expected and the found shape).
 *   st_read_f32: from F32, F64 (rounded), F16 and BF16 (exact, including subnormals, inf, nan).
 *   st_read_i64, st_read_i32: from any integer dtype or BOOL; a value that does not fit the
 *   target is an error naming the element. Returns QA_OK or QA_ERR. */
int st_read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *expect_shape,
                float *dst);
int st_read_i64(const SafeTensors *st, const char *name, int ndim, const int64_t *expect_shape,
                int64_t *dst);
int st_read_i32(const SafeTensors *st, const char *name, int ndim, const int64_t *expect_shape,
                int32_t *dst);

/* One tensor to write: data (borrowed) holds numel * st_dtype_size(dtype) bytes in the host's
 * (little-endian) layout; it may be NULL when numel is 0. */
typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
} StEntry;

/* Writes n entries to path, in the given order, with the header padded with spaces to a
 * multiple of 8 bytes. meta_kv is NULL or a NULL-terminated array of key, value strings
 * stored under __metadata__. Atomic: writes path.tmp, fsyncs it, renames it over path and
 * fsyncs the directory; on failure path is untouched and path.tmp removed.
 * Returns QA_OK or QA_ERR. */
int st_write(const char *path, const StEntry *entries, int n, const char *const *meta_kv);

#endif
