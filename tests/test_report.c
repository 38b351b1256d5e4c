/* tests/test_report.c: OUT/report.html and `sweep compare` in a real browser. A tiny sweep
 * (two strategies x two targets x two seeds, the shape of test_sweep_e2e's grid) runs through
 * the real CLI and writes its report; one point is then failed through a result file whose
 * error carries a <script>, and `sweep report OUT` writes the page again. Headless Chromium
 * loads it from disk and the test reads the DOM it built (--dump-dom): one table row and one
 * card per point, exactly the pareto view's runs marked, the injected script inert (escaped
 * text, never run), no script errors, and sorting by F1 (#sort=8-desc) orders the rows.
 * A second sweep with another teacher is compared with the first: one series per sweep and
 * teacher, a row per done point of both. A screenshot is kept for a person to look at
 * ($QAPRUNE_SCREENSHOT, default build/test_report.png). Without chromium: skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/util/error.h"
#include "db/results.h"
#include "plots/html.h"
#include "tests/e2e.h"
#include "tests/test.h"

static char dir[256];
static const char *bin;

/* The whole file at path as a new string ("" when unreadable); free with free(). */
static char *slurp(const char *path) {
    char *s = slurp_file(path);
    return s ? s : calloc(1, 1);
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Loads file://path[#frag] in headless Chromium and writes the DOM it built to dom_out (and,
 * when png is not NULL, a screenshot there). Returns chromium's exit code. */
static int chromium(const char *path, const char *frag, const char *dom_out, const char *png) {
    static const char flags[] =
        "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
        "--disable-background-networking --disable-component-update --disable-sync "
        "--hide-scrollbars";
    if (png)
        return sh("timeout 60 chromium %s --user-data-dir=$(mktemp -d) --window-size=1280,2200 "
                  "--screenshot='%s' 'file://%s' > /dev/null 2>&1", flags, png, path);
    return sh("timeout 60 chromium %s --user-data-dir=$(mktemp -d) --dump-dom 'file://%s%s' "
              "> '%s' 2> /dev/null", flags, path, frag ? frag : "", dom_out);
}

/* The runs of OUT and how many of them the pareto view holds. */
static void db_counts_of(const char *out, int *n_runs, int *n_pareto, long long *failed_id) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/results.db", dir, out);
    Db *db = NULL;
    DbRunRow *rows = NULL;
    DbPoint *front = NULL;
    int n = 0, nf = 0;
    *n_runs = *n_pareto = -1;
    if (db_open_readonly(path, &db) || db_run_rows(db, 0, &rows, &n) ||
        db_pareto(db, NULL, &front, &nf)) {
        fprintf(stderr, "%s: %s\n", path, qa_last_error());
    } else {
        *n_runs = n;
        *n_pareto = nf;
    }
    if (failed_id)
        for (int i = 0; i < n; i++)
            if (rows[i].status == DB_FAILED) *failed_id = rows[i].run_id;
    db_run_rows_free(rows, n);
    free(front);
    db_close(db);
}

/* Fails the done run of OUT with the highest id through a result file, as a worker would. */
static long long fail_one(const char *out, const char *error) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/results.db", dir, out);
    Db *db = NULL;
    DbRunRow *rows = NULL;
    int n = 0;
    long long id = -1;
    if (db_open(path, &db) || db_run_rows(db, 0, &rows, &n)) goto cleanup;
    int pick = -1;
    for (int i = 0; i < n; i++)
        if (rows[i].status == DB_DONE && (pick < 0 || rows[i].run_id > rows[pick].run_id)) pick = i;
    if (pick < 0) goto cleanup;
    DbResult r = {.status = DB_FAILED};
    snprintf(r.config_hash, sizeof r.config_hash, "%s", rows[pick].config_hash);
    snprintf(r.error, sizeof r.error, "%s", error);
    snprintf(path, sizeof path, "%s/failed.json", dir);
    if (db_write_result_file(path, &r) == QA_OK && db_ingest_result(db, path) == QA_OK)
        id = rows[pick].run_id;
cleanup:
    if (id < 0) fprintf(stderr, "fail_one: %s\n", qa_last_error());
    db_run_rows_free(rows, n);
    db_close(db);
    return id;
}

/* Checks the rows of a dumped DOM: how many <tr class="point ..."> in total and with
 * "pareto" in the class, and whether the F1 cells (column f1_col) never increase. */
static void rows_of(const char *dom, int f1_col, int *n_rows, int *n_pareto, int *descending) {
    *n_rows = *n_pareto = 0;
    *descending = 1;
    double prev = 1e300;
    for (const char *p = dom; (p = strstr(p, "<tr class=\"point")); p++) {
        const char *end = strchr(p, '>');
        (*n_rows)++;
        if (end && memmem(p, (size_t)(end - p), "pareto", 6)) (*n_pareto)++;
        const char *td = p;
        for (int c = 0; c <= f1_col && td; c++) td = strstr(td + 1, "<td");
        const char *v = td ? strstr(td, "data-v=\"") : NULL;
        if (!v) continue;
        char *stop;
        double f1 = strtod(v + 8, &stop);
        if (stop == v + 8) f1 = -1e300; /* an empty cell (no F1) sorts last */
        if (f1 > prev) *descending = 0;
        prev = f1;
    }
}

static void check_escape(void) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    html_escape(f, "<a href=\"x\">&'\x01</a>");
    fclose(f);
    CHECK(buf && !strcmp(buf, "&lt;a href=&quot;x&quot;&gt;&amp;&#39; &lt;/a&gt;"),
          "html_escape escapes markup, quotes and control characters: %s", buf);
    free(buf);
}

#define TEACHER_TRAIN                                                                       \
    "{\"train\": {\"layers\": 2, \"hidden\": 32, \"heads\": 4, \"ffn\": 64, \"steps\": 40, " \
    "\"batch_size\": 16, \"max_seq_len\": 128}, \"cache\": \"%s/cache\"}"

static void write_grid(const char *name, const char *out, const char *teacher, const char *axes) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"out\": \"%s/%s\",\n"
            " \"data\": {\"synthetic\": {\"seed\": 7, \"train\": 400, \"dev\": 80}},\n"
            " \"teacher\": %s,\n \"axes\": %s,\n"
            " \"prune\": {\"ft_steps\": 4, \"gain_batches\": 2, \"batch_size\": 8},\n"
            " \"bench\": {\"repeats\": 3, \"warmup\": 1},\n \"threads\": 1}\n",
            dir, out, teacher, axes);
    fclose(f);
}

int main(void) {
    bin = test_sweep_bin();
    check_escape();
    if (sh("command -v chromium > /dev/null") != 0) {
        SKIP("chromium not installed (apt-get install chromium): the report is not loaded in "
             "a browser");
        return TEST_DONE();
    }
    snprintf(dir, sizeof dir, "/tmp/qaprune-report-XXXXXX");
    if (!mkdtemp(dir)) {
        SKIP("no temporary directory");
        return TEST_DONE();
    }
    char teacher[512], path[600], dom[600], log[600];
    snprintf(teacher, sizeof teacher, TEACHER_TRAIN, dir);
    write_grid("grid.json", "out", teacher,
               "{\"strategy\": [\"random\", \"gain\"], \"targets\": [{\"heads\": 0.25, \"ffn\": "
               "0.5}, {\"heads\": 0.5, \"ffn\": 0.75}], \"finetune\": [\"none\"], "
               "\"seed\": [1, 2]}");

    /* 1. sweep run writes the report */
    snprintf(log, sizeof log, "%s/run.log", dir);
    int rc = sh("%s run %s/grid.json --no-plots > %s 2>&1", bin, dir, log);
    snprintf(path, sizeof path, "%s/out/report.html", dir);
    char *page = slurp(path), *text = slurp(log);
    CHECK(rc == 0 && strstr(text, "report:  ") && strstr(text, "report.html"),
          "sweep run exits 0 and names its report (see %s)", log);
    CHECK(count(page, "<tr class=\"point") == 8 && count(page, "<div class=\"card ") == 8,
          "sweep run wrote %s with 8 rows and 8 cards", path);
    CHECK(!strstr(page, "src=\"http") && !strstr(page, "href=\"http") && !strstr(page, "<link"),
          "the report loads nothing from outside");
    free(page);
    free(text);

    /* 2. a failed point whose error holds markup, then sweep report OUT */
    static const char hostile[] =
        "boom <script>document.body.setAttribute('data-pwned','1')</script> & \"q\" <b>x</b>";
    long long failed = fail_one("out", hostile);
    CHECK(failed > 0, "one point failed through a result file");
    snprintf(log, sizeof log, "%s/report.log", dir);
    snprintf(dom, sizeof dom, "%s/out", dir);
    rc = sh("%s report %s > %s 2>&1", bin, dom, log);
    CHECK(rc == 0, "sweep report OUT exits 0 (see %s)", log);
    int n_runs, n_pareto;
    long long failed_seen = -1;
    db_counts_of("out", &n_runs, &n_pareto, &failed_seen);
    CHECK(n_runs == 8 && n_pareto >= 1 && failed_seen == failed,
          "the database: %d runs, %d on the frontier, run %lld failed", n_runs, n_pareto,
          failed_seen);

    snprintf(dom, sizeof dom, "%s/dom.html", dir);
    rc = chromium(path, NULL, dom, NULL);
    char *d = slurp(dom);
    int rows, marked, desc;
    rows_of(d, 8, &rows, &marked, &desc);
    CHECK(rc == 0 && strstr(d, "data-ready=\"1\"") && strstr(d, "data-script-errors=\"0\""),
          "chromium ran the page's script without errors (rc %d)", rc);
    CHECK(rows == n_runs, "table rows = points (%d vs %d)", rows, n_runs);
    CHECK(count(d, "<div class=\"card ") == n_runs, "one card per point (%d)",
          count(d, "<div class=\"card "));
    CHECK(marked == n_pareto, "the frontier rows are marked (%d marked, %d in the view)", marked,
          n_pareto);
    char card_id[64];
    snprintf(card_id, sizeof card_id, "<div class=\"card failed\" id=\"run-%lld\">", failed);
    CHECK(strstr(d, card_id) != NULL, "the failed point has its card");
    CHECK(strstr(d, "&lt;script&gt;document.body.setAttribute") && !strstr(d, "data-pwned=\"1\"") &&
              !strstr(d, "<b>x</b>") && strstr(d, "&amp; \"q\" &lt;b&gt;x&lt;/b&gt;"),
          "the injected <script> and markup are escaped text, never run");
    CHECK(count(d, "<svg") >= 1 + n_runs - 1, "a chart and a layer chart per done point (%d svg)",
          count(d, "<svg"));
    CHECK(strstr(d, "HasAns F1") && strstr(d, "NoAns F1") && strstr(d, "&quot;prune&quot;") == NULL &&
              strstr(d, "\"prune\": {"),
          "cards show the F1 breakdown and the pretty-printed config");
    CHECK(strstr(d, " ± ") && strstr(d, "(n=2)"), "settings with two seeds show F1 mean ± std");
    /* the report's seed statistics are the summary view's */
    char sumf[600];
    snprintf(sumf, sizeof sumf, "%s/summary.txt", dir);
    rc = sh("%s query %s/out \"SELECT printf('%%.2f ± %%.2f (n=%%d)', f1_mean, f1_std, n) FROM "
            "summary WHERE n > 1\" --csv | tail -n +2 | tr -d '\\r' > %s", bin, dir, sumf);
    char *sum = slurp(sumf);
    int n_sum = 0, found = 0;
    for (char *line = strtok(sum, "\n"); line; line = strtok(NULL, "\n")) {
        n_sum++;
        found += strstr(d, line) != NULL;
    }
    CHECK(rc == 0 && n_sum == 3 && found == n_sum,
          "each of the summary view's %d settings with several seeds shows its mean ± std "
          "(%d found)", n_sum, found);
    free(sum);
    free(d);

    /* 3. the page's sorting: #sort=8-desc orders the rows by F1, highest first */
    rc = chromium(path, "#sort=8-desc", dom, NULL);
    d = slurp(dom);
    rows_of(d, 8, &rows, &marked, &desc);
    CHECK(rc == 0 && rows == n_runs && desc && strstr(d, "data-sorted=\"desc\""),
          "sorted by F1 in the browser: %d rows, descending %d", rows, desc);
    free(d);

    /* 4. a screenshot for a person to look at */
    const char *png = getenv("QAPRUNE_SCREENSHOT");
    if (!png || !*png) png = "build/test_report.png";
    char abs_png[1024];
    snprintf(abs_png, sizeof abs_png, "%s%s%s", png[0] == '/' ? "" : getenv("PWD") ? getenv("PWD") : ".",
             png[0] == '/' ? "" : "/", png);
    remove(abs_png);
    rc = chromium(path, NULL, NULL, abs_png);
    char *shot = slurp(abs_png);
    CHECK(rc == 0 && !memcmp(shot, "\x89PNG\r\n\x1a\n", 8), "screenshot %s", abs_png);
    free(shot);
    printf("screenshot of the report: %s\n", abs_png);

    /* 5. compare with a second sweep whose teacher is one of the first sweep's pruned points */
    char pruned[600] = "", cmd[800];
    snprintf(cmd, sizeof cmd, "ls -d %s/out/points/*/ | head -1", dir);
    FILE *p = popen(cmd, "r");
    if (p && fgets(pruned, sizeof pruned, p)) pruned[strcspn(pruned, "\n")] = '\0';
    if (p) pclose(p);
    char teacher2[800];
    snprintf(teacher2, sizeof teacher2, "{\"checkpoint\": \"%s\"}", pruned);
    write_grid("grid2.json", "out2", teacher2,
               "{\"strategy\": [\"random\"], \"targets\": [{\"heads\": 0.25, \"ffn\": 0.25}], "
               "\"finetune\": [\"none\"]}");
    rc = sh("%s run %s/grid2.json --no-plots > %s/run2.log 2>&1", bin, dir, dir);
    CHECK(rc == 0, "the second sweep runs (see %s/run2.log)", dir);
    snprintf(path, sizeof path, "%s/compare.html", dir);
    rc = sh("%s compare %s/out %s/out2 --out %s > %s/compare.log 2>&1", bin, dir, dir, path, dir);
    CHECK(rc == 0, "sweep compare exits 0 (see %s/compare.log)", dir);
    rc = chromium(path, NULL, dom, NULL);
    d = slurp(dom);
    rows_of(d, 8, &rows, &marked, &desc);
    CHECK(rc == 0 && rows == n_runs - 1 + 1 && strstr(d, "data-script-errors=\"0\""),
          "the comparison has a row per done point of both sweeps (%d)", rows);
    char s1[600], s2[600];
    snprintf(s1, sizeof s1, "%s/out: ", dir);
    snprintf(s2, sizeof s2, "%s/out2: ", dir);
    CHECK(strstr(d, s1) && strstr(d, s2), "the chart has a series per sweep and teacher");
    CHECK(marked >= 2, "each sweep's frontier is marked (%d)", marked);
    free(d);
    if (sh("command -v gnuplot > /dev/null") == 0) {
        char img[600];
        snprintf(img, sizeof img, "%s/compare.png", dir);
        char *pic = slurp(img);
        snprintf(img, sizeof img, "%s/compare.svg", dir);
        char *svg = slurp(img);
        snprintf(img, sizeof img, "%s/compare.gp", dir);
        char *gp = slurp(img);
        CHECK(!memcmp(pic, "\x89PNG\r\n\x1a\n", 8) && strstr(svg, "</svg>") &&
                  count(gp, "index ") == 2,
              "gnuplot drew compare.png and compare.svg, a series per sweep and teacher");
        free(pic), free(svg), free(gp);
    }
    CHECK(sh("%s compare %s/grid.json > /dev/null 2>&1", bin, dir) == 1,
          "compare refuses a grid file (it takes output directories)");

    if (!test_failed) sh("rm -rf %s", dir);
    else fprintf(stderr, "kept %s for inspection\n", dir);
    return TEST_DONE();
}
