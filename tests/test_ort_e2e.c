/* tests/test_ort_e2e.c: latency in ONNX Runtime through the real CLI.
 *   Without ONNX Runtime (always): `sweep bench --runtime ort` and a sweep with
 *   "bench": {"ort": true} given no install (or no node) stop with one line saying how to
 *   install it, before anything is written.
 *   With ONNX Runtime (node and npm's onnxruntime-node under $ORT_DIR, else "skipped"):
 *   configs/ci.json with "bench": {"ort": true} (into a temporary directory): every point
 *   done with real positive ort_latency_ms, ort_teacher_latency_ms, ort_speedup equal to
 *   their ratio; the ORT columns in the end-of-run table and `sweep status`, the chart
 *   f1_vs_ort_speedup, nothing left in OUT/ort; then `sweep bench --runtime engine,ort` on
 *   the sweep's teacher and a point (checkpoints), and `--runtime ort` on their exports. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/test.h"

static char dir[256];
static const char *bin;

static double scalar(const char *sql) {
    char path[512];
    snprintf(path, sizeof path, "%s/ci/results.db", dir);
    return db_scalar(path, sql);
}

/* configs/ci.json with its outputs under dir and "ort" set in "bench"; QA-style 0 / -1. */
static int write_ci_grid(const char *path, const char *out) {
    char *text = slurp_file("configs/ci.json");
    cJSON *g = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!g) return -1;
    char o[512], cache[600];
    snprintf(o, sizeof o, "%s/%s", dir, out);
    snprintf(cache, sizeof cache, "%s/cache", o);
    cJSON_ReplaceItemInObject(g, "out", cJSON_CreateString(o));
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(g, "teacher"), "cache", cJSON_CreateString(cache));
    cJSON_AddTrueToObject(cJSON_GetObjectItem(g, "bench"), "ort");
    char *s = cJSON_Print(g);
    cJSON_Delete(g);
    FILE *f = fopen(path, "w");
    int ok = f && s && fputs(s, f) >= 0;
    if (f) fclose(f);
    free(s);
    return ok ? 0 : -1;
}

/* One JSON line of `sweep bench` pair mode: the line whose runtime is rt, parsed. */
static cJSON *bench_line(const char *out, const char *rt) {
    char want[64];
    snprintf(want, sizeof want, "{\"runtime\":\"%s\"", rt);
    const char *at = strstr(out, want);
    if (!at) return NULL;
    const char *end = strchr(at, '\n');
    char line[2048];
    snprintf(line, sizeof line, "%.*s", (int)(end ? end - at : (long)strlen(at)), at);
    return cJSON_Parse(line);
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The pair mode line of runtime rt: both latencies positive, speedup their ratio. */
static void check_pair(const char *out, const char *rt, int threads, const char *what) {
    cJSON *j = bench_line(out, rt);
    CHECK(j != NULL, "%s: a %s line in: %s", what, rt, out);
    if (!j) return;
    double t = num(j, "teacher_ms"), m = num(j, "model_ms"), s = num(j, "speedup");
    CHECK(t > 0 && m > 0 && s > 0, "%s %s: teacher %g ms, model %g ms, speedup %g", what, rt,
          t, m, s);
    CHECK_CLOSE(s, t / m, 2e-2, "%s %s: speedup is teacher_ms / model_ms", what, rt);
    CHECK(num(j, "threads") == threads && num(j, "reps") == 3 && num(j, "seq") == 128,
          "%s %s: the settings asked for", what, rt);
    cJSON_Delete(j);
}

/* Without an install: one line naming the fix, exit 1 (bench) or 2 (a grid that cannot run),
 * nothing written. */
static void test_missing(void) {
    char out[4096];
    int rc = run(out, sizeof out, "%s bench --teacher tests/data/torch_ckpt --model "
                 "tests/data/torch_ckpt --runtime ort --ort %s/no-ort", bin, dir);
    CHECK(rc == 1 && strstr(out, "npm install --ignore-scripts onnxruntime-node") &&
              strstr(out, "no-ort") && strchr(out, '\n') == out + strlen(out) - 1,
          "bench without ONNX Runtime: one line saying how to install (exit %d): %s", rc, out);
    rc = run(out, sizeof out, "PATH=/nonexistent %s bench --teacher tests/data/torch_ckpt "
             "--model tests/data/torch_ckpt --runtime ort", bin);
    CHECK(rc == 1 && strstr(out, "node is not on PATH") &&
              strstr(out, "npm install --ignore-scripts onnxruntime-node"),
          "bench without node: says so (exit %d): %s", rc, out);
    rc = run(out, sizeof out, "%s bench --teacher tests/data/torch_ckpt --model "
             "tests/data/torch_ckpt --runtime ort,gpu", bin);
    CHECK(rc == 2 && strstr(out, "--runtime must be engine, ort or engine,ort"),
          "bad --runtime (exit %d): %s", rc, out);
    rc = run(out, sizeof out, "%s bench --runtime ort", bin);
    CHECK(rc == 2 && strstr(out, "needs --teacher and --model"), "--runtime ort alone: %s", out);

    char grid[512];
    snprintf(grid, sizeof grid, "%s/missing.json", dir);
    CHECK(write_ci_grid(grid, "missing") == 0, "write %s", grid);
    rc = run(out, sizeof out, "QAPRUNE_ORT_DIR=%s/no-ort %s run %s", dir, bin, grid);
    char missing_out[512];
    snprintf(missing_out, sizeof missing_out, "%s/missing", dir);
    CHECK(rc == 2 && strstr(out, "sweep run: ONNX Runtime: no ") &&
              strstr(out, "npm install --ignore-scripts onnxruntime-node") &&
              access(missing_out, F_OK) != 0,
          "a sweep with bench.ort and no install stops before writing (exit %d): %s", rc, out);
    rc = run(out, sizeof out, "QAPRUNE_ORT_DIR=%s/no-ort %s run %s --dry-run", dir, bin, grid);
    CHECK(rc == 0, "--dry-run does not need ONNX Runtime (exit %d): %s", rc, out);
}

static void test_sweep_and_bench(const char *ort_dir) {
    char grid[512], log[600];
    snprintf(grid, sizeof grid, "%s/ci.json", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    CHECK(write_ci_grid(grid, "ci") == 0, "write %s", grid);
    int rc = sh("QAPRUNE_ORT_DIR='%s' %s run %s --jobs 2 > %s 2>&1", ort_dir, bin, grid, log);
    CHECK(rc == 0, "sweep run with bench.ort exits 0 (see %s)", log);
    CHECK(scalar("SELECT count(*) FROM runs WHERE status = 'done'") == 12, "12 points done");
    CHECK(scalar("SELECT count(*) FROM results WHERE typeof(ort_latency_ms) = 'real' AND"
                 " typeof(ort_teacher_latency_ms) = 'real' AND typeof(ort_speedup) = 'real' AND"
                 " ort_latency_ms > 0 AND ort_teacher_latency_ms > 0 AND ort_speedup > 0") == 12,
          "every point has real positive ORT figures");
    CHECK(scalar("SELECT count(*) FROM results WHERE abs(ort_speedup - ort_teacher_latency_ms /"
                 " ort_latency_ms) < 1e-9 * ort_speedup") == 12,
          "ort_speedup = ort_teacher_latency_ms / ort_latency_ms");
    CHECK(scalar("SELECT count(DISTINCT ort_teacher_latency_ms) FROM results") > 1,
          "the teacher is timed again beside each point (interleaved)");
    CHECK(scalar("SELECT count(*) FROM pareto_ort") >= 1 &&
              scalar("SELECT count(*) FROM pareto WHERE ort_speedup > 0") >= 1,
          "the frontier views have the ORT figures");
    char path[600];
    snprintf(path, sizeof path, "%s/ci/plots/f1_vs_ort_speedup.png", dir);
    CHECK(access(path, R_OK) == 0, "the ORT chart %s", path);
    snprintf(path, sizeof path, "%s/ci/plots/f1_vs_ort_speedup.dat", dir);
    CHECK(file_contains(path, "view pareto_ort"), "its data has the ORT frontier");
    snprintf(path, sizeof path, "%s/ci/ort", dir);
    CHECK(access(path, F_OK) != 0, "no ONNX Runtime work files left (%s)", path);
    CHECK(file_contains(log, "ort_speedup") && file_contains(log, "ort_ms"),
          "the end-of-run table shows the ORT columns");
    char out[16384];
    rc = run(out, sizeof out, "%s status %s/ci", bin, dir);
    CHECK(rc == 0 && strstr(out, "ort_speedup"), "sweep status shows ort_speedup: %s", out);

    /* sweep bench on the sweep's own teacher and one point */
    char teacher[700] = "", point[700];
    FILE *p = NULL;
    snprintf(path, sizeof path, "ls -d %s/ci/cache/teacher-* | grep -v lock | head -1", dir);
    if ((p = popen(path, "r"))) {
        if (!fgets(teacher, sizeof teacher, p)) teacher[0] = '\0';
        pclose(p);
    }
    teacher[strcspn(teacher, "\n")] = '\0';
    char dbp[600], sql[800];
    snprintf(dbp, sizeof dbp, "%s/ci/results.db", dir);
    snprintf(sql, sizeof sql, "sqlite3 %s \"SELECT config_hash FROM pareto ORDER BY speedup DESC"
             " LIMIT 1\"", dbp);
    char hash[128] = "";
    if ((p = popen(sql, "r"))) {
        if (!fgets(hash, sizeof hash, p)) hash[0] = '\0';
        pclose(p);
    }
    hash[strcspn(hash, "\n")] = '\0';
    snprintf(point, sizeof point, "%s/ci/points/%s", dir, hash);
    CHECK(*teacher && *hash, "the sweep's teacher (%s) and a point (%s)", teacher, hash);
    rc = run(out, sizeof out, "%s bench --teacher %s --model %s --runtime engine,ort --ort '%s'"
             " --threads 2 --reps 3 --warmup 1 2>/dev/null", bin, teacher, point, ort_dir);
    CHECK(rc == 0, "bench --runtime engine,ort exits 0 (%d): %s", rc, out);
    check_pair(out, "engine", 2, "checkpoints");
    check_pair(out, "ort", 2, "checkpoints");

    char te[800], pe[800];
    snprintf(te, sizeof te, "%s/export/teacher/model.onnx", dir);
    snprintf(pe, sizeof pe, "%s/export/point/model.onnx", dir);
    rc = sh("%s export --model %s --onnx %s > /dev/null 2>&1 && %s export --model %s --onnx %s"
            " > /dev/null 2>&1", bin, teacher, te, bin, point, pe);
    CHECK(rc == 0, "export the teacher and the point");
    rc = run(out, sizeof out, "QAPRUNE_ORT_DIR='%s' %s bench --teacher %s --model %s --runtime ort"
             " --threads 1 --reps 3 --warmup 1 2>/dev/null", ort_dir, bin, te, pe);
    CHECK(rc == 0, "bench --runtime ort on .onnx files exits 0 (%d): %s", rc, out);
    check_pair(out, "ort", 1, ".onnx files");
    rc = run(out, sizeof out, "%s bench --teacher %s --model %s --runtime engine", bin, te, pe);
    CHECK(rc == 2 && strstr(out, "not .onnx files"), "engine refuses .onnx files: %s", out);
}

int main(void) {
    bin = test_sweep_bin();
    if (sh("command -v sqlite3 >/dev/null && command -v gnuplot >/dev/null") != 0) {
        SKIP("sqlite3 or gnuplot not installed");
        return TEST_DONE();
    }
    snprintf(dir, sizeof dir, "/tmp/qaprune-ort-XXXXXX");
    if (!mkdtemp(dir)) {
        SKIP("no temporary directory");
        return TEST_DONE();
    }
    test_missing();
    const char *ort_dir = getenv("ORT_DIR");
    char pkg[600], abs_dir[4096];
    snprintf(pkg, sizeof pkg, "%s/node_modules/onnxruntime-node/package.json",
             ort_dir ? ort_dir : "");
    if (!ort_dir || access(pkg, R_OK) != 0 || sh("node --version > /dev/null 2>&1") != 0)
        SKIP("ONNX Runtime: node or onnxruntime-node under $ORT_DIR missing (tests/ort_setup.sh)");
    else
        test_sweep_and_bench(realpath(ort_dir, abs_dir) ? abs_dir : ort_dir);
    if (!test_failed) sh("rm -rf %s", dir);
    return TEST_DONE();
}
