/* db/results.c: the results database (schema and contract in results.h). Reads top-down:
 * the schema, statement helpers, open/close, the run life cycle, ingestion of result files,
 * meta and counts, the query printer, and the point lists the charts read. */
#include "db/results.h"

#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"

#define BUSY_TIMEOUT_MS 10000
#define APPLICATION_ID 0x71617072 /* "qapr" in the SQLite header: marks the file as ours */

struct Db {
    sqlite3 *h;
    char *path; /* owned */
};

/* ---------------------------------------------------------------- schema */

/* Written with IF NOT EXISTS so opening an existing file is a no-op; the version in meta says
 * which of these shapes the file has. */
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
    "  owner TEXT);\n"
    "CREATE INDEX IF NOT EXISTS runs_status ON runs(status);\n"
    "CREATE TABLE IF NOT EXISTS results(\n"
    "  run_id INTEGER PRIMARY KEY REFERENCES runs(id),\n"
    "  f1 REAL, exact REAL, has_ans_f1 REAL, no_ans_f1 REAL,\n"
    "  heads_kept INTEGER, heads_total INTEGER, ffn_kept INTEGER, ffn_total INTEGER,\n"
    "  params INTEGER, flops REAL, latency_ms REAL, teacher_latency_ms REAL, speedup REAL,\n"
    "  train_seconds REAL, f1_before_finetune REAL, teacher_f1 REAL);\n"
    "CREATE TABLE IF NOT EXISTS layers(\n"
    "  run_id INTEGER REFERENCES runs(id), layer INTEGER, heads_kept INTEGER,\n"
    "  ffn_kept INTEGER, PRIMARY KEY(run_id, layer));\n"
    /* A done run is on the frontier when no other done run is at least as fast and at least
     * as accurate and strictly better in one of the two; equal points do not dominate each
     * other, so ties all stay. */
    "CREATE VIEW IF NOT EXISTS pareto AS\n"
    "  SELECT r.id AS run_id, r.config_hash, r.strategy, r.head_sparsity, r.ffn_sparsity,\n"
    "         r.finetune, r.seed, s.f1, s.exact, s.has_ans_f1, s.no_ans_f1, s.speedup,\n"
    "         s.latency_ms, s.flops, s.params, s.heads_kept, s.heads_total, s.ffn_kept,\n"
    "         s.ffn_total, s.teacher_f1\n"
    "  FROM runs r JOIN results s ON s.run_id = r.id\n"
    "  WHERE r.status = 'done' AND NOT EXISTS (\n"
    "    SELECT 1 FROM runs r2 JOIN results s2 ON s2.run_id = r2.id\n"
    "    WHERE r2.status = 'done' AND s2.speedup >= s.speedup AND s2.f1 >= s.f1\n"
    "      AND (s2.speedup > s.speedup OR s2.f1 > s.f1))\n"
    "  ORDER BY s.speedup, s.f1 DESC, r.id;\n";

/* ---------------------------------------------------------------- statement helpers */

/* Reports what failed with SQLite's message; returns QA_ERR. */
static int sql_error(Db *db, const char *what) {
    return qa_error("%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static int exec(Db *db, const char *sql, const char *what) {
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) == SQLITE_OK) return QA_OK;
    qa_error("%s: %s: %s", db->path, what, msg ? msg : sqlite3_errmsg(db->h));
    sqlite3_free(msg);
    return QA_ERR;
}

static int prepare(Db *db, const char *sql, sqlite3_stmt **st) {
    if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) == SQLITE_OK) return QA_OK;
    *st = NULL;
    return sql_error(db, "cannot prepare statement");
}

/* Steps a statement that returns no rows. */
static int step_done(Db *db, sqlite3_stmt *st, const char *what) {
    if (sqlite3_step(st) == SQLITE_DONE) return QA_OK;
    return sql_error(db, what);
}

/* Binds NaN (an unknown metric) as NULL. */
static int bind_real(sqlite3_stmt *st, int i, double v) {
    return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

/* Returns the first column of a one-row integer query (def when it yields no row). */
static int query_int(Db *db, const char *sql, long long def, long long *out) {
    sqlite3_stmt *st;
    if (prepare(db, sql, &st)) return QA_ERR;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : def;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK : sql_error(db, sql);
}

/* BEGIN IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so a
 * transaction never fails half-way for want of it. */
static int begin_write(Db *db) { return exec(db, "BEGIN IMMEDIATE", "cannot begin a transaction"); }
static int commit(Db *db) { return exec(db, "COMMIT", "cannot commit"); }
static void rollback(Db *db) {
    if (!sqlite3_get_autocommit(db->h)) sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

/* ---------------------------------------------------------------- open, close */

/* Checks the file is ours (or new) and at our schema version, then creates what is missing. */
static int schema_init(Db *db) {
    long long app_id, n_tables, has_meta, version = -1;
    char buf[32];
    int found;
    if (begin_write(db)) return QA_ERR;
    if (query_int(db, "PRAGMA application_id", 0, &app_id) ||
        query_int(db, "SELECT count(*) FROM sqlite_master", 0, &n_tables) ||
        query_int(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'",
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
        if (found && (*end || end == buf || version != DB_SCHEMA_VERSION)) {
            qa_error("%s: schema version %s, this qaprune reads version %d only (a newer "
                     "qaprune wrote it, or use another output directory)",
                     db->path, buf, DB_SCHEMA_VERSION);
            goto fail;
        }
    }
    char set_id[64];
    snprintf(set_id, sizeof set_id, "PRAGMA application_id = %d", APPLICATION_ID);
    snprintf(buf, sizeof buf, "%d", DB_SCHEMA_VERSION);
    if (exec(db, SCHEMA, "cannot create the schema") ||
        exec(db, set_id, "cannot set application_id") ||
        (version < 0 && db_set_meta(db, "schema_version", buf)) || commit(db))
        goto fail;
    return QA_OK;
fail:
    rollback(db);
    return QA_ERR;
}

/* WAL: readers (sweep query, plots, sqlite3) never block the ingesting writer. FULL sync:
 * a result file is deleted after its ingest commits, so the commit must be durable. */
static int set_pragmas(Db *db) {
    sqlite3_stmt *st;
    if (exec(db, "PRAGMA foreign_keys = ON", "cannot enable foreign keys") ||
        prepare(db, "PRAGMA journal_mode = WAL", &st))
        return QA_ERR;
    int rc = sqlite3_step(st);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int wal = mode && strcmp(mode, "wal") == 0;
    char got[16];
    snprintf(got, sizeof got, "%s", mode ? mode : "?");
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return sql_error(db, "cannot set WAL mode");
    if (!wal) return qa_error("%s: cannot set WAL mode (journal mode stays %s)", db->path, got);
    return exec(db, "PRAGMA synchronous = FULL", "cannot set synchronous");
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
        sql_error(db, "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(db->h, BUSY_TIMEOUT_MS);
    if (set_pragmas(db) || schema_init(db)) goto fail;
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

/* ---------------------------------------------------------------- the run life cycle */

static int check_name(Db *db, const char *field, const char *s) {
    if (!s || !*s || strlen(s) >= DB_NAME_MAX)
        return qa_error("%s: run %s: must have 1..%d characters, got \"%s\"", db->path, field,
                        DB_NAME_MAX - 1, s ? s : "(null)");
    return QA_OK;
}

int db_add_run(Db *db, const DbRun *r, int *inserted) {
    static const char sql[] =
        "INSERT INTO runs(config_hash, strategy, head_sparsity, ffn_sparsity, finetune, seed,"
        " config_json, status) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')"
        " ON CONFLICT(config_hash) DO NOTHING";
    if (inserted) *inserted = 0;
    if (db_check_hash(db->path, r->config_hash) || check_name(db, "strategy", r->strategy) ||
        check_name(db, "finetune", r->finetune))
        return QA_ERR;
    if (!isfinite(r->head_sparsity) || !isfinite(r->ffn_sparsity))
        return qa_error("%s: run %s: sparsity must be finite (heads %g, ffn %g)", db->path,
                        r->config_hash, r->head_sparsity, r->ffn_sparsity);
    sqlite3_stmt *st;
    if (prepare(db, sql, &st)) return QA_ERR;
    sqlite3_bind_text(st, 1, r->config_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->strategy, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, r->head_sparsity);
    sqlite3_bind_double(st, 4, r->ffn_sparsity);
    sqlite3_bind_text(st, 5, r->finetune, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, r->seed);
    if (r->config_json) sqlite3_bind_text(st, 7, r->config_json, -1, SQLITE_STATIC);
    int rc = step_done(db, st, "cannot add run");
    sqlite3_finalize(st);
    if (rc == QA_OK && inserted) *inserted = sqlite3_changes(db->h) > 0;
    return rc;
}

static DbStatus status_parse(const char *s) {
    return !s ? DB_PENDING : !strcmp(s, "running") ? DB_RUNNING : !strcmp(s, "done") ? DB_DONE
         : !strcmp(s, "failed") ? DB_FAILED : DB_PENDING;
}

int db_get_status(Db *db, const char *config_hash, DbStatus *st_out, int *found) {
    sqlite3_stmt *st;
    *found = 0;
    if (prepare(db, "SELECT status FROM runs WHERE config_hash = ?1", &st)) return QA_ERR;
    sqlite3_bind_text(st, 1, config_hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = 1;
        *st_out = status_parse((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK : sql_error(db, "cannot read status");
}

/* One UPDATE is atomic under SQLite's write lock: of two claimers, the second finds the run
 * no longer pending and changes nothing. */
int db_claim(Db *db, const char *config_hash, const char *owner, int *claimed) {
    static const char sql[] =
        "UPDATE runs SET status = 'running', attempts = attempts + 1, owner = ?2,"
        " error = NULL, started_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"
        " WHERE config_hash = ?1 AND status = 'pending'";
    sqlite3_stmt *st;
    *claimed = 0;
    if (prepare(db, sql, &st)) return QA_ERR;
    sqlite3_bind_text(st, 1, config_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    int rc = step_done(db, st, "cannot claim run");
    sqlite3_finalize(st);
    if (rc) return QA_ERR;
    *claimed = sqlite3_changes(db->h) == 1;
    if (*claimed) return QA_OK;
    DbStatus status;
    int found;
    if (db_get_status(db, config_hash, &status, &found)) return QA_ERR;
    return found ? QA_OK : qa_error("%s: claim: no run with config_hash %s", db->path,
                                    config_hash);
}

/* The pid of owner "host:pid" when host matches, else -1. */
static int owner_pid(const char *owner, const char *host) {
    size_t n = strlen(host);
    if (!owner || strncmp(owner, host, n) != 0 || owner[n] != ':') return -1;
    char *end;
    long pid = strtol(owner + n + 1, &end, 10);
    return *end || end == owner + n + 1 || pid <= 0 || pid > INT_MAX ? -1 : (int)pid;
}

int db_reset_stale(Db *db, const char *host, int (*alive)(int pid), int *n_reset) {
    sqlite3_stmt *sel = NULL, *upd = NULL;
    long long *ids = NULL;
    int n = 0, cap = 0, rc = QA_ERR, step;
    if (n_reset) *n_reset = 0;
    if (begin_write(db)) return QA_ERR;
    if (prepare(db, "SELECT id, owner FROM runs WHERE status = 'running'", &sel)) goto cleanup;
    while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
        int pid = owner_pid((const char *)sqlite3_column_text(sel, 1), host);
        if (pid < 0 || alive(pid)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            long long *grown = realloc(ids, (size_t)cap * sizeof *ids);
            if (!grown) {
                qa_error("%s: out of memory", db->path);
                goto cleanup;
            }
            ids = grown;
        }
        ids[n++] = sqlite3_column_int64(sel, 0);
    }
    if (step != SQLITE_DONE) {
        sql_error(db, "cannot list running runs");
        goto cleanup;
    }
    if (prepare(db, "UPDATE runs SET status = 'pending', owner = NULL WHERE id = ?1", &upd))
        goto cleanup;
    for (int i = 0; i < n; i++) {
        sqlite3_reset(upd);
        sqlite3_bind_int64(upd, 1, ids[i]);
        if (step_done(db, upd, "cannot reset run")) goto cleanup;
    }
    sqlite3_finalize(sel);
    sel = NULL;
    if (commit(db)) goto cleanup;
    if (n_reset) *n_reset = n;
    rc = QA_OK;
cleanup:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    if (rc) rollback(db);
    free(ids);
    return rc;
}

/* Runs one UPDATE with an optional text parameter; *n (may be NULL) gets the changed rows. */
static int update_count(Db *db, const char *sql, const char *param, int *n, const char *what) {
    sqlite3_stmt *st;
    if (n) *n = 0;
    if (prepare(db, sql, &st)) return QA_ERR;
    if (param) sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    int rc = step_done(db, st, what);
    sqlite3_finalize(st);
    if (rc == QA_OK && n) *n = sqlite3_changes(db->h);
    return rc;
}

int db_release_owner(Db *db, const char *owner, int *n) {
    return update_count(db, "UPDATE runs SET status = 'pending', owner = NULL"
                            " WHERE status = 'running' AND owner = ?1",
                        owner, n, "cannot release runs");
}

int db_retry_failed(Db *db, int *n) {
    return update_count(db, "UPDATE runs SET status = 'pending', error = NULL"
                            " WHERE status = 'failed'",
                        NULL, n, "cannot retry failed runs");
}

/* ---------------------------------------------------------------- ingesting result files */

/* Finds the run of r; *finished is the file's finished_at, or the stored one when the run is
 * already in r's state (so ingesting again changes nothing), or now. */
static int ingest_find_run(Db *db, const char *path, const DbResult *r, long long *id,
                           char *finished, size_t cap) {
    sqlite3_stmt *st;
    if (prepare(db, "SELECT id, status, finished_at FROM runs WHERE config_hash = ?1", &st))
        return QA_ERR;
    sqlite3_bind_text(st, 1, r->config_hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        DbStatus now = status_parse((const char *)sqlite3_column_text(st, 1));
        const char *stored = (const char *)sqlite3_column_text(st, 2);
        if (r->finished_at[0])
            snprintf(finished, cap, "%s", r->finished_at);
        else if (now == r->status && stored)
            snprintf(finished, cap, "%s", stored);
        else
            db_time_now(finished, (int)cap);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return qa_error("%s: config_hash %s: no such run in %s", path, r->config_hash,
                        db->path);
    return rc == SQLITE_ROW ? QA_OK : sql_error(db, "cannot find run");
}

static int ingest_done(Db *db, long long id, const DbResult *r, const char *finished) {
    static const char ins_result[] =
        "INSERT OR REPLACE INTO results(run_id, f1, exact, has_ans_f1, no_ans_f1, heads_kept,"
        " heads_total, ffn_kept, ffn_total, params, flops, latency_ms, teacher_latency_ms,"
        " speedup, train_seconds, f1_before_finetune, teacher_f1)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";
    const DbMetrics *m = &r->metrics;
    sqlite3_stmt *st = NULL;
    int rc = QA_ERR;
    if (prepare(db, ins_result, &st)) goto cleanup;
    sqlite3_bind_int64(st, 1, id);
    bind_real(st, 2, m->f1);
    bind_real(st, 3, m->exact);
    bind_real(st, 4, m->has_ans_f1);
    bind_real(st, 5, m->no_ans_f1);
    sqlite3_bind_int64(st, 6, m->heads_kept);
    sqlite3_bind_int64(st, 7, m->heads_total);
    sqlite3_bind_int64(st, 8, m->ffn_kept);
    sqlite3_bind_int64(st, 9, m->ffn_total);
    sqlite3_bind_int64(st, 10, m->params);
    bind_real(st, 11, m->flops);
    bind_real(st, 12, m->latency_ms);
    bind_real(st, 13, m->teacher_latency_ms);
    bind_real(st, 14, m->speedup);
    bind_real(st, 15, m->train_seconds);
    bind_real(st, 16, m->f1_before_finetune);
    bind_real(st, 17, m->teacher_f1);
    if (step_done(db, st, "cannot write results")) goto cleanup;
    sqlite3_finalize(st);
    if (prepare(db, "INSERT INTO layers(run_id, layer, heads_kept, ffn_kept)"
                    " VALUES(?1, ?2, ?3, ?4)", &st))
        goto cleanup;
    for (int l = 0; l < r->n_layers; l++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, l);
        sqlite3_bind_int(st, 3, r->layer_heads[l]);
        sqlite3_bind_int(st, 4, r->layer_ffn[l]);
        if (step_done(db, st, "cannot write layers")) goto cleanup;
    }
    sqlite3_finalize(st);
    if (prepare(db, "UPDATE runs SET status = 'done', error = NULL, finished_at = ?2"
                    " WHERE id = ?1", &st))
        goto cleanup;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, finished, -1, SQLITE_STATIC);
    rc = step_done(db, st, "cannot mark run done");
cleanup:
    sqlite3_finalize(st);
    return rc;
}

static int ingest_failed(Db *db, long long id, const DbResult *r, const char *finished) {
    sqlite3_stmt *st;
    if (prepare(db, "UPDATE runs SET status = 'failed', error = ?2, finished_at = ?3"
                    " WHERE id = ?1", &st))
        return QA_ERR;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, r->error, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, finished, -1, SQLITE_STATIC);
    int rc = step_done(db, st, "cannot mark run failed");
    sqlite3_finalize(st);
    return rc;
}

int db_ingest_result(Db *db, const char *result_json_path) {
    DbResult *r = malloc(sizeof *r);
    char finished[32], del[96];
    long long id = 0;
    int rc = QA_ERR;
    if (!r) return qa_error("%s: out of memory", result_json_path);
    if (db_read_result_file(result_json_path, r) || begin_write(db)) goto cleanup;
    if (ingest_find_run(db, result_json_path, r, &id, finished, sizeof finished)) goto cleanup;
    snprintf(del, sizeof del, "DELETE FROM layers WHERE run_id = %lld", id);
    if (exec(db, del, "cannot clear layers")) goto cleanup;
    if (r->status == DB_FAILED) {
        snprintf(del, sizeof del, "DELETE FROM results WHERE run_id = %lld", id);
        if (exec(db, del, "cannot clear results") || ingest_failed(db, id, r, finished))
            goto cleanup;
    } else if (ingest_done(db, id, r, finished)) {
        goto cleanup;
    }
    rc = commit(db);
cleanup:
    if (rc) rollback(db);
    free(r);
    return rc;
}

/* ---------------------------------------------------------------- meta, counts */

int db_set_meta(Db *db, const char *key, const char *value) {
    sqlite3_stmt *st;
    if (prepare(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", &st))
        return QA_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = step_done(db, st, "cannot set meta");
    sqlite3_finalize(st);
    return rc;
}

int db_get_meta(Db *db, const char *key, char *buf, size_t cap, int *found) {
    sqlite3_stmt *st;
    *found = 0;
    if (cap) buf[0] = '\0';
    if (prepare(db, "SELECT value FROM meta WHERE key = ?1", &st)) return QA_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *found = 1;
        if (cap) snprintf(buf, cap, "%s", v ? v : "");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK : sql_error(db, "cannot read meta");
}

int db_counts(Db *db, int *pending, int *running, int *done, int *failed) {
    int c[4] = {0, 0, 0, 0};
    sqlite3_stmt *st;
    if (prepare(db, "SELECT status, count(*) FROM runs GROUP BY status", &st)) return QA_ERR;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        c[status_parse((const char *)sqlite3_column_text(st, 0))] += sqlite3_column_int(st, 1);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sql_error(db, "cannot count runs");
    if (pending) *pending = c[DB_PENDING];
    if (running) *running = c[DB_RUNNING];
    if (done) *done = c[DB_DONE];
    if (failed) *failed = c[DB_FAILED];
    return QA_OK;
}

/* ---------------------------------------------------------------- printing a query */

/* The cells of one statement's result, as text, row-major (ncol per row). */
typedef struct {
    int ncol, nrows, cap;
    char **cells;    /* owned: nrows * ncol strings */
    int *numeric;    /* owned: per column, 1 while every non-NULL value is a number */
} Table;

static void table_free(Table *t) {
    for (long i = 0; i < (long)t->nrows * t->ncol; i++) free(t->cells[i]);
    free(t->cells);
    free(t->numeric);
}

/* A cell's text: NULL as "NULL", reals with 6 significant digits, control characters in
 * text as spaces (so rows stay one line). Returns a new string, or NULL when out of memory. */
static char *cell_text(sqlite3_stmt *st, int c) {
    char buf[64];
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: return strdup("NULL");
    case SQLITE_INTEGER:
        snprintf(buf, sizeof buf, "%lld", (long long)sqlite3_column_int64(st, c));
        return strdup(buf);
    case SQLITE_FLOAT:
        snprintf(buf, sizeof buf, "%.6g", sqlite3_column_double(st, c));
        return strdup(buf);
    case SQLITE_BLOB:
        snprintf(buf, sizeof buf, "<blob %d bytes>", sqlite3_column_bytes(st, c));
        return strdup(buf);
    default: break;
    }
    const char *t = (const char *)sqlite3_column_text(st, c);
    char *s = strdup(t ? t : "");
    for (char *p = s; p && *p; p++)
        if ((unsigned char)*p < ' ') *p = ' ';
    return s;
}

/* Display width of UTF-8 text: its code points (continuation bytes do not count). */
static int text_width(const char *s) {
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static int table_add_row(Db *db, Table *t, sqlite3_stmt *st) {
    if (t->nrows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        char **grown = realloc(t->cells, (size_t)cap * (size_t)t->ncol * sizeof *grown);
        if (!grown) return qa_error("%s: query: out of memory", db->path);
        t->cells = grown;
        t->cap = cap;
    }
    char **row = t->cells + (long)t->nrows * t->ncol;
    for (int c = 0; c < t->ncol; c++) {
        int type = sqlite3_column_type(st, c);
        if (type != SQLITE_NULL && type != SQLITE_INTEGER && type != SQLITE_FLOAT)
            t->numeric[c] = 0;
        if (!(row[c] = cell_text(st, c))) {
            for (int k = 0; k < c; k++) free(row[k]);
            return qa_error("%s: query: out of memory", db->path);
        }
    }
    t->nrows++;
    return QA_OK;
}

static void table_print(const Table *t, sqlite3_stmt *st, FILE *out) {
    int *w = calloc((size_t)t->ncol, sizeof *w);
    if (!w) return;
    for (int c = 0; c < t->ncol; c++) {
        w[c] = text_width(sqlite3_column_name(st, c));
        for (int r = 0; r < t->nrows; r++) {
            int cw = text_width(t->cells[(long)r * t->ncol + c]);
            if (cw > w[c]) w[c] = cw;
        }
    }
    for (int r = -2; r < t->nrows; r++) {
        for (int c = 0; c < t->ncol; c++) {
            const char *s = r == -2 ? sqlite3_column_name(st, c)
                          : r == -1 ? "" : t->cells[(long)r * t->ncol + c];
            int pad = w[c] - text_width(s);
            if (c) fputs("  ", out);
            if (r == -1) {
                for (int k = 0; k < w[c]; k++) fputc('-', out);
                continue;
            }
            int right = t->numeric[c]; /* numbers and their headers align right */
            if (right) fprintf(out, "%*s", pad, "");
            fputs(s, out);
            if (!right && c + 1 < t->ncol) fprintf(out, "%*s", pad, "");
        }
        fputc('\n', out);
    }
    free(w);
}

/* Steps one prepared statement to the end and prints what it yields. */
static int print_statement(Db *db, sqlite3_stmt *st, FILE *out) {
    Table t = {.ncol = sqlite3_column_count(st)};
    int before = sqlite3_total_changes(db->h), rc = QA_ERR, step;
    if (t.ncol > 0 && !(t.numeric = malloc((size_t)t.ncol * sizeof *t.numeric)))
        return qa_error("%s: query: out of memory", db->path);
    for (int c = 0; c < t.ncol; c++) t.numeric[c] = 1;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (t.ncol > 0 && table_add_row(db, &t, st)) goto cleanup;
    if (step != SQLITE_DONE) {
        qa_error("%s: SQL error: %s", db->path, sqlite3_errmsg(db->h));
        goto cleanup;
    }
    int changed = sqlite3_total_changes(db->h) - before;
    if (t.ncol > 0 && t.nrows == 0)
        fputs("(no rows)\n", out);
    else if (t.ncol > 0)
        table_print(&t, st, out);
    else if (changed > 0)
        fprintf(out, "(%d rows changed)\n", changed);
    rc = QA_OK;
cleanup:
    table_free(&t);
    return rc;
}

int db_query_print(Db *db, const char *sql, FILE *out) {
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st;
        const char *next;
        if (sqlite3_prepare_v2(db->h, tail, -1, &st, &next) != SQLITE_OK)
            return qa_error("%s: SQL error: %s", db->path, sqlite3_errmsg(db->h));
        int rc = st ? print_statement(db, st, out) : QA_OK;
        sqlite3_finalize(st);
        if (rc) return QA_ERR;
        tail = next;
    }
    return QA_OK;
}

/* ---------------------------------------------------------------- points for the charts */

/* Both queries yield these columns in this order. */
#define POINT_COLUMNS                                                                       \
    "run_id, seed, strategy, finetune, head_sparsity, ffn_sparsity, f1, exact, speedup,"    \
    " latency_ms, flops, params, heads_kept, heads_total, ffn_kept, ffn_total, teacher_f1"

static void point_read(sqlite3_stmt *st, DbPoint *p) {
    memset(p, 0, sizeof *p);
    const char *s;
    p->run_id = sqlite3_column_int64(st, 0);
    p->seed = sqlite3_column_int64(st, 1);
    s = (const char *)sqlite3_column_text(st, 2);
    snprintf(p->strategy, sizeof p->strategy, "%s", s ? s : "");
    s = (const char *)sqlite3_column_text(st, 3);
    snprintf(p->finetune, sizeof p->finetune, "%s", s ? s : "");
    p->head_sparsity = sqlite3_column_double(st, 4);
    p->ffn_sparsity = sqlite3_column_double(st, 5);
    p->f1 = sqlite3_column_double(st, 6);
    p->exact = sqlite3_column_double(st, 7);
    p->speedup = sqlite3_column_double(st, 8);
    p->latency_ms = sqlite3_column_double(st, 9);
    p->flops = sqlite3_column_double(st, 10);
    p->params = sqlite3_column_int64(st, 11);
    p->heads_kept = sqlite3_column_int64(st, 12);
    p->heads_total = sqlite3_column_int64(st, 13);
    p->ffn_kept = sqlite3_column_int64(st, 14);
    p->ffn_total = sqlite3_column_int64(st, 15);
    p->teacher_f1 =
        sqlite3_column_type(st, 16) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 16);
}

/* Fills p's layer arrays from the layers table (layers beyond DB_MAX_LAYERS are ignored). */
static int point_layers(Db *db, sqlite3_stmt *st, DbPoint *p) {
    int rc;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, p->run_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int l = sqlite3_column_int(st, 0);
        if (l < 0 || l >= DB_MAX_LAYERS) continue;
        p->layer_heads[l] = sqlite3_column_int(st, 1);
        p->layer_ffn[l] = sqlite3_column_int(st, 2);
        if (l + 1 > p->n_layers) p->n_layers = l + 1;
    }
    return rc == SQLITE_DONE ? QA_OK : sql_error(db, "cannot read layers");
}

/* Runs sql (yielding POINT_COLUMNS) in one read transaction, so points and layers agree. */
static int points_query(Db *db, const char *sql, DbPoint **pts, int *n) {
    sqlite3_stmt *st = NULL, *lay = NULL;
    DbPoint *v = NULL;
    int count = 0, cap = 0, rc = QA_ERR, step;
    *pts = NULL;
    *n = 0;
    if (exec(db, "BEGIN", "cannot begin a read") || prepare(db, sql, &st) ||
        prepare(db, "SELECT layer, heads_kept, ffn_kept FROM layers WHERE run_id = ?1"
                    " ORDER BY layer", &lay))
        goto cleanup;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            DbPoint *grown = realloc(v, (size_t)cap * sizeof *v);
            if (!grown) {
                qa_error("%s: out of memory reading %d points", db->path, count);
                goto cleanup;
            }
            v = grown;
        }
        point_read(st, &v[count]);
        if (point_layers(db, lay, &v[count])) goto cleanup;
        count++;
    }
    if (step != SQLITE_DONE) {
        sql_error(db, "cannot read points");
        goto cleanup;
    }
    rc = QA_OK;
cleanup:
    sqlite3_finalize(st);
    sqlite3_finalize(lay);
    rollback(db); /* ends the read transaction; nothing was written */
    if (rc) {
        free(v);
        return QA_ERR;
    }
    if (count == 0) {
        free(v);
        v = NULL;
    }
    *pts = v;
    *n = count;
    return QA_OK;
}

int db_points(Db *db, DbPoint **pts, int *n) {
    return points_query(db,
                        "SELECT r.id AS run_id, r.seed, r.strategy, r.finetune, r.head_sparsity,"
                        " r.ffn_sparsity, s.f1, s.exact, s.speedup, s.latency_ms, s.flops,"
                        " s.params, s.heads_kept, s.heads_total, s.ffn_kept, s.ffn_total,"
                        " s.teacher_f1"
                        " FROM runs r JOIN results s ON s.run_id = r.id WHERE r.status = 'done'"
                        " ORDER BY r.strategy, r.finetune, r.head_sparsity, r.ffn_sparsity,"
                        " r.seed, r.id",
                        pts, n);
}

int db_pareto(Db *db, DbPoint **pts, int *n) {
    return points_query(db, "SELECT " POINT_COLUMNS " FROM pareto"
                            " ORDER BY speedup, f1 DESC, run_id", pts, n);
}
