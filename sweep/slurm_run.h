/* sweep/slurm_run.h: the Slurm backend of `sweep run` (`--backend slurm`), and the Slurm side
 * of `sweep status` and `sweep cancel`.
 *
 * What a submission does (slurm_stage, the train stage of sweep/run.c):
 *   1. collect: result files that tasks delivered are ingested, and points whose task ended
 *      without one (scancel, time limit, node failure, a crash) become failed with Slurm's
 *      state, exit code and the tail of the task's log;
 *   2. check the request against the cluster: MaxArraySize (scontrol show config), the
 *      partition's largest node and time limit (sinfo), so that nothing pends for ever;
 *   3. claim every pending point of the grid (so a point with a live task is never submitted
 *      twice), write OUT/points/HASH/point.json for each, and under OUT/slurm/SUB/ (one
 *      directory per submission) a copy of the grid, prepare.sh and one array-K.sh plus
 *      array-K.hashes (its points in index order) per chunk;
 *   4. sbatch the prepare job (`sweep worker --prepare`: data, teacher, training windows,
 *      once), then the points as job arrays of at most MaxArraySize tasks (indices re-based to
 *      0 in each), each depending on it (afterok; a failed prepare cancels them), and hand
 *      each point to its task in the database (runs.owner "slurm:JOB_TASK");
 *   5. with --wait, poll squeue every half second and collect until no task of the grid is
 *      left, with the same progress line as a local run.
 * Tasks run `sweep worker OUT HASH` (sweep/cmd_worker.c): they never open SQLite. Logs go to
 * OUT/slurm/logs/JOB_TASK.out (prepare jobs: prepare-JOB.out); OUT/slurm/jobs.txt lists
 * every submission's jobs. */
#ifndef QAPRUNE_SLURM_RUN_H
#define QAPRUNE_SLURM_RUN_H

#include <signal.h>
#include <stdio.h>

#include "db/results.h"
#include "sweep/grid.h"
#include "sweep/point.h"
#include "sweep/slurm.h"

typedef struct {
    const Grid *g;           /* resolved; the temp grid table holds its points */
    Db *db;
    Points *pts;             /* the grid's points, for claims */
    const char *owner;       /* "host:pid" of this head */
    const SlurmOpts *opts;   /* the command line's: set fields override g->slurm */
    int wait, retry_failed;
    volatile sig_atomic_t *stop; /* non-zero: stop waiting (the tasks go on) */
} SlurmRun;

/* Collects, submits the grid's pending points and, with wait, waits for them (above).
 * QA_ERR with one line for a refused request, a failed sbatch (points claimed for it return
 * to pending) or a Slurm command that cannot be run. */
int slurm_stage(SlurmRun *r);

/* What slurm_collect found among the points Slurm tasks own. */
typedef struct {
    int ingested, failed;   /* result files ingested; tasks ended without a result */
    int pending, running;   /* tasks still queued, or running (any live state) */
} SlurmSeen;

/* Ingests the result files of the points that Slurm tasks own (of the temp grid table's
 * points when only_grid) and fails those whose task has ended without one. view (may be
 * NULL): prints Slurm's view of each such point (task, state, reason or exit code, the tail
 * of its log). Does nothing, and runs no Slurm command, when no task owns a point. */
int slurm_collect(Db *db, const char *out, int only_grid, FILE *view, SlurmSeen *seen);

/* Cancels the tasks that own points (of the temp grid table when only_grid) and the prepare
 * jobs they wait for, waits up to 30 s for Slurm to end them, and collects (so they are
 * recorded failed). *n_cancelled counts the tasks. */
int slurm_cancel(Db *db, const char *out, int only_grid, int *n_cancelled);

#endif
