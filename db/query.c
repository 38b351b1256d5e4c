/* db/query.c: printing SQL results as tables, CSV or JSON, and the point lists the charts
 * read (contract in results.h). */
#include "db/results.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "db/sql.h"

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

/* ---------------------------------------------------------------- CSV and JSON */

/* A blob's bytes as lowercase hex; a new string, or NULL when out of memory. */
static char *blob_hex(sqlite3_stmt *st, int c) {
    const unsigned char *b = sqlite3_column_blob(st, c);
    int n = sqlite3_column_bytes(st, c);
    char *s = malloc(2 * (size_t)n + 1);
    if (!s) return NULL;
    for (int i = 0; i < n; i++) snprintf(s + 2 * i, 3, "%02x", b[i]);
    s[2 * n] = '\0';
    return s;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, a double quote, CR or LF. */
static void csv_field(const char *s, FILE *out) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static int csv_row(Db *db, sqlite3_stmt *st, int ncol, FILE *out) {
    char buf[64];
    for (int c = 0; c < ncol; c++) {
        if (c) fputc(',', out);
        switch (sqlite3_column_type(st, c)) {
        case SQLITE_NULL: break;
        case SQLITE_INTEGER:
            fprintf(out, "%lld", (long long)sqlite3_column_int64(st, c));
            break;
        case SQLITE_FLOAT:
            db_real_text(sqlite3_column_double(st, c), buf, sizeof buf);
            fputs(buf, out);
            break;
        case SQLITE_BLOB: {
            char *hex = blob_hex(st, c);
            if (!hex) return qa_error("%s: query: out of memory", db->path);
            fputs(hex, out);
            free(hex);
            break;
        }
        default: {
            const char *t = (const char *)sqlite3_column_text(st, c);
            csv_field(t ? t : "", out);
        }
        }
    }
    fputs("\r\n", out);
    return QA_OK;
}

/* The value of column c as a new cJSON item (NULL when out of memory). Integers go in as raw
 * text so that 64-bit values stay exact (cJSON keeps numbers as doubles). */
static cJSON *json_value(sqlite3_stmt *st, int c) {
    char buf[64];
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: return cJSON_CreateNull();
    case SQLITE_INTEGER:
        snprintf(buf, sizeof buf, "%lld", (long long)sqlite3_column_int64(st, c));
        return cJSON_CreateRaw(buf);
    case SQLITE_FLOAT: {
        double x = sqlite3_column_double(st, c);
        if (!isfinite(x)) return cJSON_CreateNull();
        db_real_text(x, buf, sizeof buf);
        return cJSON_CreateRaw(buf);
    }
    case SQLITE_BLOB: {
        char *hex = blob_hex(st, c);
        cJSON *v = hex ? cJSON_CreateString(hex) : NULL;
        free(hex);
        return v;
    }
    default: {
        const char *t = (const char *)sqlite3_column_text(st, c);
        return cJSON_CreateString(t ? t : "");
    }
    }
}

/* The current row as one JSON object printed to out. */
static int json_row(Db *db, sqlite3_stmt *st, int ncol, FILE *out) {
    cJSON *row = cJSON_CreateObject();
    int ok = row != NULL;
    for (int c = 0; ok && c < ncol; c++) {
        cJSON *v = json_value(st, c);
        ok = v && cJSON_AddItemToObject(row, sqlite3_column_name(st, c), v);
        if (!ok) cJSON_Delete(v);
    }
    char *text = ok ? cJSON_PrintUnformatted(row) : NULL;
    cJSON_Delete(row);
    if (!text) return qa_error("%s: query: out of memory", db->path);
    fputs(text, out);
    free(text);
    return QA_OK;
}

/* Steps one prepared statement to the end, printing its rows as CSV or JSON as they come. */
static int stream_statement(Db *db, sqlite3_stmt *st, DbFormat fmt, FILE *out) {
    int ncol = sqlite3_column_count(st), step, rows = 0;
    if (ncol > 0 && fmt == DB_FORMAT_CSV) {
        for (int c = 0; c < ncol; c++) {
            if (c) fputc(',', out);
            csv_field(sqlite3_column_name(st, c), out);
        }
        fputs("\r\n", out);
    }
    if (ncol > 0 && fmt == DB_FORMAT_JSON) fputc('[', out);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (ncol == 0) continue;
        if (fmt == DB_FORMAT_JSON && rows) fputc(',', out);
        if ((fmt == DB_FORMAT_CSV ? csv_row : json_row)(db, st, ncol, out)) return QA_ERR;
        rows++;
    }
    if (ncol > 0 && fmt == DB_FORMAT_JSON) fputs("]\n", out);
    if (step != SQLITE_DONE) return qa_error("%s: SQL error: %s", db->path, sqlite3_errmsg(db->h));
    return QA_OK;
}

int db_query_write(Db *db, const char *sql, DbFormat fmt, FILE *out) {
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st;
        const char *next;
        if (sqlite3_prepare_v2(db->h, tail, -1, &st, &next) != SQLITE_OK)
            return qa_error("%s: SQL error: %s", db->path, sqlite3_errmsg(db->h));
        int rc = !st ? QA_OK
                 : fmt == DB_FORMAT_TABLE ? print_statement(db, st, out)
                                          : stream_statement(db, st, fmt, out);
        sqlite3_finalize(st);
        if (rc) return QA_ERR;
        tail = next;
    }
    return QA_OK;
}

int db_query_print(Db *db, const char *sql, FILE *out) {
    return db_query_write(db, sql, DB_FORMAT_TABLE, out);
}

/* ---------------------------------------------------------------- points for the charts */

/* Both queries yield these columns in this order. */
#define POINT_COLUMNS                                                                       \
    "run_id, seed, strategy, finetune, head_sparsity, ffn_sparsity, f1, exact, speedup,"    \
    " latency_ms, flops, params, heads_kept, heads_total, ffn_kept, ffn_total, teacher_f1,"  \
    " teacher, long_f1, short_f1, ort_speedup, ort_latency_ms"

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
    s = (const char *)sqlite3_column_text(st, 17);
    snprintf(p->teacher, sizeof p->teacher, "%s", s ? s : "");
    p->long_f1 = sqlite3_column_type(st, 18) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 18);
    p->short_f1 = sqlite3_column_type(st, 19) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 19);
    for (int c = 20; c < 22; c++)
        *(c == 20 ? &p->ort_speedup : &p->ort_latency_ms) =
            sqlite3_column_type(st, c) == SQLITE_NULL ? NAN : sqlite3_column_double(st, c);
}

int dbsql_read_layers(Db *db, sqlite3_stmt *lay, long long run_id, int *heads, int *ffn,
                      int *n_layers) {
    int rc;
    sqlite3_reset(lay);
    sqlite3_bind_int64(lay, 1, run_id);
    while ((rc = sqlite3_step(lay)) == SQLITE_ROW) {
        int l = sqlite3_column_int(lay, 0);
        if (l < 0 || l >= DB_MAX_LAYERS) continue;
        heads[l] = sqlite3_column_int(lay, 1);
        ffn[l] = sqlite3_column_int(lay, 2);
        if (l + 1 > *n_layers) *n_layers = l + 1;
    }
    return rc == SQLITE_DONE ? QA_OK : dbsql_sql_error(db, "cannot read layers");
}

/* Fills p's layer arrays from the layers table. */
static int point_layers(Db *db, sqlite3_stmt *st, DbPoint *p) {
    return dbsql_read_layers(db, st, p->run_id, p->layer_heads, p->layer_ffn, &p->n_layers);
}

/* Runs sql (yielding POINT_COLUMNS) in one read transaction, so points and layers agree. */
static int points_query(Db *db, const char *sql, const DbGroup *g, DbPoint **pts, int *n) {
    sqlite3_stmt *st = NULL, *lay = NULL;
    DbPoint *v = NULL;
    int count = 0, cap = 0, rc = QA_ERR, step;
    *pts = NULL;
    *n = 0;
    if (dbsql_exec(db, "BEGIN", "cannot begin a read") || dbsql_prepare(db, sql, &st) ||
        dbsql_prepare(db, "SELECT layer, heads_kept, ffn_kept FROM layers WHERE run_id = ?1"
                    " ORDER BY layer", &lay))
        goto cleanup;
    if (g) {
        /* "" stands for NULL: the rows from before teachers were recorded form one group */
        if (*g->teacher_hash) sqlite3_bind_text(st, 1, g->teacher_hash, -1, SQLITE_STATIC);
        else sqlite3_bind_text(st, 1, "", -1, SQLITE_STATIC);
        if (*g->data_hash) sqlite3_bind_text(st, 2, g->data_hash, -1, SQLITE_STATIC);
    }
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
        dbsql_sql_error(db, "cannot read points");
        goto cleanup;
    }
    rc = QA_OK;
cleanup:
    sqlite3_finalize(st);
    sqlite3_finalize(lay);
    dbsql_rollback(db); /* ends the read transaction; nothing was written */
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

int db_points(Db *db, const DbGroup *g, DbPoint **pts, int *n) {
    return points_query(db,
                        "SELECT r.id AS run_id, r.seed, r.strategy, r.finetune, r.head_sparsity,"
                        " r.ffn_sparsity, s.f1, s.exact, s.speedup, s.latency_ms, s.flops,"
                        " s.params, s.heads_kept, s.heads_total, s.ffn_kept, s.ffn_total,"
                        " s.teacher_f1, r.teacher, s.long_f1, s.short_f1, s.ort_speedup,"
                        " s.ort_latency_ms"
                        " FROM runs r JOIN results s ON s.run_id = r.id WHERE r.status = 'done'"
                        " AND (?1 IS NULL OR (coalesce(r.teacher_hash, '') = ?1"
                        " AND r.data_hash IS ?2))"
                        " ORDER BY r.strategy, r.finetune, r.head_sparsity, r.ffn_sparsity,"
                        " r.seed, r.id",
                        g, pts, n);
}

int db_pareto(Db *db, const DbGroup *g, DbPoint **pts, int *n) {
    return points_query(db, "SELECT " POINT_COLUMNS " FROM pareto"
                            " WHERE (?1 IS NULL OR (coalesce(teacher_hash, '') = ?1"
                            " AND data_hash IS ?2))"
                            " ORDER BY speedup, f1 DESC, run_id", g, pts, n);
}

int db_pareto_ort(Db *db, const DbGroup *g, DbPoint **pts, int *n) {
    return points_query(db, "SELECT " POINT_COLUMNS " FROM pareto_ort"
                            " WHERE (?1 IS NULL OR (coalesce(teacher_hash, '') = ?1"
                            " AND data_hash IS ?2))"
                            " ORDER BY ort_speedup, f1 DESC, run_id", g, pts, n);
}

int db_has_ort(Db *db, int only_grid, int *has) {
    long long n = 0;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT EXISTS (SELECT 1 FROM results s JOIN runs r ON r.id ="
             " s.run_id%s WHERE s.ort_speedup IS NOT NULL)",
             only_grid ? " JOIN temp.grid USING (config_hash)" : "");
    int rc = dbsql_query_int(db, sql, 0, &n);
    *has = rc == QA_OK && n;
    return rc;
}

int db_summary(Db *db, const DbGroup *g, DbSetting **out, int *n) {
    static const char sql[] =
        "SELECT strategy, finetune, head_sparsity, ffn_sparsity, n, f1_mean, f1_std,"
        " speedup_mean, train_seconds_mean FROM summary"
        " WHERE (?1 IS NULL OR (coalesce(teacher_hash, '') = ?1 AND data_hash IS ?2))"
        " ORDER BY strategy, finetune, head_sparsity, ffn_sparsity";
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (dbsql_prepare(db, sql, &st)) return QA_ERR;
    if (g) { /* "" stands for NULL, as in points_query */
        sqlite3_bind_text(st, 1, g->teacher_hash, -1, SQLITE_STATIC);
        if (*g->data_hash) sqlite3_bind_text(st, 2, g->data_hash, -1, SQLITE_STATIC);
    }
    DbSetting *v = NULL;
    int count = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        DbSetting *grown = realloc(v, (size_t)(count + 1) * sizeof *v);
        if (!grown) {
            free(v);
            sqlite3_finalize(st);
            return qa_error("%s: out of memory reading the summary", db->path);
        }
        v = grown;
        DbSetting *r = &v[count++];
        const char *s0 = (const char *)sqlite3_column_text(st, 0);
        const char *s1 = (const char *)sqlite3_column_text(st, 1);
        snprintf(r->strategy, sizeof r->strategy, "%s", s0 ? s0 : "");
        snprintf(r->finetune, sizeof r->finetune, "%s", s1 ? s1 : "");
        r->head_sparsity = sqlite3_column_double(st, 2);
        r->ffn_sparsity = sqlite3_column_double(st, 3);
        r->n = sqlite3_column_int(st, 4);
        double *d[4] = {&r->f1_mean, &r->f1_std, &r->speedup_mean, &r->train_seconds_mean};
        for (int i = 0; i < 4; i++)
            *d[i] = sqlite3_column_type(st, 5 + i) == SQLITE_NULL
                        ? NAN : sqlite3_column_double(st, 5 + i);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(v);
        return dbsql_sql_error(db, "cannot read the summary view");
    }
    *out = v;
    *n = count;
    return QA_OK;
}

int db_groups(Db *db, int only_grid, DbGroup **out, int *n) {
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT coalesce(teacher, ''), coalesce(teacher_hash, ''),"
             " coalesce(data, ''), coalesce(data_hash, '') FROM runs%s WHERE status = 'done'"
             " ORDER BY 1, 3, 2, 4",
             only_grid ? " JOIN temp.grid USING (config_hash)" : "");
    if (dbsql_prepare(db, sql, &st)) return QA_ERR;
    DbGroup *v = NULL;
    int count = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        DbGroup *grown = realloc(v, (size_t)(count + 1) * sizeof *v);
        if (!grown) {
            free(v);
            sqlite3_finalize(st);
            return qa_error("%s: out of memory reading groups", db->path);
        }
        v = grown;
        char *f[4] = {v[count].teacher, v[count].teacher_hash, v[count].data, v[count].data_hash};
        size_t cap[4] = {DB_LABEL_MAX, DB_HASH_MAX, DB_LABEL_MAX, DB_HASH_MAX};
        for (int i = 0; i < 4; i++)
            snprintf(f[i], cap[i], "%s", (const char *)sqlite3_column_text(st, i));
        count++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(v);
        return dbsql_sql_error(db, "cannot read groups");
    }
    *out = v;
    *n = count;
    return QA_OK;
}
