/* tests/test_slurm_e2e.c: `sweep run --backend slurm` end to end on a real single-node Slurm
 * that the test starts itself (tests/slurm_cluster.sh, MaxArraySize 5) and stops by the PIDs it
 * started: an impossible request is refused with one line; a CI-sized grid of 12 points goes
 * out as chunked arrays after a prepare job, the head is killed mid-sweep and restarted with
 * --wait, and every point is done exactly once with results like a local run's (and the node's
 * host and CPU recorded); a resubmission submits nothing; a task cancelled with scancel is
 * recorded failed with Slurm's account and rerun by --retry-failed; `sweep cancel` cancels a
 * grid's tasks and its prepare job; a running task cancelled delivers its failure naming the
 * signal; a failed prepare job fails its points naming it and its log. Says `skipped` (with the reason) where Slurm cannot be
 * started: not root, or slurm-wlm and munge not installed (.ci/deps installs them). */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/test.h"

static char dir[256];
static const char *bin;

/* What cmd prints (first line) into buf; "" when it fails. */
static void sh_line(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sh_line(char *buf, size_t cap, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    buf[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (p && fgets(buf, (int)cap, p)) buf[strcspn(buf, "\n")] = '\0';
    if (p) pclose(p);
}

/* The single number sql yields on OUT's database (dir/OUT/results.db), or NAN. */
static double scalar(const char *out, const char *sql) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/results.db", dir, out);
    return db_scalar(path, sql);
}

/* Lines of path that contain needle. */
static int count_lines(const char *path, const char *needle) {
    char line[64];
    sh_line(line, sizeof line, "grep -c -- '%s' '%s'", needle, path);
    return atoi(line);
}

static void write_grid(const char *name, const char *out, const char *strategies,
                       const char *finetune) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"out\": \"%s/%s\",\n"
            " \"data\": {\"synthetic\": {\"seed\": 7, \"train\": 400, \"dev\": 80}},\n"
            " \"teacher\": {\"train\": {\"layers\": 2, \"hidden\": 32, \"heads\": 4, \"ffn\": 64,"
            " \"steps\": 40, \"batch_size\": 16, \"max_seq_len\": 128}, \"cache\": \"%s/cache\"},\n"
            " \"axes\": {\"strategy\": %s, \"targets\": [{\"heads\": 0.25, \"ffn\": 0.5},"
            " {\"heads\": 0.5, \"ffn\": 0.75}], \"finetune\": %s},\n"
            " \"prune\": {\"ft_steps\": 8, \"l0_steps\": 8, \"gain_batches\": 2, \"batch_size\": 8},\n"
            " \"bench\": {\"repeats\": 3, \"warmup\": 1},\n"
            " \"threads\": 1,\n"
            " \"slurm\": {\"time\": \"00:10:00\", \"cpus_per_task\": 1}}\n",
            dir, out, dir, strategies, finetune);
    fclose(f);
}

/* Releases every held job of the cluster (the test's own). */
static void release_all(void) {
    sh("squeue -h -o %%F | sort -u | xargs -r -n1 scontrol release 2>/dev/null");
}

/* The impossible request, then the 12-point grid with the head killed and restarted. */
static void test_sweep(void) {
    char log[512];
    write_grid("grid.json", "out", "[\"random\", \"gain\", \"l0\"]", "[\"none\", \"distill\"]");

    snprintf(log, sizeof log, "%s/impossible.log", dir);
    int rc = sh("%s run %s/grid.json --backend slurm --cpus-per-task 64 > %s 2>&1", bin, dir, log);
    char squeue[256];
    sh_line(squeue, sizeof squeue, "squeue -h -o %%i | wc -l");
    CHECK(rc == 1 && file_contains(log, "slurm.cpus_per_task: 64 CPUs per task") &&
              count_lines(log, "sweep run:") == 1 && atoi(squeue) == 0,
          "more CPUs than a node has: refused with one line, nothing submitted (see %s)", log);

    /* the head killed (SIGKILL) once a point is in; the tasks go on */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec %s run %s/grid.json --backend slurm --wait > %s/run1.log 2>&1",
             bin, dir, dir);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    double done = 0;
    for (int t = 0; t < 1200 && !(done >= 1); t++) { /* <= 120 s */
        usleep(100000);
        done = scalar("out", "SELECT count(*) FROM runs WHERE status = 'done'");
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK(done >= 1 && done < 12, "the head was killed mid-sweep (%g of 12 done)", done);
    snprintf(log, sizeof log, "%s/run1.log", dir);
    CHECK(file_contains(log, "as 3 array job(s)") && file_contains(log, "MaxArraySize 5"),
          "12 points went out as 3 arrays under MaxArraySize 5 (see %s)", log);
    char jobs[512];
    snprintf(jobs, sizeof jobs, "%s/out/slurm/jobs.txt", dir);
    CHECK(count_lines(jobs, "^prepare [0-9]* arrays [0-9]* [0-9]* [0-9]* dir ") == 1,
          "jobs.txt records one prepare job and three arrays");

    snprintf(log, sizeof log, "%s/run2.log", dir);
    rc = sh("timeout 300 %s run %s/grid.json --backend slurm --wait > %s 2>&1", bin, dir, log);
    CHECK(rc == 0 && file_contains(log, "nothing to submit"),
          "the restarted head submits nothing and waits for the tasks (see %s)", log);
    CHECK(scalar("out", "SELECT count(*) FROM runs WHERE status = 'done'") == 12 &&
              scalar("out", "SELECT count(*) FROM results") == 12 &&
              scalar("out", "SELECT max(attempts) FROM runs") == 1,
          "every point done exactly once");
    CHECK(scalar("out", "SELECT count(*) FROM results WHERE f1 BETWEEN 0 AND 100 AND speedup > 0"
                        " AND latency_ms > 0 AND teacher_latency_ms > 0 AND params > 0") == 12 &&
              scalar("out", "SELECT count(*) FROM results WHERE heads_total = 8 AND ffn_total ="
                            " 128 AND ((heads_kept = 6 AND ffn_kept = 64) OR (heads_kept = 4 AND"
                            " ffn_kept = 32))") == 12 &&
              scalar("out", "SELECT count(*) FROM layers") == 24,
          "results like a local run's: sane values, targets met, two layers each");
    char host[256], want[400];
    gethostname(host, sizeof host);
    snprintf(want, sizeof want, "SELECT count(*) FROM results WHERE host = '%s' AND "
             "length(cpu_model) > 0", host);
    CHECK(scalar("out", want) == 12, "each result records the node's host and CPU model");
    CHECK(scalar("out", "SELECT count(*) FROM results WHERE peak_rss_mb * 1048576 > 4 * params"
                        " AND peak_rss_mb < 24576") == 12,
          "each task records its peak memory (min %g MiB)",
          scalar("out", "SELECT min(peak_rss_mb) FROM results"));
    char left[256];
    sh_line(left, sizeof left, "ls %s/out/results | wc -l", dir);
    CHECK(atoi(left) == 0, "every result file was ingested and removed (%s left)", left);

    /* a task run again on a point it already ran (a requeue): its settings are not the
     * pruned checkpoint's config.json; the head takes the new file without a second row */
    char hash[128];
    sh_line(hash, sizeof hash, "sqlite3 %s/out/results.db \"SELECT config_hash FROM runs LIMIT 1\"",
            dir);
    rc = sh("%s worker %s/out %s > %s/worker-again.log 2>&1", bin, dir, hash, dir);
    char again[512];
    snprintf(again, sizeof again, "%s/out/results/%s.json", dir, hash);
    CHECK(rc == 0 && file_contains(again, "\"status\":\t\"done\""),
          "a second run of a task delivers a done result (see %s/worker-again.log)", dir);
    snprintf(log, sizeof log, "%s/status-again.log", dir);
    rc = sh("%s status %s/out > %s 2>&1", bin, dir, log);
    CHECK(rc == 0 && scalar("out", "SELECT count(*) FROM results") == 12 &&
              scalar("out", "SELECT count(*) FROM runs WHERE status = 'done'") == 12,
          "status ingests only what tasks own: nothing twice (see %s)", log);

    snprintf(log, sizeof log, "%s/run3.log", dir);
    rc = sh("%s run %s/grid.json --backend slurm > %s 2>&1", bin, dir, log);
    CHECK(rc == 0 && file_contains(log, "nothing to submit") &&
              count_lines(jobs, "^prepare") == 1 &&
              scalar("out", "SELECT max(attempts) FROM runs") == 1,
          "a resubmission of a finished grid submits nothing");
}

/* A task cancelled while it pends: failed with Slurm's account, rerun by --retry-failed. */
static void test_cancelled_task(void) {
    char log[512], owner[128];
    write_grid("grid2.json", "out2", "[\"random\"]", "[\"none\"]");
    snprintf(log, sizeof log, "%s/held.log", dir);
    int rc = sh("%s run %s/grid2.json --backend slurm --sbatch-arg=--hold > %s 2>&1", bin, dir, log);
    sh_line(owner, sizeof owner, "sqlite3 %s/out2/results.db \"SELECT substr(owner, 7) FROM runs"
            " ORDER BY id LIMIT 1\"", dir);
    CHECK(rc == 0 && strstr(owner, "_0"), "2 points submitted held, without --wait (%s)", owner);
    snprintf(log, sizeof log, "%s/status-held.log", dir);
    rc = sh("%s status %s/grid2.json > %s 2>&1", bin, dir, log);
    CHECK(rc == 0 && count_lines(log, "PENDING    JobHeldUser") == 2 &&
              file_contains(log, "2 running"), "status shows Slurm's view: 2 held tasks");
    rc = sh("scancel %s", owner);
    release_all();
    snprintf(log, sizeof log, "%s/wait2.log", dir);
    rc = sh("timeout 300 %s run %s/grid2.json --backend slurm --wait > %s 2>&1", bin, dir, log);
    CHECK(rc == 1 && scalar("out2", "SELECT count(*) FROM runs WHERE status = 'done'") == 1,
          "the other point finishes; the sweep exits 1 for the failed one (see %s)", log);
    char want[300];
    snprintf(want, sizeof want, "SELECT count(*) FROM runs WHERE status = 'failed' AND error LIKE"
             " 'slurm task %s ended %%without a result%%'", owner);
    CHECK(scalar("out2", want) == 1, "the cancelled task's point is failed, naming the task");
    snprintf(log, sizeof log, "%s/retry2.log", dir);
    rc = sh("timeout 300 %s run %s/grid2.json --backend slurm --wait --retry-failed > %s 2>&1",
            bin, dir, log);
    CHECK(rc == 0 && scalar("out2", "SELECT count(*) FROM runs WHERE status = 'done'") == 2 &&
              scalar("out2", "SELECT sum(attempts) FROM runs") == 3,
          "--retry-failed runs it again (see %s)", log);
}

/* `sweep cancel GRID`: its tasks and prepare job cancelled, its points failed. */
static void test_cancel_grid(void) {
    char log[512], n[64];
    write_grid("grid3.json", "out3", "[\"gain\"]", "[\"none\"]");
    int rc = sh("%s run %s/grid3.json --backend slurm --sbatch-arg=--hold > %s/held3.log 2>&1",
                bin, dir, dir);
    sh_line(n, sizeof n, "squeue -h -r -o %%i | wc -l");
    CHECK(rc == 0 && atoi(n) == 3, "a prepare job and 2 tasks queued (%s)", n);
    snprintf(log, sizeof log, "%s/cancel3.log", dir);
    rc = sh("%s cancel %s/grid3.json > %s 2>&1", bin, dir, log);
    sh_line(n, sizeof n, "squeue -h -r -o %%i | wc -l");
    CHECK(rc == 0 && file_contains(log, "2 task(s) cancelled") && atoi(n) == 0,
          "sweep cancel cancels the tasks and the prepare job (%s left; see %s)", n, log);
    CHECK(scalar("out3", "SELECT count(*) FROM runs WHERE status = 'failed' AND error LIKE "
                         "'slurm task %'") == 2, "the cancelled points are recorded failed");
}

/* A running task cancelled: SIGTERM stops its training, and it delivers its failure itself. */
static void test_killed_running(void) {
    char path[512], log[512], owner[128], state[64] = "";
    snprintf(path, sizeof path, "%s/grid4.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"out\": \"%s/out4\", \"data\": {\"synthetic\": {\"seed\": 7, \"train\": 400,"
               " \"dev\": 80}}, \"teacher\": {\"train\": {\"layers\": 2, \"hidden\": 32, \"heads\":"
               " 4, \"ffn\": 64, \"steps\": 40, \"batch_size\": 16, \"max_seq_len\": 128},"
               " \"cache\": \"%s/cache\"}, \"axes\": {\"strategy\": [\"random\"], \"targets\":"
               " [{\"heads\": 0.25, \"ffn\": 0.25}], \"finetune\": [\"standard\"]},"
               " \"prune\": {\"ft_steps\": 100000, \"batch_size\": 8}, \"threads\": 1}\n",
            dir, dir);
    fclose(f);
    int rc = sh("%s run %s --backend slurm > %s/run4.log 2>&1", bin, path, dir);
    sh_line(owner, sizeof owner, "sqlite3 %s/out4/results.db \"SELECT substr(owner, 7) FROM runs\"",
            dir);
    snprintf(log, sizeof log, "%s/out4/slurm/logs/%s.out", dir, owner);
    for (int t = 0; t < 600 && !file_contains(log, "sweep worker: point"); t++) usleep(100000);
    sh_line(state, sizeof state, "squeue -h -j %s -o %%T", owner);
    CHECK(rc == 0 && !strcmp(state, "RUNNING"), "the long task runs (%s: %s)", owner, state);
    sh("scancel %s", owner);
    snprintf(log, sizeof log, "%s/wait4.log", dir);
    rc = sh("timeout 120 %s run %s --backend slurm --wait > %s 2>&1", bin, path, log);
    CHECK(rc == 1 && scalar("out4", "SELECT count(*) FROM runs WHERE status = 'failed' AND "
                                    "error LIKE 'stopped by signal 15%'") == 1,
          "the killed task's point is failed with the signal named (see %s)", log);
}

/* A prepare job that fails (a teacher whose weights are cut short): its arrays never run,
 * and their points fail naming the prepare job and its log. */
static void test_failed_prepare(void) {
    char tdir[512], path[512];
    sh_line(tdir, sizeof tdir, "ls -d %s/cache/teacher-* | head -1", dir);
    sh("mkdir -p %s/bad && cp %s/config.json %s/vocab.txt %s/qaprune.json %s/bad/ && head -c 300 "
       "%s/model.safetensors > %s/bad/model.safetensors", dir, tdir, tdir, tdir, dir, tdir, dir);
    snprintf(path, sizeof path, "%s/grid5.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"out\": \"%s/out5\", \"data\": {\"synthetic\": {\"seed\": 7, \"train\": 400,"
               " \"dev\": 80}}, \"teacher\": {\"checkpoint\": \"%s/bad\"}, \"axes\": "
               "{\"strategy\": [\"gain\"], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.5}], "
               "\"finetune\": [\"none\", \"distill\"]}, \"threads\": 1}\n", dir, dir);
    fclose(f);
    int rc = sh("timeout 120 %s run %s --backend slurm --wait > %s/run5.log 2>&1", bin, path, dir);
    CHECK(rc == 1 && scalar("out5", "SELECT count(*) FROM runs WHERE status = 'failed' AND error"
                                    " LIKE '%never ran: its prepare job % ended FAILED%' AND "
                                    "error LIKE '%model.safetensors%'") == 2,
          "both points failed, naming the prepare job and its error (see %s/run5.log)", dir);
}

int main(void) {
    bin = test_sweep_bin();
    if (getuid() != 0) {
        SKIP("the Slurm test starts munged and slurmd, which needs root");
        return TEST_DONE();
    }
    if (sh("command -v sbatch >/dev/null && command -v slurmctld >/dev/null && "
           "test -x /usr/sbin/munged && command -v sqlite3 >/dev/null") != 0) {
        SKIP("slurm-wlm, munge or sqlite3 not installed (.ci/deps installs them)");
        return TEST_DONE();
    }
    /* one test cluster on the machine at a time (its ports and munged are shared) */
    int lock = open("/tmp/qaprune-slurm-test.lock", O_CREAT | O_RDWR, 0666);
    if (lock < 0 || flock(lock, LOCK_EX)) {
        SKIP("cannot take /tmp/qaprune-slurm-test.lock");
        return TEST_DONE();
    }
    snprintf(dir, sizeof dir, "/tmp/qaprune-slurm-XXXXXX");
    if (!mkdtemp(dir)) {
        SKIP("no temporary directory");
        return TEST_DONE();
    }
    chmod(dir, 0755);
    char cluster[300], conf[400];
    snprintf(cluster, sizeof cluster, "%s/cluster", dir);
    snprintf(conf, sizeof conf, "%s/slurm.conf", cluster);
    int rc = sh("sh tests/slurm_cluster.sh start %s 5 > %s/cluster.log 2>&1", cluster, dir);
    if (rc != 0) {
        char why[300];
        sh_line(why, sizeof why, "tail -1 %s/cluster.log", dir);
        sh("sh tests/slurm_cluster.sh stop %s >/dev/null 2>&1", cluster);
        SKIP("a single-node Slurm cannot be started here: %s", why);
        return TEST_DONE();
    }
    setenv("SLURM_CONF", conf, 1);
    test_sweep();
    test_cancelled_task();
    test_cancel_grid();
    test_killed_running();
    test_failed_prepare();
    sh("sh tests/slurm_cluster.sh stop %s >> %s/cluster.log 2>&1", cluster, dir);
    if (!test_failed) sh("rm -rf %s", dir);
    else fprintf(stderr, "kept %s for inspection\n", dir);
    return TEST_DONE();
}
