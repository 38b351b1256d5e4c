/* db/schema.c: the results database's schema, the statement helpers of db/sql.h, and
 * opening and closing the file (contract in results.h). */
#include "db/results.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <math.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "db/sql.h"

#define BUSY_TIMEOUT_MS 10000
#define APPLICATION_ID 0x71617072 /* "qapr" in the SQLite header: marks the file as ours */

/* ---------------------------------------------------------------- schema */

/* The frontier view NAME over the speedup column X of results (one text for both runtimes). */
#define PARETO_VIEW(NAME, X)                                                                \
    "CREATE VIEW IF NOT EXISTS " NAME " AS\n"                                                \
    "  SELECT r.id AS run_id, r.config_hash, r.teacher, r.teacher_hash, r.data, r.data_hash,\n" \
    "         r.strategy, r.head_sparsity, r.ffn_sparsity,\n"                                \
    "         r.finetune, r.seed, s.f1, s.exact, s.has_ans_f1, s.no_ans_f1, s.speedup,\n"    \
    "         s.latency_ms, s.flops, s.params, s.heads_kept, s.heads_total, s.ffn_kept,\n"   \
    "         s.ffn_total, s.teacher_f1, s.long_f1, s.short_f1, s.ort_latency_ms,\n"        \
    "         s.ort_speedup\n"                                                           \
    "  FROM runs r JOIN results s ON s.run_id = r.id\n"                                      \
    "  WHERE r.status = 'done' AND s." X " IS NOT NULL AND NOT EXISTS (\n"                   \
    "    SELECT 1 FROM runs r2 JOIN results s2 ON s2.run_id = r2.id\n"                       \
    "    WHERE r2.status = 'done' AND r2.teacher_hash IS r.teacher_hash\n"                   \
    "      AND r2.data_hash IS r.data_hash AND s2." X " >= s." X " AND s2.f1 >= s.f1\n"      \
    "      AND (s2." X " > s." X " OR s2.f1 > s.f1))\n"                                      \
    "  ORDER BY r.teacher, r.data, s." X ", s.f1 DESC, r.id;\n"

/* Written with IF NOT EXISTS so opening an existing file is a no-op; the version in meta says
 * which of these shapes the file has (MIGRATE_V1 to V6 bring older files to it). */
static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);\n"
    "CREATE TABLE IF NOT EXISTS runs(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  config_hash TEXT UNIQUE NOT NULL,\n"
    "  strategy TEXT, head_sparsity REAL, ffn_sparsity REAL, finetune TEXT, seed INTEGER,\n"
    "  config_json TEXT,\n"
    "  status TEXT NOT NULL DEFAULT 'pending'\n"
    "    CHECK(status IN ('pending','running','done','failed')),\n"
    "  error TEXT, started_at TEXT, finished_at TEXT,\n"
    "  attempts INTEGER NOT NULL DEFAULT 0,\n"
    "  owner TEXT,\n"
    "  teacher TEXT, teacher_hash TEXT, data TEXT, data_hash TEXT);\n"
    "CREATE INDEX IF NOT EXISTS runs_status ON runs(status);\n"
    "CREATE TABLE IF NOT EXISTS results(\n"
    "  run_id INTEGER PRIMARY KEY REFERENCES runs(id),\n"
    "  f1 REAL, exact REAL, has_ans_f1 REAL, no_ans_f1 REAL,\n"
    "  heads_kept INTEGER, heads_total INTEGER, ffn_kept INTEGER, ffn_total INTEGER,\n"
    "  params INTEGER, flops REAL, latency_ms REAL, teacher_latency_ms REAL, speedup REAL,\n"
    "  train_seconds REAL, f1_before_finetune REAL, teacher_f1 REAL,\n"
    "  precision TEXT, gemm TEXT, host TEXT, cpu_model TEXT,\n"
    "  long_f1 REAL, long_precision REAL, long_recall REAL,\n"
    "  short_f1 REAL, short_precision REAL, short_recall REAL,\n"
    "  ort_latency_ms REAL, ort_teacher_latency_ms REAL, ort_speedup REAL,\n"
    "  peak_rss_mb REAL);\n"
    "CREATE TABLE IF NOT EXISTS layers(\n"
    "  run_id INTEGER REFERENCES runs(id), layer INTEGER, heads_kept INTEGER,\n"
    "  ffn_kept INTEGER, PRIMARY KEY(run_id, layer));\n"
    /* The content hashes of input files, so an unchanged file is not read again: a row is
     * valid while the file has the same size, modification time (ns) and inode. */
    "CREATE TABLE IF NOT EXISTS file_hashes(\n"
    "  path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER, hash TEXT);\n"
    /* A done run is on the frontier when no other done run of the same teacher and data is at
     * least as fast and at least as accurate and strictly better in one of the two; equal
     * points do not dominate each other, so ties all stay. IS compares NULL (rows written
     * before teachers were recorded) as equal. pareto_ort: the same over ONNX Runtime's
     * speedup, among the runs that have one. */
    PARETO_VIEW("pareto", "speedup")
    PARETO_VIEW("pareto_ort", "ort_speedup")
    /* Seeds pooled: one row per point setting except its seed (the resolved config without
     * its identity and seed), with n, the mean and the sample standard deviation (NULL for
     * n = 1) of F1, and the means of speedup and training seconds. Two passes (the mean,
     * then the squared deviations) so the deviation does not cancel. */
    "CREATE VIEW IF NOT EXISTS summary AS\n"
    "  WITH d AS (SELECT r.teacher, r.teacher_hash, r.data, r.data_hash, r.strategy,\n"
    "                    r.head_sparsity, r.ffn_sparsity, r.finetune, s.f1, s.speedup,\n"
    "                    s.train_seconds, s.params, s.flops, s.precision, s.gemm,\n"
    "                    json_remove(r.config_json, '$.identity', '$.prune.seed') AS setting\n"
    "             FROM runs r JOIN results s ON s.run_id = r.id WHERE r.status = 'done'),\n"
    "       m AS (SELECT setting, avg(f1) AS mean FROM d GROUP BY setting)\n"
    "  SELECT d.teacher, d.data, d.strategy, d.head_sparsity, d.ffn_sparsity, d.finetune,\n"
    "         d.precision, d.gemm,\n"
    "         count(*) AS n, m.mean AS f1_mean,\n"
    "         CASE WHEN count(*) > 1 THEN\n"
    "           sqrt(sum((d.f1 - m.mean) * (d.f1 - m.mean)) / (count(*) - 1)) END AS f1_std,\n"
    "         avg(d.speedup) AS speedup_mean, avg(d.train_seconds) AS train_seconds_mean,\n"
    "         avg(d.params) AS params, avg(d.flops) AS flops, d.teacher_hash, d.data_hash\n"
    "  FROM d JOIN m USING (setting) GROUP BY d.setting\n"
    "  ORDER BY d.teacher, d.data, d.strategy, d.finetune, d.head_sparsity, d.ffn_sparsity;\n";

/* Version 1 -> 2: runs gain the teacher and data columns (NULL for the old rows: their
 * identity held paths, not contents), the file hash cache appears (SCHEMA creates it), and
 * the pareto view becomes per teacher and data. */
static const char MIGRATE_V1[] =
    "ALTER TABLE runs ADD COLUMN teacher TEXT;\n"
    "ALTER TABLE runs ADD COLUMN teacher_hash TEXT;\n"
    "ALTER TABLE runs ADD COLUMN data TEXT;\n"
    "ALTER TABLE runs ADD COLUMN data_hash TEXT;\n"
    "DROP VIEW IF EXISTS pareto;\n";

/* Version 2 -> 3: results gain the precision (fp32, bf16) and GEMM library their F1 and
 * latency were measured in (NULL for older rows: fp32, and OpenBLAS before oneDNN existed);
 * the summary view shows them (the setting it pools seeds by already tells them apart). */
static const char MIGRATE_V2[] =
    "ALTER TABLE results ADD COLUMN precision TEXT;\n"
    "ALTER TABLE results ADD COLUMN gemm TEXT;\n"
    "DROP VIEW IF EXISTS summary;\n";

/* Version 3 -> 4: results record where latency was measured (a Slurm task times its point
 * on its own node): the host name and its CPU model (NULL for the old rows). */
static const char MIGRATE_V3[] =
    "ALTER TABLE results ADD COLUMN host TEXT;\n"
    "ALTER TABLE results ADD COLUMN cpu_model TEXT;\n";

/* Version 4 -> 5: results of Natural Questions points: the official NQ metric's
 * best-threshold F1, precision and recall of long and short answers (percent; NULL for SQuAD
 * points and the old rows; an NQ point's f1 is its short_f1); the pareto view shows both
 * F1s. */
static const char MIGRATE_V4[] =
    "ALTER TABLE results ADD COLUMN long_f1 REAL;\n"
    "ALTER TABLE results ADD COLUMN long_precision REAL;\n"
    "ALTER TABLE results ADD COLUMN long_recall REAL;\n"
    "ALTER TABLE results ADD COLUMN short_f1 REAL;\n"
    "ALTER TABLE results ADD COLUMN short_precision REAL;\n"
    "ALTER TABLE results ADD COLUMN short_recall REAL;\n"
    "DROP VIEW IF EXISTS pareto;\n";

/* Version 5 -> 6: results gain ONNX Runtime's latencies of the point and its teacher and the
 * speedup there ("bench": {"ort": true}; NULL when not measured); the pareto view shows them
 * (SCHEMA creates it again) and pareto_ort appears. */
static const char MIGRATE_V5[] =
    "ALTER TABLE results ADD COLUMN ort_latency_ms REAL;\n"
    "ALTER TABLE results ADD COLUMN ort_teacher_latency_ms REAL;\n"
    "ALTER TABLE results ADD COLUMN ort_speedup REAL;\n"
    "DROP VIEW IF EXISTS pareto;\n";

/* Version 6 -> 7: results gain the peak resident memory (MiB) of the process that trained the
 * point, what a Slurm --mem request needs (NULL for the old rows: not recorded). */
static const char MIGRATE_V6[] =
    "ALTER TABLE results ADD COLUMN peak_rss_mb REAL;\n";

/* ---------------------------------------------------------------- statement helpers */

/* Reports what failed with SQLite's message; returns QA_ERR. */
int dbsql_sql_error(Db *db, const char *what) {
    int code = sqlite3_errcode(db->h) & 0xff; /* the primary code */
    /* a full disk, a read-only file or an I/O error are the machine's, not a point's */
    int err = code == SQLITE_FULL ? ENOSPC : code == SQLITE_READONLY ? EROFS
            : code == SQLITE_IOERR ? EIO : code == SQLITE_NOMEM ? ENOMEM : 0;
    return qa_env_error(err, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

int dbsql_exec(Db *db, const char *sql, const char *what) {
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) == SQLITE_OK) return QA_OK;
    if (!msg) return dbsql_sql_error(db, what);
    char text[512];
    snprintf(text, sizeof text, "%s", msg);
    sqlite3_free(msg);
    int code = sqlite3_errcode(db->h) & 0xff;
    int err = code == SQLITE_FULL ? ENOSPC : code == SQLITE_READONLY ? EROFS
            : code == SQLITE_IOERR ? EIO : code == SQLITE_NOMEM ? ENOMEM : 0;
    return qa_env_error(err, "%s: %s: %s", db->path, what, text);
}

int dbsql_prepare(Db *db, const char *sql, sqlite3_stmt **st) {
    if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) == SQLITE_OK) return QA_OK;
    *st = NULL;
    return dbsql_sql_error(db, "cannot prepare statement");
}

/* Steps a statement that returns no rows. */
int dbsql_step_done(Db *db, sqlite3_stmt *st, const char *what) {
    if (sqlite3_step(st) == SQLITE_DONE) return QA_OK;
    return dbsql_sql_error(db, what);
}

/* Binds NaN (an unknown metric) as NULL. */
int dbsql_bind_real(sqlite3_stmt *st, int i, double v) {
    return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

/* Returns the first column of a one-row integer query (def when it yields no row). */
int dbsql_query_int(Db *db, const char *sql, long long def, long long *out) {
    sqlite3_stmt *st;
    if (dbsql_prepare(db, sql, &st)) return QA_ERR;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : def;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK : dbsql_sql_error(db, sql);
}

/* BEGIN IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so a
 * transaction never fails half-way for want of it. */
int dbsql_begin_write(Db *db) { return dbsql_exec(db, "BEGIN IMMEDIATE", "cannot begin a transaction"); }
int dbsql_commit(Db *db) { return dbsql_exec(db, "COMMIT", "cannot commit"); }
void dbsql_rollback(Db *db) {
    if (!sqlite3_get_autocommit(db->h)) sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

/* ---------------------------------------------------------------- open, close */

/* Checks the file is ours (or new) and at our schema version, then creates what is missing. */
static int schema_init(Db *db) {
    long long app_id, n_tables, has_meta, version = -1;
    char buf[32];
    int found;
    if (dbsql_begin_write(db)) return QA_ERR;
    if (dbsql_query_int(db, "PRAGMA application_id", 0, &app_id) ||
        dbsql_query_int(db, "SELECT count(*) FROM sqlite_master", 0, &n_tables) ||
        dbsql_query_int(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'",
                  0, &has_meta))
        goto fail;
    if (app_id != 0 && app_id != APPLICATION_ID) {
        qa_error("%s: not a qaprune results database (application_id 0x%llx)", db->path,
                 (unsigned long long)app_id);
        goto fail;
    }
    if (n_tables > 0 && !has_meta) {
        qa_error("%s: not a qaprune results database (it has tables but no meta table)",
                 db->path);
        goto fail;
    }
    if (has_meta) {
        if (db_get_meta(db, "schema_version", buf, sizeof buf, &found)) goto fail;
        char *end;
        version = found ? strtoll(buf, &end, 10) : -1;
        if (found && (*end || end == buf || version < 1 || version > DB_SCHEMA_VERSION)) {
            qa_error("%s: schema version %s, this qaprune reads versions 1 to %d (a newer "
                     "qaprune wrote it, or use another output directory)",
                     db->path, buf, DB_SCHEMA_VERSION);
            goto fail;
        }
    }
    if (version == 1 && dbsql_exec(db, MIGRATE_V1, "cannot migrate from schema version 1"))
        goto fail;
    if (version >= 1 && version <= 2 &&
        dbsql_exec(db, MIGRATE_V2, "cannot migrate from schema version 2"))
        goto fail;
    if (version >= 1 && version <= 3 &&
        dbsql_exec(db, MIGRATE_V3, "cannot migrate from schema version 3"))
        goto fail;
    if (version >= 1 && version <= 4 &&
        dbsql_exec(db, MIGRATE_V4, "cannot migrate from schema version 4"))
        goto fail;
    if (version >= 1 && version <= 5 &&
        dbsql_exec(db, MIGRATE_V5, "cannot migrate from schema version 5"))
        goto fail;
    if (version >= 1 && version <= 6 &&
        dbsql_exec(db, MIGRATE_V6, "cannot migrate from schema version 6"))
        goto fail;
    char set_id[64];
    snprintf(set_id, sizeof set_id, "PRAGMA application_id = %d", APPLICATION_ID);
    snprintf(buf, sizeof buf, "%d", DB_SCHEMA_VERSION);
    if (dbsql_exec(db, SCHEMA, "cannot create the schema") ||
        dbsql_exec(db, set_id, "cannot set application_id") ||
        (version != DB_SCHEMA_VERSION && db_set_meta(db, "schema_version", buf)) || dbsql_commit(db))
        goto fail;
    return QA_OK;
fail:
    dbsql_rollback(db);
    return QA_ERR;
}

/* WAL: readers (sweep query, plots, sqlite3) never block the ingesting writer. FULL sync:
 * a result file is deleted after its ingest commits, so the commit must be durable. */
static int set_pragmas(Db *db) {
    sqlite3_stmt *st;
    if (dbsql_exec(db, "PRAGMA foreign_keys = ON", "cannot enable foreign keys") ||
        dbsql_prepare(db, "PRAGMA journal_mode = WAL", &st))
        return QA_ERR;
    int rc = sqlite3_step(st);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int wal = mode && strcmp(mode, "wal") == 0;
    char got[16];
    snprintf(got, sizeof got, "%s", mode ? mode : "?");
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return dbsql_sql_error(db, "cannot set WAL mode");
    if (!wal) return qa_error("%s: cannot set WAL mode (journal mode stays %s)", db->path, got);
    return dbsql_exec(db, "PRAGMA synchronous = FULL", "cannot set synchronous");
}

int db_open(const char *path, Db **out) {
    *out = NULL;
    Db *db = calloc(1, sizeof *db);
    if (!db || !(db->path = strdup(path))) {
        free(db);
        return qa_error("%s: out of memory", path);
    }
    if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        dbsql_sql_error(db, "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(db->h, BUSY_TIMEOUT_MS);
    if (set_pragmas(db) || schema_init(db)) goto fail;
    struct stat sb;
    if (stat(path, &sb) == 0) db->dev = (unsigned long long)sb.st_dev, db->ino = sb.st_ino;
    *out = db;
    return QA_OK;
fail:
    db_close(db);
    return QA_ERR;
}

int db_open_readonly(const char *path, Db **out) {
    *out = NULL;
    Db *db = calloc(1, sizeof *db);
    if (!db || !(db->path = strdup(path))) {
        free(db);
        return qa_error("%s: out of memory", path);
    }
    long long app_id;
    if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        dbsql_sql_error(db, "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(db->h, BUSY_TIMEOUT_MS);
    sqlite3_limit(db->h, SQLITE_LIMIT_ATTACHED, 0); /* ATTACH would create files */
    if (dbsql_query_int(db, "PRAGMA application_id", 0, &app_id)) goto fail;
    if (app_id != APPLICATION_ID) {
        qa_error("%s: not a qaprune results database (application_id 0x%llx)", db->path,
                 (unsigned long long)app_id);
        goto fail;
    }
    *out = db;
    return QA_OK;
fail:
    db_close(db);
    return QA_ERR;
}

void db_close(Db *db) {
    if (!db) return;
    sqlite3_close_v2(db->h);
    free(db->path);
    free(db);
}

const char *db_path(const Db *db) { return db->path; }

int db_check_file(const Db *db) {
    if (!db) return QA_OK;
    struct stat sb;
    if (stat(db->path, &sb) != 0 || (unsigned long long)sb.st_dev != db->dev ||
        (unsigned long long)sb.st_ino != db->ino)
        return qa_error("%s: deleted or replaced while this process wrote to it: what it "
                        "recorded is lost with the old file; run the same command again to "
                        "record the points once more (their files under points/ are kept)",
                        db->path);
    return QA_OK;
}

