/* sweep/grid.h: grid.json, validated and resolved into grid points.
 *
 * {
 *   "out": "runs/grid",                       the output directory (results.db, plots/, ...)
 *   "data": {"synthetic": {"seed": 1, "train": 200000, "dev": 2000, "lookup": 1,
 *                          "bpe_merges": 0 (K > 0: also vocab.json + merges.txt, K merges)}}
 *        or {"train": "train-v2.0.json", "dev": "dev-v2.0.json", "vocab": "vocab.txt",
 *            "vocab_json": "vocab.json", "merges": "merges.txt"}  (tokenizer files: for
 *            training a teacher, vocab.txt for family bert, vocab.json + merges for roberta),
 *        Natural Questions (pipeline.h's DataPaths.nq): the synthetic task as NQ documents
 *        {"synthetic": {..., "format": "nq"}} (gen-data --format nq, into OUT/data; no
 *        bpe_merges), or NQ files {"format": "nq", "train": "nq-train.jsonl.gz",
 *        "dev": "nq-dev.jsonl.gz", "vocab": "vocab.txt"} (JSON lines, gzipped or plain,
 *        original or simplified; the five dev shards concatenated into one file); with
 *        either, "include_unknowns": P, the share of answerless training windows kept
 *        (default 0.02, BERT-joint's). The format and include_unknowns are part of the
 *        data's identity; an NQ file's first example is read by grid_resolve (a SQuAD file
 *        given as NQ fails there),
 *   "teacher": {"train": {TeacherSpec settings}, "cache": "runs/cache"}
 *           or {"checkpoint": "path/to/hf-checkpoint"} or {"checkpoint": [dir, dir, ...]}
 *              (several checkpoints are one more axis: every point runs on each teacher),
 *   "axes": {"strategy": ["random", "gain", "l0"],
 *            "targets": [{"heads": 0.5, "ffn": 0.7}, ...],      and/or the product of
 *            "head_sparsity": [...], "ffn_sparsity": [...],
 *            "finetune": ["none", "distill"], "seed": [1],
 *            "precision": ["fp32", "bf16"],    (optional; default fp32: scoring and latency)
 *            "gain_steps": [1, 4]},            (optional: gain once per value, one-shot and
 *                                               iterative; the other strategies once)
 *            (strategy "dense" with finetune "none" is an error: a dense student is made by
 *             fine-tuning only),
 *   "prune": {PruneSpec settings shared by every point, e.g. "gemm": "openblas"},
 *   "bench": {"batch": 1, "seq": 0 (= the teacher's max_seq_len), "warmup": 3, "repeats": 20,
 *             "ort": false (true: ONNX Runtime's latency too, sweep/ort.h; not identity)},
 *   "threads": 2,
 *   "slurm": {"partition": "cpu", "time": "02:00:00", "cpus_per_task": 2, "mem": "4G",
 *             "array_parallelism": 8, "sbatch_args": ["--account=nlp"]}   (sweep/slurm.h)
 * }
 * Every key is checked before anything runs: an unknown key, a wrong type or an
 * out-of-range value gets one line with the file, the JSON path and what is allowed. */
#ifndef QAPRUNE_GRID_H
#define QAPRUNE_GRID_H

#include "core/model/latency.h"
#include "core/util/hash.h"
#include "sweep/identity.h"
#include "sweep/pipeline.h"
#include "sweep/slurm.h"

/* Limits, said in `sweep run --help`: the grid file's size, the sparsity targets (targets
 * plus head_sparsity x ffn_sparsity), the points after the product of every axis. Each axis
 * list holds at most 64 values (8 for strategies and fine-tune modes). */
#define GRID_MAX_TEACHERS 8
#define GRID_MAX_BYTES (1 << 20)
#define GRID_MAX_TARGETS 128
#define GRID_MAX_POINTS 100000
#define GRID_NAME_MAX 256

/* A teacher of the grid: a checkpoint given by path, or the default teacher trained here. */
typedef struct {
    char name[GRID_NAME_MAX]; /* shown in tables and charts: the checkpoint's directory name,
                               * or "trained-" and the first hash digits */
    char dir[4096];           /* the checkpoint, or the trained teacher's cache directory */
    char hash[HASH_HEX];      /* content identity (grid_resolve) */
} GridTeacher;

typedef struct {
    PruneSpec spec;
    int teacher;         /* index into Grid.teachers */
    char hash[HASH_HEX]; /* the point's identity (grid_resolve): see sweep/identity.h */
    char *config_json;   /* the resolved configuration with paths and input hashes (owned) */
} GridPoint;

typedef struct {
    char file[4096], out[4096];
    int synthetic, synth_seed, synth_train, synth_dev, synth_lookup;
    int synth_bpe_merges;      /* > 0: the data step also learns a BPE of this many merges */
    DataPaths data;            /* for synthetic data: OUT/data/{train,dev}.json, vocab.txt,
                                * and vocab.json, merges.txt with synth_bpe_merges; or with
                                * data.nq OUT/data/nq-{train,dev}.jsonl.gz, vocab.txt */
    char data_name[GRID_NAME_MAX], data_hash[HASH_HEX]; /* (grid_resolve) */
    int teacher_checkpoint;    /* 1: the teachers are checkpoints; 0: trained with `teacher` */
    int n_teachers;            /* 1 unless several checkpoints are given */
    GridTeacher teachers[GRID_MAX_TEACHERS];
    char teacher_cache[4096];  /* where a trained teacher is cached */
    TeacherSpec teacher;
    LatencyOpts bench;
    int threads;
    SlurmOpts slurm;           /* for `sweep run --backend slurm` (all unset when absent) */
    int export_onnx;           /* "export": {"onnx": true}: OUT/points/HASH/onnx/model.onnx */
    int bench_ort;             /* "bench": {"ort": true}: ort_latency_ms, ort_speedup too */
    int n_points;
    GridPoint *points;         /* [n_points]: settings by grid_load, identities by grid_resolve */
    int resolved;
} Grid;

/* The "bench" settings (LatencyOpts), as a point's config_json holds them. */
extern const SpecField GRID_BENCH_FIELDS[];
extern const int GRID_BENCH_NFIELDS;

/* Reads and validates path into a new grid (free with grid_free): every setting and the
 * points' settings, but no identities yet (nothing is read but the grid file). */
int grid_load(const char *path, Grid **out);

/* Computes the identity of the data, of every teacher and of every point from the contents
 * of the inputs (hashing through cache), fills the teachers' names and the trained teacher's
 * cache directory, and drops points that are the same point listed twice. QA_ERR naming the
 * file when an input is missing or unreadable. */
int grid_resolve(Grid *g, HashCache *cache);

void grid_free(Grid *g); /* accepts NULL */

#endif
