/* plots/compare.c: several sweeps on one page (see compare.h). */
#include "plots/compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
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

/* One series per (sweep, teacher): every done point of that teacher in that sweep, one per
 * setting (mean ± std over its seeds where it has several). */
static int compare_chart(FILE *f, const Sweeps *s, const char *const *names) {
    int total = 0;
    for (int k = 0; k < s->n_sweeps; k++) total += s->n[k];
    SvgSeries *series = calloc((size_t)total + 1, sizeof *series);
    double *x = malloc(sizeof *x * (size_t)(3 * total + 3));
    char (*labels)[160] = malloc(sizeof *labels * (size_t)(total + 1));
    char *drawn = calloc((size_t)total + 1, 1);
    if (!series || !x || !labels || !drawn) {
        free(series), free(x), free(labels), free(drawn);
        return qa_error("compare: out of memory drawing the chart");
    }
    double *y = x + total + 1, *e = y + total + 1;
    int n_series = 0, m = 0;
    for (int k = 0; k < s->n_sweeps; k++) {
        const DbRunRow *rows = s->rows[k];
        for (int i = 0; i < s->n[k]; i++) {
            if (!done(&rows[i])) continue;
            /* the first done row of a teacher opens its series and draws all of it */
            int first = 1;
            for (int j = 0; j < i && first; j++)
                first = !(done(&rows[j]) && !strcmp(rows[j].teacher_hash, rows[i].teacher_hash));
            if (!first) continue;
            SvgSeries *cur = &series[n_series];
            snprintf(labels[n_series], sizeof labels[0], "%.60s: %.60s", names[k],
                     *rows[i].teacher ? rows[i].teacher : "teacher");
            *cur = (SvgSeries){.label = labels[n_series], .colour = svg_colour(n_series),
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
            n_series++;
        }
    }
    svg_scatter(f, "F1 against speedup, per sweep and teacher",
                "speedup over the unpruned teacher (x, ratio of median latencies)",
                "F1 on the dev set (%)", series, n_series, NAN, "", 960, 480);
    free(series), free(x), free(labels), free(drawn);
    return QA_OK;
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
    if (compare_chart(b.f, &s, names)) {
        fclose(b.f);
        free(b.data);
        goto cleanup;
    }
    fputs("<h2>Points of every sweep</h2>\n", b.f);
    compare_table(b.f, &s, names);
    html_page_end(b.f);
    rc = report_buffer_commit(&b, path);
cleanup:
    sweeps_free(&s);
    return rc;
}
