/* plots/compare.h: several sweeps on one self-contained HTML page (e.g. a BERT and a
 * RoBERTa teacher): one chart of F1 against speedup with a series per sweep and teacher (one
 * point per setting, mean ± std over its seeds where it has several), and one sortable table
 * of every done point of every sweep (<tr class="point">, rows on the Pareto frontier of
 * their own sweep, teacher and data also "pareto"). Strings are escaped as in report.h. */
#ifndef QAPRUNE_COMPARE_H
#define QAPRUNE_COMPARE_H

#include "db/results.h"

/* Writes the comparison of the n databases dbs (names[i] labels dbs[i], e.g. its directory)
 * to path, atomically. With gnuplot on PATH, the chart is also drawn beside it, as the charts
 * of plots/plots.h are: for a page NAME.html, NAME.dat, NAME.gp, NAME.png and NAME.svg.
 * Returns QA_OK, or QA_ERR with one line naming what failed. */
int compare_write(Db *const *dbs, const char *const *names, int n, const char *path);

#endif
