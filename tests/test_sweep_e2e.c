/* tests/test_sweep_e2e.c: `sweep run` end to end on a CI-sized grid (the shape of
 * configs/ci.json, written into a temporary directory): every point done with sane values,
 * charts valid; a run killed with SIGKILL and started again finishes every point exactly
 * once; a broken grid.json changes nothing; two concurrent runs on one output run each point
 * once; a missing teacher is a grid error; a point whose teacher cannot be loaded is recorded
 * as failed while the others finish; identity by content (an edited dev.json gives new
 * points, the same files elsewhere the same points); two teachers never share a frontier;
 * `status GRID` counts that grid's points; the dense baseline is recorded like the pruned
 * points (its uniform shape, their FLOPs), a 2-seed grid's chart has error bars, and dense
 * without fine-tuning is a grid error; every configs/ grid file passes a dry run. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/results.h"
#include "tests/e2e.h"
#include "tests/test.h"

static char dir[256];
static const char *bin;

static void write_grid(const char *name, const char *out, const char *teacher, const char *axes) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"out\": \"%s/%s\",\n"
            " \"data\": {\"synthetic\": {\"seed\": 7, \"train\": 400, \"dev\": 80}},\n"
            " \"teacher\": %s,\n"
            " \"axes\": %s,\n"
            " \"prune\": {\"ft_steps\": 8, \"l0_steps\": 8, \"gain_batches\": 2, \"batch_size\": 8},\n"
            " \"bench\": {\"repeats\": 3, \"warmup\": 1},\n"
            " \"threads\": 1}\n",
            dir, out, teacher, axes);
    fclose(f);
}

/* A grid over the SQuAD files in dir/DATA_DIR with the given teacher and axes. */
static void write_files_grid(const char *name, const char *out, const char *data_dir,
                             const char *teacher, const char *axes) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"out\": \"%s/%s\",\n"
            " \"data\": {\"train\": \"%s/%s/train.json\", \"dev\": \"%s/%s/dev.json\"},\n"
            " \"teacher\": %s,\n \"axes\": %s,\n"
            " \"prune\": {\"ft_steps\": 4, \"batch_size\": 8},\n"
            " \"bench\": {\"repeats\": 3, \"warmup\": 1},\n \"threads\": 1}\n",
            dir, out, dir, data_dir, dir, data_dir, teacher, axes);
    fclose(f);
}

/* The single number sql yields on OUT's database (dir/OUT/results.db), or NAN. */
static double scalar(const char *out, const char *sql) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/results.db", dir, out);
    return db_scalar(path, sql);
}

/* Points of OUT whose training phase finished (OUT/points/HASH/trained.json). */
static int count_trained(const char *out) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/%s/points/*/trained.json 2>/dev/null | wc -l", dir, out);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p && fscanf(p, "%d", &n) != 1) n = 0;
    if (p) pclose(p);
    return n;
}

static int file_starts_with(const char *path, const char *magic, size_t n) {
    FILE *f = fopen(path, "rb");
    char buf[64] = {0};
    size_t k = f ? fread(buf, 1, n, f) : 0;
    if (f) fclose(f);
    return k == n && !memcmp(buf, magic, n);
}

#define TEACHER_TRAIN                                                                       \
    "{\"train\": {\"layers\": 2, \"hidden\": 32, \"heads\": 4, \"ffn\": 64, \"steps\": 40, " \
    "\"batch_size\": 16, \"max_seq_len\": 128}, \"cache\": \"%s/cache\"}"
#define AXES                                                                                 \
    "{\"strategy\": [\"random\", \"gain\", \"l0\"], \"targets\": [{\"heads\": 0.25, \"ffn\": " \
    "0.5}, {\"heads\": 0.5, \"ffn\": 0.75}], \"finetune\": [\"none\", \"distill\"]}"

int main(void) {
    bin = test_sweep_bin();
    if (sh("command -v sqlite3 >/dev/null && command -v gnuplot >/dev/null") != 0) {
        SKIP("sqlite3 or gnuplot not installed");
        return TEST_DONE();
    }
    snprintf(dir, sizeof dir, "/tmp/qaprune-sweep-XXXXXX");
    if (!mkdtemp(dir)) {
        SKIP("no temporary directory");
        return TEST_DONE();
    }
    char teacher[512];
    snprintf(teacher, sizeof teacher, TEACHER_TRAIN, dir);
    write_grid("grid.json", "out", teacher, AXES);

    /* 1. a whole sweep */
    int rc = sh("%s run %s/grid.json > %s/run1.log 2>&1", bin, dir, dir);
    CHECK(rc == 0, "sweep run exits 0 (see %s/run1.log)", dir);
    CHECK(scalar("out", "SELECT count(*) FROM runs WHERE status='done'") == 12, "12 points done");
    CHECK(scalar("out", "SELECT count(*) FROM results WHERE f1 BETWEEN 0 AND 100 AND speedup > 0 "
                        "AND latency_ms > 0 AND teacher_latency_ms > 0 AND params > 0") == 12,
          "every result has sane values");
    /* peak memory of each point's worker: above the student's parameter bytes (it also
     * holds the teacher, gradients, AdamW moments, activations), below the machine's 24 GiB */
    CHECK(scalar("out", "SELECT count(*) FROM results WHERE peak_rss_mb * 1048576 > 4 * params "
                        "AND peak_rss_mb < 24576") == 12,
          "every point records a plausible peak_rss_mb (min %g MiB, max %g MiB)",
          scalar("out", "SELECT min(peak_rss_mb) FROM results"),
          scalar("out", "SELECT max(peak_rss_mb) FROM results"));
    printf("peak_rss_mb of the 12 points: %.1f to %.1f MiB\n",
           scalar("out", "SELECT min(peak_rss_mb) FROM results"),
           scalar("out", "SELECT max(peak_rss_mb) FROM results"));
    char mlog[512];
    snprintf(mlog, sizeof mlog, "%s/run1.log", dir);
    CHECK(file_contains(mlog, "peak_rss_mb"), "the end-of-run table shows peak_rss_mb");
    snprintf(mlog, sizeof mlog, "%s/status1.log", dir);
    CHECK(sh("%s status %s/grid.json > %s 2>&1", bin, dir, mlog) == 0 &&
              file_contains(mlog, "peak_rss_mb"),
          "sweep status shows peak_rss_mb (%s)", mlog);
    CHECK(scalar("out", "SELECT count(*) FROM results WHERE heads_total = 8 AND ffn_total = 128 AND "
                        "((heads_kept = 6 AND ffn_kept = 64) OR (heads_kept = 4 AND ffn_kept = 32))") == 12,
          "every point met its sparsity target exactly");
    CHECK(scalar("out", "SELECT count(*) FROM layers") == 24, "two layer rows per point");
    CHECK(scalar("out", "SELECT count(*) FROM pareto") >= 1, "the pareto view has runs");
    const char *charts[] = {"f1_vs_speedup", "f1_vs_sparsity", "pareto_layers"};
    for (int i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/out/plots/%s.png", dir, charts[i]);
        CHECK(file_starts_with(p, "\x89PNG\r\n\x1a\n", 8), "%s is a PNG", p);
        snprintf(p, sizeof p, "%s/out/plots/%s.svg", dir, charts[i]);
        CHECK(file_contains(p, "<svg") && file_contains(p, "</svg>"), "%s is an SVG", p);
    }
    rc = sh("%s run %s/grid.json > %s/run1b.log 2>&1", bin, dir, dir);
    CHECK(rc == 0 && scalar("out", "SELECT max(attempts) FROM runs") == 1,
          "a second run skips the finished points");

    /* the precision axis: one point per precision, each recorded with its GEMM library */
    write_grid("grid_prec.json", "out_prec", teacher,
               "{\"strategy\": [\"random\"], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.75}], "
               "\"finetune\": [\"none\"], \"precision\": [\"fp32\", \"bf16\"]}");
    rc = sh("%s run %s/grid_prec.json > %s/run_prec.log 2>&1", bin, dir, dir);
    CHECK(rc == 0 && scalar("out_prec", "SELECT count(*) FROM results WHERE precision = 'fp32' "
                                        "AND gemm = 'onednn' AND latency_ms > 0") == 1 &&
              scalar("out_prec", "SELECT count(*) FROM results WHERE precision = 'bf16' "
                                 "AND gemm = 'onednn' AND latency_ms > 0") == 1,
          "precision axis: an fp32 and a bf16 point, recorded in results (see %s/run_prec.log)",
          dir);
    CHECK(scalar("out_prec", "SELECT count(*) FROM summary WHERE precision = 'bf16'") == 1 &&
              scalar("out_prec", "SELECT count(*) FROM summary") == 2,
          "the summary view keeps the two precisions apart");
    write_grid("grid_badprec.json", "out_badprec", teacher,
               "{\"strategy\": [\"random\"], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.75}], "
               "\"finetune\": [\"none\"], \"precision\": [\"fp16\"]}");
    rc = sh("%s run %s/grid_badprec.json > %s/badprec.log 2>&1", bin, dir, dir);
    char bp[512];
    snprintf(bp, sizeof bp, "%s/badprec.log", dir);
    CHECK(rc != 0 && file_contains(bp, "axes.precision[0]: expected one of fp32, bf16"),
          "an unknown precision is named (see %s)", bp);

    /* the dense baseline beside one-shot and iterative gain at one target, two seeds: dense
     * points recorded like the others, its uniform shape with gain's parameters and FLOPs,
     * iterative gain its own series, seeds drawn as mean ± std, training seconds shown at the
     * end of the run */
    write_grid("grid_dense.json", "out_dense", teacher,
               "{\"strategy\": [\"gain\", \"dense\"], \"gain_steps\": [1, 2], \"targets\": "
               "[{\"heads\": 0.5, \"ffn\": 0.75}], \"finetune\": [\"distill\"], \"seed\": [1, 2]}");
    char dlog[512];
    snprintf(dlog, sizeof dlog, "%s/run_dense.log", dir);
    rc = sh("%s run %s/grid_dense.json > %s 2>&1", bin, dir, dlog);
    CHECK(rc == 0 && scalar("out_dense", "SELECT count(*) FROM runs r JOIN results s ON "
                                         "s.run_id = r.id WHERE r.status = 'done' AND "
                                         "r.strategy = 'dense' AND s.f1 BETWEEN 0 AND 100 AND "
                                         "s.speedup > 0 AND s.params > 0 AND s.flops > 0 AND "
                                         "s.train_seconds > 0") == 2,
          "two dense points done with F1, speedup, params, FLOPs, training seconds (see %s)",
          dlog);
    CHECK(scalar("out_dense", "SELECT count(*) FROM layers JOIN runs ON runs.id = run_id WHERE "
                              "strategy = 'dense' AND heads_kept = 2 AND ffn_kept = 16") == 4,
          "dense: every layer keeps round(4 x 0.5) heads and round(64 x 0.25) neurons");
    CHECK(scalar("out_dense", "SELECT count(DISTINCT flops) || count(DISTINCT params) FROM "
                              "results") == 11,
          "dense and gain at one target have the same FLOPs and parameters");
    CHECK(scalar("out_dense", "SELECT count(*) FROM runs WHERE status = 'done'") == 6 &&
              scalar("out_dense", "SELECT count(*) FROM runs WHERE strategy = 'gain-iter2' AND "
                                  "json_extract(config_json, '$.prune.gain_steps') = 2") == 2,
          "gain once per gain_steps value, iterative gain recorded as gain-iter2");
    CHECK(scalar("out_dense", "SELECT count(*) FROM summary WHERE n = 2") == 3,
          "the summary view pools the two seeds of each of the three methods");
    char gpf[512];
    snprintf(gpf, sizeof gpf, "%s/out_dense/plots/f1_vs_speedup.gp", dir);
    CHECK(file_contains(gpf, "with yerrorbars") && file_contains(gpf, "mean ± std over seeds"),
          "a 2-seed grid's chart draws mean ± std error bars (%s)", gpf);
    CHECK(file_contains(dlog, "train_s"), "the end-of-run table shows training seconds");
    write_grid("grid_dense_none.json", "out_dense_none", teacher,
               "{\"strategy\": [\"dense\"], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.75}], "
               "\"finetune\": [\"distill\", \"none\"]}");
    snprintf(dlog, sizeof dlog, "%s/dense_none.log", dir);
    rc = sh("%s run %s/grid_dense_none.json > %s 2>&1", bin, dir, dlog);
    snprintf(bp, sizeof bp, "%s/out_dense_none", dir);
    struct stat sb;
    CHECK(rc == 2 && stat(bp, &sb) != 0 &&
              file_contains(dlog, "axes.finetune[1]: 'none' with strategy 'dense'"),
          "dense with finetune none is a grid error naming the field, nothing written (see %s)",
          dlog);

    /* every shipped grid validates; paper.json's SQuAD files and BERT-base checkpoint are not
     * on this machine, and a dry run says so (it checks every input) */
    char plog[512];
    FILE *ls = popen("ls configs/*.json", "r");
    char cfgp[512];
    int n_cfg = 0;
    while (ls && fgets(cfgp, sizeof cfgp, ls)) {
        cfgp[strcspn(cfgp, "\n")] = '\0';
        if (strstr(cfgp, "/paper.json")) continue;
        snprintf(plog, sizeof plog, "%s/dry-%d.log", dir, n_cfg++);
        CHECK(sh("%s run %s --dry-run > %s 2>&1", bin, cfgp, plog) == 0, "%s validates (see %s)",
              cfgp, plog);
    }
    if (ls) pclose(ls);
    CHECK(n_cfg >= 5, "the shipped grids were found (%d)", n_cfg);
    snprintf(plog, sizeof plog, "%s/paper.log", dir);
    CHECK(sh("%s run configs/paper.json --dry-run > %s 2>&1", bin, plog) == 2 &&
              file_contains(plog, "data.train") && file_contains(plog, "train-v2.0.json"),
          "a dry run of configs/paper.json names its missing data file");
    /* a dry run prints every input's identity and the points' status */
    snprintf(plog, sizeof plog, "%s/dry.log", dir);
    CHECK(sh("%s run %s/grid.json --dry-run > %s 2>&1", bin, dir, plog) == 0 &&
              file_contains(plog, "identity") && file_contains(plog, " done ") &&
              file_contains(plog, "estimate: 0 point(s) to run"),
          "a dry run shows identities, done points and the estimate");

    /* 2. a broken grid changes nothing */
    char broken[512];
    snprintf(broken, sizeof broken, "%s/broken.json", dir);
    FILE *f = fopen(broken, "w");
    fprintf(f, "{\"out\": \"%s/broken-out\", \"data\": {\"synthetic\": {\"seed\": 1}}, "
               "\"axes\": {\"strategy\": [\"gain\"], \"targets\": [{\"heads\": 1.5, \"ffn\": 0.5}], "
               "\"finetune\": [\"none\"]}}\n", dir);
    fclose(f);
    char log[512];
    snprintf(log, sizeof log, "%s/broken.log", dir);
    rc = sh("%s run %s > %s 2>&1", bin, broken, log);
    struct stat st;
    char bo[512];
    snprintf(bo, sizeof bo, "%s/broken-out", dir);
    CHECK(rc == 2 && stat(bo, &st) != 0 && file_contains(log, "axes.targets[0]"),
          "a broken grid exits 2, names the field and writes nothing");

    /* 3. SIGKILL mid-run, then resume: every point exactly once */
    write_grid("grid2.json", "out2", teacher, AXES);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec %s run %s/grid2.json > %s/run2.log 2>&1", bin, dir, dir);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int trained = 0;
    for (int t = 0; t < 1200 && trained < 2; t++) { /* until two points are trained, <= 60 s */
        usleep(50000);
        trained = count_trained("out2");
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    double done_before = scalar("out2", "SELECT count(*) FROM runs WHERE status='done'");
    trained = count_trained("out2");
    rc = sh("%s run %s/grid2.json > %s/run2b.log 2>&1", bin, dir, dir);
    CHECK(trained >= 1 && done_before < 12, "the kill came mid-run (%d trained, %g done)",
          trained, done_before);
    CHECK(rc == 0 && scalar("out2", "SELECT count(*) FROM runs WHERE status='done'") == 12 &&
              scalar("out2", "SELECT count(*) FROM results") == 12 &&
              scalar("out2", "SELECT count(DISTINCT config_hash) FROM runs") == 12,
          "after the restart every point is done exactly once");

    /* 4. two concurrent runs on one output */
    write_grid("grid3.json", "out3", teacher, AXES);
    rc = sh("(%s run %s/grid3.json > %s/run3a.log 2>&1 & %s run %s/grid3.json > %s/run3b.log 2>&1; wait)",
            bin, dir, dir, bin, dir, dir);
    CHECK(scalar("out3", "SELECT count(*) FROM runs WHERE status='done'") == 12 &&
              scalar("out3", "SELECT max(attempts) FROM runs") == 1,
          "two concurrent runs ran each point once");

    /* 5. a teacher that does not exist is a grid error: nothing written */
    char teachers[2048], tdir[512] = "";
    snprintf(cmd, sizeof cmd, "ls -d %s/cache/teacher-* | head -1", dir);
    FILE *p = popen(cmd, "r");
    if (p && fgets(tdir, sizeof tdir, p)) tdir[strcspn(tdir, "\n")] = '\0';
    if (p) pclose(p);
    snprintf(teachers, sizeof teachers, "{\"checkpoint\": [\"%s\", \"%s/no-such-teacher\"]}", tdir, dir);
    write_grid("grid4.json", "out4", teachers,
               "{\"strategy\": [\"gain\"], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.5}], "
               "\"finetune\": [\"none\", \"distill\"]}");
    snprintf(log, sizeof log, "%s/run4.log", dir);
    rc = sh("%s run %s/grid4.json > %s 2>&1", bin, dir, log);
    snprintf(bo, sizeof bo, "%s/out4", dir);
    CHECK(rc == 2 && stat(bo, &st) != 0 && file_contains(log, "teacher.checkpoint") &&
              file_contains(log, "no-such-teacher"),
          "a missing teacher exits 2 naming it, and writes nothing");

    /* 6. a teacher whose weights are truncated fails its points; the others finish */
    sh("mkdir -p %s/bad-teacher && cp %s/config.json %s/vocab.txt %s/qaprune.json %s/bad-teacher/"
       " && head -c 300 %s/model.safetensors > %s/bad-teacher/model.safetensors",
       dir, tdir, tdir, tdir, dir, tdir, dir);
    snprintf(teachers, sizeof teachers, "{\"checkpoint\": [\"%s\", \"%s/bad-teacher\"]}", tdir, dir);
    write_grid("grid5.json", "out5", teachers,
               "{\"strategy\": [\"gain\"], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.5}], "
               "\"finetune\": [\"none\", \"distill\"]}");
    rc = sh("%s run %s/grid5.json > %s/run5.log 2>&1", bin, dir, dir);
    CHECK(rc == 1, "a sweep with a failed point exits 1");
    CHECK(scalar("out5", "SELECT count(*) FROM runs WHERE status='done'") == 2 &&
              scalar("out5", "SELECT count(*) FROM runs WHERE status='failed' AND error LIKE "
                             "'%bad-teacher%'") == 2,
          "the points of the unreadable teacher failed, naming it; the others are done");
    CHECK(scalar("out5", "SELECT count(DISTINCT teacher_hash) FROM runs") == 2 &&
              scalar("out5", "SELECT count(*) FROM runs WHERE teacher = 'bad-teacher'") == 2,
          "runs record each point's teacher");

    /* 7. identity by content: a dev.json edited in place gives new points; the same files
     * at another path give the same points; two teachers never share a frontier */
    sh("mkdir -p %s/files %s/files-copy && cp %s/out/data/train.json %s/out/data/dev.json %s/files/"
       " && cp %s/files/*.json %s/files-copy/", dir, dir, dir, dir, dir, dir, dir);
    char pruned[600] = "";
    snprintf(cmd, sizeof cmd, "ls -d %s/out/points/*/ | head -1", dir);
    p = popen(cmd, "r");
    if (p && fgets(pruned, sizeof pruned, p)) pruned[strcspn(pruned, "\n")] = '\0';
    if (p) pclose(p);
    snprintf(teachers, sizeof teachers, "{\"checkpoint\": [\"%s\", \"%s\"]}", tdir, pruned);
    const char *axes6 = "{\"strategy\": [\"random\"], \"targets\": [{\"heads\": 0.25, "
                        "\"ffn\": 0.25}], \"finetune\": [\"none\"]}";
    write_files_grid("grid6.json", "out6", "files", teachers, axes6);
    rc = sh("%s run %s/grid6.json > %s/run6.log 2>&1", bin, dir, dir);
    CHECK(rc == 0 && scalar("out6", "SELECT count(*) FROM runs WHERE status='done'") == 2 &&
              scalar("out6", "SELECT count(DISTINCT teacher_hash) FROM runs") == 2,
          "two teachers, one point each");
    CHECK(scalar("out6", "SELECT count(*) FROM pareto") == 2,
          "each teacher's point is on its own frontier");
    CHECK(scalar("out6", "SELECT count(*) FROM runs WHERE json_valid(config_json)") == 2,
          "config_json is valid JSON");
    snprintf(cmd, sizeof cmd, "ls -d %s/out6/plots/*/f1_vs_speedup.png | wc -l", dir);
    p = popen(cmd, "r");
    int n_charts = 0;
    if (p && fscanf(p, "%d", &n_charts) != 1) n_charts = 0;
    if (p) pclose(p);
    CHECK(n_charts == 2, "charts drawn per teacher (%d directories)", n_charts);
    write_files_grid("grid6b.json", "out6", "files-copy", teachers, axes6);
    rc = sh("%s run %s/grid6b.json > %s/run6b.log 2>&1", bin, dir, dir);
    CHECK(rc == 0 && scalar("out6", "SELECT count(*) FROM runs") == 2 &&
              scalar("out6", "SELECT max(attempts) FROM runs") == 1,
          "the same files at another path are the same points (nothing runs again)");
    sh("cp %s/files/train.json %s/files/dev.json", dir, dir); /* edit dev.json in place */
    rc = sh("%s run %s/grid6.json > %s/run6c.log 2>&1", bin, dir, dir);
    CHECK(rc == 0 && scalar("out6", "SELECT count(*) FROM runs") == 4 &&
              scalar("out6", "SELECT count(*) FROM runs WHERE status='done'") == 4 &&
              scalar("out6", "SELECT count(DISTINCT data_hash) FROM runs") == 2,
          "an edited dev.json gives new points; the old rows stay with their identity");
    snprintf(log, sizeof log, "%s/status6.log", dir);
    rc = sh("%s status %s/grid6b.json > %s 2>&1", bin, dir, log);
    CHECK(rc == 0 && file_contains(log, "points of this grid: 2 done"),
          "status GRID counts that grid's points only");

    if (!test_failed) sh("rm -rf %s", dir);
    else fprintf(stderr, "kept %s for inspection\n", dir);
    return TEST_DONE();
}
