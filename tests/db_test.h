/* tests/db_test.h: what the results-database tests (test_db.c, test_db_migrate.c) share:
 * a scratch directory, opening an old-schema file (which migrates it), one-cell queries and
 * consistent result files. Header-only, like test.h. */
#ifndef QAPRUNE_DB_TEST_H
#define QAPRUNE_DB_TEST_H

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

static __attribute__((unused))
int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

static __attribute__((unused)) void path_in(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Writes the old schema SQL as NAME in the test directory (its path into path), opens it,
 * which migrates it, and checks that it is at the current version; NULL if a step failed. */
static __attribute__((unused))
Db *open_migrated(const char *name, const char *sql, char *path, size_t cap) {
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
static __attribute__((unused)) char *query_as(Db *db, const char *sql, DbFormat fmt, int *rc) {
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    *rc = db_query_write(db, sql, fmt, f);
    fclose(f);
    return text;
}

/* The same through db_query_print (the table). */
static __attribute__((unused)) char *query_text(Db *db, const char *sql, int *rc) {
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
static __attribute__((unused)) double query_num(Db *db, const char *sql) {
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

static __attribute__((unused))
void add_run(Db *db, const char *hash, const char *strategy, double hs) {
    DbRun r = {.config_hash = hash, .strategy = strategy, .finetune = "distill",
               .head_sparsity = hs, .ffn_sparsity = 0.5, .seed = 7,
               .config_json = "{\"demo\": true}"};
    CHECK(db_add_run(db, &r, NULL) == QA_OK, "add %s: %s", hash, qa_last_error());
}

/* A consistent done result: 4 layers of 3 heads and 8 neurons minus what was pruned. */
static __attribute__((unused))
void make_done(DbResult *r, const char *hash, double f1, double speedup) {
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
static __attribute__((unused)) int ingest(Db *db, const DbResult *r, const char *name) {
    char path[128];
    path_in(path, sizeof path, name);
    if (db_write_result_file(path, r)) return QA_ERR;
    return db_ingest_result(db, path);
}

static __attribute__((unused)) void write_text(const char *name, const char *text) {
    char path[128];
    path_in(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Removes the line holding key from the file at path; returns 1 when it did. */
static __attribute__((unused)) int drop_line(const char *path, const char *key) {
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

#endif
