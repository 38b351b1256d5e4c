/* db/results.h: the results database of a sweep (OUT/results.db), the only code that talks
 * to SQLite. Users may query the file with sqlite3 directly; the names below are fixed by
 * DESIGN.md because scripts and plots depend on them.
 *
 *   meta(key TEXT PRIMARY KEY, value TEXT)          schema_version, teacher_f1, ...
 *   runs(id INTEGER PRIMARY KEY, config_hash TEXT UNIQUE NOT NULL, strategy TEXT,
 *        head_sparsity REAL, ffn_sparsity REAL, finetune TEXT, seed INTEGER,
 *        config_json TEXT, status TEXT CHECK(status IN ('pending','running','done','failed')),
 *        error TEXT, started_at TEXT, finished_at TEXT, attempts INTEGER DEFAULT 0,
 *        owner TEXT,                                owner = "host:pid" of the runner
 *        teacher TEXT, teacher_hash TEXT,           the teacher's name and content identity
 *        data TEXT, data_hash TEXT)                 the dataset's name and content identity
 *   results(run_id INTEGER PRIMARY KEY REFERENCES runs(id), f1, exact, has_ans_f1,
 *        no_ans_f1, heads_kept, heads_total, ffn_kept, ffn_total, params, flops, latency_ms,
 *        teacher_latency_ms, speedup, train_seconds, f1_before_finetune, teacher_f1,
 *        precision, gemm,                           what F1 and latency were measured in,
 *                                                   from the run's config (prune.precision,
 *                                                   prune.gemm)
 *        host, cpu_model,                           where latency was measured
 *        long_f1, long_precision, long_recall,      Natural Questions points only (NULL
 *        short_f1, short_precision, short_recall)   otherwise): the official NQ metric at
 *                                                   its best threshold, percent; such a
 *                                                   point's f1 is its short_f1, and exact,
 *                                                   has_ans_f1, no_ans_f1 are NULL
 *        ort_latency_ms, ort_teacher_latency_ms,    the same in ONNX Runtime ("bench":
 *        ort_speedup,                               {"ort": true}; NULL when not measured)
 *        peak_rss_mb)                               peak resident memory of the process that
 *                                                   trained the point (a Slurm task: trained
 *                                                   and timed it), MiB; NULL when unknown
 *   layers(run_id REFERENCES runs(id), layer, heads_kept, ffn_kept,
 *        PRIMARY KEY(run_id, layer))
 *   file_hashes(path TEXT PRIMARY KEY, size, mtime_ns, inode, hash)   content-hash cache
 *   view pareto: done runs joined with results that no other done run of the same teacher
 *        and data dominates in (speedup up, f1 up): none has speedup >= and f1 >= with one of
 *        them strictly greater (equal points are all kept); with long_f1 and short_f1.
 *        Ordered by teacher, data, speedup.
 *   view pareto_ort: the same over ort_speedup, among the done runs that have one.
 *   view summary: the done runs pooled over seeds (same resolved settings but the seed): teacher,
 *        data, strategy, head_sparsity, ffn_sparsity, finetune, n, f1_mean, f1_std (sample;
 *        NULL for n = 1), speedup_mean, train_seconds_mean, params, flops.
 *   temp table grid(config_hash): per connection, filled by db_select_grid, so queries can
 *        keep to one grid's points (JOIN grid USING (config_hash)).
 * Times are ISO 8601 UTC text. The file is in WAL mode (readers never block the writer), waits
 * up to 10 s for a lock, and enforces foreign keys. Every multi-statement change is one
 * transaction begun IMMEDIATE, so two processes on one file serialise instead of deadlocking.
 *
 * A run's life: db_add_run -> pending; db_claim -> running (one claimer wins); a result file
 * ingested with db_ingest_result -> done or failed. db_reset_stale, db_release_owner and
 * db_retry_failed put runs back to pending.
 *
 * Every function returns QA_OK, or QA_ERR with one qa_error() line naming the database file
 * and what failed (with SQLite's message). sqlite3 types never leave this module. */
#ifndef QAPRUNE_RESULTS_H
#define QAPRUNE_RESULTS_H

#include <stdio.h>

#include "db/result_file.h"

#define DB_SCHEMA_VERSION 7 /* versions 1 to 6 are migrated when opened */
#define DB_NAME_MAX 32 /* strategy and finetune names are 1..31 characters */

typedef struct Db Db;

/* A grid point as db_add_run records it; strings are borrowed for the call. */
typedef struct {
    const char *config_hash; /* 1..64 characters, the identity of the point */
    const char *strategy, *finetune;
    double head_sparsity, ffn_sparsity;
    long long seed;
    const char *config_json; /* the fully resolved config, for humans and later stages */
    const char *teacher, *teacher_hash; /* the teacher's name and content identity */
    const char *data, *data_hash;       /* the dataset's name and content identity */
} DbRun;

/* One (teacher, data) pair of done runs: charts and frontiers are drawn per group. */
#define DB_LABEL_MAX 256
typedef struct {
    char teacher[DB_LABEL_MAX], teacher_hash[DB_HASH_MAX];
    char data[DB_LABEL_MAX], data_hash[DB_HASH_MAX];
} DbGroup;

/* A done run with its results and per-layer structure, for charts and tables. */
typedef struct {
    long long run_id, seed;
    char strategy[DB_NAME_MAX], finetune[DB_NAME_MAX];
    char teacher[DB_LABEL_MAX]; /* "" for rows from before teachers were recorded */
    double head_sparsity, ffn_sparsity;
    double f1, exact, speedup, latency_ms, flops;
    double teacher_f1; /* the teacher's F1 this run measured; NAN when unknown */
    double ort_speedup, ort_latency_ms; /* in ONNX Runtime; NAN when not measured */
    double long_f1, short_f1; /* Natural Questions points; NAN for SQuAD ones */
    long long params, heads_kept, heads_total, ffn_kept, ffn_total;
    int n_layers; /* 0 when the result listed no layers */
    int layer_heads[DB_MAX_LAYERS], layer_ffn[DB_MAX_LAYERS];
} DbPoint;

/* Opens (creating if missing) the database at path; its directory must exist. Sets WAL mode,
 * the busy timeout and foreign keys, creates the schema if absent and checks the schema
 * version: a file that is not SQLite, belongs to another application, or has a version other
 * than DB_SCHEMA_VERSION is an error. On success *out is a new handle (close with
 * db_close()); on failure *out is NULL. One handle per process: do not use it across fork(). */
int db_open(const char *path, Db **out);
/* Opens an existing results database read-only, for user SQL: statements that write fail
 * with "attempt to write a readonly database" and ATTACH is refused. */
int db_open_readonly(const char *path, Db **out);
/* Closes the handle; NULL is allowed. */
void db_close(Db *db);
/* The path the handle was opened with; borrowed, valid until db_close. */
const char *db_path(const Db *db);
/* QA_ERR (saying so) when the file at the handle's path is no longer the one it opened:
 * deleted, or replaced by another file, while this handle wrote into the old one. */
int db_check_file(const Db *db);

/* Records a grid point as pending unless a run with its config_hash exists (then nothing
 * changes). *inserted (may be NULL) is 1 when a row was added, else 0. */
int db_add_run(Db *db, const DbRun *r, int *inserted);

/* Status of the run with config_hash; *found = 0 (and *st untouched) when there is none. */
int db_get_status(Db *db, const char *config_hash, DbStatus *st, int *found);

/* Atomically moves the run from pending to running for owner ("host:pid"): attempts + 1,
 * started_at now, error cleared. *claimed = 1 when this call did it; 0 when the run is
 * running elsewhere, done or failed. A config_hash not in runs is an error. */
int db_claim(Db *db, const char *config_hash, const char *owner, int *claimed);

/* Returns to pending every running run whose owner is "host:PID" with a PID for which
 * alive(PID) is 0 (a crashed or killed runner on this host; owners on other hosts are left
 * alone). *n_reset (may be NULL) counts them. */
int db_reset_stale(Db *db, const char *host, int (*alive)(int pid), int *n_reset);

/* Returns this owner's running runs to pending (a clean stop, e.g. on Ctrl-C); attempts are
 * kept. *n (may be NULL) counts them. */
int db_release_owner(Db *db, const char *owner, int *n);

/* The owner of the run with config_hash while it is running ("" otherwise) into buf;
 * *found = 0 when there is no such run. */
int db_get_owner(Db *db, const char *config_hash, char *buf, size_t cap, int *found);

/* Hands n running runs over from owner `from` to new owners to[i] (e.g. a submitting head
 * "host:pid" to the Slurm task "slurm:JOB_TASK" that now runs it), in one transaction; a run
 * not running under `from` is left alone. *n_moved (may be NULL) counts the others. */
int db_hand_over(Db *db, const char *const *hashes, const char *const *to, int n,
                 const char *from, int *n_moved);

/* The running runs whose owner begins with prefix (only_grid: of the temp grid table only):
 * *hashes and *owners are new arrays of *n new strings each (NULL when *n is 0); free with
 * db_strings_free(*hashes, *n) and db_strings_free(*owners, *n). */
int db_running_owned(Db *db, int only_grid, const char *prefix, char ***hashes,
                     char ***owners, int *n);
void db_strings_free(char **v, int n);

/* Returns every failed run to pending, clearing its error. *n (may be NULL) counts them. */
int db_retry_failed(Db *db, int *n);

/* Reads and validates one result file (db_read_result_file) and, in one transaction, writes
 * its results and layers rows and marks the run done (or, for a failed result, deletes any
 * results and layers rows and marks it failed with the error), setting finished_at from the
 * file (now when it has none) and leaving started_at, attempts and owner alone. Idempotent:
 * ingesting the same file again changes nothing. An invalid file, a config_hash not in runs
 * or any SQL failure changes nothing. The caller deletes the file after success. */
int db_ingest_result(Db *db, const char *result_json_path);

/* meta table: sets key to value (replacing), or reads it into buf (cap bytes, truncated);
 * *found = 0 and buf = "" when the key is absent. */
int db_set_meta(Db *db, const char *key, const char *value);
int db_get_meta(Db *db, const char *key, char *buf, size_t cap, int *found);

/* *has = 1 when a results row (only_grid: of the temp grid table's runs) has ONNX Runtime
 * figures (ort_speedup not NULL), else 0: tables show their columns only then. */
int db_has_ort(Db *db, int only_grid, int *has);

/* Numbers of runs in each status (only_grid: of the temp grid table's runs only); any
 * pointer may be NULL. */
int db_counts(Db *db, int only_grid, int *pending, int *running, int *done, int *failed);

/* The number of results of Natural Questions points (long_f1 not NULL; only_grid: of the
 * temp grid table's runs only), so tables show their long and short F1 columns. */
int db_count_nq(Db *db, int only_grid, int *n);

/* Output formats of db_query_write (as sqlite3's .mode table, csv and json). */
typedef enum {
    DB_FORMAT_TABLE, /* a header, a rule, one aligned row per result row (numbers right-aligned,
                      * NULL as "NULL", reals with 6 significant digits), or "(no rows)"; a
                      * statement without columns prints "(N rows changed)" when it changed rows */
    DB_FORMAT_CSV,   /* RFC 4180: a header line of column names, then one line per row, lines
                      * ending in CRLF; a field holding a comma, a double quote, CR or LF is
                      * quoted, its quotes doubled; NULL is an empty field; reals in the
                      * shortest form that reads back to the same double; blobs as hex */
    DB_FORMAT_JSON   /* per statement one line holding an array of objects (column name ->
                      * value): integers and reals as JSON numbers (reals as in CSV; an infinite
                      * real is null), text as strings, NULL as null, blobs as hex strings */
} DbFormat;

/* Runs sql (one or more statements) and prints what each statement that yields columns
 * returns in format fmt (statements without columns print nothing in CSV and JSON). An SQL
 * error is QA_ERR with SQLite's message; the statements before it have taken effect and
 * their output is printed. */
int db_query_write(Db *db, const char *sql, DbFormat fmt, FILE *out);
/* db_query_write(db, sql, DB_FORMAT_TABLE, out). */
int db_query_print(Db *db, const char *sql, FILE *out);

/* The (teacher, data) groups that have done runs, by teacher and data name; with
 * only_grid, only runs in the temp grid table (db_select_grid) count. *out is a new array of
 * *n groups (NULL when *n is 0); free with free(). */
int db_groups(Db *db, int only_grid, DbGroup **out, int *n);

/* Every done run (db_points: by strategy, finetune, head_sparsity, ffn_sparsity, seed) or the
 * pareto view's runs (db_pareto: by speedup), with their layers, of group g (NULL: of every
 * group). *pts is a new array of *n points (NULL when *n is 0); free with free(). */
int db_points(Db *db, const DbGroup *g, DbPoint **pts, int *n);
int db_pareto(Db *db, const DbGroup *g, DbPoint **pts, int *n);
/* The pareto_ort view's runs of group g (NULL: of every group), by ort_speedup, as db_pareto. */
int db_pareto_ort(Db *db, const DbGroup *g, DbPoint **pts, int *n);

/* One row of the summary view: a point setting with its seeds pooled. */
typedef struct {
    char strategy[DB_NAME_MAX], finetune[DB_NAME_MAX];
    double head_sparsity, ffn_sparsity;
    int n;                            /* done seeds */
    double f1_mean, f1_std;           /* f1_std NAN for n = 1 */
    double speedup_mean, train_seconds_mean;
} DbSetting;

/* The summary view's rows of group g (NULL: every group), by strategy, finetune,
 * head_sparsity, ffn_sparsity. *out is a new array of *n rows (NULL when *n is 0); free
 * with free(). */
int db_summary(Db *db, const DbGroup *g, DbSetting **out, int *n);

/* One run of any status with everything a report shows: its settings, status, error,
 * config, its results and layers when done, and whether it is on the pareto view's frontier
 * of its teacher and data (computed over every done run of the file, as the view is). */
typedef struct {
    long long run_id, seed, attempts;
    char config_hash[DB_HASH_MAX];
    char strategy[DB_NAME_MAX], finetune[DB_NAME_MAX];
    char teacher[DB_LABEL_MAX], teacher_hash[DB_HASH_MAX]; /* "" when not recorded */
    char data[DB_LABEL_MAX], data_hash[DB_HASH_MAX];
    double head_sparsity, ffn_sparsity;
    DbStatus status;
    char started_at[32], finished_at[32]; /* "" when not set */
    char *config_json; /* owned, "" when not recorded */
    char *error;       /* owned, "" when none */
    int has_result;    /* 1: m, n_layers and the layer arrays hold the results row */
    int on_pareto;
    DbMetrics m;       /* unknown values (NULL in the table) are NAN */
    int n_layers;
    int layer_heads[DB_MAX_LAYERS], layer_ffn[DB_MAX_LAYERS];
} DbRunRow;

/* Every run (only_grid: of the temp grid table only), ordered by teacher, data, strategy,
 * finetune, head_sparsity, ffn_sparsity, seed, id, read in one transaction. *rows is a new
 * array of *n rows (NULL when *n is 0); free with db_run_rows_free(rows, n). */
int db_run_rows(Db *db, int only_grid, DbRunRow **rows, int *n);
/* Frees what db_run_rows returned; NULL is allowed. */
void db_run_rows_free(DbRunRow *rows, int n);

/* Makes the temp table grid hold exactly these n config hashes (borrowed), for queries that
 * keep to one grid's points. Temp tables live in this connection only: the file is untouched. */
int db_select_grid(Db *db, const char *const *hashes, int n);

/* The content-hash cache: the hash recorded for path with this size, mtime (ns) and inode;
 * *found = 0 when there is none or the file changed since. db_file_hash_put records one. */
int db_file_hash_get(Db *db, const char *path, long long size, long long mtime_ns,
                     long long inode, char *hash, size_t cap, int *found);
int db_file_hash_put(Db *db, const char *path, long long size, long long mtime_ns,
                     long long inode, const char *hash);

/* Mean seconds from started_at to finished_at of this teacher's done runs with this strategy
 * and fine-tune mode (an estimate for a point like them); *n = how many (0: none, *mean 0). */
int db_mean_seconds(Db *db, const char *teacher_hash, const char *strategy,
                    const char *finetune, double *mean, int *n);

#endif
