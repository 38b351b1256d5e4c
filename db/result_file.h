/* db/result_file.h: one grid point's outcome as a file, the hand-off from the process that ran
 * the point (a local worker, later a Slurm task) to the one process that writes SQLite.
 *
 * The file is JSON:
 *   {"format": "qaprune result v1", "config_hash": "...", "status": "done" | "failed",
 *    "error": "..." (failed only), "finished_at": "2024-05-01T12:00:00Z",
 *    "metrics": {"f1": ..., "exact": ..., "has_ans_f1": ..., "no_ans_f1": ...,
 *                "heads_kept": ..., "heads_total": ..., "ffn_kept": ..., "ffn_total": ...,
 *                "params": ..., "flops": ..., "latency_ms": ..., "teacher_latency_ms": ...,
 *                "speedup": ..., "train_seconds": ..., "peak_rss_mb": ...,
 *                "f1_before_finetune": ..., "teacher_f1": ..., "long_f1": ...,
 *                "long_precision": ..., "long_recall": ..., "short_f1": ..., "short_precision": ...,
 *                "short_recall": ..., "ort_latency_ms": ..., "ort_teacher_latency_ms": ...,
 *                "ort_speedup": ...},
 *    "layers": [{"layer": 0, "heads_kept": ..., "ffn_kept": ...}, ...],
 *    "host": "node17", "cpu_model": "AMD EPYC 7B13"}       (both optional: where it was timed)
 * A done result needs every metric as a finite number (counts as non-negative integers),
 * except f1_before_finetune, teacher_f1, the three ort_ ones and peak_rss_mb, which may be
 * null or absent (unknown, not measured, or written by an older worker; for either dataset
 * kind), and the metrics of one dataset kind: a
 * SQuAD point has exact, has_ans_f1 and no_ans_f1 and the six long_* / short_* null or
 * absent; a Natural Questions point has all six (the official NQ metric's best-threshold F1,
 * precision and recall of long and short answers, in percent), its f1 is short_f1, and exact,
 * has_ans_f1, no_ans_f1 are null or absent. Layers are
 * listed in order 0, 1, ... and, when present, their kept heads and FFN neurons add up to the
 * metrics' heads_kept and ffn_kept. A failed result needs a non-empty error; its metrics and
 * layers, if any, are ignored. finished_at is optional (the reader then leaves it empty).
 *
 * Files are written to PATH.tmp, fsynced and renamed to PATH, so a reader sees a whole file
 * or none; whoever scans a directory for results must skip names ending in ".tmp". */
#ifndef QAPRUNE_RESULT_FILE_H
#define QAPRUNE_RESULT_FILE_H

#include <stddef.h>

#define DB_RESULT_FORMAT "qaprune result v1"
#define DB_MAX_LAYERS 48
#define DB_HASH_MAX 65  /* config hashes are 1..64 characters */
#define DB_ERROR_MAX 1024
#define DB_HOST_MAX 256

typedef enum { DB_PENDING, DB_RUNNING, DB_DONE, DB_FAILED } DbStatus;

/* The scores and sizes of a done run, in the units of the results table: F1 and exact in
 * percent (the official SQuAD script's scale), latencies in milliseconds as the latency
 * benchmark measures them, speedup = teacher latency / pruned latency. nq = 1 (a Natural
 * Questions point): f1 is the short-answer F1, the long_* and short_* fields hold the NQ
 * metric and exact, has_ans_f1, no_ans_f1 are not used (null in files and tables); nq = 0 (a
 * SQuAD point, what a zeroed struct is): the long_* and short_* fields are not used. The
 * reader sets the unused fields to NAN. */
typedef struct {
    double f1, exact, has_ans_f1, no_ans_f1;
    long long heads_kept, heads_total, ffn_kept, ffn_total, params;
    double flops, latency_ms, teacher_latency_ms, speedup, train_seconds;
    double f1_before_finetune, teacher_f1; /* NAN when unknown (written as null) */
    /* ONNX Runtime's medians and speedup ("bench": {"ort": true}); NAN when not measured */
    double ort_latency_ms, ort_teacher_latency_ms, ort_speedup;
    double long_f1, long_precision, long_recall;    /* NQ only (NAN otherwise), percent */
    double short_f1, short_precision, short_recall; /* NQ only (NAN otherwise), percent */
    /* The peak resident memory of the process that trained the point (a Slurm task: that
     * trained and timed it), MiB; NAN when unknown (a result from before it was recorded) */
    double peak_rss_mb;
    int nq; /* 1: a Natural Questions point (the file has a non-null long_f1) */
} DbMetrics;

/* Everything a result file holds; plain data, no pointers, so it can be copied freely. */
typedef struct {
    char config_hash[DB_HASH_MAX];
    DbStatus status;            /* DB_DONE or DB_FAILED */
    char error[DB_ERROR_MAX];   /* failed only; longer messages are truncated */
    char finished_at[32];       /* ISO 8601 UTC; "" = unknown (the writer puts the time now) */
    DbMetrics metrics;          /* done only */
    int n_layers;               /* 0..DB_MAX_LAYERS; done only */
    int layer_heads[DB_MAX_LAYERS], layer_ffn[DB_MAX_LAYERS];
    char host[DB_HOST_MAX];      /* done only: the node that measured latency ("" = unknown) */
    char cpu_model[DB_HOST_MAX]; /* done only: its CPU ("model name" of /proc/cpuinfo) */
} DbResult;

/* Writes r to path atomically (path.tmp, fsync, rename, fsync of the directory). The result
 * is checked as the reader would check it first, so an invalid r writes nothing.
 * Returns QA_OK, or QA_ERR with one line naming the path and the field. */
int db_write_result_file(const char *path, const DbResult *r);

/* Reads and validates path into *r (caller-owned). Returns QA_OK, or QA_ERR with one line
 * naming the path, the field and the bad value; *r is then unspecified. */
int db_read_result_file(const char *path, DbResult *r);

/* Returns QA_OK when hash is 1..64 printable, non-space ASCII characters, else QA_ERR naming
 * what (a file or field name, for the message) and the bad value. */
int db_check_hash(const char *what, const char *hash);

/* Writes the shortest %.Ng (N = 15..17) of a finite x that strtod reads back as x into buf
 * (32 bytes are always enough): how result files and query output spell reals. */
void db_real_text(double x, char *buf, size_t n);

/* Writes the current UTC time as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void db_time_now(char *buf, int cap);

#endif
