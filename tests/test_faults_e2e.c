/* tests/test_faults_e2e.c: `sweep run` under faults, end to end. Each case ends with every
 * point done exactly once after the cause is removed, or a clear error, never a silent loss:
 *   - SIGKILL of the sweep at each stage (teacher ready, worker started, latency measured,
 *     result file written, charts), then the same command again;
 *   - results.db deleted during the run: detected and said (exit 1), and the next run
 *     records every point again from the points' files;
 *   - a full disk (a 2 MB tmpfs, as root) and a read-only OUT: the sweep stops with the
 *     cause in one line and records no point as failed; once the file system is large or
 *     writable again, the same command finishes;
 *   - `sweep run | head -1`: the closed pipe does not kill the sweep;
 *   - `sweep query` cannot change the database. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/test.h"

static char dir[256];
static const char *bin;

/* The single number sql yields on OUT's database (OUT/results.db), or NAN. */
static double scalar(const char *out, const char *sql) {
    char path[600];
    snprintf(path, sizeof path, "%s/results.db", out);
    return db_scalar(path, sql);
}

/* A 4-point grid (2 strategies x 2 fine-tune modes) on a tiny trained teacher, output out;
 * the teacher cache is shared by every case so it is trained once. */
static void write_grid_modes(const char *path, const char *out, const char *modes) {
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"out\": \"%s\",\n"
            " \"data\": {\"synthetic\": {\"seed\": 5, \"train\": 200, \"dev\": 40}},\n"
            " \"teacher\": {\"train\": {\"layers\": 1, \"hidden\": 16, \"heads\": 2, \"ffn\": 32,"
            " \"steps\": 10, \"batch_size\": 8, \"max_seq_len\": 64, \"doc_stride\": 32,"
            " \"max_query_len\": 16}, \"cache\": \"%s/cache\"},\n"
            " \"axes\": {\"strategy\": [\"random\", \"gain\"], \"targets\": [{\"heads\": 0.5,"
            " \"ffn\": 0.5}], \"finetune\": [%s]},\n"
            " \"prune\": {\"ft_steps\": 3, \"gain_batches\": 2, \"batch_size\": 8},\n"
            " \"bench\": {\"repeats\": 2, \"warmup\": 0}, \"threads\": 1}\n",
            out, dir, modes);
    fclose(f);
}

static void write_grid(const char *path, const char *out) {
    write_grid_modes(path, out, "\"none\", \"distill\"");
}

static int all_done_once(const char *out) {
    return scalar(out, "SELECT count(*) FROM runs WHERE status='done'") == 4 &&
           scalar(out, "SELECT count(*) FROM results") == 4 &&
           scalar(out, "SELECT count(*) FROM runs") == 4;
}

static void test_kills(void) {
    static const char *const stages[] = {"teacher", "train", "latency", "ingest", "plot"};
    for (int i = 0; i < 5; i++) {
        char out[512], grid[512], log[600];
        snprintf(out, sizeof out, "%s/kill-%s", dir, stages[i]);
        snprintf(grid, sizeof grid, "%s/kill-%s.json", dir, stages[i]);
        snprintf(log, sizeof log, "%s/kill-%s.log", dir, stages[i]);
        write_grid(grid, out);
        if (i == 0) sh("rm -rf %s/cache", dir); /* the teacher stage needs a teacher to train */
        int rc = sh("QAPRUNE_FAULT=%s %s run %s > %s 2>&1", stages[i], bin, grid, log);
        CHECK(rc != 0, "killed at %s (exit %d)", stages[i], rc);
        rc = sh("%s run %s >> %s 2>&1", bin, grid, log);
        CHECK(rc == 0 && all_done_once(out),
              "after a kill at %s the same command finishes every point exactly once (see %s)",
              stages[i], log);
    }
}

static void test_deleted_db(void) {
    char out[512], grid[512], log[600];
    snprintf(out, sizeof out, "%s/deleted", dir);
    snprintf(grid, sizeof grid, "%s/deleted.json", dir);
    snprintf(log, sizeof log, "%s/deleted.log", dir);
    write_grid(grid, out);
    int rc = sh("QAPRUNE_FAULT=delete-db %s run %s > %s 2>&1", bin, grid, log);
    CHECK(rc == 1 && file_contains(log, "deleted or replaced"),
          "a results.db deleted mid-run is said, exit %d", rc);
    rc = sh("%s run %s >> %s 2>&1", bin, grid, log);
    CHECK(rc == 0 && all_done_once(out), "the next run records every point again");
    /* data under a valid stamp is checked, not trusted: a missing train.json is written
     * again (it failed every point before) when new points need it */
    sh("rm %s/data/train.json", out);
    write_grid_modes(grid, out, "\"none\", \"distill\", \"standard\"");
    rc = sh("%s run %s > %s 2>&1", bin, grid, log);
    CHECK(rc == 0 && file_contains(log, "does not match its stamp") &&
              scalar(out, "SELECT count(*) FROM runs WHERE status='done'") == 6,
          "a missing train.json is written again and the new points run (see %s)", log);
}

/* A file system that fails: a tmpfs too small, or remounted read-only. */
static void test_environment(void) {
    char mnt[512], out[600], grid[512], log[600];
    snprintf(mnt, sizeof mnt, "%s/small", dir);
    mkdir(mnt, 0755);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m") != 0) {
        SKIP("full-disk and read-only cases: cannot mount a tmpfs (not root?)");
        return;
    }
    snprintf(out, sizeof out, "%s/out", mnt);
    snprintf(grid, sizeof grid, "%s/small.json", dir);
    snprintf(log, sizeof log, "%s/small.log", dir);
    write_grid(grid, out);
    /* the data of 200 questions and the windows fit in 2 MB; a point's checkpoint too, but
     * not four plus the database: fill the rest so the first write fails */
    sh("mkdir -p %s && head -c 1900000 /dev/zero > %s/filler 2>/dev/null", out, mnt);
    int rc = sh("%s run %s > %s 2>&1", bin, grid, log);
    CHECK(rc == 1 && file_contains(log, "No space left on device"),
          "a full disk stops the sweep with the cause (exit %d, see %s)", rc, log);
    CHECK(!(scalar(out, "SELECT count(*) FROM runs WHERE status='failed'") > 0),
          "and records no point as failed");
    sh("rm -f %s/filler", mnt);
    mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, "size=64m");
    rc = sh("%s run %s >> %s 2>&1", bin, grid, log);
    CHECK(rc == 0 && all_done_once(out), "with room again the same command finishes (see %s)",
          log);

    /* read-only: a new grid on the same OUT (another seed), after remounting ro */
    char grid2[512];
    snprintf(grid2, sizeof grid2, "%s/ro.json", dir);
    FILE *f = fopen(grid2, "w");
    fprintf(f,
            "{\"out\": \"%s\", \"data\": {\"synthetic\": {\"seed\": 5, \"train\": 200, \"dev\": 40}},"
            " \"teacher\": {\"train\": {\"layers\": 1, \"hidden\": 16, \"heads\": 2, \"ffn\": 32,"
            " \"steps\": 10, \"batch_size\": 8, \"max_seq_len\": 64, \"doc_stride\": 32,"
            " \"max_query_len\": 16}, \"cache\": \"%s/cache\"},"
            " \"axes\": {\"strategy\": [\"random\"], \"targets\": [{\"heads\": 0.25, \"ffn\": 0.25}],"
            " \"finetune\": [\"none\"], \"seed\": [2]}, \"prune\": {\"batch_size\": 8},"
            " \"bench\": {\"repeats\": 2, \"warmup\": 0}, \"threads\": 1}\n",
            out, dir);
    fclose(f);
    mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL);
    rc = sh("%s run %s > %s 2>&1", bin, grid2, log);
    CHECK(rc != 0 && file_contains(log, "Read-only file system"),
          "a read-only OUT is one clear error (exit %d, see %s)", rc, log);
    mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, "size=64m");
    CHECK(!(scalar(out, "SELECT count(*) FROM runs WHERE status='failed'") > 0),
          "nothing recorded failed");
    rc = sh("%s run %s >> %s 2>&1", bin, grid2, log);
    CHECK(rc == 0 && scalar(out, "SELECT count(*) FROM runs WHERE status='done'") == 5,
          "writable again, the new point runs (see %s)", log);
    umount(mnt);
}

static void test_pipe_and_query(void) {
    char out[512], grid[512];
    snprintf(out, sizeof out, "%s/pipe", dir);
    snprintf(grid, sizeof grid, "%s/pipe.json", dir);
    write_grid(grid, out);
    int rc = sh("%s run %s 2>&1 | head -1 > /dev/null", bin, grid);
    (void)rc; /* the pipe's status is head's */
    CHECK(all_done_once(out), "a sweep piped into head -1 still finishes every point");
    rc = sh("%s query %s 'DELETE FROM runs' > /dev/null 2>&1", bin, out);
    CHECK(rc == 1 && scalar(out, "SELECT count(*) FROM runs") == 4,
          "sweep query cannot delete rows");
    rc = sh("%s query %s \"ATTACH '%s/evil.db' AS e\" > /dev/null 2>&1", bin, out, dir);
    char evil[600];
    snprintf(evil, sizeof evil, "%s/evil.db", dir);
    struct stat sb;
    CHECK(rc == 1 && stat(evil, &sb) != 0, "nor attach (create) another file");
}

/* The first child of pid (a worker of the head), or 0. */
static pid_t child_of(pid_t pid) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "pgrep -P %d | head -1", (int)pid);
    FILE *p = popen(cmd, "r");
    int c = 0;
    if (p && fscanf(p, "%d", &c) != 1) c = 0;
    if (p) pclose(p);
    return (pid_t)c;
}

/* Ctrl-C while a worker is stopped (SIGSTOP): the head must still end (it hung before). */
static void test_stopped_worker(void) {
    char out[512], grid[512], cmd[1200];
    snprintf(out, sizeof out, "%s/stopped", dir);
    snprintf(grid, sizeof grid, "%s/stopped.json", dir);
    write_grid(grid, out);
    snprintf(cmd, sizeof cmd, "exec %s run %s > %s/stopped.log 2>&1", bin, grid, dir);
    pid_t head = fork();
    if (head == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    pid_t worker = 0;
    for (int t = 0; t < 600 && !worker; t++) { /* up to 30 s for the first worker */
        usleep(50000);
        worker = child_of(head);
    }
    CHECK(worker > 0, "a worker started");
    if (worker > 0) kill(worker, SIGSTOP);
    kill(head, SIGINT);
    int status = 0, ended = 0;
    for (int t = 0; t < 400 && !ended; t++) { /* up to 20 s */
        usleep(50000);
        ended = waitpid(head, &status, WNOHANG) == head;
    }
    if (!ended) {
        kill(head, SIGKILL);
        waitpid(head, &status, 0);
        if (worker > 0) kill(worker, SIGKILL);
    }
    CHECK(ended && WIFEXITED(status) && WEXITSTATUS(status) == 130,
          "interrupted with a stopped worker, the head ends (exit %d)",
          ended && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    CHECK(sh("%s run %s > /dev/null 2>&1", bin, grid) == 0 && all_done_once(out),
          "and the same command then finishes every point once");
}

int main(void) {
    bin = test_sweep_bin();
    if (sh("command -v sqlite3 >/dev/null") != 0) {
        SKIP("sqlite3 not installed");
        return TEST_DONE();
    }
    snprintf(dir, sizeof dir, "/tmp/qaprune-faults-XXXXXX");
    if (!mkdtemp(dir)) {
        SKIP("no temporary directory");
        return TEST_DONE();
    }
    test_kills();
    test_deleted_db();
    test_environment();
    test_pipe_and_query();
    test_stopped_worker();
    if (!test_failed) sh("rm -rf %s", dir);
    else fprintf(stderr, "kept %s for inspection\n", dir);
    return TEST_DONE();
}
