/* db/sql.h: what the db/ files share and nothing outside db/ sees: the handle's struct and
 * the statement helpers. Every helper returns QA_OK, or QA_ERR after one qa_error() line
 * naming the database file, what failed and SQLite's message. */
#ifndef QAPRUNE_DB_SQL_H
#define QAPRUNE_DB_SQL_H

#include <sqlite3.h>

#include "db/results.h"

struct Db {
    sqlite3 *h;
    char *path; /* owned */
    unsigned long long dev, ino; /* the file opened, to notice it being deleted or replaced */
};

/* Reports what failed with SQLite's message; returns QA_ERR. */
int dbsql_sql_error(Db *db, const char *what);
/* Runs one or more statements without results. */
int dbsql_exec(Db *db, const char *sql, const char *what);
int dbsql_prepare(Db *db, const char *sql, sqlite3_stmt **st);
/* Steps a statement that returns no rows. */
int dbsql_step_done(Db *db, sqlite3_stmt *st, const char *what);
/* Binds NaN (an unknown metric) as NULL. */
int dbsql_bind_real(sqlite3_stmt *st, int i, double v);
/* The first column of a one-row integer query (def when it yields no row). */
int dbsql_query_int(Db *db, const char *sql, long long def, long long *out);
/* BEGIN IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so a
 * transaction never fails half-way for want of it. */
int dbsql_begin_write(Db *db);
int dbsql_commit(Db *db);
void dbsql_rollback(Db *db); /* no-op outside a transaction */

/* Reads run_id's rows of the layers table through lay (prepared "SELECT layer, heads_kept,
 * ffn_kept FROM layers WHERE run_id = ?1 ORDER BY layer") into heads[]/ffn[]
 * [DB_MAX_LAYERS] (layers beyond are ignored) and *n_layers (one past the last layer seen). */
int dbsql_read_layers(Db *db, sqlite3_stmt *lay, long long run_id, int *heads, int *ffn,
                      int *n_layers);

#endif
