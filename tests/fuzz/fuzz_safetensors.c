/* tests/fuzz/fuzz_safetensors.c: safetensors files (core/model/safetensors.h st_open), then
 * every tensor read back through the converting readers (st_read_f32 for the float dtypes,
 * st_read_i64 and st_read_i32 for the integer ones) and the metadata looked up. */
#include <string.h>

#include "core/model/safetensors.h"
#include "tests/fuzz/fuzz.h"

static int is_float(StDtype d) { return d == ST_F64 || d == ST_F32 || d == ST_F16 || d == ST_BF16; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SafeTensors *st = NULL;
    if (st_open(fuzz_file(0, data, size), &st) != 0) {
        FUZZ_CHECK(st == NULL, "a refused file leaves *out NULL");
        return 0;
    }
    for (int i = 0; i < st_count(st); i++) {
        const StTensor *t = st_at(st, i);
        FUZZ_CHECK(st_find(st, t->name) == t, "tensor %d found by its name", i);
        int64_t numel = st_numel(t->ndim, t->shape);
        FUZZ_CHECK(numel >= 0 && (size_t)numel * st_dtype_size(t->dtype) == t->nbytes,
                   "tensor '%s': %lld elements in %zu bytes", t->name, (long long)numel,
                   t->nbytes);
        void *dst = malloc(numel ? (size_t)numel * 8 : 1);
        FUZZ_CHECK(dst, "out of memory for %lld elements", (long long)numel);
        if (is_float(t->dtype)) {
            FUZZ_CHECK(st_read_f32(st, t->name, t->ndim, t->shape, dst) == 0, "%s",
                       t->name);
        } else {
            st_read_i64(st, t->name, t->ndim, t->shape, dst); /* U64 may not fit: an error */
            st_read_i32(st, t->name, t->ndim, t->shape, dst);
        }
        free(dst);
    }
    st_metadata(st, "format");
    st_close(st);
    return 0;
}
