/* tests/fuzz/fuzz_result.c: a grid point's result file (db/result_file.h
 * db_read_result_file); what was read must be written back and read again unchanged. */
#include <string.h>
#include <sys/stat.h>

#include "core/util/error.h"
#include "db/result_file.h"
#include "tests/fuzz/fuzz.h"

/* The result file written back goes to a real directory (the writer renames into place), in
 * memory where there is /dev/shm (the writer fsyncs); made and removed by every run, since
 * libFuzzer ends without running atexit handlers. */
static char out_dir[64], out_path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    snprintf(out_dir, sizeof out_dir, "%s/qaprune-fuzz-result-%d",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
    snprintf(out_path, sizeof out_path, "%s/result.json", out_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    DbResult r, back;
    if (db_read_result_file(fuzz_file(0, data, size), &r) != 0) return 0;
    FUZZ_CHECK(r.status == DB_DONE || r.status == DB_FAILED, "status %d", (int)r.status);
    FUZZ_CHECK(r.n_layers >= 0 && r.n_layers <= DB_MAX_LAYERS, "%d layers", r.n_layers);
    FUZZ_CHECK(memchr(r.config_hash, 0, sizeof r.config_hash) &&
               memchr(r.error, 0, sizeof r.error) &&
               memchr(r.finished_at, 0, sizeof r.finished_at), "strings are terminated");
    FUZZ_CHECK(mkdir(out_dir, 0700) == 0, "mkdir %s", out_dir);
    FUZZ_CHECK(db_write_result_file(out_path, &r) == 0, "a result read is a result that can be "
               "written: %s", qa_last_error());
    FUZZ_CHECK(db_read_result_file(out_path, &back) == 0, "and read again");
    unlink(out_path);
    rmdir(out_dir);
    FUZZ_CHECK(!strcmp(r.config_hash, back.config_hash) && r.status == back.status &&
               !strcmp(r.error, back.error), "round trip");
    if (r.status == DB_DONE) {
        /* bit for bit: unknown metrics are the reader's NAN on both sides; no padding */
        FUZZ_CHECK(!memcmp(&r.metrics, &back.metrics, sizeof r.metrics) &&
                   r.n_layers == back.n_layers &&
                   !memcmp(r.layer_heads, back.layer_heads, sizeof r.layer_heads) &&
                   !memcmp(r.layer_ffn, back.layer_ffn, sizeof r.layer_ffn),
                   "round trip of the metrics (f1 %.17g -> %.17g, params %lld -> %lld)",
                   r.metrics.f1, back.metrics.f1, r.metrics.params, back.metrics.params);
    }
    return 0;
}
