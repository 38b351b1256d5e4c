/* sweep/grid.h: grid.json, validated and resolved into grid points.
 *
 * {
 *   "out": "runs/grid",                       the output directory (results.db, plots/, ...)
 *   "data": {"synthetic": {"seed": 1, "train": 200000, "dev": 2000, "lookup": 1}}
 *        or {"train": "train-v2.0.json", "dev": "dev-v2.0.json"},
 *   "teacher": {"train": {TeacherSpec settings}, "cache": "runs/cache"}
 *           or {"checkpoint": "path/to/hf-checkpoint"} or {"checkpoint": [dir, dir, ...]}
 *              (several checkpoints are one more axis: every point runs on each teacher),
 *   "axes": {"strategy": ["random", "gain", "l0"],
 *            "targets": [{"heads": 0.5, "ffn": 0.7}, ...],      and/or the product of
 *            "head_sparsity": [...], "ffn_sparsity": [...],
 *            "finetune": ["none", "distill"], "seed": [1]},
 *   "prune": {PruneSpec settings shared by every point},
 *   "bench": {"batch": 1, "seq": 0 (= the teacher's max_seq_len), "warmup": 3, "repeats": 20},
 *   "threads": 2
 * }
 * Every key is checked before anything runs: an unknown key, a wrong type or an
 * out-of-range value gets one line with the file, the JSON path and what is allowed. */
#ifndef QAPRUNE_GRID_H
#define QAPRUNE_GRID_H

#include "core/model/latency.h"
#include "sweep/pipeline.h"

#define GRID_MAX_TEACHERS 8

typedef struct {
    PruneSpec spec;
    int teacher;       /* index into Grid.teacher_dirs */
    char hash[17];     /* hex of the 64-bit hash of config_json: the point's identity */
    char *config_json; /* the fully resolved configuration (owned) */
} GridPoint;

typedef struct {
    char file[4096], out[4096];
    int synthetic, synth_seed, synth_train, synth_dev, synth_lookup;
    DataPaths data;            /* for synthetic data: OUT/data/{train,dev}.json, vocab.txt */
    int teacher_checkpoint;    /* 1: use teacher_dirs as they are; 0: train with `teacher` */
    int n_teachers;            /* 1 unless several checkpoints are given */
    char teacher_dirs[GRID_MAX_TEACHERS][4096]; /* checkpoints, or the teacher's cache dir */
    TeacherSpec teacher;
    LatencyOpts bench;
    int threads;
    int n_points;
    GridPoint *points;         /* [n_points] */
} Grid;

/* Reads and validates path into a new grid (free with grid_free). The teacher cache
 * directory includes the teacher's settings hash when the teacher is trained, which needs
 * the data files: for synthetic data the hash uses the generator's settings instead. */
int grid_load(const char *path, Grid **out);
void grid_free(Grid *g); /* accepts NULL */

#endif
