/* tests/test_plots.c: plots_render on a hand-made database (three strategies, one with quotes
 * in its name, two fine-tune modes, three targets) and on an empty one: every data file,
 * script, PNG and SVG exists and is well formed, and the scripts carry the titles. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/error.h"
#include "plots/gnuplot.h"
#include "plots/plots.h"
#include "tests/test.h"

static char dir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

/* Reads at most cap-1 bytes of path into buf (NUL-terminated); returns the count or -1. */
static long read_some(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

/* Adds one done run: 4 layers, heads and FFN thinned as the sparsity grows; ort_speedup NAN:
 * no ONNX Runtime figures. */
static void add_done_ort(Db *db, const char *strategy, const char *finetune, double sp,
                         double f1, double speedup, int seed, double ort_speedup) {
    static int counter;
    char hash[32], path[128], cfg[256];
    snprintf(hash, sizeof hash, "plot%03d", counter++);
    /* the summary view pools the runs whose config differs only in prune.seed */
    char name[64];
    size_t k = 0;
    for (const char *c = strategy; *c && k + 2 < sizeof name; c++) {
        if (*c == '"') name[k++] = '\\';
        name[k++] = *c;
    }
    name[k] = '\0';
    snprintf(cfg, sizeof cfg, "{\"identity\": \"%s\", \"prune\": {\"strategy\": \"%s\", "
             "\"finetune\": \"%s\", \"sp\": %g, \"seed\": %d}}", hash, name, finetune, sp,
             seed);
    DbRun run = {.config_hash = hash, .strategy = strategy, .finetune = finetune,
                 .head_sparsity = sp, .ffn_sparsity = sp, .seed = seed, .config_json = cfg};
    int claimed = 0;
    CHECK(db_add_run(db, &run, NULL) == QA_OK && db_claim(db, hash, "h:1", &claimed) == QA_OK &&
          claimed, "add %s: %s", hash, qa_last_error());
    DbResult r = {.status = DB_DONE, .n_layers = 4};
    snprintf(r.config_hash, sizeof r.config_hash, "%s", hash);
    long long heads = 0, ffn = 0;
    for (int l = 0; l < 4; l++) {
        r.layer_heads[l] = 4 - (int)(sp * 4 * (l % 2 ? 1.5 : 0.5));
        r.layer_ffn[l] = 64 - (int)(sp * 64 * (l < 2 ? 0.5 : 1.5));
        if (r.layer_heads[l] < 0) r.layer_heads[l] = 0;
        if (r.layer_ffn[l] < 0) r.layer_ffn[l] = 0;
        heads += r.layer_heads[l];
        ffn += r.layer_ffn[l];
    }
    DbMetrics m = {f1, f1 - 4, f1, f1, heads, 16, ffn, 256, 1000000, 1e9, 10 / speedup, 10,
                   speedup, 1, f1 - 10, 80, 12 / ort_speedup, 12, ort_speedup,
                   NAN, NAN, NAN, NAN, NAN, NAN, /* peak_rss_mb */ NAN, 0};
    r.metrics = m;
    snprintf(path, sizeof path, "%s/%s.json", dir, hash);
    CHECK(db_write_result_file(path, &r) == QA_OK && db_ingest_result(db, path) == QA_OK,
          "ingest %s: %s", hash, qa_last_error());
    remove(path);
}

static void add_done_seed(Db *db, const char *strategy, const char *finetune, double sp,
                          double f1, double speedup, int seed) {
    add_done_ort(db, strategy, finetune, sp, f1, speedup, seed, NAN);
}

static void add_done(Db *db, const char *strategy, const char *finetune, double sp, double f1,
                     double speedup, double ort_speedup) {
    add_done_ort(db, strategy, finetune, sp, f1, speedup, 1, ort_speedup);
}

/* Checks the twelve files of one render in out: images well formed, scripts with their
 * titles, and expect_text in the scripts chosen by the bit mask which (1, 2, 4 by chart). */
static void check_files(const PlotsReport *rep, const char *out, const char *expect_text,
                        int which) {
    static const char *const charts[] = {"f1_vs_speedup", "f1_vs_sparsity", "pareto_layers"};
    static const char *const titles[] = {"F1 against speedup", "F1 against sparsity",
                                         "Per-layer structure"};
    static char buf[1 << 20];
    char path[256];
    CHECK(rep->n_files == 12, "report lists %d files", rep->n_files);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.png", out, charts[i]);
        long n = read_some(path, buf, sizeof buf);
        CHECK(n > 24 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0 &&
              memcmp(buf + 12, "IHDR", 4) == 0, "%s is a PNG (%ld bytes)", path, n);
        snprintf(path, sizeof path, "%s/%s.svg", out, charts[i]);
        n = read_some(path, buf, sizeof buf);
        CHECK(n > 0 && strstr(buf, "<svg") && strstr(buf, "</svg>"), "%s is SVG", path);
        snprintf(path, sizeof path, "%s/%s.gp", out, charts[i]);
        n = read_some(path, buf, sizeof buf);
        CHECK(n > 0 && strstr(buf, titles[i]), "%s has its title", path);
        CHECK(!(which >> i & 1) || strstr(buf, expect_text), "%s has \"%s\"", path,
              expect_text);
        snprintf(path, sizeof path, "%s/%s.dat", out, charts[i]);
        n = read_some(path, buf, sizeof buf);
        CHECK(n > 0 && buf[0] == '#', "%s starts with a header comment", path);
        int listed = 0;
        for (int k = 0; k < rep->n_files; k++) listed += strstr(rep->files[k], charts[i]) != 0;
        CHECK(listed == 4, "%s: %d files reported", charts[i], listed);
    }
}

static void test_charts(void) {
    char path[128], out[128];
    Db *db;
    snprintf(path, sizeof path, "%s/results.db", dir);
    if (db_open(path, &db)) {
        CHECK(0, "open: %s", qa_last_error());
        return;
    }
    static const char *const strategies[] = {"random", "gain", "l0 \"it's\""};
    static const char *const modes[] = {"none", "distill"};
    for (int s = 0; s < 3; s++)
        for (int m = 0; m < 2; m++)
            for (int k = 1; k <= 3; k++)
                add_done(db, strategies[s], modes[m], 0.2 * k, 78 - 6 * k * (3 - s) / 3.0 + 2 * m,
                         1 + 0.6 * k + 0.1 * s, NAN);
    CHECK(db_set_meta(db, "teacher_f1", "80.5") == QA_OK, "meta");
    PlotsReport rep;
    snprintf(out, sizeof out, "%s/plots", dir);
    CHECK(plots_render(db, out, &rep) == QA_OK, "render: %s", qa_last_error());
    check_files(&rep, out, "teacher (F1 80.5)", 1);
    char gp[256], text[65536];
    snprintf(gp, sizeof gp, "%s/f1_vs_speedup.gp", out);
    read_some(gp, text, sizeof text);
    CHECK(strstr(text, "'l0 \"it''s\" / distill'") != NULL, "quote escaped in the legend");
    CHECK(strstr(text, "Pareto frontier") != NULL, "frontier drawn");
    CHECK(strstr(text, "yerrorbars") == NULL, "one seed per setting: no error bars");
    db_close(db);
}

/* Two seeds of each setting: f1_vs_speedup draws their mean with ± std bars from the
 * summary view, and its data file holds the means and deviations. */
static void test_seed_bars(void) {
    char path[128], out[128];
    Db *db;
    snprintf(path, sizeof path, "%s/seeds.db", dir);
    if (db_open(path, &db)) {
        CHECK(0, "open: %s", qa_last_error());
        return;
    }
    for (int k = 1; k <= 2; k++) {
        add_done_seed(db, "gain", "distill", 0.3 * k, 70 - 5 * k, 1 + k, 1);
        add_done_seed(db, "gain", "distill", 0.3 * k, 74 - 5 * k, 1.2 + k, 2);
        add_done_seed(db, "dense", "distill", 0.3 * k, 60 - 5 * k, 1 + k, 1);
    }
    PlotsReport rep;
    snprintf(out, sizeof out, "%s/seed_plots", dir);
    CHECK(plots_render(db, out, &rep) == QA_OK, "render: %s", qa_last_error());
    check_files(&rep, out, "yerrorbars", 1);
    char file[256], text[65536];
    snprintf(file, sizeof file, "%s/f1_vs_speedup.gp", out);
    read_some(file, text, sizeof text);
    CHECK(strstr(text, "using 2:3:4 with yerrorbars") && strstr(text, "mean ± std over seeds"),
          "the means are drawn with error bars and named in the key");
    const char *first = strstr(text, "yerrorbars");
    CHECK(first && !strstr(first + 1, "yerrorbars"), "one bar series: dense has one seed");
    snprintf(file, sizeof file, "%s/f1_vs_speedup.dat", out);
    read_some(file, text, sizeof text);
    /* seeds 1 and 2 at 30%: F1 65 and 69 (mean 67, std 2.83), speedup 2 and 2.2 */
    CHECK(strstr(text, "gain / distill, mean ± std over seeds") &&
              strstr(text, "2\t2.1\t67\t2.82842712\t30\t30\t"),
          "the data file holds n, mean speedup, mean F1 and std per setting:\n%s", text);
    db_close(db);
}

/* Runs with ONNX Runtime figures add f1_vs_ort_speedup: their points at their ORT speedup,
 * the frontier of pareto_ort; runs without figures are left out of it. */
static void test_ort_chart(void) {
    char path[512], out[256];
    Db *db;
    snprintf(path, sizeof path, "%s/ort.db", dir);
    if (db_open(path, &db)) {
        CHECK(0, "open: %s", qa_last_error());
        return;
    }
    /* engine speedups 2, 3, 4, 5; ORT's 1.5, 2.5, 1.25 and none; F1 falls as speed grows.
     * On ORT's frontier: 1.5 (F1 70) and 2.5 (F1 60); 1.25 (F1 50) is dominated. */
    add_done(db, "l0", "none", 0.2, 70, 2, 1.5);
    add_done(db, "l0", "none", 0.4, 60, 3, 2.5);
    add_done(db, "l0", "none", 0.6, 50, 4, 1.25);
    add_done(db, "l0", "none", 0.8, 40, 5, NAN);
    PlotsReport rep;
    snprintf(out, sizeof out, "%s/ort_plots", dir);
    CHECK(plots_render(db, out, &rep) == QA_OK, "render with ORT: %s", qa_last_error());
    CHECK(rep.n_files == 16, "report lists %d files (4 charts)", rep.n_files);
    static char text[1 << 16];
    snprintf(path, sizeof path, "%s/f1_vs_ort_speedup.png", out);
    CHECK(read_some(path, text, sizeof text) > 24 && !memcmp(text, "\x89PNG", 4), "%s", path);
    snprintf(path, sizeof path, "%s/f1_vs_ort_speedup.gp", out);
    read_some(path, text, sizeof text);
    CHECK(strstr(text, "speedup in ONNX Runtime") != NULL, "the ORT chart's title and axis");
    snprintf(path, sizeof path, "%s/f1_vs_ort_speedup.dat", out);
    read_some(path, text, sizeof text);
    const char *front = strstr(text, "view pareto_ort");
    CHECK(front && strstr(text, "\t1.5\t70\t") && strstr(text, "\t2.5\t60\t") &&
              strstr(text, "\t1.25\t50\t") && !strstr(text, "\n4\t"),
          "the points with ORT figures at their ORT speedup, the other left out:\n%s", text);
    CHECK(front && strstr(front, "\t1.5\t70\t") && strstr(front, "\t2.5\t60\t") &&
              !strstr(front, "\t1.25\t50\t"),
          "the ORT frontier (pareto_ort): %s", front ? front : "(none)");
    db_close(db);
}

static void test_empty(void) {
    char path[128], out[128];
    Db *db;
    snprintf(path, sizeof path, "%s/empty.db", dir);
    if (db_open(path, &db)) {
        CHECK(0, "open: %s", qa_last_error());
        return;
    }
    PlotsReport rep;
    snprintf(out, sizeof out, "%s/empty_plots", dir);
    CHECK(plots_render(db, out, &rep) == QA_OK, "render empty: %s", qa_last_error());
    check_files(&rep, out, "no finished runs yet", 7);
    db_close(db);
}

int main(void) {
    if (!gnuplot_available()) {
        SKIP("gnuplot is not installed (apt-get install gnuplot-nox)");
        return TEST_DONE();
    }
    snprintf(dir, sizeof dir, "/tmp/qaprune_test_plots_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_charts();
    test_ort_chart();
    test_seed_bars();
    test_empty();
    if (!getenv("QAPRUNE_KEEP_TEST_DIR"))
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    else
        printf("kept %s\n", dir);
    return TEST_DONE();
}
