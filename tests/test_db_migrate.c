/* tests/test_db_migrate.c: results databases of every older schema (v1, v4, v5, v6) open
 * at the current version with their rows, values and views intact. */
#include "tests/db_test.h"

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
int main(void) {
    snprintf(dir, sizeof dir, "/tmp/qaprune_test_db_migrate_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_migrate_v1();
    test_migrate_v4();
    test_migrate_v5();
    test_migrate_v6();
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return TEST_DONE();
}
