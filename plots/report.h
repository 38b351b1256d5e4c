/* plots/report.h: OUT/report.html, one self-contained HTML file (inline CSS, inline SVG
 * charts drawn by plots/html.c, a little inline script for sorting; nothing is loaded from
 * anywhere). Every string from a database or a config is
 * escaped with html_escape.
 *
 * report_write: for each (teacher, data) group a chart of F1 against speedup (a series per
 * strategy / fine-tune mode, mean ± std bars where a setting has several seeds, the Pareto
 * frontier as a step line, the teacher's F1 as a reference line); a sortable table with one
 * <tr class="point"> per run (class "pareto" too when it is on the pareto view's frontier of
 * its teacher and data): teacher, data, strategy, targets, fine-tune mode, seed, F1, F1 mean ±
 * std over the seeds of its setting (runs equal in everything but the seed), speedup, params,
 * FLOPs, status; and one <div class="card" id="run-ID"> per run: kept heads and FFN width per
 * layer as a small SVG bar chart, F1 / EM / HasAns / NoAns, latency, its config pretty-printed,
 * its error when it failed.
 * (plots/compare.h puts several sweeps on one page.) */
#ifndef QAPRUNE_REPORT_H
#define QAPRUNE_REPORT_H

#include "db/results.h"

/* Writes the report of db's runs (only_grid: of the temp grid table's runs) to path,
 * atomically; title (e.g. the grid file) heads the page. Returns QA_OK, or QA_ERR with one
 * line naming path or the database and what failed. */
int report_write(Db *db, int only_grid, const char *title, const char *path);

#endif
