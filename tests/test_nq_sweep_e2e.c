/* tests/test_nq_sweep_e2e.c: `sweep run` on Natural Questions, end to end through the real
 * CLI, at the size of configs/ci.json: the synthetic task as NQ documents
 * ("synthetic": {..., "format": "nq"}), a teacher trained with the answer-type head, the
 * three strategies x two targets x two fine-tune modes:
 *   - every point done with real long and short F1 (and precision, recall) in [0, 100],
 *     f1 = short_f1, the SQuAD-only scores NULL; the charts drawn, nq_f1_vs_speedup among
 *     them; report.html, `sweep status` and the end-of-run table show both F1s;
 *   - a point's predictions.json scored by `sweep score --nq` against the dev file gives the
 *     F1s its result recorded; the training windows cached once, as a version 2 file with
 *     answer types;
 *   - `sweep worker OUT HASH` (a Slurm task) on an NQ point gives its long F1 again;
 *   - `sweep prune --nq` runs one point alone;
 *   - the same run again trains nothing; the NQ files of the run as outside files
 *     ("format": "nq") make a grid too;
 *   - `sweep eval --nq` on a RoBERTa checkpoint (byte-level BPE) scores the NQ dev file, and
 *     a sweep with it as the teacher on the NQ files records long and short F1;
 *   - configs/nq.json validates (a dry run);
 *   - bad NQ grid input (an unknown format, a missing file, a SQuAD file given as NQ,
 *     include_unknowns on SQuAD data) is one line naming the field, exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e.h"
#include "tests/test.h"

static char dir[256];
static const char *bin;

#define TEACHER                                                                             \
    "{\"train\": {\"layers\": 2, \"hidden\": 32, \"heads\": 4, \"ffn\": 64, \"steps\": 60, " \
    "\"batch_size\": 16, \"max_seq_len\": 128, \"lr\": 0.002}, \"cache\": \"%s/cache\"}"
#define AXES                                                                                 \
    "{\"strategy\": [\"random\", \"gain\", \"l0\"], \"targets\": [{\"heads\": 0.25, \"ffn\": " \
    "0.5}, {\"heads\": 0.5, \"ffn\": 0.75}], \"finetune\": [\"none\", \"distill\"]}"

/* Writes dir/name: a grid with this data object and out directory dir/out. */
static void write_grid(const char *name, const char *out, const char *data) {
    char path[512], teacher[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(teacher, sizeof teacher, TEACHER, dir);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"out\": \"%s/%s\",\n \"data\": %s,\n \"teacher\": %s,\n \"axes\": %s,\n"
            " \"prune\": {\"ft_steps\": 10, \"l0_steps\": 10, \"gain_batches\": 3,"
            " \"batch_size\": 8},\n"
            " \"bench\": {\"repeats\": 5, \"warmup\": 1},\n \"threads\": 1}\n",
            dir, out, data, teacher, AXES);
    fclose(f);
}

static double scalar(const char *out, const char *sql) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/results.db", dir, out);
    return db_scalar(path, sql);
}

/* The number of lines of s that start with prefix; *last gets the last of them. */
static int lines_with(const char *s, const char *prefix, const char **last) {
    int n = 0;
    for (const char *l = s; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
        if (!strncmp(l, prefix, strlen(prefix))) n++, *last = l;
    return n;
}

/* A bad grid: exit 2 with one error line that names field (progress lines aside). */
static void bad_grid(const char *what, const char *data, const char *field) {
    char out[4096];
    const char *line = "";
    write_grid("bad.json", "bad", data);
    int rc = run(out, sizeof out, "%s run %s/bad.json", bin, dir);
    int n = lines_with(out, "sweep run: ", &line);
    const char *nl = strchr(line, '\n');
    int in_line = strstr(line, field) && (!nl || strstr(line, field) < nl);
    CHECK(rc == 2 && n == 1 && in_line, "%s: exit %d, one line naming %s: %s", what, rc, field,
          out);
}

/* The number after "key": in the JSON file at path, or NAN. */
static double json_number(const char *path, const char *key) {
    char *s = slurp_file(path), pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *at = s ? strstr(s, pat) : NULL;
    double v = at ? strtod(at + strlen(pat), NULL) : NAN;
    free(s);
    return v;
}

int main(void) {
    bin = test_sweep_bin();
    if (sh("command -v sqlite3 >/dev/null && command -v gnuplot >/dev/null") != 0) {
        SKIP("sqlite3 or gnuplot not installed");
        return TEST_DONE();
    }
    snprintf(dir, sizeof dir, "/tmp/qaprune-nq-sweep-XXXXXX");
    if (!mkdtemp(dir)) {
        SKIP("no temporary directory");
        return TEST_DONE();
    }
    static const char SYNTH[] =
        "{\"synthetic\": {\"seed\": 7, \"train\": 600, \"dev\": 120, \"format\": \"nq\"},"
        " \"include_unknowns\": 1}";
    write_grid("grid.json", "out", SYNTH);

    /* 1. the whole sweep */
    char log[512];
    snprintf(log, sizeof log, "%s/run1.log", dir);
    int rc = sh("%s run %s/grid.json --jobs 2 > %s 2>&1", bin, dir, log);
    CHECK(rc == 0, "sweep run exits 0 (see %s)", log);
    CHECK(scalar("out", "SELECT count(*) FROM runs WHERE status = 'done'") == 12, "12 points done");
    CHECK(scalar("out", "SELECT count(*) FROM results WHERE long_f1 BETWEEN 0 AND 100 AND"
                        " short_f1 BETWEEN 0 AND 100 AND long_precision BETWEEN 0 AND 100 AND"
                        " long_recall BETWEEN 0 AND 100 AND short_precision BETWEEN 0 AND 100"
                        " AND short_recall BETWEEN 0 AND 100 AND f1 = short_f1 AND speedup > 0"
                        " AND exact IS NULL AND has_ans_f1 IS NULL AND no_ans_f1 IS NULL") == 12,
          "every point has long and short F1, precision, recall in [0, 100], f1 = short_f1");
    CHECK(scalar("out", "SELECT count(*) FROM results WHERE long_f1 > 0") >= 6,
          "long answers are found (F1 > 0 on most points)");
    CHECK(scalar("out", "SELECT count(*) FROM results WHERE teacher_f1 BETWEEN 0 AND 100") == 12,
          "the teacher's short-answer F1 recorded");
    CHECK(scalar("out", "SELECT count(*) FROM pareto WHERE long_f1 IS NOT NULL") >= 1,
          "the pareto view shows long_f1");
    CHECK(file_contains(log, "long_f1") && file_contains(log, "short_f1") &&
              file_contains(log, "f1 = short-answer F1"),
          "the end-of-run table shows both F1s and says what f1 is");
    const char *charts[] = {"f1_vs_speedup", "nq_f1_vs_speedup", "f1_vs_sparsity", "pareto_layers"};
    for (int i = 0; i < 4; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/out/plots/%s.png", dir, charts[i]);
        char *png = slurp_file(p);
        CHECK(png && !memcmp(png, "\x89PNG", 4), "%s drawn", p);
        free(png);
    }
    char dat[512];
    snprintf(dat, sizeof dat, "%s/out/plots/nq_f1_vs_speedup.dat", dir);
    CHECK(file_contains(dat, "long_f1\tshort_f1") && file_contains(dat, "l0 / distill"),
          "the NQ chart's data has both F1s per series");
    /* the teacher's marker in both panels: its long-answer F1 from meta, its short one */
    snprintf(dat, sizeof dat, "%s/out/plots/nq_f1_vs_speedup.gp", dir);
    char *gp = slurp_file(dat), *first = gp ? strstr(gp, "title 'teacher'") : NULL;
    CHECK(first && strstr(first + 1, "title 'teacher'"),
          "%s: the teacher drawn in the long- and the short-answer panel", dat);
    free(gp);
    CHECK(scalar("out", "SELECT count(*) FROM meta WHERE key = 'teacher_long_f1' AND "
                        "CAST(value AS REAL) BETWEEN 0 AND 100") == 1,
          "the teacher's long-answer F1 recorded in meta");
    char html[512];
    snprintf(html, sizeof html, "%s/out/report.html", dir);
    CHECK(file_contains(html, "Short-answer F1 (Natural Questions) against speedup") &&
              file_contains(html, "Long-answer F1 (Natural Questions) against speedup") &&
              file_contains(html, "long-answer F1</dt>"),
          "report.html charts both F1s and shows them on the cards");
    char out[16384];
    rc = run(out, sizeof out, "%s status %s/grid.json", bin, dir);
    CHECK(rc == 0 && strstr(out, "long_f1") && strstr(out, "short_f1") &&
              strstr(out, "12 done"), "sweep status shows both F1s: %s", out);

    /* 2. a point's files: the official NQ format, scored again by sweep score --nq */
    char hash[80] = "", pred[600], eval[600];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sqlite3 %s/out/results.db \"SELECT config_hash FROM runs JOIN"
             " results ON run_id = runs.id WHERE strategy = 'l0' AND finetune = 'distill'"
             " ORDER BY head_sparsity LIMIT 1\"", dir);
    FILE *p = popen(cmd, "r");
    if (p && fscanf(p, "%79s", hash) != 1) hash[0] = '\0';
    if (p) pclose(p);
    snprintf(pred, sizeof pred, "%s/out/points/%s/predictions.json", dir, hash);
    snprintf(eval, sizeof eval, "%s/out/points/%s/eval.json", dir, hash);
    CHECK(*hash && file_contains(pred, "\"long_answer_score\"") &&
              file_contains(pred, "\"yes_no_answer\"") &&
              file_contains(eval, "\"long-best-threshold-f1\""),
          "point %s: predictions.json in the NQ format, eval.json with nq_eval.py's keys", hash);
    char scored[600];
    snprintf(scored, sizeof scored, "%s/scored.json", dir);
    rc = sh("%s score --nq %s/out/data/nq-dev.jsonl.gz %s > %s 2>/dev/null", bin, dir, pred, scored);
    double lf = json_number(scored, "long-best-threshold-f1");
    double sf = json_number(scored, "short-best-threshold-f1");
    char q[512];
    snprintf(q, sizeof q, "SELECT long_f1 FROM results JOIN runs ON run_id = runs.id WHERE"
             " config_hash = '%s'", hash);
    double rl = scalar("out", q);
    snprintf(q, sizeof q, "SELECT short_f1 FROM results JOIN runs ON run_id = runs.id WHERE"
             " config_hash = '%s'", hash);
    double rs = scalar("out", q);
    CHECK(rc == 0 && fabs(100 * lf - rl) < 1e-6 && fabs(100 * sf - rs) < 1e-6,
          "sweep score --nq on the point's predictions gives its recorded F1s (long %g vs %g, "
          "short %g vs %g)", 100 * lf, rl, 100 * sf, rs);
    /* the training windows: one cache file, version 2 with answer types (flag 1) */
    snprintf(cmd, sizeof cmd, "ls %s/out/cache/windows-*.bin | wc -l", dir);
    p = popen(cmd, "r");
    int n_win = 0;
    if (p && fscanf(p, "%d", &n_win) != 1) n_win = 0;
    if (p) pclose(p);
    CHECK(n_win == 1, "one training windows file for the sweep (%d)", n_win);
    snprintf(cmd, sizeof cmd, "od -A n -t u4 -j 8 -N 4 %s/out/cache/windows-*.bin; "
             "od -A n -t u4 -j 28 -N 4 %s/out/cache/windows-*.bin", dir, dir);
    rc = run(out, sizeof out, "%s", cmd);
    unsigned version = 0, flags = 0;
    CHECK(rc == 0 && sscanf(out, "%u %u", &version, &flags) == 2 && version == 2 && flags == 1,
          "the windows file is version 2 with answer types: %s", out);

    /* a Slurm task's path: `sweep worker OUT HASH` reads the point's point.json (its data
     * object says NQ) and delivers a result file with the NQ scores */
    char wres[600];
    snprintf(wres, sizeof wres, "%s/out/results/%s.json", dir, hash);
    rc = run(out, sizeof out, "%s worker %s/out %s", bin, dir, hash);
    CHECK(rc == 0 && file_contains(wres, "\"long_f1\":") && file_contains(wres, "\"exact\":\tnull") &&
              fabs(json_number(wres, "long_f1") - rl) < 1e-6,
          "sweep worker on an NQ point: the same long F1 (%g) in its result file: %s",
          json_number(wres, "long_f1"), out);
    unlink(wres);

    /* `sweep prune --nq` runs one such point alone, on the sweep's teacher and data */
    rc = run(out, sizeof out, "t=$(ls -d %s/cache/teacher-* | grep -v lock | head -1); %s prune --nq "
             "--include-unknowns 1 --teacher $t --data %s/out/data --out %s/one --strategy gain "
             "--heads 0.5 --ffn 0.5 --finetune distill --ft_steps 4 --batch_size 8 --threads 1",
             dir, bin, dir, dir);
    snprintf(eval, sizeof eval, "%s/one/eval.json", dir);
    CHECK(rc == 0 && strstr(out, "pruned, final          long F1") &&
              file_contains(eval, "\"short-best-threshold-f1\""),
          "sweep prune --nq: %s", out);

    /* 3. again: nothing to train; the same NQ files as outside files make a grid */
    rc = run(out, sizeof out, "%s run %s/grid.json", bin, dir);
    CHECK(rc == 0 && strstr(out, "12 done, 0 failed"), "a second run has nothing to do");
    char files[1024];
    snprintf(files, sizeof files,
             "{\"format\": \"nq\", \"train\": \"%s/out/data/nq-train.jsonl.gz\","
             " \"dev\": \"%s/out/data/nq-dev.jsonl.gz\", \"vocab\": \"%s/out/data/vocab.txt\","
             " \"include_unknowns\": 1}", dir, dir, dir);
    write_grid("files.json", "files", files);
    rc = run(out, sizeof out, "%s run %s/files.json --dry-run", bin, dir);
    CHECK(rc == 0 && strstr(out, "Natural Questions, train") && strstr(out, "12 point(s)"),
          "NQ files as data: the plan: %s", out);

    /* 4. RoBERTa (byte-level BPE) on NQ: sweep eval --nq */
    rc = run(out, sizeof out, "%s eval --nq --model tests/data/torch_roberta_bpe --data "
             "%s/out/data/nq-dev.jsonl.gz --out %s/roberta", bin, dir, dir);
    snprintf(eval, sizeof eval, "%s/roberta/eval.json", dir);
    snprintf(pred, sizeof pred, "%s/roberta/predictions.json", dir);
    double rf = json_number(eval, "short-best-threshold-f1");
    CHECK(rc == 0 && strstr(out, "bpe tokenizer, roberta input format") && rf >= 0 && rf <= 1 &&
              file_contains(pred, "\"example_id\""),
          "sweep eval --nq on a RoBERTa checkpoint: %s", out);

    /* a sweep with the RoBERTa checkpoint as teacher on the NQ files (no type head: spans
     * decode as short answers, fine-tuning without the type loss) */
    char rgrid[512];
    snprintf(rgrid, sizeof rgrid, "%s/roberta.json", dir);
    FILE *g = fopen(rgrid, "w");
    fprintf(g, "{\"out\": \"%s/rob\", \"data\": {\"format\": \"nq\","
               " \"train\": \"%s/out/data/nq-train.jsonl.gz\", \"dev\": \"%s/out/data/nq-dev.jsonl.gz\","
               " \"include_unknowns\": 1},"
               " \"teacher\": {\"checkpoint\": \"tests/data/torch_roberta_bpe\"},"
               " \"axes\": {\"strategy\": [\"gain\"], \"targets\": [{\"heads\": 0.25, \"ffn\": 0.5}],"
               " \"finetune\": [\"distill\"]},"
               " \"prune\": {\"ft_steps\": 6, \"gain_batches\": 2, \"batch_size\": 8},"
               " \"bench\": {\"repeats\": 3, \"warmup\": 1}, \"threads\": 1}\n", dir, dir, dir);
    fclose(g);
    rc = sh("%s run %s > %s/rob.log 2>&1", bin, rgrid, dir);
    CHECK(rc == 0 && scalar("rob", "SELECT count(*) FROM results WHERE long_f1 BETWEEN 0 AND"
                                   " 100 AND short_f1 BETWEEN 0 AND 100") == 1,
          "a RoBERTa teacher on NQ files: the point done with long and short F1 (see %s/rob.log)",
          dir);

    /* 5. bad NQ grid input: one line naming the field */
    bad_grid("an unknown format", "{\"format\": \"xml\", \"train\": \"a\", \"dev\": \"b\","
             " \"vocab\": \"v\"}", "data.format");
    bad_grid("an unknown synthetic format", "{\"synthetic\": {\"format\": \"nqq\"}}",
             "data.synthetic.format");
    snprintf(files, sizeof files,
             "{\"format\": \"nq\", \"train\": \"%s/missing.jsonl.gz\","
             " \"dev\": \"%s/out/data/nq-dev.jsonl.gz\", \"vocab\": \"%s/out/data/vocab.txt\"}",
             dir, dir, dir);
    bad_grid("a missing NQ file", files, "data.train");
    snprintf(files, sizeof files,
             "{\"format\": \"nq\", \"train\": \"%s/out/data/nq-train.jsonl.gz\","
             " \"dev\": \"%s/out/data/squad/dev.json\", \"vocab\": \"%s/out/data/vocab.txt\"}",
             dir, dir, dir);
    bad_grid("a SQuAD file given as NQ", files, "data.dev");
    bad_grid("include_unknowns on SQuAD data",
             "{\"synthetic\": {\"seed\": 1}, \"include_unknowns\": 0.5}", "data.include_unknowns");
    bad_grid("include_unknowns out of range",
             "{\"synthetic\": {\"format\": \"nq\"}, \"include_unknowns\": 2}",
             "data.include_unknowns");

    CHECK(sh("%s run configs/nq.json --dry-run > /dev/null 2>&1", bin) == 0,
          "configs/nq.json validates");

    if (!test_failed) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    }
    return TEST_DONE();
}
