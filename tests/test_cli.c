/* tests/test_cli.c: the conventions every subcommand shares, through the real CLI:
 * `sweep --version`; --name=value as well as --name value; an unknown option, a flag given a
 * value, a missing value or a bad number is exit code 2 with one line naming it; --help
 * lists each command's options and defaults; `sweep query --csv|--json` on a real results
 * database; `sweep bench --mode gemm` (the four layer GEMMs, their FLOPs) and the peak RSS a
 * training bench reports. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util/error.h"
#include "db/results.h"
#include "sweep/cli.h"
#include "tests/test.h"

static char dir[64];
static const char *bin;
static char out[1 << 16];

/* Runs "BIN ARGS" through sh with stdout and stderr both into out; returns the exit code. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
    char args[2048], cmd[2400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1 </dev/null", bin, args);
    FILE *p = popen(cmd, "r");
    size_t k = 0;
    int c;
    out[0] = '\0';
    while (p && (c = fgetc(p)) != EOF)
        if (k + 1 < sizeof out) out[k++] = (char)c, out[k] = '\0';
    int st = p ? pclose(p) : -1;
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static const char *commands[] = {"run",   "status",  "query", "plot",  "bench",   "tokenize",
                                 "score", "teacher", "eval",  "prune", "gen-data"};
enum { NCMD = sizeof commands / sizeof commands[0] };

static void test_version_and_unknown(void) {
    int rc = run("--version");
    CHECK(rc == 0 && !strcmp(out, "sweep (qaprune) " QAPRUNE_VERSION "\n"), "--version: %s",
          out);
    rc = run("--help");
    CHECK(rc == 0 && strstr(out, "sweep --version") && strstr(out, "gen-data"), "sweep --help: %s",
          out);
    rc = run("--bogus");
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "'--bogus'"), "sweep --bogus: %d %s", rc,
          out);
    for (int i = 0; i < NCMD; i++) {
        /* with and without a value, a short option, and after a positional for the
         * commands that take one */
        int positional = i < 4 || !strcmp(commands[i], "score");
        const char *forms[] = {"--no-such-option", "--no-such-option=3",
                               positional ? "x --no-such-option" : "--no-such-option x", "-q"};
        for (int f = 0; f < 4; f++) {
            rc = run("%s %s", commands[i], forms[f]);
            const char *name = f == 3 ? "'-q'" : "'--no-such-option'";
            CHECK(rc == 2 && lines(out) == 1 && strstr(out, name) && strstr(out, commands[i]),
                  "sweep %s %s: exit 2 and one line naming it, got %d: %s", commands[i],
                  forms[f], rc, out);
        }
    }
}

/* Every command's --help: exit 0, usage line, every option, its defaults. */
static void test_help(void) {
    static const struct {
        const char *cmd, *needles[8];
    } helps[] = {
        {"run", {"--jobs N", "(default 1)", "--retry-failed", "--no-plots", "--dry-run"}},
        {"status", {"GRID.json|OUT_DIR"}},
        {"query", {"GRID.json|OUT_DIR SQL", "--csv", "--json"}},
        {"plot", {"GRID.json|OUT_DIR"}},
        {"bench", {"--layers L", "(default 12)", "--mode forward|train", "(default forward)",
                   "--heads-per-layer JSON", "--ffn-per-layer JSON", "--reps N", "--vocab V"}},
        {"tokenize", {"--model DIR", "--vocab FILE", "--merges FILE", "--tokenizer-json FILE",
                      "--tokens", "--cased", "--uncased"}},
        {"score", {"DATA.json PREDICTIONS.json", "--na-prob FILE", "--na-prob-thresh T",
                   "(default 1)"}},
        {"teacher", {"--data DIR", "--out DIR", "--config FILE", "--threads N", "(default 2)",
                     "--eval-every N", "(default 0)", "settings for --config"}},
        {"eval", {"--model DIR", "--data FILE.json", "--out DIR", "--threads N"}},
        {"prune", {"--teacher DIR", "--data DIR", "--out DIR", "--threads N", "strategy",
                   "ft_steps", "distill_temp", "--heads F"}},
        {"gen-data", {"--out DIR", "--seed S", "--train N", "(default 200000)", "--dev M",
                      "(default 2000)", "--lookup 0|1", "--bpe-merges K"}},
    };
    CHECK(sizeof helps / sizeof helps[0] == NCMD, "every command's help is checked");
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        for (int form = 0; form < 2; form++) {
            int rc = run("%s %s", helps[i].cmd, form ? "-h" : "--help");
            char usage[64];
            snprintf(usage, sizeof usage, "usage: sweep %s", helps[i].cmd);
            CHECK(rc == 0 && strstr(out, usage) && strstr(out, "-h, --help"),
                  "sweep %s --help: %d %s", helps[i].cmd, rc, out);
            for (int k = 0; form == 0 && k < 8 && helps[i].needles[k]; k++)
                CHECK(strstr(out, helps[i].needles[k]) != NULL, "sweep %s --help lists '%s'",
                      helps[i].cmd, helps[i].needles[k]);
        }
    }
}

/* --name=value means --name value; values are checked the same either way. */
static void test_values(void) {
    int rc = run("gen-data --out=%s/d1 --seed=3 --train=40 --dev=10 --lookup=0", dir);
    CHECK(rc == 0, "gen-data with --name=value: %s", out);
    rc = run("gen-data --out %s/d2 --seed 3 --train 40 --dev 10 --lookup 0", dir);
    CHECK(rc == 0, "gen-data with --name value: %s", out);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cmp -s %s/d1/train.json %s/d2/train.json && "
             "cmp -s %s/d1/dev.json %s/d2/dev.json", dir, dir, dir, dir);
    CHECK(system(cmd) == 0, "both forms give the same files");
    rc = run("gen-data --out=%s/d3 --seed=abc", dir);
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "--seed") && strstr(out, "'abc'"),
          "a bad number after '=': %s", out);
    rc = run("gen-data --out %s/d3", dir);
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "--seed is required"), "required: %s", out);
    rc = run("run --dry-run=1 configs/ci.json");
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "takes no value"), "flag with a value: %s",
          out);
    rc = run("teacher --out %s/t --data", dir);
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "--data needs a value"), "no value: %s", out);
    rc = run("status %s/nope extra", dir);
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "'extra'"), "one positional too many: %s",
          out);
    rc = run("status");
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "GRID.json|OUT_DIR"), "positional missing: %s",
          out);
    rc = run("status -- --not-an-option");
    CHECK(rc == 1 && strstr(out, "--not-an-option: no such file"), "-- ends the options: %s", out);
    rc = run("score %s/a.json %s/b.json --na-prob-thresh -1", dir, dir);
    CHECK(rc == 1 && strstr(out, "na-prob-thresh -1") && strstr(out, "a.json"),
          "a value may begin with '-'; then the missing file is the error: %s", out);
    rc = run("score a.json b.json --na-prob-thresh=x");
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "--na-prob-thresh"), "bad real: %s", out);

    /* prune's settings: either form, validated by the settings table, strings never spliced
     * into JSON text */
    rc = run("prune --teacher=%s/t --data=%s/d1 --out=%s/p --strategy=magic", dir, dir, dir);
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "'magic'"), "prune --strategy=magic: %s",
          out);
    rc = run("prune --teacher %s/t --data %s/d1 --out %s/p --ft_steps=many", dir, dir, dir);
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "ft_steps"), "prune --ft_steps=many: %s",
          out);
    rc = run("prune --teacher %s/t --data %s/d1 --out %s/p --heads=1.5", dir, dir, dir);
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "head_sparsity"), "prune --heads=1.5: %s",
          out);
    rc = run("prune --teacher %s/t --data %s/d1 --out %s/p --finetune 'no\"ne'", dir, dir, dir);
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "'no\"ne'"),
          "a quote in a string setting is a value, not JSON: %s", out);

    /* tokenize reads --vocab=FILE */
    snprintf(cmd, sizeof cmd, "printf '[PAD]\\n[UNK]\\n[CLS]\\n[SEP]\\nhello\\nworld\\n' > %s/v.txt",
             dir);
    CHECK(system(cmd) == 0, "vocab written");
    char args[256];
    snprintf(args, sizeof args, "tokenize --vocab=%s/v.txt --tokens", dir);
    char pipe[1024];
    snprintf(pipe, sizeof pipe, "echo 'Hello world' | %s %s 2>/dev/null", bin, args);
    FILE *p = popen(pipe, "r");
    char line[128] = "";
    if (p && !fgets(line, sizeof line, p)) line[0] = '\0';
    CHECK(p && pclose(p) == 0 && !strcmp(line, "hello world\n"), "tokenize --vocab=: '%s'", line);
}

/* sweep query on a database made through db/results.h. */
static void test_query(void) {
    char db_path[128];
    snprintf(db_path, sizeof db_path, "%s/q/results.db", dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/q", dir);
    Db *db = NULL;
    CHECK(system(cmd) == 0 && db_open(db_path, &db) == QA_OK, "db: %s", qa_last_error());
    DbRun r1 = {"hash-1", "gain", "distill", 0.5, 0.7, 1, "{\"note\": \"a, \\\"b\\\"\"}",
                "bert", "t-hash", "synthetic", "d-hash"};
    DbRun r2 = {"hash-2", "l0", "none", 0.25, 0.5, 2, "{}", "bert", "t-hash", "synthetic",
                "d-hash"};
    CHECK(db && db_add_run(db, &r1, NULL) == QA_OK && db_add_run(db, &r2, NULL) == QA_OK,
          "runs: %s", qa_last_error());
    db_close(db);
    const char *sql = "\"SELECT id, strategy, head_sparsity, config_json, error FROM runs "
                      "ORDER BY id\"";
    int rc = run("query %s/q %s --json", dir, sql);
    cJSON *j = rc == 0 ? cJSON_Parse(out) : NULL;
    cJSON *row = cJSON_GetArrayItem(j, 0);
    CHECK(cJSON_GetArraySize(j) == 2 && cJSON_IsNumber(cJSON_GetObjectItem(row, "id")) &&
              cJSON_GetObjectItem(row, "head_sparsity")->valuedouble == 0.5 &&
              !strcmp(cJSON_GetObjectItem(row, "strategy")->valuestring, "gain") &&
              !strcmp(cJSON_GetObjectItem(row, "config_json")->valuestring,
                      "{\"note\": \"a, \\\"b\\\"\"}") &&
              cJSON_IsNull(cJSON_GetObjectItem(row, "error")),
          "query --json: %d %s", rc, out);
    cJSON_Delete(j);
    rc = run("query %s/q %s --csv", dir, sql);
    CHECK(rc == 0 && !strcmp(out, "id,strategy,head_sparsity,config_json,error\r\n"
                                  "1,gain,0.5,\"{\"\"note\"\": \"\"a, \\\"\"b\\\"\"\"\"}\",\r\n"
                                  "2,l0,0.25,{},\r\n"),
          "query --csv: %d %s", rc, out);
    rc = run("query --csv --json %s/q \"SELECT 1 AS one\"", dir);
    CHECK(rc == 0 && !strcmp(out, "[{\"one\":1}]\n"), "the last format wins: %s", out);
    rc = run("query %s/q \"SELECT 1 AS one\"", dir);
    CHECK(rc == 0 && !strcmp(out, "one\n---\n  1\n"), "the table by default: %s", out);
    rc = run("query %s/q \"SELEC 1\" --json", dir);
    CHECK(rc == 1 && lines(out) == 1 && strstr(out, "syntax error"), "bad SQL: %s", out);
}

/* The last line of out as JSON (a new tree, or NULL). */
static cJSON *last_json(void) {
    char *end = out + strlen(out);
    while (end > out && end[-1] == '\n') *--end = '\0';
    char *start = strrchr(out, '\n');
    return cJSON_Parse(start ? start + 1 : out);
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_bench(void) {
    /* gemm mode: M = batch x seq rows; QKV, attention output, FFN in, FFN out */
    int rc = run("bench --mode gemm --hidden 64 --ffn 96 --seq 16 --batch 2 --reps 3 --warmup 1");
    cJSON *j = rc == 0 ? last_json() : NULL;
    CHECK(j && num(j, "m") == 32 && num(j, "threads") == 1, "bench --mode gemm: %s", out);
    const cJSON *shapes = cJSON_GetObjectItemCaseSensitive(j, "shapes");
    const int want[4][2] = {{192, 64}, {64, 64}, {96, 64}, {64, 96}};
    double flop = 0;
    CHECK(cJSON_GetArraySize(shapes) == 4, "four layer GEMMs");
    for (int i = 0; i < 4 && cJSON_GetArraySize(shapes) == 4; i++) {
        const cJSON *s = cJSON_GetArrayItem(shapes, i);
        double f = 2.0 * 32 * want[i][0] * want[i][1];
        flop += f;
        CHECK(num(s, "m") == 32 && num(s, "n") == want[i][0] && num(s, "k") == want[i][1] &&
                  num(s, "flop") == f && num(s, "sgemm_ms") > 0 && num(s, "engine_ms") > 0 &&
                  num(s, "sgemm_gflop_per_s") > 0 && num(s, "engine_gflop_per_s") > 0,
              "GEMM %d: %gx%g.%gx%g, flop %g", i, num(s, "m"), num(s, "k"), num(s, "k"),
              num(s, "n"), num(s, "flop"));
    }
    CHECK(num(j, "flop") == flop && num(j, "sgemm_ms") > 0 &&
              fabs(num(j, "sgemm_gflop_per_s") - flop / num(j, "sgemm_ms") / 1e6) < 1e-6 *
              num(j, "sgemm_gflop_per_s") && num(j, "peak_rss_mb") > 0,
          "the layer's totals: flop %g", num(j, "flop"));
    cJSON_Delete(j);
    rc = run("bench --mode gemm --precision bf16");
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "--precision"), "gemm mode is fp32: %s", out);
    rc = run("bench --mode fwd");
    CHECK(rc == 2 && lines(out) == 1 && strstr(out, "--mode") && strstr(out, "'fwd'"),
          "a bad --mode: %s", out);
    /* a training step's peak memory holds at least the parameters, gradients and AdamW's
     * two moments (16 bytes per parameter) */
    rc = run("bench --mode train --layers 2 --hidden 256 --heads 4 --ffn 1024 --seq 32 --batch 2 "
             "--vocab 20000 --reps 1 --warmup 0");
    j = rc == 0 ? last_json() : NULL;
    CHECK(j && num(j, "params") > 0 &&
              num(j, "peak_rss_mb") * 1048576 > 16 * num(j, "params") &&
              num(j, "peak_rss_mb") < 24576,
          "train bench peak_rss_mb %g MiB for %g parameters: %s", num(j, "peak_rss_mb"),
          num(j, "params"), out);
    cJSON_Delete(j);
}

int main(void) {
    bin = test_sweep_bin();
    snprintf(dir, sizeof dir, "/tmp/qaprune-cli-conv-XXXXXX");
    if (!mkdtemp(dir)) {
        SKIP("cannot make a temporary directory");
        return TEST_DONE();
    }
    test_version_and_unknown();
    test_help();
    test_values();
    test_query();
    test_bench();
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (!test_failed && system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (test_failed) fprintf(stderr, "kept %s for inspection\n", dir);
    return TEST_DONE();
}
