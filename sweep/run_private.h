/* sweep/run_private.h: the state sweep_run's stages share (sweep/run.c: open, register,
 * prepare, train, report; sweep/measure.c: measure). Not for use outside sweep_run. */
#ifndef QAPRUNE_RUN_PRIVATE_H
#define QAPRUNE_RUN_PRIVATE_H

#include <signal.h>

#include "db/results.h"
#include "sweep/grid.h"
#include "sweep/point.h"
#include "sweep/run.h"

typedef struct {
    const RunOpts *o;
    Grid *g;
    HashCache *cache;
    Db *db;
    Points pts;
    const char **hashes; /* [n_points] borrowed from g, for Points and db_select_grid */
    char owner[300], host[256];
    int lock_fd;
    int running;                    /* workers alive */
    int trained_here;               /* points trained by this process's workers */
    int done_before, failed_before; /* this grid's points finished before this run */
    int todo;                       /* this grid's points pending once registered */
    int *msg_fd;                    /* [n_points] read end of a worker's message pipe, or -1 */
    char env_fault[1100];           /* set: the environment failed a point; the sweep stops */
    char ort_teacher[4400];         /* "bench": {"ort": true}: the loaded teacher as ONNX */
    double t0;
} Sweep;

/* Set by SIGINT / SIGTERM during sweep_run: every stage stops at its next point. */
extern volatile sig_atomic_t sweep_interrupted;

/* The one progress line: counts of the grid's points by state, the stage, elapsed, eta. */
void sweep_show_progress(Sweep *s, const char *stage);

/* The measure stage: with the compute lock held exclusively (no worker of any sweep on OUT
 * computes), times every trained point against its teacher and finishes it (done, or
 * failed with why the timing failed); with "export" or "bench": {"ort": true}, also the
 * point's ONNX file and its ONNX Runtime latency. Returns QA_ERR when a teacher cannot be
 * loaded (the points stay trained). */
int sweep_stage_measure(Sweep *s);

#endif
