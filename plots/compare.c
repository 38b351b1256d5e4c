/* plots/compare.c: several sweeps on one page (see compare.h). */
#include "plots/compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "plots/gnuplot.h"
#include "plots/html.h"
#include "plots/report_private.h"

/* The done runs of every sweep: rows[k][0..n[k]) with their seed statistics. */
typedef struct {
    int n_sweeps;
    DbRunRow **rows;
    SeedStat **ss;
    int *n;
} Sweeps;

static void sweeps_free(Sweeps *s) {
    for (int k = 0; s->n && k < s->n_sweeps; k++) {
        if (s->rows) db_run_rows_free(s->rows[k], s->n[k]);
        if (s->ss) free(s->ss[k]);
    }
    free(s->rows);
    free(s->ss);
    free(s->n);
}

static int sweeps_read(Db *const *dbs, int n, Sweeps *s) {
    *s = (Sweeps){n, calloc((size_t)n, sizeof *s->rows), calloc((size_t)n, sizeof *s->ss),
                  calloc((size_t)n, sizeof *s->n)};
    if (!s->rows || !s->ss || !s->n) return qa_error("compare: out of memory");
    for (int k = 0; k < n; k++) {
        if (db_run_rows(dbs[k], 0, &s->rows[k], &s->n[k])) return QA_ERR;
        if (!(s->ss[k] = malloc(sizeof *s->ss[k] * (size_t)(s->n[k] + 1))))
            return qa_error("compare: out of memory");
        if (report_seed_stats(s->rows[k], s->n[k], s->ss[k])) return QA_ERR;
    }
    return QA_OK;
}

static int done(const DbRunRow *r) { return r->status == DB_DONE && r->has_result; }

/* The chart's series: one per (sweep, teacher), every done point of that teacher in that
 * sweep, one per setting (mean ± std over its seeds where it has several). */
typedef struct {
    int n_series;
    SvgSeries *series;
    double *x;        /* x, then y, then err: 3 arrays of total + 1 */
    char (*labels)[160];
} Chart;

static void chart_free(Chart *c) {
    free(c->series);
    free(c->x);
    free(c->labels);
}

static int chart_build(const Sweeps *s, const char *const *names, Chart *c) {
    int total = 0;
    for (int k = 0; k < s->n_sweeps; k++) total += s->n[k];
    *c = (Chart){0, calloc((size_t)total + 1, sizeof *c->series),
                 malloc(sizeof *c->x * (size_t)(3 * total + 3)),
                 malloc(sizeof *c->labels * (size_t)(total + 1))};
    char *drawn = calloc((size_t)total + 1, 1);
    if (!c->series || !c->x || !c->labels || !drawn) {
        free(drawn);
        chart_free(c);
        return qa_error("compare: out of memory drawing the chart");
    }
    double *x = c->x, *y = x + total + 1, *e = y + total + 1;
    int m = 0;
    for (int k = 0; k < s->n_sweeps; k++) {
        const DbRunRow *rows = s->rows[k];
        for (int i = 0; i < s->n[k]; i++) {
            if (!done(&rows[i])) continue;
            /* the first done row of a teacher opens its series and draws all of it */
            int first = 1;
            for (int j = 0; j < i && first; j++)
                first = !(done(&rows[j]) && !strcmp(rows[j].teacher_hash, rows[i].teacher_hash));
            if (!first) continue;
            SvgSeries *cur = &c->series[c->n_series];
            snprintf(c->labels[c->n_series], sizeof c->labels[0], "%.60s: %.60s", names[k],
                     *rows[i].teacher ? rows[i].teacher : "teacher");
            *cur = (SvgSeries){.label = c->labels[c->n_series],
                               .colour = svg_colour(c->n_series),
                               .marker = (SvgMarker)(k % SVG_N_MARKERS), .x = x + m,
                               .y = y + m, .err = e + m};
            memset(drawn, 0, (size_t)total + 1);
            for (int j = i; j < s->n[k]; j++) {
                const SeedStat *st = &s->ss[k][j];
                if (!done(&rows[j]) || strcmp(rows[j].teacher_hash, rows[i].teacher_hash) ||
                    drawn[st->group])
                    continue;
                drawn[st->group] = 1;
                x[m] = st->count > 1 ? st->speedup : rows[j].m.speedup;
                y[m] = st->count > 1 ? st->mean : rows[j].m.f1;
                e[m] = st->count > 1 ? st->std : NAN;
                cur->n++;
                m++;
            }
            c->n_series++;
        }
    }
    free(drawn);
    return QA_OK;
}

static const char CHART_TITLE[] = "F1 against speedup, per sweep and teacher";
static const char CHART_X[] = "speedup over the unpruned teacher (x, ratio of median latencies)";
static const char CHART_Y[] = "F1 on the dev set (%)";

/* The same chart through gnuplot, beside the page: NAME.dat, NAME.gp, NAME.png, NAME.svg
 * for a page NAME.html (as plots/plots.h's charts: the script re-draws both images). */
static int chart_gnuplot(const Chart *c, const char *html_path) {
    char dir[4096], name[512], path[4700];
    const char *slash = strrchr(html_path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - html_path) : 1,
             slash ? html_path : ".");
    if (!*dir) snprintf(dir, sizeof dir, "/");
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : html_path);
    char *dot = strrchr(name, '.');
    if (dot && dot != name) *dot = '\0';
    ReportBuf dat, gp;
    if (report_buffer_open(&dat)) return QA_ERR;
    if (report_buffer_open(&gp)) {
        fclose(dat.f);
        free(dat.data);
        return QA_ERR;
    }
    fprintf(dat.f, "# %s.dat: F1 (%%) against speedup, one block (gnuplot index) per sweep "
                   "and teacher\n", name);
    gnuplot_script_begin(gp.f, name, CHART_TITLE, 960, 600);
    fputs("  set title ", gp.f);
    gnuplot_quote(gp.f, CHART_TITLE);
    fputs("\n  set xlabel ", gp.f);
    gnuplot_quote(gp.f, CHART_X);
    fputs("\n  set ylabel ", gp.f);
    gnuplot_quote(gp.f, CHART_Y);
    fputs("\n  set grid\n  set key outside right top\n"
          "  set offsets graph 0.05, graph 0.05, graph 0.08, graph 0.08\n  plot \\\n", gp.f);
    for (int k = 0; k < c->n_series; k++) {
        const SvgSeries *sr = &c->series[k];
        fputs("# block: ", dat.f);
        for (const char *p = sr->label; *p; p++) fputc((unsigned char)*p < ' ' ? ' ' : *p, dat.f);
        fputs("\n# speedup\tf1\tf1_std\n", dat.f);
        for (int i = 0; i < sr->n; i++)
            fprintf(dat.f, "%.9g\t%.9g\t%.9g\n", sr->x[i], sr->y[i],
                    isfinite(sr->err[i]) ? sr->err[i] : 0);
        fputs("\n\n", dat.f);
        fprintf(gp.f, "    '%s.dat' index %d using 1:2:3 with yerrorbars pt %d ps 1.4 "
                      "lc rgb '%s' title ", name, k, 7 + 2 * (int)sr->marker, sr->colour);
        gnuplot_quote(gp.f, sr->label);
        fputs(", \\\n", gp.f);
    }
    fputs("    NaN notitle\n", gp.f);
    gnuplot_script_end(gp.f);
    char script[600];
    snprintf(script, sizeof script, "%s.gp", name);
    snprintf(path, sizeof path, "%s/%s.dat", dir, name);
    int rc = report_buffer_commit(&dat, path);
    snprintf(path, sizeof path, "%s/%s", dir, script);
    if (report_buffer_commit(&gp, path)) rc = QA_ERR;
    return rc ? QA_ERR : gnuplot_run(dir, script);
}

static const char *const COLUMNS[][2] = {
    {"sweep", "text"},  {"teacher", "text"}, {"data", "text"},   {"strategy", "text"},
    {"heads %", "num"}, {"FFN %", "num"},    {"fine-tune", "text"}, {"seed", "num"},
    {"F1", "num"},      {"F1 over seeds", "num"}, {"speedup", "num"}, {"params", "num"},
    {"FLOPs", "num"},   {"frontier", "text"},
};

static void compare_table(FILE *f, const Sweeps *s, const char *const *names) {
    fputs("<table class=\"sortable\" id=\"points\">\n<thead><tr>", f);
    for (size_t c = 0; c < sizeof COLUMNS / sizeof COLUMNS[0]; c++)
        fprintf(f, "<th data-type=\"%s\">%s</th>", COLUMNS[c][1], COLUMNS[c][0]);
    fputs("</tr></thead>\n<tbody>\n", f);
    for (int k = 0; k < s->n_sweeps; k++)
        for (int i = 0; i < s->n[k]; i++) {
            const DbRunRow *r = &s->rows[k][i];
            const SeedStat *st = &s->ss[k][i];
            if (!done(r)) continue;
            fprintf(f, "<tr class=\"point%s\" data-sweep=\"%d\">", r->on_pareto ? " pareto" : "",
                    k);
            report_td_text(f, names[k]);
            report_td_text(f, r->teacher);
            report_td_text(f, r->data);
            report_td_text(f, r->strategy);
            report_td_num(f, 100 * r->head_sparsity, "%.1f");
            report_td_num(f, 100 * r->ffn_sparsity, "%.1f");
            report_td_text(f, r->finetune);
            report_td_num(f, (double)r->seed, "%.0f");
            report_td_num(f, r->m.f1, "%.2f");
            if (st->count > 1)
                fprintf(f, "<td class=\"num\" data-v=\"%.17g\">%.2f ± %.2f (n=%d)</td>",
                        st->mean, st->mean, st->std, st->count);
            else
                report_td_num(f, NAN, "%g");
            report_td_num(f, r->m.speedup, "%.2fx");
            report_td_big(f, (double)r->m.params);
            report_td_big(f, r->m.flops);
            fprintf(f, "<td>%s</td></tr>\n", r->on_pareto ? "★ Pareto" : "");
        }
    fputs("</tbody>\n</table>\n", f);
}

int compare_write(Db *const *dbs, const char *const *names, int n, const char *path) {
    Sweeps s;
    ReportBuf b;
    Chart chart = {0};
    int rc = QA_ERR;
    if (sweeps_read(dbs, n, &s) || report_buffer_open(&b)) goto cleanup;
    html_page_begin(b.f, "qaprune: sweeps compared");
    fputs("<h1>qaprune: sweeps compared</h1>\n<p class=\"meta\">", b.f);
    for (int k = 0; k < n; k++) {
        int d = 0;
        for (int i = 0; i < s.n[k]; i++) d += done(&s.rows[k][i]);
        fputs(k ? "; " : "", b.f);
        html_escape(b.f, names[k]);
        fprintf(b.f, ": %d done point(s)", d);
    }
    fputs(". One point per setting (mean &plusmn; std over its seeds where it has several). "
          "Frontier rows (★, yellow): on the Pareto frontier of their own sweep, teacher and "
          "data.</p>\n", b.f);
    if (chart_build(&s, names, &chart)) {
        fclose(b.f);
        free(b.data);
        goto cleanup;
    }
    svg_scatter(b.f, CHART_TITLE, CHART_X, CHART_Y, chart.series, chart.n_series, NAN, "",
                960, 480);
    fputs("<h2>Points of every sweep</h2>\n", b.f);
    compare_table(b.f, &s, names);
    html_page_end(b.f);
    rc = report_buffer_commit(&b, path);
    if (rc == QA_OK && gnuplot_available() && chart_gnuplot(&chart, path))
        rc = QA_ERR;
cleanup:
    chart_free(&chart);
    sweeps_free(&s);
    return rc;
}
