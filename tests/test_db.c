/* tests/test_db.c: the results database and result files (db/results.h, db/result_file.h):
 * schema and WAL, the run life cycle (add, claim across handles and processes, stale reset,
 * release, retry), ingestion (values, idempotence, transactions, bad files, failures), the
 * pareto view against a brute-force twin, and the query printer. */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "core/util/error.h"
#include "db/results.h"
#include "tests/e2e.h"
#include "tests/test.h"

static char dir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

static void path_in(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Writes the old schema SQL as NAME in the test directory (its path into path), opens it,
 * which migrates it, and checks that it is at the current version; NULL if a step failed. */
static Db *open_migrated(const char *name, const char *sql, char *path, size_t cap) {
    path_in(path, cap, name);
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK && sqlite3_exec(h, sql, 0, 0, 0) == SQLITE_OK,
          "write %s", name);
    sqlite3_close(h);
    Db *db = NULL;
    CHECK(db_open(path, &db) == QA_OK, "open %s: %s", name, qa_last_error());
    if (!db) return NULL;
    char buf[32] = "";
    int found = 0;
    CHECK(db_get_meta(db, "schema_version", buf, sizeof buf, &found) == QA_OK && found &&
              !strcmp(buf, "7"),
          "%s migrated to version %s", name, buf);
    return db;
}


/* Runs sql through db_query_write in format fmt and returns what it printed (new string;
 * free()). */
static char *query_as(Db *db, const char *sql, DbFormat fmt, int *rc) {
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    *rc = db_query_write(db, sql, fmt, f);
    fclose(f);
    return text;
}

/* The same through db_query_print (the table). */
static char *query_text(Db *db, const char *sql, int *rc) {
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    *rc = db_query_print(db, sql, f);
    fclose(f);
    return text;
}

/* The single number a one-cell query yields, read from its CSV (a header line, then exactly
 * one line holding a number); NAN, which no check accepts, when the query fails, yields no
 * row, more rows or columns, NULL or text. */
static double query_num(Db *db, const char *sql) {
    int rc;
    char *text = query_as(db, sql, DB_FORMAT_CSV, &rc), *end;
    char *row = text ? strstr(text, "\r\n") : NULL;
    double v = NAN;
    if (rc == QA_OK && row) {
        row += 2;
        double x = strtod(row, &end);
        if (end != row && !strcmp(end, "\r\n")) v = x;
    }
    free(text);
    return v;
}

static void add_run(Db *db, const char *hash, const char *strategy, double hs) {
    DbRun r = {.config_hash = hash, .strategy = strategy, .finetune = "distill",
               .head_sparsity = hs, .ffn_sparsity = 0.5, .seed = 7,
               .config_json = "{\"demo\": true}"};
    CHECK(db_add_run(db, &r, NULL) == QA_OK, "add %s: %s", hash, qa_last_error());
}

/* A consistent done result: 4 layers of 3 heads and 8 neurons minus what was pruned. */
static void make_done(DbResult *r, const char *hash, double f1, double speedup) {
    memset(r, 0, sizeof *r);
    snprintf(r->config_hash, sizeof r->config_hash, "%s", hash);
    r->status = DB_DONE;
    snprintf(r->finished_at, sizeof r->finished_at, "2024-05-01T12:00:00Z");
    r->n_layers = 4;
    long long heads = 0, ffn = 0;
    for (int l = 0; l < 4; l++) {
        r->layer_heads[l] = 3 - l % 2;
        r->layer_ffn[l] = 8 - 2 * l;
        heads += r->layer_heads[l];
        ffn += r->layer_ffn[l];
    }
    DbMetrics m = {f1, f1 - 5, f1 + 1, f1 - 1, heads, 12, ffn, 32, 123456789012LL, 1.5e9,
                   10 / speedup, 10, speedup, 3.25, NAN, 81.5, NAN, NAN, NAN, NAN, NAN, NAN,
                   NAN, NAN, NAN, /* peak_rss_mb */ 2047.5, 0};
    r->metrics = m;
}

/* Writes r to dir/name and ingests it; returns db_ingest_result's code. */
static int ingest(Db *db, const DbResult *r, const char *name) {
    char path[128];
    path_in(path, sizeof path, name);
    if (db_write_result_file(path, r)) return QA_ERR;
    return db_ingest_result(db, path);
}

static void write_text(const char *name, const char *text) {
    char path[128];
    path_in(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Removes the line holding key from the file at path; returns 1 when it did. */
static int drop_line(const char *path, const char *key) {
    char text[8192];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    char *at = strstr(text, key);
    if (!at) return 0;
    char *start = at, *end = strchr(at, '\n');
    while (start > text && start[-1] != '\n') start--;
    memmove(start, end + 1, strlen(end + 1) + 1);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return 1;
}

/* ---------------------------------------------------------------- tests */

static void test_open(void) {
    char path[128];
    Db *db;
    int rc, found;
    char buf[32];
    path_in(path, sizeof path, "open.db");
    CHECK(db_open(path, &db) == QA_OK, "open: %s", qa_last_error());
    char *mode = query_text(db, "PRAGMA journal_mode", &rc);
    CHECK(rc == QA_OK && strstr(mode, "wal"), "journal mode: %s", mode);
    free(mode);
    CHECK(query_num(db, "PRAGMA foreign_keys") == 1, "foreign keys on");
    CHECK(db_get_meta(db, "schema_version", buf, sizeof buf, &found) == QA_OK && found &&
          strcmp(buf, "7") == 0 && DB_SCHEMA_VERSION == 7, "schema_version %s", buf);
    CHECK(query_num(db, "SELECT count(*) FROM sqlite_master WHERE name IN "
                        "('runs','results','layers','pareto','summary','meta','file_hashes')") == 7,
          "schema objects");
    CHECK(db_set_meta(db, "teacher_f1", "81.25") == QA_OK, "set meta");
    db_close(db);

    CHECK(db_open(path, &db) == QA_OK, "reopen: %s", qa_last_error());
    CHECK(db_get_meta(db, "teacher_f1", buf, sizeof buf, &found) == QA_OK && found &&
          strcmp(buf, "81.25") == 0, "meta survives reopen: %s", buf);
    CHECK(db_get_meta(db, "nope", buf, sizeof buf, &found) == QA_OK && !found && !buf[0],
          "absent meta");
    CHECK(db_set_meta(db, "schema_version", "99") == QA_OK, "set future version");
    db_close(db);
    CHECK(db_open(path, &db) == QA_ERR && !db, "newer schema refused");
    CHECK(strstr(qa_last_error(), "schema version 99") && strstr(qa_last_error(), path),
          "message: %s", qa_last_error());

    write_text("junk.db", "this is not a database, just some text that is long enough....\n");
    path_in(path, sizeof path, "junk.db");
    CHECK(db_open(path, &db) == QA_ERR, "junk file refused");
    CHECK(strstr(qa_last_error(), "junk.db") && strstr(qa_last_error(), "not a database"),
          "message: %s", qa_last_error());
}

static void test_runs(Db *db, Db *db2) {
    int ins = -1, claimed = -1, n = -1, p, r, d, f, found;
    DbRun run = {.config_hash = "h-add", .strategy = "gain", .finetune = "none",
                 .head_sparsity = 0.25, .ffn_sparsity = 0.5, .seed = 1, .config_json = "{}"};
    CHECK(db_add_run(db, &run, &ins) == QA_OK && ins == 1, "first add inserts");
    run.strategy = "random";
    CHECK(db_add_run(db2, &run, &ins) == QA_OK && ins == 0, "second add is a no-op");
    CHECK(query_num(db, "SELECT count(*) FROM runs WHERE config_hash='h-add' AND "
                        "strategy='gain' AND status='pending' AND attempts=0") == 1,
          "row as first added");
    run.config_hash = "has space";
    CHECK(db_add_run(db, &run, &ins) == QA_ERR && strstr(qa_last_error(), "config_hash"),
          "bad hash: %s", qa_last_error());

    CHECK(db_claim(db, "h-add", "hostA:1", &claimed) == QA_OK && claimed == 1, "claim");
    CHECK(db_claim(db2, "h-add", "hostA:2", &claimed) == QA_OK && claimed == 0,
          "second handle loses");
    CHECK(db_claim(db, "h-add", "hostA:1", &claimed) == QA_OK && claimed == 0,
          "running run not claimed again");
    CHECK(db_claim(db, "no-such", "hostA:1", &claimed) == QA_ERR &&
          strstr(qa_last_error(), "no-such"), "unknown hash: %s", qa_last_error());
    CHECK(query_num(db, "SELECT attempts FROM runs WHERE config_hash='h-add'") == 1,
          "attempts 1");
    CHECK(query_num(db, "SELECT count(*) FROM runs WHERE config_hash='h-add' AND "
                        "owner='hostA:1' AND started_at LIKE '20__-__-__T__:__:__Z'") == 1,
          "owner and started_at");
    DbStatus st = DB_PENDING;
    CHECK(db_get_status(db, "h-add", &st, &found) == QA_OK && found && st == DB_RUNNING,
          "status running");
    CHECK(db_get_status(db, "zzz", &st, &found) == QA_OK && !found, "status of unknown");

    CHECK(db_release_owner(db, "hostA:9", &n) == QA_OK && n == 0, "release other owner");
    CHECK(db_release_owner(db, "hostA:1", &n) == QA_OK && n == 1, "release own");
    CHECK(db_counts(db, 0, &p, &r, &d, &f) == QA_OK && p == 1 && r == 0 && d == 0 && f == 0,
          "counts %d %d %d %d", p, r, d, f);
}

/* pid 200 is alive, every other pid is dead. */
static int fake_alive(int pid) { return pid == 200; }

static void test_stale(Db *db) {
    const char *owners[] = {"hostA:100", "hostA:200", "hostB:100", "hostAA:100", "hostA:x"};
    char hash[24];
    int claimed, n = -1;
    for (int i = 0; i < 5; i++) {
        snprintf(hash, sizeof hash, "stale%d", i);
        add_run(db, hash, "random", 0.1 * i);
        CHECK(db_claim(db, hash, owners[i], &claimed) == QA_OK && claimed, "claim %s", hash);
    }
    CHECK(db_reset_stale(db, "hostA", fake_alive, &n) == QA_OK && n == 1, "reset %d", n);
    CHECK(query_num(db, "SELECT count(*) FROM runs WHERE config_hash='stale0' AND "
                        "status='pending' AND owner IS NULL AND attempts=1") == 1,
          "dead local runner's run is pending");
    CHECK(query_num(db, "SELECT count(*) FROM runs WHERE config_hash LIKE 'stale%' AND "
                        "status='running'") == 4, "others still running");
}

/* Two processes, each with its own handle, race to claim the same runs: each run is claimed
 * exactly once. */
static void test_claim_fork(Db *db) {
    enum { N = 40 };
    char hash[24];
    for (int i = 0; i < N; i++) {
        snprintf(hash, sizeof hash, "race%02d", i);
        add_run(db, hash, "l0", 0.5);
    }
    char path[128];
    path_in(path, sizeof path, "results.db");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        Db *mine;
        int won = 0, claimed;
        if (db_open(path, &mine)) _exit(255);
        for (int i = 0; i < N; i++) {
            snprintf(hash, sizeof hash, "race%02d", i);
            if (db_claim(mine, hash, "child:1", &claimed)) _exit(254);
            won += claimed;
        }
        db_close(mine);
        _exit(won);
    }
    Db *mine;
    int won = 0, claimed, status = 0;
    CHECK(db_open(path, &mine) == QA_OK, "parent open: %s", qa_last_error());
    for (int i = N - 1; mine && i >= 0; i--) {
        snprintf(hash, sizeof hash, "race%02d", i);
        CHECK(db_claim(mine, hash, "parent:1", &claimed) == QA_OK, "claim: %s",
              qa_last_error());
        won += claimed;
    }
    db_close(mine);
    waitpid(pid, &status, 0);
    int child = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    CHECK(child >= 0 && child <= N, "child exit %d", child);
    CHECK(won + child == N, "claims parent %d + child %d == %d", won, child, N);
    CHECK(query_num(db, "SELECT count(*) FROM runs WHERE config_hash LIKE 'race%' AND "
                        "status='running' AND attempts=1") == N, "each claimed once");
}

static void test_ingest(Db *db) {
    DbResult r;
    int rc, claimed, n;
    add_run(db, "ing", "gain", 0.5);
    CHECK(db_claim(db, "ing", "hostA:5", &claimed) == QA_OK && claimed, "claim ing");
    make_done(&r, "ing", 71.5, 2.5);
    CHECK(ingest(db, &r, "ing.json") == QA_OK, "ingest: %s", qa_last_error());
    CHECK(query_num(db, "SELECT f1 FROM results JOIN runs ON runs.id=run_id "
                        "WHERE config_hash='ing'") == 71.5, "f1 stored");
    CHECK(query_num(db, "SELECT params FROM results JOIN runs ON runs.id=run_id "
                        "WHERE config_hash='ing'") == 123456789012.0, "params stored");
    CHECK(query_num(db, "SELECT count(*) FROM results JOIN runs ON runs.id=run_id WHERE "
                        "config_hash='ing' AND f1_before_finetune IS NULL AND "
                        "teacher_f1=81.5 AND peak_rss_mb=2047.5") == 1, "optional metrics");
    CHECK(query_num(db, "SELECT sum(heads_kept*100+ffn_kept) FROM layers JOIN runs ON "
                        "runs.id=run_id WHERE config_hash='ing'") == 1000 + 20, "layers");
    CHECK(query_num(db, "SELECT count(*) FROM runs WHERE config_hash='ing' AND status='done'"
                        " AND finished_at='2024-05-01T12:00:00Z' AND error IS NULL") == 1,
          "run done");

    /* Idempotence, also for a file without finished_at (the stored time is kept). */
    static const char dump_sql[] =
        "SELECT * FROM runs; SELECT * FROM results; SELECT * FROM layers;";
    char *before = query_text(db, dump_sql, &rc);
    CHECK(ingest(db, &r, "ing.json") == QA_OK, "ingest again: %s", qa_last_error());
    char path[128];
    path_in(path, sizeof path, "ing.json");
    CHECK(db_write_result_file(path, &r) == QA_OK && drop_line(path, "\"finished_at\"") &&
          db_ingest_result(db, path) == QA_OK, "ingest without finished_at: %s",
          qa_last_error());
    char *after = query_text(db, dump_sql, &rc);
    CHECK(before && after && strcmp(before, after) == 0, "second ingest changes nothing");
    free(after);
    free(before);

    /* A failure inside the transaction (a trigger rejects layer 3) changes nothing. */
    add_run(db, "tx", "gain", 0.75);
    CHECK(db_claim(db, "tx", "hostA:5", &claimed) == QA_OK && claimed, "claim tx");
    char *t = query_text(db, "CREATE TRIGGER boom BEFORE INSERT ON layers WHEN NEW.layer = 3 "
                             "BEGIN SELECT RAISE(ABORT, 'boom at layer 3'); END;", &rc);
    free(t);
    make_done(&r, "tx", 60, 3);
    CHECK(ingest(db, &r, "tx.json") == QA_ERR && strstr(qa_last_error(), "boom"),
          "trigger fails ingest: %s", qa_last_error());
    CHECK(query_num(db, "SELECT count(*) FROM results JOIN runs ON runs.id=run_id "
                        "WHERE config_hash='tx'") == 0, "no results row after rollback");
    CHECK(query_num(db, "SELECT count(*) FROM layers JOIN runs ON runs.id=run_id "
                        "WHERE config_hash='tx'") == 0, "no layers after rollback");
    CHECK(query_num(db, "SELECT count(*) FROM runs WHERE config_hash='tx' AND "
                        "status='running'") == 1, "still running after rollback");
    free(query_text(db, "DROP TRIGGER boom", &rc));
    CHECK(ingest(db, &r, "tx.json") == QA_OK, "ingest after drop: %s", qa_last_error());

    /* A failed result replaces the done one; retry puts it back to pending. */
    DbResult fail = {.status = DB_FAILED};
    snprintf(fail.config_hash, sizeof fail.config_hash, "tx");
    snprintf(fail.error, sizeof fail.error, "teacher: cannot open /nope: No such file");
    CHECK(ingest(db, &fail, "fail.json") == QA_OK, "ingest failed: %s", qa_last_error());
    CHECK(query_num(db, "SELECT count(*) FROM runs WHERE config_hash='tx' AND status='failed'"
                        " AND error LIKE 'teacher: cannot open%' AND finished_at IS NOT NULL")
          == 1, "failed with error");
    CHECK(query_num(db, "SELECT count(*) FROM results JOIN runs ON runs.id=run_id "
                        "WHERE config_hash='tx'") == 0, "failed run has no results");
    CHECK(db_retry_failed(db, &n) == QA_OK && n == 1, "retry %d", n);
    CHECK(query_num(db, "SELECT count(*) FROM runs WHERE config_hash='tx' AND "
                        "status='pending' AND error IS NULL") == 1, "pending again");
}

/* Each bad file is refused with a message naming the file and field, and changes nothing. */
static void test_bad_files(Db *db) {
    static const struct { const char *text, *expect; } cases[] = {
        {"{\"format\": \"qaprune result v2\", \"config_hash\": \"ing\", \"status\": \"done\"}",
         "format"},
        {"{\"format\": \"qaprune result v1\", \"config_hash\": \"ing\", \"status\": \"ok\"}",
         "status"},
        {"{\"format\": \"qaprune result v1\", \"config_hash\": \"ing\", \"status\": "
         "\"failed\"}", "error"},
        {"{\"format\": \"qaprune result v1\", \"config_hash\": \"ing\", \"status\": "
         "\"failed\", \"error\": \"x\", \"extra\": 1}", "extra"},
        {"{\"format\": \"qaprune result v1\", \"config_hash\": \"ing\", \"status\": \"done\","
         " \"metrics\": {\"f1\": 1}}", "metrics.exact"},
        {"{\"format\": \"qaprune result v1\", \"config_hash\": 5}", "config_hash"},
        {"{\"format\": ", "not valid JSON"},
        {"[1, 2]", "JSON object"},
        {"{\"format\": \"qaprune result v1\", \"config_hash\": \"nope\", \"status\": "
         "\"failed\", \"error\": \"x\"}", "no such run"},
    };
    int rc;
    char *before = query_text(db, "SELECT * FROM runs; SELECT * FROM results;", &rc);
    char path[128];
    path_in(path, sizeof path, "bad.json");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text("bad.json", cases[i].text);
        CHECK(db_ingest_result(db, path) == QA_ERR, "case %zu refused", i);
        CHECK(strstr(qa_last_error(), "bad.json") && strstr(qa_last_error(), cases[i].expect),
              "case %zu: \"%s\" lacks %s", i, qa_last_error(), cases[i].expect);
    }
    DbResult r;
    make_done(&r, "ing", 50, 2);
    r.layer_heads[2] += 1; /* layers no longer add up to heads_kept */
    CHECK(db_write_result_file(path, &r) == QA_ERR && strstr(qa_last_error(), "layers"),
          "inconsistent layers refused: %s", qa_last_error());
    make_done(&r, "ing", NAN, 2);
    CHECK(db_write_result_file(path, &r) == QA_ERR && strstr(qa_last_error(), "metrics.f1"),
          "NaN f1 refused: %s", qa_last_error());
    char *after = query_text(db, "SELECT * FROM runs; SELECT * FROM results;", &rc);
    CHECK(before && after && strcmp(before, after) == 0, "bad files change nothing");
    free(before);
    free(after);

    make_done(&r, "ing", 50, 2);
    CHECK(db_write_result_file(path, &r) == QA_OK, "write ok");
    DbResult back;
    CHECK(db_read_result_file(path, &back) == QA_OK && back.metrics.params == r.metrics.params
          && back.metrics.speedup == r.metrics.speedup && isnan(back.metrics.f1_before_finetune)
          && back.n_layers == 4 && back.layer_ffn[3] == 2, "round trip: %s", qa_last_error());
}

/* Pareto view on a hand-made set, checked against a brute-force dominance twin. */
static void test_pareto(void) {
    char path[128];
    Db *db;
    path_in(path, sizeof path, "pareto.db");
    if (db_open(path, &db)) {
        CHECK(0, "open: %s", qa_last_error());
        return;
    }
    /* name, speedup, f1: A, B and C (B = C, a tie) and E are on the frontier; D ties B's F1
     * but is slower, F is beaten by E, G ties A's speed with less F1. */
    static const struct { const char *name; double speedup, f1; int on; } pts[] = {
        {"A", 1.0, 80, 1}, {"B", 2.0, 70, 1}, {"C", 2.0, 70, 1}, {"D", 1.5, 70, 0},
        {"E", 3.0, 50, 1}, {"F", 2.5, 40, 0}, {"G", 1.0, 79, 0},
    };
    enum { NP = sizeof pts / sizeof pts[0] };
    int claimed;
    for (int i = 0; i < NP; i++) {
        DbResult r;
        add_run(db, pts[i].name, i % 2 ? "gain" : "l0", 0.1 * i);
        db_claim(db, pts[i].name, "h:1", &claimed);
        make_done(&r, pts[i].name, pts[i].f1, pts[i].speedup);
        CHECK(ingest(db, &r, "p.json") == QA_OK, "ingest %s: %s", pts[i].name, qa_last_error());
    }
    add_run(db, "pending-one", "l0", 0.9); /* no results: never on the frontier */

    DbPoint *all = NULL, *front = NULL;
    int n_all = 0, n_front = 0;
    CHECK(db_points(db, NULL, &all, &n_all) == QA_OK && n_all == NP, "points %d", n_all);
    CHECK(db_pareto(db, NULL, &front, &n_front) == QA_OK && n_front == 4, "pareto %d", n_front);
    for (int i = 0; i < n_all; i++) {
        int dominated = 0, listed = 0;
        for (int j = 0; j < n_all; j++)
            dominated |= all[j].speedup >= all[i].speedup && all[j].f1 >= all[i].f1 &&
                         (all[j].speedup > all[i].speedup || all[j].f1 > all[i].f1);
        for (int k = 0; k < n_front; k++) listed |= front[k].run_id == all[i].run_id;
        CHECK(listed == !dominated, "run %lld: listed %d, dominated %d", all[i].run_id, listed,
              dominated);
        CHECK(all[i].n_layers == 4 && all[i].layer_heads[0] == 3 && all[i].layer_ffn[3] == 2,
              "layers of run %lld", all[i].run_id);
    }
    for (int k = 1; k < n_front; k++)
        CHECK(front[k].speedup >= front[k - 1].speedup, "pareto ordered by speedup");
    CHECK(n_front == 4 && front[0].f1 == 80 && front[3].speedup == 3.0 &&
          strcmp(front[0].finetune, "distill") == 0, "frontier ends");
    free(all);
    free(front);
    db_close(db);
}

static void test_query_print(Db *db) {
    int rc;
    char *t = query_text(db, "SELECT 1 AS n, 'xy' AS name, 2.5 AS v "
                             "UNION ALL SELECT 10, 'zzz', NULL", &rc);
    const char *expect = " n  name     v\n"
                         "--  ----  ----\n"
                         " 1  xy     2.5\n"
                         "10  zzz   NULL\n";
    CHECK(rc == QA_OK && t && strcmp(t, expect) == 0, "table:\n%s", t);
    free(t);
    t = query_text(db, "SELECT * FROM runs WHERE 0", &rc);
    CHECK(rc == QA_OK && t && strcmp(t, "(no rows)\n") == 0, "empty: %s", t);
    free(t);
    t = query_text(db, "SELEC 1", &rc);
    CHECK(rc == QA_ERR && strstr(qa_last_error(), "syntax error") &&
          strstr(qa_last_error(), "results.db"), "bad SQL: %s", qa_last_error());
    free(t);
    t = query_text(db, "SELECT nope FROM runs", &rc);
    CHECK(rc == QA_ERR && strstr(qa_last_error(), "no such column: nope"), "bad column: %s",
          qa_last_error());
    free(t);
    t = query_text(db, "UPDATE meta SET value = value WHERE key = 'schema_version'", &rc);
    CHECK(rc == QA_OK && t && strcmp(t, "(1 rows changed)\n") == 0, "update: %s", t);
    free(t);
}

/* CSV (RFC 4180) and JSON: exact text for the awkward values, and the JSON read back with
 * cJSON for types, exact 64-bit integers and round-tripping reals. */
static void test_query_formats(Db *db) {
    static const char sql[] =
        "SELECT 1 AS n, 'a,b' AS \"c,1\", 'say \"hi\"' AS q, 'two' || char(10) || 'lines' AS t,"
        " NULL AS z, 0.1 AS r, 9007199254740993 AS big, x'00ff' AS b, 'h\u00e9' AS u,"
        " 1.0 / 3 AS third"
        " UNION ALL SELECT -2, '', 'x', 'cr' || char(13), NULL, 1e308 * 10, -1, x'', '', 0.1 + 0.2";
    int rc;
    char *t = query_as(db, sql, DB_FORMAT_CSV, &rc);
    const char *want =
        "n,\"c,1\",q,t,z,r,big,b,u,third\r\n"
        "1,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,0.1,9007199254740993,00ff,h\u00e9,0.3333333333333333\r\n"
        "-2,,x,\"cr\r\",,inf,-1,,,0.30000000000000004\r\n";
    CHECK(rc == QA_OK && t && !strcmp(t, want), "csv:\n%s", t ? t : "(null)");
    free(t);

    t = query_as(db, sql, DB_FORMAT_JSON, &rc);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    CHECK(rc == QA_OK && cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2, "json parses: %s", t);
    cJSON *r0 = cJSON_GetArrayItem(j, 0), *r1 = cJSON_GetArrayItem(j, 1);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(r0, "n")) &&
              cJSON_GetObjectItem(r0, "n")->valuedouble == 1 &&
              cJSON_GetObjectItem(r1, "n")->valuedouble == -2, "integers are numbers");
    CHECK(cJSON_IsString(cJSON_GetObjectItem(r0, "c,1")) &&
              !strcmp(cJSON_GetObjectItem(r0, "c,1")->valuestring, "a,b") &&
              !strcmp(cJSON_GetObjectItem(r0, "q")->valuestring, "say \"hi\"") &&
              !strcmp(cJSON_GetObjectItem(r0, "t")->valuestring, "two\nlines") &&
              !strcmp(cJSON_GetObjectItem(r0, "u")->valuestring, "h\u00e9"),
          "text is strings, escaped and read back");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(r0, "z")) && cJSON_IsNull(cJSON_GetObjectItem(r1, "r")),
          "NULL and an infinite real are null");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(r0, "r")) &&
              cJSON_GetObjectItem(r0, "r")->valuedouble == 0.1 &&
              cJSON_GetObjectItem(r0, "third")->valuedouble == 1.0 / 3 &&
              cJSON_GetObjectItem(r1, "third")->valuedouble == 0.1 + 0.2,
          "reals read back as the same doubles");
    CHECK(t && strstr(t, "\"big\":9007199254740993,") && strstr(t, "\"r\":0.1,"),
          "2^53 + 1 stays exact, reals in shortest form: %s", t);
    CHECK(!strcmp(cJSON_GetObjectItem(r0, "b")->valuestring, "00ff") &&
              !strcmp(cJSON_GetObjectItem(r1, "b")->valuestring, ""), "blobs as hex");
    CHECK(t && strchr(t, '\n') == t + strlen(t) - 1, "one statement, one line");
    cJSON_Delete(j);
    free(t);

    t = query_as(db, "SELECT 1 AS a; UPDATE meta SET value = value; SELECT 2 AS b WHERE 0;"
                     " SELECT 'x' AS c", DB_FORMAT_JSON, &rc);
    CHECK(rc == QA_OK && t && !strcmp(t, "[{\"a\":1}]\n[]\n[{\"c\":\"x\"}]\n"),
          "per statement one array, none for a statement without columns: %s", t);
    free(t);
    t = query_as(db, "SELECT 1 AS a WHERE 0; UPDATE meta SET value = value", DB_FORMAT_CSV, &rc);
    CHECK(rc == QA_OK && t && !strcmp(t, "a\r\n"), "csv: the header of an empty result: %s", t);
    free(t);
    t = query_as(db, "SELECT 1 AS a; SELEC 2", DB_FORMAT_JSON, &rc);
    CHECK(rc == QA_ERR && strstr(qa_last_error(), "syntax error") && t &&
              !strcmp(t, "[{\"a\":1}]\n"), "an error after a statement: %s", t);
    free(t);
    CHECK(query_num(db, "SELECT 1 WHERE 0") != query_num(db, "SELECT 1 WHERE 0") &&
              isnan(query_num(db, "SELECT NULL")) && isnan(query_num(db, "SELECT 1, 2")) &&
              isnan(query_num(db, "SELECT 1 UNION ALL SELECT 2")) &&
              query_num(db, "SELECT 2.5") == 2.5,
          "the test's query_num accepts exactly one number");
}

/* A version 1 file (as qaprune wrote it before teachers and file hashes were recorded) opens
 * migrated through version 2 to 3: its rows kept, the new columns NULL, the pareto view per
 * teacher. */
static void test_migrate_v1(void) {
    static const char V1[] =
        "PRAGMA application_id = 1902211186;"
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO meta VALUES('schema_version', '1');"
        "CREATE TABLE runs(id INTEGER PRIMARY KEY, config_hash TEXT UNIQUE NOT NULL,"
        " strategy TEXT, head_sparsity REAL, ffn_sparsity REAL, finetune TEXT, seed INTEGER,"
        " config_json TEXT, status TEXT NOT NULL DEFAULT 'pending'"
        " CHECK(status IN ('pending','running','done','failed')), error TEXT,"
        " started_at TEXT, finished_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, owner TEXT);"
        "CREATE TABLE results(run_id INTEGER PRIMARY KEY REFERENCES runs(id), f1 REAL,"
        " exact REAL, has_ans_f1 REAL, no_ans_f1 REAL, heads_kept INTEGER, heads_total INTEGER,"
        " ffn_kept INTEGER, ffn_total INTEGER, params INTEGER, flops REAL, latency_ms REAL,"
        " teacher_latency_ms REAL, speedup REAL, train_seconds REAL, f1_before_finetune REAL,"
        " teacher_f1 REAL);"
        "CREATE TABLE layers(run_id INTEGER REFERENCES runs(id), layer INTEGER,"
        " heads_kept INTEGER, ffn_kept INTEGER, PRIMARY KEY(run_id, layer));"
        "CREATE VIEW pareto AS SELECT r.id AS run_id FROM runs r;"
        "INSERT INTO runs(config_hash, strategy, head_sparsity, ffn_sparsity, finetune, seed,"
        " status) VALUES('old1', 'gain', 0.5, 0.5, 'none', 1, 'done');"
        "INSERT INTO results(run_id, f1, speedup) VALUES(1, 70, 2);";
    char path[128];
    Db *db = open_migrated("v1.db", V1, path, sizeof path);
    if (!db) return;
    CHECK(query_num(db, "SELECT count(*) FROM results WHERE run_id = 1 AND precision IS NULL "
                        "AND gemm IS NULL") == 1, "old results gain precision and gemm, NULL");
    CHECK(query_num(db, "SELECT count(*) FROM results WHERE run_id = 1 AND f1 = 70 AND host IS "
                        "NULL AND cpu_model IS NULL") == 1,
          "the old result stays, host and cpu_model NULL (v3 -> v4)");
    CHECK(query_num(db, "SELECT count(*) FROM runs WHERE config_hash = 'old1' AND teacher IS "
                        "NULL AND data_hash IS NULL") == 1, "the old row stays, teacher NULL");
    CHECK(query_num(db, "SELECT count(*) FROM pareto WHERE teacher IS NULL") == 1,
          "the new pareto view lists the old row");
    db_close(db);
    CHECK(db_open(path, &db) == QA_OK, "reopen migrated: %s", qa_last_error());
    db_close(db);
    remove(path);
}

/* A version 4 file (as qaprune wrote it before Natural Questions results) opens migrated to 7:
 * its rows kept, results gain the six NQ columns (5) and the three ort_ ones (6), all NULL,
 * the pareto view shows long_f1 and short_f1 and the ort_ columns, pareto_ort appears empty;
 * an NQ point's result then lands with them and without the SQuAD-only scores. */
static void test_migrate_v4(void) {
    static const char V4[] =
        "PRAGMA application_id = 1902211186;"
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO meta VALUES('schema_version', '4');"
        "CREATE TABLE runs(id INTEGER PRIMARY KEY, config_hash TEXT UNIQUE NOT NULL,"
        " strategy TEXT, head_sparsity REAL, ffn_sparsity REAL, finetune TEXT, seed INTEGER,"
        " config_json TEXT, status TEXT NOT NULL DEFAULT 'pending'"
        " CHECK(status IN ('pending','running','done','failed')), error TEXT,"
        " started_at TEXT, finished_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, owner TEXT,"
        " teacher TEXT, teacher_hash TEXT, data TEXT, data_hash TEXT);"
        "CREATE INDEX runs_status ON runs(status);"
        "CREATE TABLE results(run_id INTEGER PRIMARY KEY REFERENCES runs(id), f1 REAL,"
        " exact REAL, has_ans_f1 REAL, no_ans_f1 REAL, heads_kept INTEGER, heads_total INTEGER,"
        " ffn_kept INTEGER, ffn_total INTEGER, params INTEGER, flops REAL, latency_ms REAL,"
        " teacher_latency_ms REAL, speedup REAL, train_seconds REAL, f1_before_finetune REAL,"
        " teacher_f1 REAL, precision TEXT, gemm TEXT, host TEXT, cpu_model TEXT);"
        "CREATE TABLE layers(run_id INTEGER REFERENCES runs(id), layer INTEGER,"
        " heads_kept INTEGER, ffn_kept INTEGER, PRIMARY KEY(run_id, layer));"
        "CREATE TABLE file_hashes(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
        " inode INTEGER, hash TEXT);"
        "CREATE VIEW pareto AS SELECT r.id AS run_id, r.config_hash, r.teacher, s.f1"
        " FROM runs r JOIN results s ON s.run_id = r.id;"
        "INSERT INTO runs(config_hash, strategy, head_sparsity, ffn_sparsity, finetune, seed,"
        " status, teacher, teacher_hash, data, data_hash) VALUES('old4', 'l0', 0.5, 0.5,"
        " 'none', 1, 'done', 't', 'th', 'd', 'dh');"
        "INSERT INTO results(run_id, f1, exact, has_ans_f1, no_ans_f1, speedup, host)"
        " VALUES(1, 71.5, 68, 70, 73, 2, 'node1');"
        "INSERT INTO layers VALUES(1, 0, 3, 8);";
    char path[128];
    Db *db = open_migrated("v4.db", V4, path, sizeof path);
    if (!db) return;
    CHECK(query_num(db, "SELECT count(*) FROM results WHERE run_id = 1 AND ort_latency_ms IS NULL"
                        " AND ort_teacher_latency_ms IS NULL AND ort_speedup IS NULL") == 1,
          "the old result's ort_ columns NULL");
    CHECK(query_num(db, "SELECT count(*) FROM pareto_ort") == 0, "pareto_ort: no ORT figures yet");
    CHECK(query_num(db, "SELECT count(*) FROM results WHERE run_id = 1 AND f1 = 71.5 AND"
                        " exact = 68 AND host = 'node1' AND long_f1 IS NULL AND long_precision"
                        " IS NULL AND long_recall IS NULL AND short_f1 IS NULL AND"
                        " short_precision IS NULL AND short_recall IS NULL") == 1,
          "the old result stays, its six NQ columns NULL");
    CHECK(query_num(db, "SELECT count(*) FROM layers WHERE run_id = 1") == 1, "its layer stays");
    CHECK(query_num(db, "SELECT count(*) FROM pareto WHERE config_hash = 'old4' AND"
                        " long_f1 IS NULL AND short_f1 IS NULL AND has_ans_f1 = 70") == 1,
          "the new pareto view has long_f1 and short_f1");
    /* an NQ point: f1 = short F1, the NQ columns set, exact and HasAns/NoAns NULL */
    add_run(db, "nq1", "gain", 0.25);
    DbResult r;
    make_done(&r, "nq1", 40.5, 1.5);
    r.metrics.nq = 1;
    r.metrics.long_f1 = 55.25, r.metrics.long_precision = 60, r.metrics.long_recall = 51;
    r.metrics.short_f1 = 40.5, r.metrics.short_precision = 45, r.metrics.short_recall = 36.75;
    CHECK(ingest(db, &r, "nq1.json") == QA_OK, "ingest an NQ result: %s", qa_last_error());
    CHECK(query_num(db, "SELECT count(*) FROM results JOIN runs ON runs.id = run_id WHERE"
                        " config_hash = 'nq1' AND f1 = 40.5 AND long_f1 = 55.25 AND"
                        " long_precision = 60 AND long_recall = 51 AND short_f1 = 40.5 AND"
                        " short_precision = 45 AND short_recall = 36.75 AND exact IS NULL AND"
                        " has_ans_f1 IS NULL AND no_ans_f1 IS NULL") == 1,
          "an NQ result's columns");
    int n_nq = -1;
    CHECK(db_count_nq(db, 0, &n_nq) == QA_OK && n_nq == 1, "one NQ result (%d)", n_nq);
    DbRunRow *rows = NULL;
    int n = 0;
    CHECK(db_run_rows(db, 0, &rows, &n) == QA_OK && n == 2, "run rows: %d", n);
    for (int i = 0; i < n; i++) {
        int is_nq = !strcmp(rows[i].config_hash, "nq1");
        CHECK(rows[i].m.nq == is_nq && (is_nq ? rows[i].m.long_recall == 51 &&
                                                    isnan(rows[i].m.exact)
                                              : isnan(rows[i].m.long_f1) && rows[i].m.exact == 68),
              "row %s reads back its kind's scores", rows[i].config_hash);
    }
    db_run_rows_free(rows, n);
    DbPoint *pts = NULL;
    CHECK(db_points(db, NULL, &pts, &n) == QA_OK && n == 2, "points: %d", n);
    for (int i = 0; i < n; i++)
        CHECK(!strcmp(pts[i].strategy, "gain") ? pts[i].long_f1 == 55.25 && pts[i].short_f1 == 40.5
                                                : isnan(pts[i].long_f1) && isnan(pts[i].short_f1),
              "chart point %s: long %g short %g", pts[i].strategy, pts[i].long_f1,
              pts[i].short_f1);
    free(pts);
    db_close(db);
    CHECK(db_open(path, &db) == QA_OK, "reopen migrated: %s", qa_last_error());
    db_close(db);
    remove(path);
}

/* A version 5 file (the NQ columns, before ONNX Runtime figures) opens migrated through 6
 * to 7: its rows kept (an NQ row's long/short F1 too), the ort_ columns NULL, the pareto view
 * made again showing them, pareto_ort new and empty until a result with ONNX Runtime figures
 * comes; a result file without ort_ keys (as v5 wrote them) still reads, with those metrics
 * unknown. */
static void test_migrate_v5(void) {
    static const char V5[] =
        "PRAGMA application_id = 1902211186;"
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO meta VALUES('schema_version', '5');"
        "CREATE TABLE runs(id INTEGER PRIMARY KEY, config_hash TEXT UNIQUE NOT NULL,"
        " strategy TEXT, head_sparsity REAL, ffn_sparsity REAL, finetune TEXT, seed INTEGER,"
        " config_json TEXT, status TEXT NOT NULL DEFAULT 'pending'"
        " CHECK(status IN ('pending','running','done','failed')), error TEXT,"
        " started_at TEXT, finished_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, owner TEXT,"
        " teacher TEXT, teacher_hash TEXT, data TEXT, data_hash TEXT);"
        "CREATE INDEX runs_status ON runs(status);"
        "CREATE TABLE results(run_id INTEGER PRIMARY KEY REFERENCES runs(id), f1 REAL,"
        " exact REAL, has_ans_f1 REAL, no_ans_f1 REAL, heads_kept INTEGER, heads_total INTEGER,"
        " ffn_kept INTEGER, ffn_total INTEGER, params INTEGER, flops REAL, latency_ms REAL,"
        " teacher_latency_ms REAL, speedup REAL, train_seconds REAL, f1_before_finetune REAL,"
        " teacher_f1 REAL, precision TEXT, gemm TEXT, host TEXT, cpu_model TEXT,"
        " long_f1 REAL, long_precision REAL, long_recall REAL,"
        " short_f1 REAL, short_precision REAL, short_recall REAL);"
        "CREATE TABLE layers(run_id INTEGER REFERENCES runs(id), layer INTEGER,"
        " heads_kept INTEGER, ffn_kept INTEGER, PRIMARY KEY(run_id, layer));"
        "CREATE TABLE file_hashes(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
        " inode INTEGER, hash TEXT);"
        "CREATE VIEW pareto AS SELECT r.id AS run_id, r.config_hash, s.speedup, s.f1,"
        " s.long_f1, s.short_f1 FROM runs r JOIN results s ON s.run_id = r.id"
        " WHERE r.status = 'done';"
        "INSERT INTO runs(config_hash, strategy, head_sparsity, ffn_sparsity, finetune, seed,"
        " status, teacher, teacher_hash, data, data_hash) VALUES('old5', 'l0', 0.5, 0.5,"
        " 'none', 1, 'done', 'T', 'th', 'd', 'dh');"
        "INSERT INTO results(run_id, f1, speedup, host, long_f1, long_precision, long_recall,"
        " short_f1, short_precision, short_recall)"
        " VALUES(1, 70, 2, 'node1', 61, 62, 60, 70, 71, 69);"
        "INSERT INTO layers VALUES(1, 0, 3, 8);"
        "INSERT INTO runs(config_hash, strategy, head_sparsity, ffn_sparsity, finetune, seed,"
        " status, teacher, teacher_hash, data, data_hash) VALUES('new6', 'l0', 0.75, 0.75,"
        " 'none', 1, 'running', 'T', 'th', 'd', 'dh');";
    char path[128], file[128];
    Db *db = open_migrated("v5.db", V5, path, sizeof path);
    if (!db) return;
    CHECK(query_num(db, "SELECT count(*) FROM results WHERE run_id = 1 AND f1 = 70 AND host ="
                        " 'node1' AND long_f1 = 61 AND short_recall = 69"
                        " AND ort_latency_ms IS NULL AND ort_teacher_latency_ms IS NULL"
                        " AND ort_speedup IS NULL") == 1,
          "the old result stays with its NQ scores, its ort_ columns NULL");
    CHECK(query_num(db, "SELECT count(*) FROM layers WHERE run_id = 1") == 1, "its layer stays");
    CHECK(query_num(db, "SELECT count(*) FROM pareto WHERE config_hash = 'old5' AND"
                        " long_f1 = 61 AND short_f1 = 70 AND ort_speedup IS NULL AND"
                        " ort_latency_ms IS NULL") == 1,
          "the pareto view is made again with the NQ and ort_ columns");
    CHECK(query_num(db, "SELECT count(*) FROM pareto_ort") == 0, "pareto_ort: no ORT figures yet");
    int has = 1;
    CHECK(db_has_ort(db, 0, &has) == QA_OK && has == 0, "no ORT figures: has %d", has);

    /* a result file without ort_ keys (as v5 wrote them), or with null, reads them unknown */
    DbResult r;
    make_done(&r, "new6", 65, 3);
    r.metrics.ort_latency_ms = r.metrics.ort_teacher_latency_ms = r.metrics.ort_speedup = NAN;
    path_in(file, sizeof file, "v5-result.json");
    CHECK(db_write_result_file(file, &r) == QA_OK, "write: %s", qa_last_error());
    CHECK(drop_line(file, "\"ort_latency_ms\"") && drop_line(file, "\"ort_teacher_latency_ms\""),
          "drop two ort_ keys (the last stays, null)");
    DbResult back;
    CHECK(db_read_result_file(file, &back) == QA_OK && isnan(back.metrics.ort_speedup) &&
          isnan(back.metrics.ort_latency_ms), "read without ort_ keys: %s", qa_last_error());

    /* with ONNX Runtime figures: stored, and the run on pareto_ort */
    r.metrics.ort_latency_ms = 4.0;
    r.metrics.ort_teacher_latency_ms = 10.0;
    r.metrics.ort_speedup = 2.5;
    CHECK(ingest(db, &r, "v6-result.json") == QA_OK, "ingest: %s", qa_last_error());
    CHECK(query_num(db, "SELECT ort_speedup FROM results r JOIN runs u ON u.id = r.run_id"
                        " WHERE config_hash = 'new6'") == 2.5 &&
          query_num(db, "SELECT ort_teacher_latency_ms FROM results WHERE ort_latency_ms = 4") == 10,
          "ort_ metrics stored");
    CHECK(query_num(db, "SELECT count(*) FROM pareto_ort WHERE config_hash = 'new6' AND"
                        " ort_speedup = 2.5") == 1 &&
          query_num(db, "SELECT count(*) FROM pareto_ort") == 1,
          "pareto_ort lists only runs with ORT figures");
    CHECK(db_has_ort(db, 0, &has) == QA_OK && has == 1, "ORT figures now: has %d", has);
    DbPoint *pts = NULL;
    int n = 0;
    CHECK(db_pareto_ort(db, NULL, &pts, &n) == QA_OK && n == 1 && pts && pts[0].ort_speedup == 2.5 &&
          pts[0].ort_latency_ms == 4.0 && pts[0].speedup == 3,
          "db_pareto_ort: %d point(s)", n);
    free(pts);
    db_close(db);
    CHECK(db_open(path, &db) == QA_OK, "reopen migrated: %s", qa_last_error());
    db_close(db);
    remove(path);
}

/* A version 6 file (the ORT columns, before peak memory was recorded) opens migrated to 7: its
 * rows kept with their ORT figures, peak_rss_mb NULL; a result file without peak_rss_mb (as a
 * worker of version 6 wrote them) still ingests, the column NULL; one with it stores it and
 * the report's rows read it back; a peak_rss_mb that is not a number is refused, named. */
static void test_migrate_v6(void) {
    static const char V6[] =
        "PRAGMA application_id = 1902211186;"
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO meta VALUES('schema_version', '6');"
        "CREATE TABLE runs(id INTEGER PRIMARY KEY, config_hash TEXT UNIQUE NOT NULL,"
        " strategy TEXT, head_sparsity REAL, ffn_sparsity REAL, finetune TEXT, seed INTEGER,"
        " config_json TEXT, status TEXT NOT NULL DEFAULT 'pending'"
        " CHECK(status IN ('pending','running','done','failed')), error TEXT,"
        " started_at TEXT, finished_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, owner TEXT,"
        " teacher TEXT, teacher_hash TEXT, data TEXT, data_hash TEXT);"
        "CREATE INDEX runs_status ON runs(status);"
        "CREATE TABLE results(run_id INTEGER PRIMARY KEY REFERENCES runs(id), f1 REAL,"
        " exact REAL, has_ans_f1 REAL, no_ans_f1 REAL, heads_kept INTEGER, heads_total INTEGER,"
        " ffn_kept INTEGER, ffn_total INTEGER, params INTEGER, flops REAL, latency_ms REAL,"
        " teacher_latency_ms REAL, speedup REAL, train_seconds REAL, f1_before_finetune REAL,"
        " teacher_f1 REAL, precision TEXT, gemm TEXT, host TEXT, cpu_model TEXT,"
        " long_f1 REAL, long_precision REAL, long_recall REAL,"
        " short_f1 REAL, short_precision REAL, short_recall REAL,"
        " ort_latency_ms REAL, ort_teacher_latency_ms REAL, ort_speedup REAL);"
        "CREATE TABLE layers(run_id INTEGER REFERENCES runs(id), layer INTEGER,"
        " heads_kept INTEGER, ffn_kept INTEGER, PRIMARY KEY(run_id, layer));"
        "CREATE TABLE file_hashes(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
        " inode INTEGER, hash TEXT);"
        "CREATE VIEW pareto AS SELECT r.id AS run_id, r.config_hash, s.speedup, s.f1,"
        " s.ort_speedup FROM runs r JOIN results s ON s.run_id = r.id WHERE r.status = 'done';"
        "CREATE VIEW pareto_ort AS SELECT r.id AS run_id, r.config_hash, s.ort_speedup"
        " FROM runs r JOIN results s ON s.run_id = r.id WHERE s.ort_speedup IS NOT NULL;"
        "INSERT INTO runs(config_hash, strategy, head_sparsity, ffn_sparsity, finetune, seed,"
        " status, teacher, teacher_hash, data, data_hash) VALUES('old6', 'gain', 0.5, 0.5,"
        " 'none', 1, 'done', 'T', 'th', 'd', 'dh');"
        "INSERT INTO results(run_id, f1, speedup, host, ort_latency_ms, ort_teacher_latency_ms,"
        " ort_speedup) VALUES(1, 72.5, 2, 'node1', 4, 9, 2.25);"
        "INSERT INTO layers VALUES(1, 0, 3, 8);";
    char path[128], file[128];
    Db *db = open_migrated("v6.db", V6, path, sizeof path);
    if (!db) return;
    CHECK(query_num(db, "SELECT count(*) FROM results WHERE run_id = 1 AND f1 = 72.5 AND host ="
                        " 'node1' AND ort_speedup = 2.25 AND ort_teacher_latency_ms = 9"
                        " AND peak_rss_mb IS NULL") == 1,
          "the old result stays with its ORT figures, peak_rss_mb NULL");
    CHECK(query_num(db, "SELECT count(*) FROM layers WHERE run_id = 1") == 1, "its layer stays");
    CHECK(query_num(db, "SELECT count(*) FROM pareto_ort WHERE config_hash = 'old6'") == 1,
          "the views still read");

    /* a result file without peak_rss_mb (a v6 worker's): unknown, NULL in the table */
    add_run(db, "new7a", "l0", 0.75);
    add_run(db, "new7b", "l0", 0.25);
    DbResult r, back;
    make_done(&r, "new7a", 66, 3);
    path_in(file, sizeof file, "v6-worker.json");
    CHECK(db_write_result_file(file, &r) == QA_OK, "write: %s", qa_last_error());
    CHECK(drop_line(file, "\"peak_rss_mb\""), "drop peak_rss_mb");
    CHECK(db_read_result_file(file, &back) == QA_OK && isnan(back.metrics.peak_rss_mb) &&
              back.metrics.f1 == 66,
          "read without peak_rss_mb: %s", qa_last_error());
    CHECK(db_ingest_result(db, file) == QA_OK, "ingest without peak_rss_mb: %s", qa_last_error());
    CHECK(query_num(db, "SELECT count(*) FROM results JOIN runs ON runs.id = run_id WHERE"
                        " config_hash = 'new7a' AND f1 = 66 AND peak_rss_mb IS NULL") == 1,
          "peak_rss_mb NULL for an older worker's file");

    /* with it: stored, and read back for the report */
    make_done(&r, "new7b", 64, 3.5);
    r.metrics.peak_rss_mb = 3071.25;
    CHECK(ingest(db, &r, "v7-result.json") == QA_OK, "ingest: %s", qa_last_error());
    CHECK(query_num(db, "SELECT peak_rss_mb FROM results JOIN runs ON runs.id = run_id WHERE"
                        " config_hash = 'new7b'") == 3071.25, "peak_rss_mb stored");
    DbRunRow *rows = NULL;
    int n = 0, seen = 0;
    CHECK(db_run_rows(db, 0, &rows, &n) == QA_OK && n == 3, "run rows: %d", n);
    for (int i = 0; i < n; i++) {
        double want = !strcmp(rows[i].config_hash, "new7b") ? 3071.25 : NAN;
        int ok = isnan(want) ? isnan(rows[i].m.peak_rss_mb) : rows[i].m.peak_rss_mb == want;
        CHECK(ok, "row %s: peak_rss_mb %g", rows[i].config_hash, rows[i].m.peak_rss_mb);
        seen += ok;
    }
    CHECK(seen == 3, "every row's peak_rss_mb as stored");
    db_run_rows_free(rows, n);

    /* not a number: refused with the field named */
    write_text("bad-rss.json",
               "{\"format\": \"qaprune result v1\", \"config_hash\": \"new7b\","
               " \"status\": \"done\", \"metrics\": {\"f1\": 1, \"exact\": 1,"
               " \"has_ans_f1\": 1, \"no_ans_f1\": 1, \"heads_kept\": 0, \"heads_total\": 0,"
               " \"ffn_kept\": 0, \"ffn_total\": 0, \"params\": 0, \"flops\": 0,"
               " \"latency_ms\": 1, \"teacher_latency_ms\": 1, \"speedup\": 1,"
               " \"train_seconds\": 0, \"peak_rss_mb\": \"lots\"}, \"layers\": []}");
    path_in(file, sizeof file, "bad-rss.json");
    CHECK(db_read_result_file(file, &back) == QA_ERR &&
              strstr(qa_last_error(), "metrics.peak_rss_mb") && strstr(qa_last_error(), file),
          "a string peak_rss_mb refused: %s", qa_last_error());
    db_close(db);
    CHECK(db_open(path, &db) == QA_OK, "reopen migrated: %s", qa_last_error());
    db_close(db);
    remove(path);
}

/* NQ result files: the kind follows long_f1; one kind's metrics, never a mix. */
static void test_nq_result_files(void) {
    char path[128];
    DbResult r, back;
    path_in(path, sizeof path, "nq-result.json");
    make_done(&r, "nqfile", 33.25, 1.25);
    r.metrics.nq = 1;
    r.metrics.long_f1 = 50, r.metrics.long_precision = 52.5, r.metrics.long_recall = 47.5;
    r.metrics.short_f1 = 33.25, r.metrics.short_precision = 30, r.metrics.short_recall = 37.5;
    CHECK(db_write_result_file(path, &r) == QA_OK && db_read_result_file(path, &back) == QA_OK,
          "NQ result round trip: %s", qa_last_error());
    CHECK(back.metrics.nq && back.metrics.long_f1 == 50 && back.metrics.short_recall == 37.5 &&
          isnan(back.metrics.exact) && isnan(back.metrics.has_ans_f1) &&
          isnan(back.metrics.no_ans_f1), "NQ metrics read back, SQuAD-only ones NAN");
    CHECK(file_contains(path, "\"exact\":\tnull") && file_contains(path, "\"long_f1\":\t50"),
          "written with exact null");
    r.metrics.short_recall = NAN;
    CHECK(db_write_result_file(path, &r) == QA_ERR &&
              strstr(qa_last_error(), "metrics.short_recall"),
          "an NQ point needs all six: %s", qa_last_error());
    /* a SQuAD result with an NQ score, and an NQ result without long_f1's partners */
    make_done(&r, "sq", 70, 2);
    CHECK(db_write_result_file(path, &r) == QA_OK && file_contains(path, "\"long_f1\":\tnull"),
          "a SQuAD result writes the NQ scores null");
    write_text("mixed.json",
               "{\"format\": \"qaprune result v1\", \"config_hash\": \"m\", \"status\":"
               " \"done\", \"metrics\": {\"f1\": 1, \"exact\": 1, \"has_ans_f1\": 1,"
               " \"no_ans_f1\": 1, \"heads_kept\": 1, \"heads_total\": 1, \"ffn_kept\": 1,"
               " \"ffn_total\": 1, \"params\": 1, \"flops\": 1, \"latency_ms\": 1,"
               " \"teacher_latency_ms\": 1, \"speedup\": 1, \"train_seconds\": 1,"
               " \"short_f1\": 3}}");
    path_in(path, sizeof path, "mixed.json");
    CHECK(db_read_result_file(path, &back) == QA_ERR &&
              strstr(qa_last_error(), "metrics.short_f1") && strstr(qa_last_error(), "SQuAD"),
          "a SQuAD result with short_f1 refused: %s", qa_last_error());
    write_text("nq-exact.json",
               "{\"format\": \"qaprune result v1\", \"config_hash\": \"m\", \"status\":"
               " \"done\", \"metrics\": {\"f1\": 1, \"exact\": 1, \"heads_kept\": 1,"
               " \"heads_total\": 1, \"ffn_kept\": 1, \"ffn_total\": 1, \"params\": 1,"
               " \"flops\": 1, \"latency_ms\": 1, \"teacher_latency_ms\": 1, \"speedup\": 1,"
               " \"train_seconds\": 1, \"long_f1\": 1, \"long_precision\": 1,"
               " \"long_recall\": 1, \"short_f1\": 1, \"short_precision\": 1,"
               " \"short_recall\": 1}}");
    path_in(path, sizeof path, "nq-exact.json");
    CHECK(db_read_result_file(path, &back) == QA_ERR && strstr(qa_last_error(), "metrics.exact") &&
              strstr(qa_last_error(), "Natural Questions"),
          "an NQ result with exact refused: %s", qa_last_error());
}

/* Two teachers: each has its own frontier and group; the grid table keeps to some points. */
static void test_groups(void) {
    char path[128];
    Db *db;
    path_in(path, sizeof path, "groups.db");
    if (db_open(path, &db)) {
        CHECK(0, "open: %s", qa_last_error());
        return;
    }
    /* teacher T1's B (speedup 2, F1 60) is dominated only by T2's X (3, 90) */
    static const struct { const char *name, *teacher; double speedup, f1; } pts[] = {
        {"A", "T1", 1.0, 80}, {"B", "T1", 2.0, 60}, {"X", "T2", 3.0, 90}, {"Y", "T2", 1.0, 50},
    };
    for (int i = 0; i < 4; i++) {
        char th[16];
        snprintf(th, sizeof th, "hash-%s", pts[i].teacher);
        DbRun r = {.config_hash = pts[i].name, .strategy = "gain", .finetune = "none",
                   .head_sparsity = 0.5, .ffn_sparsity = 0.5, .seed = 1, .config_json = "{}",
                   .teacher = pts[i].teacher, .teacher_hash = th, .data = "d",
                   .data_hash = "hash-d"};
        int claimed;
        DbResult res;
        CHECK(db_add_run(db, &r, NULL) == QA_OK && db_claim(db, pts[i].name, "h:1", &claimed) ==
              QA_OK, "add %s", pts[i].name);
        make_done(&res, pts[i].name, pts[i].f1, pts[i].speedup);
        CHECK(ingest(db, &res, "g.json") == QA_OK, "ingest %s: %s", pts[i].name, qa_last_error());
    }
    CHECK(query_num(db, "SELECT count(*) FROM pareto") == 3, "A, B and X are on their frontiers");
    CHECK(query_num(db, "SELECT count(*) FROM pareto WHERE config_hash = 'B'") == 1,
          "another teacher's point does not dominate");
    DbGroup *g = NULL;
    int n = 0;
    CHECK(db_groups(db, 0, &g, &n) == QA_OK && n == 2 && !strcmp(g[0].teacher, "T1") &&
          !strcmp(g[1].teacher_hash, "hash-T2") && !strcmp(g[1].data_hash, "hash-d"),
          "two groups (%d)", n);
    DbPoint *pt = NULL;
    int np = 0;
    if (n == 2) {
        CHECK(db_points(db, &g[1], &pt, &np) == QA_OK && np == 2 && !strcmp(pt[0].teacher, "T2"),
              "group T2 has its 2 points (%d)", np);
        free(pt);
        CHECK(db_pareto(db, &g[0], &pt, &np) == QA_OK && np == 2, "T1's frontier (%d)", np);
        free(pt);
    }
    free(g);
    const char *sel[] = {"A", "X", "not-recorded"};
    int p, r, d, f;
    CHECK(db_select_grid(db, sel, 3) == QA_OK && db_counts(db, 1, &p, &r, &d, &f) == QA_OK &&
          d == 2 && p == 0, "the grid table counts its own points (%d done)", d);
    CHECK(db_groups(db, 1, &g, &n) == QA_OK && n == 2, "both teachers in the selection");
    free(g);
    CHECK(db_select_grid(db, sel, 1) == QA_OK && db_groups(db, 1, &g, &n) == QA_OK && n == 1 &&
          !strcmp(g[0].teacher, "T1"), "a new selection replaces the old");
    free(g);
    db_close(db);
}

/* The summary view pools seeds: same settings but the seed form one row with n, mean and
 * the sample standard deviation. */
static void test_summary(void) {
    char path[128];
    Db *db;
    path_in(path, sizeof path, "summary.db");
    if (db_open(path, &db)) {
        CHECK(0, "open: %s", qa_last_error());
        return;
    }
    static const struct { const char *name, *cfg; double f1; } pts[] = {
        {"s1", "{\"identity\": \"s1\", \"prune\": {\"seed\": 1, \"ft\": 5}}", 70},
        {"s2", "{\"identity\": \"s2\", \"prune\": {\"seed\": 2, \"ft\": 5}}", 80},
        {"s3", "{\"identity\": \"s3\", \"prune\": {\"seed\": 3, \"ft\": 5}}", 90},
        {"o1", "{\"identity\": \"o1\", \"prune\": {\"seed\": 1, \"ft\": 9}}", 50},
    };
    for (int i = 0; i < 4; i++) {
        DbRun r = {.config_hash = pts[i].name, .strategy = "gain", .finetune = "none",
                   .head_sparsity = 0.5, .ffn_sparsity = 0.5, .seed = 1, .config_json = pts[i].cfg,
                   .teacher = "T", .teacher_hash = "t", .data = "d", .data_hash = "dh"};
        int claimed;
        DbResult res;
        db_add_run(db, &r, NULL);
        db_claim(db, pts[i].name, "h:1", &claimed);
        make_done(&res, pts[i].name, pts[i].f1, 2.0);
        CHECK(ingest(db, &res, "s.json") == QA_OK, "ingest %s: %s", pts[i].name, qa_last_error());
    }
    CHECK(query_num(db, "SELECT count(*) FROM summary") == 2, "two settings");
    CHECK(query_num(db, "SELECT n FROM summary WHERE f1_mean = 80") == 3, "three seeds pooled");
    CHECK_CLOSE(query_num(db, "SELECT f1_std FROM summary WHERE n = 3"), 10.0, 1e-12,
                "sample standard deviation of 70, 80, 90");
    CHECK(query_num(db, "SELECT count(*) FROM summary WHERE n = 1 AND f1_std IS NULL") == 1,
          "one seed: no standard deviation");
    db_close(db);
}

static void test_file_hashes(Db *db) {
    char h[64];
    int found;
    CHECK(db_file_hash_put(db, "/a/b", 10, 1234, 7, "abc") == QA_OK &&
          db_file_hash_get(db, "/a/b", 10, 1234, 7, h, sizeof h, &found) == QA_OK && found &&
          !strcmp(h, "abc"), "a recorded hash is found");
    CHECK(db_file_hash_get(db, "/a/b", 10, 1235, 7, h, sizeof h, &found) == QA_OK && !found,
          "another mtime is another file");
    CHECK(db_file_hash_get(db, "/a/b", 11, 1234, 7, h, sizeof h, &found) == QA_OK && !found,
          "another size is another file");
    CHECK(db_file_hash_put(db, "/a/b", 11, 1300, 7, "def") == QA_OK &&
          db_file_hash_get(db, "/a/b", 11, 1300, 7, h, sizeof h, &found) == QA_OK && found &&
          !strcmp(h, "def"), "a new hash replaces the old");
}

/* A Slurm hand-over: a head claims, hands the runs to its tasks, lists them by owner prefix;
 * a task's result records its host and CPU model. */
static void test_hand_over(Db *db) {
    int claimed, n, found;
    char owner[64];
    add_run(db, "ho1", "gain", 0.1);
    add_run(db, "ho2", "gain", 0.2);
    add_run(db, "ho3", "gain", 0.3);
    CHECK(db_claim(db, "ho1", "head:9", &claimed) == QA_OK && claimed &&
              db_claim(db, "ho2", "head:9", &claimed) == QA_OK && claimed,
          "claim ho1, ho2");
    const char *h[3] = {"ho1", "ho2", "ho3"}, *to[3] = {"slurm:7_0", "slurm:7_1", "slurm:7_2"};
    CHECK(db_hand_over(db, h, to, 3, "head:9", &n) == QA_OK && n == 2,
          "two running runs handed over (%d); the pending one is left alone", n);
    CHECK(db_get_owner(db, "ho2", owner, sizeof owner, &found) == QA_OK && found &&
              !strcmp(owner, "slurm:7_1"), "owner %s", owner);
    CHECK(db_get_owner(db, "ho3", owner, sizeof owner, &found) == QA_OK && found && !*owner,
          "a pending run has no owner");
    char **hs, **os;
    CHECK(db_running_owned(db, 0, "slurm:", &hs, &os, &n) == QA_OK && n == 2 &&
              !strcmp(hs[0], "ho1") && !strcmp(os[1], "slurm:7_1"),
          "running runs by owner prefix (%d)", n);
    db_strings_free(hs, n);
    db_strings_free(os, n);
    DbResult r;
    make_done(&r, "ho1", 60, 2);
    snprintf(r.host, sizeof r.host, "node7");
    snprintf(r.cpu_model, sizeof r.cpu_model, "Test CPU \"x\" 3GHz");
    CHECK(ingest(db, &r, "ho1.json") == QA_OK, "ingest with host: %s", qa_last_error());
    CHECK(query_num(db, "SELECT count(*) FROM results JOIN runs ON runs.id = run_id WHERE "
                        "config_hash = 'ho1' AND host = 'node7' AND cpu_model = "
                        "'Test CPU \"x\" 3GHz'") == 1, "host and cpu_model stored");
    CHECK(db_running_owned(db, 0, "slurm:", &hs, &os, &n) == QA_OK && n == 1, "one left");
    db_strings_free(hs, n);
    db_strings_free(os, n);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/qaprune_test_db_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[128];
    path_in(path, sizeof path, "results.db");
    Db *db = NULL, *db2 = NULL;
    test_open();
    CHECK(db_open(path, &db) == QA_OK && db_open(path, &db2) == QA_OK, "open two: %s",
          qa_last_error());
    if (db && db2) {
        test_runs(db, db2);
        test_stale(db);
        test_claim_fork(db);
        test_ingest(db);
        test_bad_files(db);
        test_query_print(db);
        test_query_formats(db);
        test_pareto();
        test_groups();
        test_summary();
        test_file_hashes(db);
        test_hand_over(db);
    }
    test_migrate_v1();
    test_migrate_v4();
    test_migrate_v5();
    test_migrate_v6();
    test_nq_result_files();
    db_close(db);
    db_close(db2);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return TEST_DONE();
}
