/* sweep/point.h: the life of a grid point inside one `sweep run`, as a state machine.
 *
 *   PENDING --point_claim--> CLAIMED --point_trained--> TRAINED --point_measured--> MEASURED
 *      |                        |                          |                          |
 *      +--> ELSEWHERE           +-------------- point_finish (failed) --------+       |
 *   (done, failed or claimed                                   v              v       v
 *    by another process)                                     FAILED         DONE <---+
 *
 * CLAIMED: this process owns the point in the database (runs.status 'running') and a worker
 * trains it; TRAINED: OUT/points/HASH/trained.json holds what the worker measured (a point
 * found trained by an earlier, interrupted sweep enters here straight from CLAIMED);
 * MEASURED: its latency is measured and its result is ready. Every end goes through
 * point_finish: the result is written to OUT/results/HASH.json atomically, ingested into
 * SQLite in one transaction, and the file removed, exactly as a cluster task's result would
 * be. point_release returns an unfinished point to PENDING (a clean stop). */
#ifndef QAPRUNE_POINT_H
#define QAPRUNE_POINT_H

#include <sys/types.h>

#include "db/results.h"

typedef enum {
    POINT_PENDING,
    POINT_CLAIMED,
    POINT_TRAINED,
    POINT_MEASURED,
    POINT_DONE,
    POINT_FAILED,
    POINT_ELSEWHERE,
    POINT_N_STATES
} PointState;

const char *point_state_name(PointState s);

/* The points of one sweep: their states, workers and where their files go. */
typedef struct {
    int n;
    PointState *state; /* [n] */
    pid_t *pid;        /* [n] the worker training a CLAIMED point, 0 when none */
    const char *const *hash; /* [n] borrowed identities */
    const char *out;   /* borrowed: the sweep's output directory */
    Db *db;            /* borrowed */
    int finished_here[POINT_N_STATES]; /* ends reached in this process (DONE, FAILED) */
} Points;

/* Sets up n pending points (hash[i] and out borrowed for the table's life); QA_ERR when out
 * of memory. points_free accepts a zeroed table. */
int points_init(Points *p, int n, const char *const *hash, const char *out, Db *db);
void points_free(Points *p);

/* OUT/points/HASH (the point's directory) and OUT/results/HASH.json (its result file). */
void point_dir(const Points *p, int i, char *buf, size_t cap);
void point_result_path(const Points *p, int i, char *buf, size_t cap);
void point_trained_path(const Points *p, int i, char *buf, size_t cap);

/* PENDING -> CLAIMED when the database gives this owner the point, else -> ELSEWHERE.
 * *claimed says which. A leftover result file of an earlier attempt is removed, so it can
 * never be taken for this attempt's. */
int point_claim(Points *p, int i, const char *owner, int *claimed);
/* CLAIMED -> CLAIMED with its worker's pid recorded. */
void point_started(Points *p, int i, pid_t pid);
/* CLAIMED -> TRAINED. */
void point_trained(Points *p, int i);
/* TRAINED -> MEASURED. */
void point_measured(Points *p, int i);
/* CLAIMED, TRAINED or MEASURED -> DONE or FAILED, as r->status says: r is written as the
 * point's result file, ingested and the file removed. QA_ERR (the point keeps its state)
 * when the file cannot be written or the database refuses it. */
int point_finish(Points *p, int i, const DbResult *r);
/* point_finish with a failed result carrying message. */
int point_fail(Points *p, int i, const char *message);
/* A worker wrote the point's result file itself (its failure): ingest and remove it,
 * CLAIMED -> FAILED (or DONE, as the file says). */
int point_finish_file(Points *p, int i);
/* CLAIMED or TRAINED -> PENDING, in the database too (db_release_owner does it for all). */
void point_release(Points *p, int i);

/* Fault injection for the tests: when the environment variable QAPRUNE_FAULT names stage,
 * the process kills itself with SIGKILL there, as a crash or the OOM killer would. The
 * stages: "teacher" (the teacher is ready), "train" (the first worker was started),
 * "latency" (a point's latency is measured, not yet recorded), "ingest" (its result file is
 * written, not yet ingested), "plot" (before the charts); "delete-db" unlinks results.db
 * before the latency stage instead (a user deleting it mid-run). */
void fault_at(const char *stage);

/* How many points are in state s. */
int points_count(const Points *p, PointState s);

#endif
