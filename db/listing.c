/* db/listing.c: every run of a file with its results, layers and frontier mark, for the
 * HTML report (contract in results.h). */
#include "db/results.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "db/sql.h"

/* The runs query's columns, in order: 0..16 from runs, 17 the frontier mark, 18.. results
 * (35..40 the NQ ones, 41..43 the ort_ ones, 44 peak_rss_mb). */
#define RUN_COLUMNS                                                                         \
    "r.id, r.seed, r.attempts, r.config_hash, r.strategy, r.finetune,"                       \
    " coalesce(r.teacher, ''), coalesce(r.teacher_hash, ''), coalesce(r.data, ''),"          \
    " coalesce(r.data_hash, ''), r.head_sparsity, r.ffn_sparsity, r.status,"                 \
    " coalesce(r.started_at, ''), coalesce(r.finished_at, ''), coalesce(r.config_json, ''),"  \
    " coalesce(r.error, ''), r.id IN (SELECT run_id FROM pareto), s.run_id IS NOT NULL,"     \
    " s.f1, s.exact, s.has_ans_f1, s.no_ans_f1, s.heads_kept, s.heads_total, s.ffn_kept,"    \
    " s.ffn_total, s.params, s.flops, s.latency_ms, s.teacher_latency_ms, s.speedup,"        \
    " s.train_seconds, s.f1_before_finetune, s.teacher_f1, s.long_f1, s.long_precision,"     \
    " s.long_recall, s.short_f1, s.short_precision, s.short_recall, s.ort_latency_ms,"       \
    " s.ort_teacher_latency_ms, s.ort_speedup, s.peak_rss_mb"

static void copy_text(sqlite3_stmt *st, int c, char *dst, size_t cap) {
    const char *s = (const char *)sqlite3_column_text(st, c);
    snprintf(dst, cap, "%s", s ? s : "");
}

/* A real column, NAN for NULL. */
static double real_or_nan(sqlite3_stmt *st, int c) {
    return sqlite3_column_type(st, c) == SQLITE_NULL ? NAN : sqlite3_column_double(st, c);
}

static DbStatus status_of(const char *s) {
    return !strcmp(s, "running") ? DB_RUNNING : !strcmp(s, "done") ? DB_DONE
         : !strcmp(s, "failed") ? DB_FAILED : DB_PENDING;
}

/* Fills r from the current row of the runs query; QA_ERR when out of memory. */
static int row_read(Db *db, sqlite3_stmt *st, DbRunRow *r) {
    char status[16];
    memset(r, 0, sizeof *r);
    r->run_id = sqlite3_column_int64(st, 0);
    r->seed = sqlite3_column_int64(st, 1);
    r->attempts = sqlite3_column_int64(st, 2);
    copy_text(st, 3, r->config_hash, sizeof r->config_hash);
    copy_text(st, 4, r->strategy, sizeof r->strategy);
    copy_text(st, 5, r->finetune, sizeof r->finetune);
    copy_text(st, 6, r->teacher, sizeof r->teacher);
    copy_text(st, 7, r->teacher_hash, sizeof r->teacher_hash);
    copy_text(st, 8, r->data, sizeof r->data);
    copy_text(st, 9, r->data_hash, sizeof r->data_hash);
    r->head_sparsity = sqlite3_column_double(st, 10);
    r->ffn_sparsity = sqlite3_column_double(st, 11);
    copy_text(st, 12, status, sizeof status);
    r->status = status_of(status);
    copy_text(st, 13, r->started_at, sizeof r->started_at);
    copy_text(st, 14, r->finished_at, sizeof r->finished_at);
    const char *cfg = (const char *)sqlite3_column_text(st, 15);
    const char *err = (const char *)sqlite3_column_text(st, 16);
    r->config_json = strdup(cfg ? cfg : "");
    r->error = strdup(err ? err : "");
    if (!r->config_json || !r->error) return qa_error("%s: out of memory reading runs", db->path);
    r->on_pareto = sqlite3_column_int(st, 17);
    r->has_result = sqlite3_column_int(st, 18);
    DbMetrics *m = &r->m;
    double *reals[] = {&m->f1, &m->exact, &m->has_ans_f1, &m->no_ans_f1};
    for (int i = 0; i < 4; i++) *reals[i] = real_or_nan(st, 19 + i);
    long long *counts[] = {&m->heads_kept, &m->heads_total, &m->ffn_kept, &m->ffn_total,
                           &m->params};
    for (int i = 0; i < 5; i++) *counts[i] = sqlite3_column_int64(st, 23 + i);
    double *more[] = {&m->flops, &m->latency_ms, &m->teacher_latency_ms, &m->speedup,
                      &m->train_seconds, &m->f1_before_finetune, &m->teacher_f1};
    for (int i = 0; i < 7; i++) *more[i] = real_or_nan(st, 28 + i);
    double *nq[] = {&m->long_f1, &m->long_precision, &m->long_recall,
                    &m->short_f1, &m->short_precision, &m->short_recall};
    for (int i = 0; i < 6; i++) *nq[i] = real_or_nan(st, 35 + i);
    m->nq = !isnan(m->long_f1);
    double *ort[] = {&m->ort_latency_ms, &m->ort_teacher_latency_ms, &m->ort_speedup};
    for (int i = 0; i < 3; i++) *ort[i] = real_or_nan(st, 41 + i);
    m->peak_rss_mb = real_or_nan(st, 44);
    return QA_OK;
}

static int row_layers(Db *db, sqlite3_stmt *lay, DbRunRow *r) {
    return dbsql_read_layers(db, lay, r->run_id, r->layer_heads, r->layer_ffn, &r->n_layers);
}

int db_run_rows(Db *db, int only_grid, DbRunRow **rows, int *n) {
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT " RUN_COLUMNS " FROM runs r%s LEFT JOIN results s ON s.run_id = r.id"
             " ORDER BY coalesce(r.teacher, ''), coalesce(r.data, ''), r.strategy, r.finetune,"
             " r.head_sparsity, r.ffn_sparsity, r.seed, r.id",
             only_grid ? " JOIN temp.grid USING (config_hash)" : "");
    sqlite3_stmt *st = NULL, *lay = NULL;
    DbRunRow *v = NULL;
    int count = 0, cap = 0, rc = QA_ERR, step;
    *rows = NULL;
    *n = 0;
    if (dbsql_exec(db, "BEGIN", "cannot begin a read") || dbsql_prepare(db, sql, &st) ||
        dbsql_prepare(db, "SELECT layer, heads_kept, ffn_kept FROM layers WHERE run_id = ?1"
                          " ORDER BY layer", &lay))
        goto cleanup;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            DbRunRow *grown = realloc(v, (size_t)cap * sizeof *v);
            if (!grown) {
                qa_error("%s: out of memory reading %d runs", db->path, count);
                goto cleanup;
            }
            v = grown;
        }
        count++; /* counted first, so a half-read row is freed with the rest */
        if (row_read(db, st, &v[count - 1]) ||
            (v[count - 1].has_result && row_layers(db, lay, &v[count - 1])))
            goto cleanup;
    }
    if (step != SQLITE_DONE) {
        dbsql_sql_error(db, "cannot read runs");
        goto cleanup;
    }
    rc = QA_OK;
cleanup:
    sqlite3_finalize(st);
    sqlite3_finalize(lay);
    dbsql_rollback(db); /* ends the read transaction; nothing was written */
    if (rc) {
        db_run_rows_free(v, count);
        return QA_ERR;
    }
    if (count == 0) {
        free(v);
        v = NULL;
    }
    *rows = v;
    *n = count;
    return QA_OK;
}

void db_run_rows_free(DbRunRow *rows, int n) {
    if (!rows) return;
    for (int i = 0; i < n; i++) {
        free(rows[i].config_json);
        free(rows[i].error);
    }
    free(rows);
}
