/* tests/test_db.c: the results database and result files (db/results.h, db/result_file.h):
 * schema and WAL, the run life cycle (add, claim across handles and processes, stale reset,
 * release, retry), ingestion (values, idempotence, transactions, bad files, failures), the
 * pareto view against a brute-force twin, and the query printer. */
#include "tests/db_test.h"

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
    test_nq_result_files();
    db_close(db);
    db_close(db2);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return TEST_DONE();
}
