/* plots/plots.c: the charts of plots.h. Reads top-down: styles and series, the data
 * blocks, the chart bodies, then rendering and plots_render. Every label that holds a
 * strategy or fine-tune name goes through gnuplot_quote. */
#include "plots/plots.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util/error.h"
#include "plots/gnuplot.h"

#define CHART_W 900
#define CHART_H 600
#define MAX_NAMES 32

/* Colour by strategy, marker (and dash) by fine-tune mode, so a series reads as the pair. */
static const char *const COLOURS[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                      "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
static const int MARKERS[] = {7, 5, 9, 13, 11, 15, 6, 4}; /* filled circle, square, ... */
#define N_COLOURS ((int)(sizeof COLOURS / sizeof COLOURS[0]))
#define N_MARKERS ((int)(sizeof MARKERS / sizeof MARKERS[0]))

/* Distinct names in order of first appearance (borrowed pointers), for stable styles. */
typedef struct {
    int n;
    const char *names[MAX_NAMES];
} NameList;

static int name_index(NameList *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], s) == 0) return i;
    if (l->n == MAX_NAMES) return 0;
    l->names[l->n] = s;
    return l->n++;
}

/* A series: the contiguous points (db_points orders them so) of one strategy x fine-tune. */
typedef struct {
    int start, count, colour, marker;
} Series;

/* What every chart reads; the arrays are owned by plots_render. */
typedef struct {
    const char *dir;
    PlotsReport *rep;
    DbPoint *all, *front;
    int n_all, n_front;
    Series *series;
    int n_series;
    DbSetting *settings; /* the summary view: seeds pooled per setting */
    int n_settings;
    double teacher_f1;      /* NAN when unknown */
    double teacher_long_f1; /* NQ: the teacher's long-answer F1 (meta teacher_long_f1), or NAN */
    int nq;            /* 1: a Natural Questions group (its points have long and short F1) */
    char group[2 * DB_LABEL_MAX + 16]; /* "teacher T, data D" when a database holds several */
    const char *runtime; /* the F1 against speedup chart's runtime: NULL (the engine), "ort" */
} Charts;

/* A chart's title: the base text, and the teacher and data when there are several groups. */
static void chart_title(const Charts *c, FILE *gp, const char *base) {
    char t[sizeof c->group + 128];
    snprintf(t, sizeof t, "%s%s%s", base, *c->group ? " - " : "", c->group);
    gnuplot_quote(gp, t);
}

static int series_build(Charts *c) {
    NameList strategies = {0}, finetunes = {0};
    c->n_series = 0;
    c->series = malloc((size_t)(c->n_all > 0 ? c->n_all : 1) * sizeof *c->series);
    if (!c->series) return qa_error("%s: out of memory", c->dir);
    for (int i = 0; i < c->n_all; i++) {
        const DbPoint *p = &c->all[i];
        Series *last = c->n_series ? &c->series[c->n_series - 1] : NULL;
        if (last && strcmp(c->all[last->start].strategy, p->strategy) == 0 &&
            strcmp(c->all[last->start].finetune, p->finetune) == 0) {
            last->count++;
            continue;
        }
        c->series[c->n_series++] = (Series){i, 1, name_index(&strategies, p->strategy),
                                            name_index(&finetunes, p->finetune)};
    }
    return QA_OK;
}

/* ---------------------------------------------------------------- data blocks */

static const char POINT_HEADER[] =
    "# run_id\tspeedup\tf1\thead_sparsity_pct\tffn_sparsity_pct\tparams\theads_kept\tffn_kept\n";

/* Writes one block of points: a comment naming it, the column header, one row per point,
 * then the two blank lines that end a gnuplot index block. */
static void block_points(FILE *f, const char *label, const DbPoint *p, int n) {
    fprintf(f, "# block: ");
    for (const char *s = label; *s; s++) fputc((unsigned char)*s < ' ' ? ' ' : *s, f);
    fputs("\n", f);
    fputs(POINT_HEADER, f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%lld\t%.9g\t%.9g\t%.9g\t%.9g\t%lld\t%lld\t%lld\n", p[i].run_id,
                p[i].speedup, p[i].f1, 100 * p[i].head_sparsity, 100 * p[i].ffn_sparsity,
                p[i].params, p[i].heads_kept, p[i].ffn_kept);
    fputs("\n\n", f);
}

static void series_label(const Charts *c, const Series *s, char *buf, size_t cap) {
    const DbPoint *p = &c->all[s->start];
    snprintf(buf, cap, "%s / %s", p->strategy, p->finetune);
}

/* The series blocks (index 0 .. n_series-1) shared by the first two charts. */
static void data_series(const Charts *c, FILE *dat, const char *about) {
    char label[96];
    fprintf(dat, "# %s\n# qaprune results: one block (gnuplot index) per strategy / fine-tune"
                 " mode.\n", about);
    for (int i = 0; i < c->n_series; i++) {
        series_label(c, &c->series[i], label, sizeof label);
        block_points(dat, label, &c->all[c->series[i].start], c->series[i].count);
    }
}

/* A chart body with only axes, a title and a centred message. */
static void body_empty(FILE *gp, const char *title, const char *xlabel, const char *ylabel,
                       const char *msg) {
    fputs("  set title ", gp);
    gnuplot_quote(gp, title);
    fputs("\n  set xlabel ", gp);
    gnuplot_quote(gp, xlabel);
    fputs("\n  set ylabel ", gp);
    gnuplot_quote(gp, ylabel);
    fputs("\n  set xrange [0:1]\n  set yrange [0:1]\n  set format x ''\n  set format y ''\n"
          "  set label 1 ",
          gp);
    gnuplot_quote(gp, msg);
    fputs(" at graph 0.5, graph 0.5 center font ',16'\n  plot -1 notitle\n", gp);
}

/* One plot element: "'file' index i using X:Y with STYLE title 'label'" plus ", \". */
static void element(FILE *gp, const char *dat, int index, const char *using,
                    const char *style, const char *title) {
    fprintf(gp, "    '%s' index %d using %s with %s ", dat, index, using, style);
    if (title) {
        fputs("title ", gp);
        gnuplot_quote(gp, title);
    } else {
        fputs("notitle", gp);
    }
    fputs(", \\\n", gp);
}

/* At most this many series get their seed means drawn with error bars. */
#define MAX_BAR_SERIES 64

/* Writes the block of series s's settings run with several seeds (mean speedup, mean F1 and
 * its standard deviation, from the summary view); 0 and nothing written when it has none. */
static int block_seed_bars(const Charts *c, const Series *s, FILE *dat) {
    const DbPoint *p = &c->all[s->start];
    int any = 0;
    for (int i = 0; i < c->n_settings; i++) {
        const DbSetting *r = &c->settings[i];
        if (r->n < 2 || strcmp(r->strategy, p->strategy) || strcmp(r->finetune, p->finetune))
            continue;
        if (!any) {
            fprintf(dat, "# block: ");
            for (const char *t = p->strategy; *t; t++) fputc((unsigned char)*t < ' ' ? ' ' : *t, dat);
            fputs(" / ", dat);
            for (const char *t = p->finetune; *t; t++) fputc((unsigned char)*t < ' ' ? ' ' : *t, dat);
            fputs(", mean ± std over seeds (view summary)\n# n\tspeedup_mean\tf1_mean\tf1_std"
                  "\thead_sparsity_pct\tffn_sparsity_pct\ttrain_seconds_mean\n", dat);
            any = 1;
        }
        fprintf(dat, "%d\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\n", r->n, r->speedup_mean,
                r->f1_mean, r->f1_std, 100 * r->head_sparsity, 100 * r->ffn_sparsity,
                r->train_seconds_mean);
    }
    if (any) fputs("\n\n", dat);
    return any;
}

/* ---------------------------------------------------------------- f1_vs_speedup */

static const char SPEEDUP_TITLE[] = "F1 against speedup over the unpruned teacher";
static const char SPEEDUP_X[] = "speedup over the unpruned teacher (×, ratio of median latencies)";
static const char ORT_TITLE[] = "F1 against speedup in ONNX Runtime over the unpruned teacher";
static const char ORT_X[] = "speedup in ONNX Runtime over the unpruned teacher (×, ratio of "
                            "median latencies)";
static const char F1_Y[] = "F1 on the dev set (%)";
static const char NQ_SHORT_Y[] = "short-answer F1 on the dev set (%, Natural Questions)";
static const char NQ_LONG_Y[] = "long-answer F1 on the dev set (%, Natural Questions)";

/* f1_vs_speedup, or with c->runtime "ort" f1_vs_ort_speedup (c's points then carry their
 * ONNX Runtime speedup as speedup, the frontier from view pareto_ort). */
static void chart_speedup(const Charts *c, FILE *dat, FILE *gp) {
    int ort = c->runtime != NULL;
    const char *file = ort ? "f1_vs_ort_speedup.dat" : "f1_vs_speedup.dat";
    const char *title = ort ? ORT_TITLE : SPEEDUP_TITLE, *xlabel = ort ? ORT_X : SPEEDUP_X;
    char label[128], style[96];
    data_series(c, dat, ort ? "f1_vs_ort_speedup.dat: F1 (%) against speedup in ONNX Runtime "
                              "(x over the teacher)"
                            : "f1_vs_speedup.dat: F1 (%) against speedup (x over the teacher)");
    if (c->n_all == 0) {
        body_empty(gp, title, xlabel, F1_Y, "no finished runs yet");
        return;
    }
    block_points(dat, ort ? "Pareto frontier (view pareto_ort)" : "Pareto frontier (view pareto)",
                 c->front, c->n_front);
    int pareto = c->n_series, teacher = c->n_series + 1;
    if (!isnan(c->teacher_f1)) {
        DbPoint t = {.speedup = 1, .f1 = c->teacher_f1};
        block_points(dat, "unpruned teacher", &t, 1);
    }
    int bars[MAX_BAR_SERIES], n_bars = 0, next = teacher + !isnan(c->teacher_f1);
    for (int i = 0; i < c->n_series && n_bars < MAX_BAR_SERIES; i++)
        if (block_seed_bars(c, &c->series[i], dat)) bars[n_bars++] = i;
    fputs("  set title ", gp);
    chart_title(c, gp, title);
    fputs("\n  set xlabel ", gp);
    gnuplot_quote(gp, xlabel);
    fputs("\n  set ylabel ", gp);
    gnuplot_quote(gp, c->nq ? NQ_SHORT_Y : F1_Y);
    fputs("\n  set grid\n  set key outside right top title 'strategy / fine-tune'\n"
          "  set offsets graph 0.05, graph 0.05, graph 0.08, graph 0.08\n  plot \\\n",
          gp);
    for (int i = 0; i < c->n_series; i++) {
        const Series *s = &c->series[i];
        series_label(c, s, label, sizeof label);
        snprintf(style, sizeof style, "points pt %d ps 1.5 lc rgb '%s'",
                 MARKERS[s->marker % N_MARKERS], COLOURS[s->colour % N_COLOURS]);
        element(gp, file, i, "2:3", style, label);
    }
    for (int k = 0; k < n_bars; k++) {
        const Series *s = &c->series[bars[k]];
        snprintf(style, sizeof style, "yerrorbars pt %d ps 2.2 lw 2 lc rgb '%s'",
                 MARKERS[s->marker % N_MARKERS], COLOURS[s->colour % N_COLOURS]);
        element(gp, file, next + k, "2:3:4", style, k ? NULL : "mean ± std over seeds");
    }
    element(gp, file, pareto, "2:3", "fsteps lw 2 dt 2 lc rgb '#333333'", "Pareto frontier");
    element(gp, file, pareto, "2:3", "points pt 6 ps 2.4 lc rgb '#333333'", NULL);
    if (!isnan(c->teacher_f1)) {
        snprintf(label, sizeof label, "teacher (F1 %.1f)", c->teacher_f1);
        element(gp, file, teacher, "2:3", "points pt 3 ps 2.5 lw 2 lc rgb 'black'", label);
    }
    fputs("    NaN notitle\n", gp);
}

/* ---------------------------------------------------------------- f1_vs_sparsity */

static const char SPARSITY_TITLE[] = "F1 against sparsity targets, per strategy";

/* The start of one multiplot panel: title, axis labels, grid, the panel's own axis settings
 * (ranges, offsets), the key (strategy / fine-tune, or none) and "plot \". */
static void panel_head(FILE *gp, const char *title, const char *xlabel, const char *ylabel,
                       const char *axes, int with_key) {
    fputs("  set title ", gp);
    gnuplot_quote(gp, title);
    fputs("\n  set xlabel ", gp);
    gnuplot_quote(gp, xlabel);
    fputs("\n  set ylabel ", gp);
    gnuplot_quote(gp, ylabel);
    fprintf(gp, "\n  set grid\n  %s\n  %s\n  plot \\\n", axes,
            with_key ? "set key bottom left title 'strategy / fine-tune'" : "unset key");
}

/* One panel: every series' points, and a line through its mean F1 at each target x. */
static void sparsity_panel(const Charts *c, FILE *gp, const char *title, const char *xlabel,
                           const char *x_col, int with_key) {
    const char *file = "f1_vs_sparsity.dat";
    char label[128], style[96], using[32];
    panel_head(gp, title, xlabel, F1_Y,
               "set xrange [0:100]\n  set offsets 0, 0, graph 0.08, graph 0.08", with_key);
    snprintf(using, sizeof using, "%s:3", x_col);
    for (int i = 0; i < c->n_series; i++) {
        const Series *s = &c->series[i];
        series_label(c, s, label, sizeof label);
        snprintf(style, sizeof style, "points pt %d ps 1.3 lc rgb '%s'",
                 MARKERS[s->marker % N_MARKERS], COLOURS[s->colour % N_COLOURS]);
        element(gp, file, i, using, style, label);
        snprintf(style, sizeof style, "lines lw 1.5 dt %d lc rgb '%s'", 1 + s->marker % 5,
                 COLOURS[s->colour % N_COLOURS]);
        fprintf(gp, "    '%s' index %d using %s smooth unique with %s notitle, \\\n", file, i,
                using, style);
    }
    if (!isnan(c->teacher_f1))
        fprintf(gp, "    %.9g with lines dt 3 lw 1.5 lc rgb 'black' title 'teacher', \\\n",
                c->teacher_f1);
    fputs("    NaN notitle\n", gp);
}

static void chart_sparsity(const Charts *c, FILE *dat, FILE *gp) {
    static const char heads_x[] = "attention heads pruned (% of all heads, target)";
    static const char ffn_x[] = "FFN neurons pruned (% of all neurons, target)";
    data_series(c, dat, "f1_vs_sparsity.dat: F1 (%) against head and FFN sparsity (%)");
    if (c->n_all == 0) {
        body_empty(gp, SPARSITY_TITLE, heads_x, F1_Y, "no finished runs yet");
        return;
    }
    fputs("  set multiplot layout 1, 2 title ", gp);
    chart_title(c, gp, SPARSITY_TITLE);
    fputs("\n", gp);
    sparsity_panel(c, gp, "F1 against head sparsity", heads_x, "4", 1);
    sparsity_panel(c, gp, "F1 against FFN sparsity", ffn_x, "5", 0);
    fputs("  unset multiplot\n", gp);
}

/* ---------------------------------------------------------------- nq_f1_vs_speedup */

static const char NQ_TITLE[] = "Natural Questions: long- and short-answer F1 against speedup";

/* One panel: every series' long (col 3) or short (col 4) F1 against speedup. */
static void nq_panel(const Charts *c, FILE *gp, const char *title, const char *ylabel, int col,
                     int with_key) {
    const char *file = "nq_f1_vs_speedup.dat";
    char label[128], style[96], using[16];
    panel_head(gp, title, SPEEDUP_X, ylabel,
               "set offsets graph 0.05, graph 0.05, graph 0.08, graph 0.08", with_key);
    snprintf(using, sizeof using, "2:%d", col);
    for (int i = 0; i < c->n_series; i++) {
        const Series *s = &c->series[i];
        series_label(c, s, label, sizeof label);
        snprintf(style, sizeof style, "points pt %d ps 1.4 lc rgb '%s'",
                 MARKERS[s->marker % N_MARKERS], COLOURS[s->colour % N_COLOURS]);
        element(gp, file, i, using, style, label);
    }
    /* the teacher's long-answer F1 (one group only) or short-answer F1 (its f1), speedup 1 */
    double t = col == 4 ? c->teacher_f1 : c->teacher_long_f1;
    if (!isnan(t))
        fprintf(gp, "    '+' using (1):(%.9g) every ::0::0 with points pt 3 ps 2.5 lw 2 "
                    "lc rgb 'black' title 'teacher', \\\n", t);
    fputs("    NaN notitle\n", gp);
}

static void chart_nq(const Charts *c, FILE *dat, FILE *gp) {
    char label[96];
    fputs("# nq_f1_vs_speedup.dat: long- and short-answer F1 (%, the official NQ metric at its\n"
          "# best threshold) against speedup; one block (gnuplot index) per strategy /\n"
          "# fine-tune mode.\n", dat);
    for (int i = 0; i < c->n_series; i++) {
        const Series *s = &c->series[i];
        series_label(c, s, label, sizeof label);
        fprintf(dat, "# block: %s\n# run_id\tspeedup\tlong_f1\tshort_f1\n", label);
        for (int k = s->start; k < s->start + s->count; k++)
            fprintf(dat, "%lld\t%.9g\t%.9g\t%.9g\n", c->all[k].run_id, c->all[k].speedup,
                    c->all[k].long_f1, c->all[k].short_f1);
        fputs("\n\n", dat);
    }
    if (c->n_all == 0) {
        body_empty(gp, NQ_TITLE, SPEEDUP_X, NQ_LONG_Y, "no finished runs yet");
        return;
    }
    fputs("  set multiplot layout 1, 2 title ", gp);
    chart_title(c, gp, NQ_TITLE);
    fputs("\n", gp);
    nq_panel(c, gp, "long answers", NQ_LONG_Y, 3, 1);
    nq_panel(c, gp, "short answers", NQ_SHORT_Y, 4, 0);
    fputs("  unset multiplot\n", gp);
}

/* ---------------------------------------------------------------- pareto_layers */

static const char LAYERS_TITLE[] = "Per-layer structure of the Pareto runs";

/* Picks up to PLOTS_MAX_LAYER_RUNS Pareto runs with per-layer data, evenly spread along the
 * frontier (which is ordered by speedup); returns how many, indices into c->front in pick. */
static int layer_runs_pick(const Charts *c, int *pick) {
    int with[4096], m = 0;
    for (int i = 0; i < c->n_front && m < 4096; i++)
        if (c->front[i].n_layers > 0) with[m++] = i;
    if (m <= PLOTS_MAX_LAYER_RUNS) {
        memcpy(pick, with, (size_t)m * sizeof *pick);
        return m;
    }
    for (int k = 0; k < PLOTS_MAX_LAYER_RUNS; k++)
        pick[k] = with[(int)lround((double)k * (m - 1) / (PLOTS_MAX_LAYER_RUNS - 1))];
    return PLOTS_MAX_LAYER_RUNS;
}

static void layers_panel(FILE *gp, int n_runs, int n_layers, const char *ylabel,
                         const char *xlabel, int y_col, int with_key, const char *const *labels) {
    const char *file = "pareto_layers.dat";
    char style[96], using[16];
    fputs("  set ylabel ", gp);
    gnuplot_quote(gp, ylabel);
    fputs("\n  set xlabel ", gp);
    gnuplot_quote(gp, xlabel);
    fprintf(gp, "\n  set grid\n  set rmargin at screen 0.60\n  set lmargin at screen 0.09\n"
                "  set xrange [-0.5:%g]\n  set yrange [0:*]\n  set offsets 0, 0, graph 0.1, 0\n"
                "  %s\n  %s\n  plot \\\n",
            n_layers - 0.5, n_layers <= 24 ? "set xtics 1" : "set xtics autofreq",
            with_key ? "set key at screen 0.62, screen 0.92 top left Left reverse title 'Pareto run'"
                     : "unset key");
    snprintf(using, sizeof using, "1:%d", y_col);
    for (int k = 0; k < n_runs; k++) {
        snprintf(style, sizeof style, "linespoints pt %d ps 1.2 lw 1.5 lc rgb '%s'",
                 MARKERS[k % N_MARKERS], COLOURS[k % N_COLOURS]);
        element(gp, file, k, using, style, labels[k]);
    }
    element(gp, file, n_runs, using, "lines dt 3 lw 2 lc rgb 'black'", "unpruned teacher");
    fputs("    NaN notitle\n", gp);
}

static void chart_layers(const Charts *c, FILE *dat, FILE *gp) {
    static const char heads_y[] = "attention heads kept";
    static const char ffn_y[] = "FFN neurons kept";
    static const char layer_x[] = "layer (0 = nearest the embeddings)";
    int pick[PLOTS_MAX_LAYER_RUNS];
    int n = layer_runs_pick(c, pick), n_layers = 0;
    char labels[PLOTS_MAX_LAYER_RUNS][160];
    const char *label_ptr[PLOTS_MAX_LAYER_RUNS];
    fputs("# pareto_layers.dat: heads and FFN neurons kept per layer by Pareto runs, then the\n"
          "# unpruned teacher (totals spread evenly over the layers).\n",
          dat);
    if (n == 0) {
        body_empty(gp, LAYERS_TITLE, layer_x, heads_y,
                   c->n_all ? "no per-layer data for the Pareto runs" : "no finished runs yet");
        return;
    }
    for (int k = 0; k < n; k++) {
        const DbPoint *p = &c->front[pick[k]];
        snprintf(labels[k], sizeof labels[k], "%s / %s, h%.0f%% f%.0f%%: %.2fx, F1 %.1f",
                 p->strategy, p->finetune, 100 * p->head_sparsity, 100 * p->ffn_sparsity,
                 p->speedup, p->f1);
        label_ptr[k] = labels[k];
        fprintf(dat, "# block: run %lld, ", p->run_id);
        for (const char *s = labels[k]; *s; s++) fputc((unsigned char)*s < ' ' ? ' ' : *s, dat);
        fputs("\n# layer\theads_kept\tffn_kept\n", dat);
        for (int l = 0; l < p->n_layers; l++)
            fprintf(dat, "%d\t%d\t%d\n", l, p->layer_heads[l], p->layer_ffn[l]);
        fputs("\n\n", dat);
        if (p->n_layers > n_layers) n_layers = p->n_layers;
    }
    const DbPoint *ref = &c->front[pick[0]];
    fputs("# block: unpruned teacher\n# layer\theads\tffn\n", dat);
    for (int l = 0; l < ref->n_layers; l++)
        fprintf(dat, "%d\t%.9g\t%.9g\n", l, (double)ref->heads_total / ref->n_layers,
                (double)ref->ffn_total / ref->n_layers);
    fputs("  set multiplot layout 2, 1 title ", gp);
    chart_title(c, gp, LAYERS_TITLE);
    fputs("\n  set title ", gp);
    gnuplot_quote(gp, "attention heads kept per layer");
    fputs("\n", gp);
    layers_panel(gp, n, n_layers, heads_y, "", 2, 1, label_ptr);
    fputs("  set title ", gp);
    gnuplot_quote(gp, "FFN neurons kept per layer");
    fputs("\n", gp);
    layers_panel(gp, n, n_layers, ffn_y, layer_x, 3, 0, label_ptr);
    fputs("  unset multiplot\n", gp);
}

/* ---------------------------------------------------------------- rendering */

typedef void ChartFn(const Charts *c, FILE *dat, FILE *gp);

static int report_add(Charts *c, const char *name, const char *ext, char *path) {
    if (snprintf(path, PLOTS_PATH_MAX, "%s/%s.%s", c->dir, name, ext) >= PLOTS_PATH_MAX)
        return qa_error("%s: path too long", c->dir);
    if (c->rep && c->rep->n_files < PLOTS_MAX_FILES)
        snprintf(c->rep->files[c->rep->n_files++], PLOTS_PATH_MAX, "%s", path);
    return QA_OK;
}

/* Closes f, reporting a write error on path. */
static int close_checked(FILE *f, const char *path) {
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return qa_error("%s: cannot write: %s", path, strerror(errno));
    return QA_OK;
}

/* Writes NAME.dat and NAME.gp with fn, runs gnuplot and checks both images appeared. */
static int chart_render(Charts *c, const char *name, const char *about, ChartFn *fn) {
    char dat_path[PLOTS_PATH_MAX], gp_path[PLOTS_PATH_MAX], img[PLOTS_PATH_MAX], script[128];
    FILE *dat = NULL, *gp = NULL;
    if (report_add(c, name, "dat", dat_path) || report_add(c, name, "gp", gp_path))
        return QA_ERR;
    if (!(dat = fopen(dat_path, "w")) || !(gp = fopen(gp_path, "w"))) {
        qa_error("%s: cannot create: %s", dat ? gp_path : dat_path, strerror(errno));
        if (dat) fclose(dat);
        return QA_ERR;
    }
    gnuplot_script_begin(gp, name, about, CHART_W, CHART_H);
    fn(c, dat, gp);
    gnuplot_script_end(gp);
    int rc = close_checked(dat, dat_path);
    if (close_checked(gp, gp_path)) rc = QA_ERR;
    snprintf(script, sizeof script, "%s.gp", name);
    if (rc || gnuplot_run(c->dir, script)) return QA_ERR;
    static const char *const exts[] = {"png", "svg"};
    for (int i = 0; i < 2; i++) {
        struct stat sb;
        if (report_add(c, name, exts[i], img)) return QA_ERR;
        if (stat(img, &sb) != 0 || sb.st_size == 0)
            return qa_error("%s: gnuplot wrote no image", img);
    }
    return QA_OK;
}

/* The teacher's F1: for a database with one group, meta "teacher_f1" when it is a number
 * (the sweep records the teacher's own dev score there); else what the group's runs
 * measured. */
/* Meta key's value when it is a finite number, else NAN. */
static int meta_number(Db *db, const char *key, double *out) {
    char buf[64], *end;
    int found;
    *out = NAN;
    if (db_get_meta(db, key, buf, sizeof buf, &found)) return QA_ERR;
    double v = found ? strtod(buf, &end) : NAN;
    if (found && end != buf && !*end && isfinite(v)) *out = v;
    return QA_OK;
}

static int teacher_f1_find(Db *db, const Charts *c, int one_group, double *out) {
    *out = NAN;
    if (one_group) {
        if (meta_number(db, "teacher_f1", out)) return QA_ERR;
        if (!isnan(*out)) return QA_OK;
    }
    for (int i = 0; i < c->n_all && isnan(*out); i++)
        if (isfinite(c->all[i].teacher_f1)) *out = c->all[i].teacher_f1;
    return QA_OK;
}

/* The points of c with ONNX Runtime figures into a new array (*out, free with free()), their
 * speedup and latency replaced by ONNX Runtime's; *n of them (0: none, *out NULL). */
static int ort_points(const DbPoint *p, int n_p, DbPoint **out, int *n) {
    *out = NULL;
    *n = 0;
    for (int i = 0; i < n_p; i++) *n += isfinite(p[i].ort_speedup);
    if (*n == 0) return QA_OK;
    if (!(*out = malloc(sizeof **out * (size_t)*n))) return qa_error("charts: out of memory");
    int k = 0;
    for (int i = 0; i < n_p; i++)
        if (isfinite(p[i].ort_speedup)) {
            (*out)[k] = p[i];
            (*out)[k].speedup = p[i].ort_speedup;
            (*out)[k++].latency_ms = p[i].ort_latency_ms;
        }
    return QA_OK;
}

/* With ONNX Runtime figures in group g: f1_vs_ort_speedup, the F1 against speedup chart
 * of the runs that have them, over their ONNX Runtime speedup. */
static int render_ort(Db *db, const DbGroup *g, const Charts *c) {
    Charts o = *c;
    DbPoint *front = NULL;
    int n_front = 0, rc = QA_ERR;
    o.runtime = "ort";
    o.front = NULL;
    o.series = NULL;
    if (ort_points(c->all, c->n_all, &o.all, &o.n_all)) return QA_ERR;
    if (o.n_all == 0) return QA_OK;
    if (db_pareto_ort(db, g, &front, &n_front) || ort_points(front, n_front, &o.front, &o.n_front) ||
        series_build(&o) || chart_render(&o, "f1_vs_ort_speedup", ORT_TITLE, chart_speedup))
        goto cleanup;
    rc = QA_OK;
cleanup:
    free(front);
    free(o.all);
    free(o.front);
    free(o.series);
    return rc;
}

/* Draws the charts of group g (NULL: every done run) into dir: nq_f1_vs_speedup for a
 * Natural Questions group, f1_vs_ort_speedup when it has ONNX Runtime figures. */
static int render_group(Db *db, const char *dir, const DbGroup *g, int one_group,
                        PlotsReport *rep) {
    Charts c = {.dir = dir, .rep = rep};
    int rc = QA_ERR;
    if (g && !one_group)
        snprintf(c.group, sizeof c.group, "teacher %s, data %s", g->teacher, g->data);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return qa_error("%s: cannot create directory: %s", dir, strerror(errno));
    if (db_points(db, g, &c.all, &c.n_all) || db_pareto(db, g, &c.front, &c.n_front) ||
        db_summary(db, g, &c.settings, &c.n_settings) || series_build(&c) ||
        teacher_f1_find(db, &c, one_group, &c.teacher_f1))
        goto cleanup;
    c.teacher_long_f1 = NAN;
    if (one_group && meta_number(db, "teacher_long_f1", &c.teacher_long_f1)) goto cleanup;
    for (int i = 0; i < c.n_all; i++) c.nq |= !isnan(c.all[i].long_f1);
    if (chart_render(&c, "f1_vs_speedup", SPEEDUP_TITLE, chart_speedup) ||
        chart_render(&c, "f1_vs_sparsity", SPARSITY_TITLE, chart_sparsity) ||
        chart_render(&c, "pareto_layers", LAYERS_TITLE, chart_layers) ||
        (c.nq && chart_render(&c, "nq_f1_vs_speedup", NQ_TITLE, chart_nq)) ||
        render_ort(db, g, &c))
        goto cleanup;
    rc = QA_OK;
cleanup:
    free(c.all);
    free(c.front);
    free(c.series);
    free(c.settings);
    return rc;
}

/* A directory name for a group: its teacher and data names with anything but letters,
 * digits, '.', '-' and '_' turned into '_', and the first hash digits to keep it unique. */
static void group_dir(char *buf, size_t cap, const char *out_dir, const DbGroup *g) {
    char slug[2 * DB_LABEL_MAX + 2];
    snprintf(slug, sizeof slug, "%s_%s", g->teacher, g->data);
    slug[48] = '\0';
    for (char *p = slug; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_') *p = '_';
    snprintf(buf, cap, "%s/%s-%.8s%.8s", out_dir, slug, g->teacher_hash, g->data_hash);
}

int plots_render(Db *db, const char *out_dir, PlotsReport *rep) {
    if (rep) rep->n_files = 0;
    if (!gnuplot_available())
        return qa_error("%s: cannot draw charts: gnuplot is not on PATH (install gnuplot-nox)",
                        out_dir);
    DbGroup *groups = NULL;
    int n = 0;
    if (db_groups(db, 0, &groups, &n)) return QA_ERR;
    int rc = QA_OK;
    if (n <= 1) {
        rc = render_group(db, out_dir, n ? &groups[0] : NULL, 1, rep);
    } else {
        /* one directory per teacher and data; the top level keeps no mixed chart */
        if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
            rc = qa_error("%s: cannot create directory: %s", out_dir, strerror(errno));
        for (int i = 0; i < n && rc == QA_OK; i++) {
            char dir[PLOTS_PATH_MAX];
            group_dir(dir, sizeof dir, out_dir, &groups[i]);
            rc = render_group(db, dir, &groups[i], 0, rep);
        }
    }
    free(groups);
    return rc;
}
