/* sweep/run.h: `sweep run grid.json`: the resumable, parallel scheduler.
 *
 * A point's identity is the hash of its resolved configuration (runs.config_hash), so:
 * done points are skipped; points left 'running' by a dead process (same host, pid gone)
 * run again; failed points are recorded with their error and the sweep goes on
 * (--retry-failed runs them again); a changed grid adds only its new points; two `sweep run`
 * on one output claim points atomically in SQLite and never run one twice.
 *
 * Work is split in two phases so that latency is never measured while anything computes:
 *   1. training: up to --jobs worker processes, each running one point (strategy, physical
 *      pruning, fine-tuning, scoring) and saving OUT/points/HASH/ (checkpoint, predictions,
 *      trained.json); workers hold a shared lock on OUT/.compute.lock;
 *   2. latency: the head process takes that lock exclusively and times the teacher and each
 *      trained point interleaved (core/model/latency.h), then writes the point's result file
 *      (OUT/results/HASH.json, atomically) and ingests it into OUT/results.db in one
 *      transaction. A cluster backend delivers result files the same way.
 * Ctrl-C stops cleanly: workers are stopped, unfinished points go back to 'pending'. */
#ifndef QAPRUNE_RUN_H
#define QAPRUNE_RUN_H

#include "sweep/grid.h"

typedef enum { RUN_BACKEND_LOCAL, RUN_BACKEND_SLURM } RunBackend;

typedef struct {
    RunBackend backend; /* local worker processes, or Slurm job arrays (sweep/slurm_run.h) */
    SlurmOpts slurm;   /* Slurm: the command line's settings; those given ("" or 0 = not given)
                        * override the grid's "slurm" object, and args are added to its args */
    int wait;          /* Slurm: stay and ingest results as tasks finish */
    int jobs;          /* worker processes (1) */
    int retry_failed;  /* 1: failed points run again */
    int no_plots;      /* 1: skip the charts at the end */
    int dry_run;       /* 1: validate, print the resolved settings and points, run nothing */
} RunOpts;

/* Runs the grid; returns 0 when every point is done, 1 when some failed or an error stopped
 * the sweep, 2 for a grid file that does not validate (nothing is written then), 130 when
 * interrupted. */
int sweep_run(const char *grid_path, const RunOpts *o);

/* The work done once per sweep before any point runs: the synthetic data (when the grid
 * generates it), every teacher (trained or reused from the cache, or checked to load) and its
 * training windows and dev scores under g->data.windows_dir. Never opens the database, so a
 * Slurm prepare job runs it on a node. QA_ERR naming the teacher or file. */
int sweep_prepare_inputs(const Grid *g, HashCache *cache);

#endif
