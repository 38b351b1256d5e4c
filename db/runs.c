/* db/runs.c: a run's life cycle (add, claim, reset, release, retry), ingestion of result
 * files, meta and counts (contract in results.h). */
#include "db/results.h"

#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "db/sql.h"

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
        " config_json, status, teacher, teacher_hash, data, data_hash)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10, ?11)"
        " ON CONFLICT(config_hash) DO NOTHING";
    if (inserted) *inserted = 0;
    if (db_check_hash(db->path, r->config_hash) || check_name(db, "strategy", r->strategy) ||
        check_name(db, "finetune", r->finetune))
        return QA_ERR;
    if (!isfinite(r->head_sparsity) || !isfinite(r->ffn_sparsity))
        return qa_error("%s: run %s: sparsity must be finite (heads %g, ffn %g)", db->path,
                        r->config_hash, r->head_sparsity, r->ffn_sparsity);
    sqlite3_stmt *st;
    if (dbsql_prepare(db, sql, &st)) return QA_ERR;
    sqlite3_bind_text(st, 1, r->config_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->strategy, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, r->head_sparsity);
    sqlite3_bind_double(st, 4, r->ffn_sparsity);
    sqlite3_bind_text(st, 5, r->finetune, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, r->seed);
    if (r->config_json) sqlite3_bind_text(st, 7, r->config_json, -1, SQLITE_STATIC);
    const char *opt[4] = {r->teacher, r->teacher_hash, r->data, r->data_hash};
    for (int i = 0; i < 4; i++)
        if (opt[i]) sqlite3_bind_text(st, 8 + i, opt[i], -1, SQLITE_STATIC);
    int rc = dbsql_step_done(db, st, "cannot add run");
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
    if (dbsql_prepare(db, "SELECT status FROM runs WHERE config_hash = ?1", &st)) return QA_ERR;
    sqlite3_bind_text(st, 1, config_hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = 1;
        *st_out = status_parse((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK : dbsql_sql_error(db, "cannot read status");
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
    if (dbsql_prepare(db, sql, &st)) return QA_ERR;
    sqlite3_bind_text(st, 1, config_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    int rc = dbsql_step_done(db, st, "cannot claim run");
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
    if (dbsql_begin_write(db)) return QA_ERR;
    if (dbsql_prepare(db, "SELECT id, owner FROM runs WHERE status = 'running'", &sel)) goto cleanup;
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
        dbsql_sql_error(db, "cannot list running runs");
        goto cleanup;
    }
    if (dbsql_prepare(db, "UPDATE runs SET status = 'pending', owner = NULL WHERE id = ?1", &upd))
        goto cleanup;
    for (int i = 0; i < n; i++) {
        sqlite3_reset(upd);
        sqlite3_bind_int64(upd, 1, ids[i]);
        if (dbsql_step_done(db, upd, "cannot reset run")) goto cleanup;
    }
    sqlite3_finalize(sel);
    sel = NULL;
    if (dbsql_commit(db)) goto cleanup;
    if (n_reset) *n_reset = n;
    rc = QA_OK;
cleanup:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    if (rc) dbsql_rollback(db);
    free(ids);
    return rc;
}

/* Runs one UPDATE with an optional text parameter; *n (may be NULL) gets the changed rows. */
static int update_count(Db *db, const char *sql, const char *param, int *n, const char *what) {
    sqlite3_stmt *st;
    if (n) *n = 0;
    if (dbsql_prepare(db, sql, &st)) return QA_ERR;
    if (param) sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    int rc = dbsql_step_done(db, st, what);
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

int db_get_owner(Db *db, const char *config_hash, char *buf, size_t cap, int *found) {
    sqlite3_stmt *st;
    *found = 0;
    if (cap) buf[0] = '\0';
    if (dbsql_prepare(db, "SELECT CASE WHEN status = 'running' THEN owner END FROM runs"
                          " WHERE config_hash = ?1", &st))
        return QA_ERR;
    sqlite3_bind_text(st, 1, config_hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *found = 1;
        if (cap) snprintf(buf, cap, "%s", v ? v : "");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK : dbsql_sql_error(db, "cannot read owner");
}

int db_hand_over(Db *db, const char *const *hashes, const char *const *to, int n,
                 const char *from, int *n_moved) {
    sqlite3_stmt *st = NULL;
    int moved = 0;
    if (n_moved) *n_moved = 0;
    if (dbsql_begin_write(db)) return QA_ERR;
    if (dbsql_prepare(db, "UPDATE runs SET owner = ?2 WHERE config_hash = ?1"
                          " AND status = 'running' AND owner = ?3", &st))
        goto fail;
    for (int i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, hashes[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, to[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, from, -1, SQLITE_STATIC);
        if (dbsql_step_done(db, st, "cannot hand a run over")) goto fail;
        moved += sqlite3_changes(db->h);
    }
    sqlite3_finalize(st);
    if (dbsql_commit(db)) goto fail;
    if (n_moved) *n_moved = moved;
    return QA_OK;
fail:
    sqlite3_finalize(st);
    dbsql_rollback(db);
    return QA_ERR;
}

void db_strings_free(char **v, int n) {
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

int db_running_owned(Db *db, int only_grid, const char *prefix, char ***hashes,
                     char ***owners, int *n) {
    sqlite3_stmt *st;
    char **h = NULL, **o = NULL;
    int cnt = 0, cap = 0, step, rc = QA_ERR;
    *hashes = *owners = NULL;
    *n = 0;
    if (dbsql_prepare(db, only_grid ? "SELECT config_hash, owner FROM runs JOIN temp.grid"
                                      " USING (config_hash) WHERE status = 'running'"
                                      " AND substr(owner, 1, length(?1)) = ?1 ORDER BY id"
                                    : "SELECT config_hash, owner FROM runs WHERE status ="
                                      " 'running' AND substr(owner, 1, length(?1)) = ?1"
                                      " ORDER BY id", &st))
        return QA_ERR;
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            char **gh = realloc(h, sizeof *h * (size_t)cap);
            if (gh) h = gh;
            char **go = realloc(o, sizeof *o * (size_t)cap);
            if (go) o = go;
            if (!gh || !go) goto oom;
        }
        h[cnt] = strdup((const char *)sqlite3_column_text(st, 0));
        o[cnt] = strdup((const char *)sqlite3_column_text(st, 1));
        cnt++;
        if (!h[cnt - 1] || !o[cnt - 1]) goto oom;
    }
    if (step != SQLITE_DONE) {
        dbsql_sql_error(db, "cannot list running runs");
        goto cleanup;
    }
    *hashes = h;
    *owners = o;
    *n = cnt;
    h = o = NULL;
    cnt = 0;
    rc = QA_OK;
    goto cleanup;
oom:
    qa_error("%s: out of memory", db->path);
cleanup:
    sqlite3_finalize(st);
    db_strings_free(h, cnt);
    db_strings_free(o, cnt);
    return rc;
}

/* ---------------------------------------------------------------- ingesting result files */

/* Finds the run of r; *finished is the file's finished_at, or the stored one when the run is
 * already in r's state (so ingesting again changes nothing), or now. */
static int ingest_find_run(Db *db, const char *path, const DbResult *r, long long *id,
                           char *finished, size_t cap) {
    sqlite3_stmt *st;
    if (dbsql_prepare(db, "SELECT id, status, finished_at FROM runs WHERE config_hash = ?1", &st))
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
    return rc == SQLITE_ROW ? QA_OK : dbsql_sql_error(db, "cannot find run");
}

static int ingest_done(Db *db, long long id, const DbResult *r, const char *finished) {
    static const char ins_result[] =
        "INSERT OR REPLACE INTO results(run_id, f1, exact, has_ans_f1, no_ans_f1, heads_kept,"
        " heads_total, ffn_kept, ffn_total, params, flops, latency_ms, teacher_latency_ms,"
        " speedup, train_seconds, f1_before_finetune, teacher_f1, precision, gemm,"
        " host, cpu_model, long_f1, long_precision, long_recall, short_f1, short_precision,"
        " short_recall, ort_latency_ms, ort_teacher_latency_ms, ort_speedup, peak_rss_mb)"
        " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        /* what the point ran in, from its resolved config (grid points: prune.precision
         * and prune.gemm; rows from elsewhere may have neither: NULL) */
        " CASE WHEN json_valid(config_json) THEN json_extract(config_json, '$.prune.precision')"
        " END, CASE WHEN json_valid(config_json) THEN json_extract(config_json, '$.prune.gemm')"
        " END, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29 FROM runs WHERE id = ?1";
    const DbMetrics *m = &r->metrics;
    sqlite3_stmt *st = NULL;
    int rc = QA_ERR;
    if (dbsql_prepare(db, ins_result, &st)) goto cleanup;
    sqlite3_bind_int64(st, 1, id);
    dbsql_bind_real(st, 2, m->f1);
    /* a point has one dataset kind's scores: the other kind's columns stay NULL */
    dbsql_bind_real(st, 3, m->nq ? NAN : m->exact);
    dbsql_bind_real(st, 4, m->nq ? NAN : m->has_ans_f1);
    dbsql_bind_real(st, 5, m->nq ? NAN : m->no_ans_f1);
    sqlite3_bind_int64(st, 6, m->heads_kept);
    sqlite3_bind_int64(st, 7, m->heads_total);
    sqlite3_bind_int64(st, 8, m->ffn_kept);
    sqlite3_bind_int64(st, 9, m->ffn_total);
    sqlite3_bind_int64(st, 10, m->params);
    dbsql_bind_real(st, 11, m->flops);
    dbsql_bind_real(st, 12, m->latency_ms);
    dbsql_bind_real(st, 13, m->teacher_latency_ms);
    dbsql_bind_real(st, 14, m->speedup);
    dbsql_bind_real(st, 15, m->train_seconds);
    dbsql_bind_real(st, 16, m->f1_before_finetune);
    dbsql_bind_real(st, 17, m->teacher_f1);
    if (r->host[0]) sqlite3_bind_text(st, 18, r->host, -1, SQLITE_STATIC);
    if (r->cpu_model[0]) sqlite3_bind_text(st, 19, r->cpu_model, -1, SQLITE_STATIC);
    const double nq[6] = {m->long_f1, m->long_precision, m->long_recall,
                          m->short_f1, m->short_precision, m->short_recall};
    for (int k = 0; k < 6; k++) dbsql_bind_real(st, 20 + k, m->nq ? nq[k] : NAN);
    dbsql_bind_real(st, 26, m->ort_latency_ms);
    dbsql_bind_real(st, 27, m->ort_teacher_latency_ms);
    dbsql_bind_real(st, 28, m->ort_speedup);
    dbsql_bind_real(st, 29, m->peak_rss_mb);
    if (dbsql_step_done(db, st, "cannot write results")) goto cleanup;
    sqlite3_finalize(st);
    if (dbsql_prepare(db, "INSERT INTO layers(run_id, layer, heads_kept, ffn_kept)"
                    " VALUES(?1, ?2, ?3, ?4)", &st))
        goto cleanup;
    for (int l = 0; l < r->n_layers; l++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, l);
        sqlite3_bind_int(st, 3, r->layer_heads[l]);
        sqlite3_bind_int(st, 4, r->layer_ffn[l]);
        if (dbsql_step_done(db, st, "cannot write layers")) goto cleanup;
    }
    sqlite3_finalize(st);
    if (dbsql_prepare(db, "UPDATE runs SET status = 'done', error = NULL, finished_at = ?2"
                    " WHERE id = ?1", &st))
        goto cleanup;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, finished, -1, SQLITE_STATIC);
    rc = dbsql_step_done(db, st, "cannot mark run done");
cleanup:
    sqlite3_finalize(st);
    return rc;
}

static int ingest_failed(Db *db, long long id, const DbResult *r, const char *finished) {
    sqlite3_stmt *st;
    if (dbsql_prepare(db, "UPDATE runs SET status = 'failed', error = ?2, finished_at = ?3"
                    " WHERE id = ?1", &st))
        return QA_ERR;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, r->error, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, finished, -1, SQLITE_STATIC);
    int rc = dbsql_step_done(db, st, "cannot mark run failed");
    sqlite3_finalize(st);
    return rc;
}

int db_ingest_result(Db *db, const char *result_json_path) {
    DbResult *r = malloc(sizeof *r);
    char finished[32], del[96];
    long long id = 0;
    int rc = QA_ERR;
    if (!r) return qa_error("%s: out of memory", result_json_path);
    if (db_read_result_file(result_json_path, r) || dbsql_begin_write(db)) goto cleanup;
    if (ingest_find_run(db, result_json_path, r, &id, finished, sizeof finished)) goto cleanup;
    snprintf(del, sizeof del, "DELETE FROM layers WHERE run_id = %lld", id);
    if (dbsql_exec(db, del, "cannot clear layers")) goto cleanup;
    if (r->status == DB_FAILED) {
        snprintf(del, sizeof del, "DELETE FROM results WHERE run_id = %lld", id);
        if (dbsql_exec(db, del, "cannot clear results") || ingest_failed(db, id, r, finished))
            goto cleanup;
    } else if (ingest_done(db, id, r, finished)) {
        goto cleanup;
    }
    rc = dbsql_commit(db);
cleanup:
    if (rc) dbsql_rollback(db);
    free(r);
    return rc;
}

/* ---------------------------------------------------------------- meta, counts */

int db_set_meta(Db *db, const char *key, const char *value) {
    sqlite3_stmt *st;
    if (dbsql_prepare(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", &st))
        return QA_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = dbsql_step_done(db, st, "cannot set meta");
    sqlite3_finalize(st);
    return rc;
}

int db_get_meta(Db *db, const char *key, char *buf, size_t cap, int *found) {
    sqlite3_stmt *st;
    *found = 0;
    if (cap) buf[0] = '\0';
    if (dbsql_prepare(db, "SELECT value FROM meta WHERE key = ?1", &st)) return QA_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        *found = 1;
        if (cap) snprintf(buf, cap, "%s", v ? v : "");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK : dbsql_sql_error(db, "cannot read meta");
}

int db_counts(Db *db, int only_grid, int *pending, int *running, int *done, int *failed) {
    int c[4] = {0, 0, 0, 0};
    sqlite3_stmt *st;
    if (dbsql_prepare(db, only_grid ? "SELECT status, count(*) FROM runs JOIN temp.grid"
                                      " USING (config_hash) GROUP BY status"
                                    : "SELECT status, count(*) FROM runs GROUP BY status", &st))
        return QA_ERR;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        c[status_parse((const char *)sqlite3_column_text(st, 0))] += sqlite3_column_int(st, 1);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return dbsql_sql_error(db, "cannot count runs");
    if (pending) *pending = c[DB_PENDING];
    if (running) *running = c[DB_RUNNING];
    if (done) *done = c[DB_DONE];
    if (failed) *failed = c[DB_FAILED];
    return QA_OK;
}

int db_count_nq(Db *db, int only_grid, int *n) {
    long long v = 0;
    int rc = dbsql_query_int(db, only_grid ? "SELECT count(*) FROM results JOIN runs ON"
                                             " runs.id = results.run_id JOIN temp.grid USING"
                                             " (config_hash) WHERE long_f1 IS NOT NULL"
                                           : "SELECT count(*) FROM results WHERE long_f1 IS"
                                             " NOT NULL", 0, &v);
    *n = (int)v;
    return rc;
}

/* ---------------------------------------------------------------- the grid, file hashes */

int db_select_grid(Db *db, const char *const *hashes, int n) {
    sqlite3_stmt *st = NULL;
    if (dbsql_exec(db, "CREATE TEMP TABLE IF NOT EXISTS grid(config_hash TEXT PRIMARY KEY);"
                       "DELETE FROM temp.grid", "cannot create the grid table") ||
        dbsql_exec(db, "BEGIN", "cannot begin") ||
        dbsql_prepare(db, "INSERT OR IGNORE INTO temp.grid VALUES(?1)", &st))
        goto fail;
    for (int i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, hashes[i], -1, SQLITE_STATIC);
        if (dbsql_step_done(db, st, "cannot fill the grid table")) goto fail;
    }
    sqlite3_finalize(st);
    return dbsql_commit(db);
fail:
    sqlite3_finalize(st);
    dbsql_rollback(db);
    return QA_ERR;
}

int db_file_hash_get(Db *db, const char *path, long long size, long long mtime_ns,
                     long long inode, char *hash, size_t cap, int *found) {
    sqlite3_stmt *st;
    *found = 0;
    if (dbsql_prepare(db, "SELECT hash FROM file_hashes WHERE path = ?1 AND size = ?2"
                          " AND mtime_ns = ?3 AND inode = ?4", &st))
        return QA_ERR;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, mtime_ns);
    sqlite3_bind_int64(st, 4, inode);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        snprintf(hash, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        *found = 1;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK
                                                 : dbsql_sql_error(db, "cannot read file_hashes");
}

int db_file_hash_put(Db *db, const char *path, long long size, long long mtime_ns,
                     long long inode, const char *hash) {
    sqlite3_stmt *st;
    if (dbsql_prepare(db, "INSERT OR REPLACE INTO file_hashes(path, size, mtime_ns, inode, hash)"
                          " VALUES(?1, ?2, ?3, ?4, ?5)", &st))
        return QA_ERR;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, size);
    sqlite3_bind_int64(st, 3, mtime_ns);
    sqlite3_bind_int64(st, 4, inode);
    sqlite3_bind_text(st, 5, hash, -1, SQLITE_STATIC);
    int rc = dbsql_step_done(db, st, "cannot record a file hash");
    sqlite3_finalize(st);
    return rc;
}

int db_mean_seconds(Db *db, const char *teacher_hash, const char *strategy,
                    const char *finetune, double *mean, int *n) {
    sqlite3_stmt *st;
    *mean = 0;
    *n = 0;
    if (dbsql_prepare(db, "SELECT avg(julianday(finished_at) - julianday(started_at)) * 86400,"
                          " count(*) FROM runs WHERE status = 'done' AND teacher_hash IS ?1"
                          " AND strategy = ?2 AND finetune = ?3 AND started_at IS NOT NULL"
                          " AND finished_at IS NOT NULL", &st))
        return QA_ERR;
    sqlite3_bind_text(st, 1, teacher_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, strategy, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, finetune, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *mean = sqlite3_column_double(st, 0);
        *n = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? QA_OK : dbsql_sql_error(db, "cannot read run times");
}
