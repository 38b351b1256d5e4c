/* tests/fuzz/fuzz_result.c: a grid point's result file (db/result_file.h
 * db_read_result_file); what was read must be written back and read again unchanged. */
#include <math.h>
#include <string.h>

#include "core/util/error.h"
#include "db/result_file.h"
#include "tests/fuzz/fuzz.h"

/* The result file written back goes to a real directory (the writer renames into place), in
 * memory where there is /dev/shm (the writer fsyncs), removed at exit. */
static char out_dir[64], out_path[96];

static void remove_out(void) {
    unlink(out_path);
    rmdir(out_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    snprintf(out_dir, sizeof out_dir, "%s/qaprune-fuzz-result-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    FUZZ_CHECK(mkdtemp(out_dir), "mkdtemp");
    snprintf(out_path, sizeof out_path, "%s/result.json", out_dir);
    atexit(remove_out);
    return 0;
}

static int same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    DbResult r, back;
    if (db_read_result_file(fuzz_file(0, data, size), &r) != 0) return 0;
    FUZZ_CHECK(r.status == DB_DONE || r.status == DB_FAILED, "status %d", (int)r.status);
    FUZZ_CHECK(r.n_layers >= 0 && r.n_layers <= DB_MAX_LAYERS, "%d layers", r.n_layers);
    FUZZ_CHECK(memchr(r.config_hash, 0, sizeof r.config_hash) &&
               memchr(r.error, 0, sizeof r.error) &&
               memchr(r.finished_at, 0, sizeof r.finished_at), "strings are terminated");
    FUZZ_CHECK(db_write_result_file(out_path, &r) == 0, "a result read is a result that can be "
               "written: %s", qa_last_error());
    FUZZ_CHECK(db_read_result_file(out_path, &back) == 0, "and read again");
    FUZZ_CHECK(!strcmp(r.config_hash, back.config_hash) && r.status == back.status &&
               !strcmp(r.error, back.error), "round trip");
    if (r.status == DB_DONE) {
        FUZZ_CHECK(same_double(r.metrics.f1, back.metrics.f1) &&
                   same_double(r.metrics.teacher_f1, back.metrics.teacher_f1) &&
                   r.metrics.params == back.metrics.params && r.n_layers == back.n_layers,
                   "round trip of the metrics");
    }
    return 0;
}
