/* plots/plots.h: the sweep's charts, drawn by gnuplot from the results database.
 *
 * plots_render writes into out_dir, for each chart NAME, the data NAME.dat (tab-separated,
 * blocks separated by two blank lines, each block and column named in # comments), the script
 * NAME.gp (kept so users can tweak it and re-run `gnuplot NAME.gp` in out_dir) and the images
 * NAME.png (900 x 600) and NAME.svg:
 *   f1_vs_speedup   F1 (%) against speedup over the unpruned teacher, one point series per
 *                   strategy (colour) x fine-tune mode (marker), the Pareto frontier as a
 *                   step line, the teacher marked at speedup 1 with its F1; a setting run
 *                   with several seeds also as its mean with a bar of ± one standard
 *                   deviation (the summary view), larger, at its mean speedup;
 *   f1_vs_sparsity  F1 against the head and the FFN sparsity targets (two panels), points
 *                   per strategy x fine-tune mode and a line through the mean F1 at each
 *                   target;
 *   pareto_layers   heads and FFN neurons kept in each layer (two panels) by the Pareto runs
 *                   (at most PLOTS_MAX_LAYER_RUNS of them, spread along the frontier), with
 *                   the unpruned teacher's per-layer size for reference;
 *   nq_f1_vs_speedup  only for a group of Natural Questions points: long-answer and
 *                   short-answer F1 (two panels) against speedup, per strategy x fine-tune
 *                   mode, the teacher's short-answer F1 marked. In the other charts such a
 *                   group's F1 is the short-answer F1 (the results' f1), said on the axis.
 *   f1_vs_ort_speedup  only when runs have ONNX Runtime figures ("bench": {"ort": true}):
 *                   f1_vs_speedup over their speedup in ONNX Runtime, the frontier from the
 *                   view pareto_ort.
 * Charts are drawn per (teacher, data) group: with one group the files go into out_dir
 * itself; with several, each group gets out_dir/TEACHER_DATA-HASH/ with the same file names,
 * the teacher and data named in every title (points of different teachers are never mixed).
 * The teacher's F1 comes from the group's results, else (one group only) the meta key
 * "teacher_f1"; when neither has it the teacher is not marked. A database without done runs still
 * gives all charts, each with the label "no finished runs yet" (a sweep draws them at the
 * end even when every point failed, and the files' names do not change). */
#ifndef QAPRUNE_PLOTS_H
#define QAPRUNE_PLOTS_H

#include "db/results.h"

#define PLOTS_MAX_FILES 24
#define PLOTS_PATH_MAX 1024
#define PLOTS_MAX_LAYER_RUNS 8

/* The files one plots_render wrote, in order (data, script, PNG, SVG per chart). */
typedef struct {
    int n_files;
    char files[PLOTS_MAX_FILES][PLOTS_PATH_MAX];
} PlotsReport;

/* Draws every chart from db into out_dir (created if missing; its parent must exist).
 * rep (caller-owned, may be NULL) lists the files written, also after a failure part-way.
 * Returns QA_OK, or QA_ERR with one line naming the file and what failed; without gnuplot on
 * PATH the error says so and nothing is written. */
int plots_render(Db *db, const char *out_dir, PlotsReport *rep);

#endif
