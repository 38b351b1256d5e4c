/* plots/report.c: OUT/report.html (see report.h). Reads top-down: the page in memory and its
 * atomic write, seed groups (mean ± std over seeds), cell helpers, the charts, the table,
 * the cards, then report_write. compare_write lives in plots/compare.c. */
#include "plots/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/util/fileio.h"
#include "plots/html.h"
#include "plots/report_private.h"

/* ---------------------------------------------------------------- the page in memory */

int report_buffer_open(ReportBuf *b) {
    b->data = NULL;
    b->size = 0;
    b->f = open_memstream(&b->data, &b->size);
    return b->f ? QA_OK : qa_error("report: out of memory");
}

int report_buffer_commit(ReportBuf *b, const char *path) {
    int bad = ferror(b->f);
    if (fclose(b->f) != 0 || bad) {
        free(b->data);
        return qa_error("%s: out of memory composing the page", path);
    }
    int rc = file_write_atomic(path, b->data, b->size);
    free(b->data);
    return rc;
}

/* ---------------------------------------------------------------- seed groups */

/* The settings of a run without its seed: teacher, data, strategy, mode, targets and the
 * config with its identity and prune.seed removed (runs of one grid that differ only in the
 * seed get one key). A new string, or NULL when out of memory. */
static char *setting_key(const DbRunRow *r) {
    char *cfg = NULL;
    cJSON *j = cJSON_Parse(r->config_json);
    if (j) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "identity");
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "prune"),
                                                "seed");
        cfg = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
    }
    const char *c = cfg ? cfg : "";
    size_t n = strlen(c) + strlen(r->strategy) + strlen(r->finetune) + 2 * DB_HASH_MAX + 96;
    char *key = malloc(n);
    if (key)
        snprintf(key, n, "%s|%s|%s|%s|%.17g|%.17g|%s", r->teacher_hash, r->data_hash,
                 r->strategy, r->finetune, r->head_sparsity, r->ffn_sparsity, c);
    free(cfg);
    return key;
}

typedef struct {
    char *key;
    int row;
} KeyedRow;

static int keyed_cmp(const void *a, const void *b) {
    const KeyedRow *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->row - y->row;
}

/* Rows sharing a key are contiguous once sorted by it; each run of equal keys is a group. */
int report_seed_stats(const DbRunRow *rows, int n, SeedStat *out) {
    KeyedRow *k = malloc(sizeof *k * (size_t)(n > 0 ? n : 1));
    if (!k) return qa_error("report: out of memory");
    int rc = QA_OK;
    for (int i = 0; i < n; i++) {
        k[i] = (KeyedRow){setting_key(&rows[i]), i};
        if (!k[i].key) rc = qa_error("report: out of memory");
    }
    if (rc == QA_OK) qsort(k, (size_t)n, sizeof *k, keyed_cmp);
    for (int a = 0; rc == QA_OK && a < n;) {
        int b = a;
        while (b < n && !strcmp(k[a].key, k[b].key)) b++;
        double sum = 0, sq = 0, speed = 0;
        int m = 0;
        for (int i = a; i < b; i++) {
            const DbRunRow *r = &rows[k[i].row];
            if (r->status != DB_DONE || !r->has_result || !isfinite(r->m.f1)) continue;
            sum += r->m.f1;
            speed += r->m.speedup;
            m++;
        }
        double mean = m ? sum / m : NAN;
        for (int i = a; i < b; i++) {
            const DbRunRow *r = &rows[k[i].row];
            if (r->status == DB_DONE && r->has_result && isfinite(r->m.f1))
                sq += (r->m.f1 - mean) * (r->m.f1 - mean);
        }
        for (int i = a; i < b; i++)
            out[k[i].row] = (SeedStat){mean, m > 1 ? sqrt(sq / (m - 1)) : NAN,
                                       m ? speed / m : NAN, m, a};
        a = b;
    }
    for (int i = 0; i < n; i++) free(k[i].key);
    free(k);
    return rc;
}

/* ---------------------------------------------------------------- cells */

void report_td_text(FILE *f, const char *s) {
    fputs("<td>", f);
    html_escape(f, s);
    fputs("</td>", f);
}

/* A number cell: sorted by the exact value, shown with fmt; empty when v is not finite. */
void report_td_num(FILE *f, double v, const char *fmt) {
    if (!isfinite(v)) {
        fputs("<td class=\"num\" data-v=\"\"></td>", f);
        return;
    }
    fprintf(f, "<td class=\"num\" data-v=\"%.17g\">", v);
    fprintf(f, fmt, v);
    fputs("</td>", f);
}

/* A count in engineering form: 1.23M, 4.5G. */
void report_td_big(FILE *f, double v) {
    if (!isfinite(v)) {
        report_td_num(f, v, "%g");
        return;
    }
    static const char *const units[] = {"", "k", "M", "G", "T", "P"};
    int u = 0;
    double s = v;
    while (fabs(s) >= 1000 && u < 5) s /= 1000, u++;
    fprintf(f, "<td class=\"num\" data-v=\"%.17g\">%.3g%s</td>", v, s, units[u]);
}

const char *report_status_name(DbStatus s) {
    static const char *const names[] = {"pending", "running", "done", "failed"};
    return names[s];
}

/* ---------------------------------------------------------------- charts */

/* Names in order of first appearance (borrowed), for stable colours and markers. */
typedef struct {
    int n;
    const char *names[64];
} Names;

static int names_index(Names *l, const char *s) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->names[i], s)) return i;
    if (l->n == 64) return 63;
    l->names[l->n] = s;
    return l->n++;
}

/* 1 when rows a and b have the same teacher and data. */
static int same_group(const DbRunRow *a, const DbRunRow *b) {
    return !strcmp(a->teacher_hash, b->teacher_hash) && !strcmp(a->data_hash, b->data_hash);
}

/* One chart's arrays: a point per setting (x, y, ± err, tooltip), the frontier. */
typedef struct {
    SvgSeries *series;
    double *x, *y, *err, *fx, *fy;
    char (*labels)[96];
    char (*tips)[200];
    const char **tip_ptr;
} ChartBufs;

static void chart_bufs_free(ChartBufs *c) {
    free(c->series), free(c->x), free(c->y), free(c->err), free(c->fx), free(c->fy);
    free(c->labels), free(c->tips), free(c->tip_ptr);
}

static int chart_bufs_alloc(ChartBufs *c, int n) {
    size_t k = (size_t)n + 1;
    *c = (ChartBufs){calloc(k + 1, sizeof *c->series), malloc(k * sizeof(double)),
                     malloc(k * sizeof(double)), malloc(k * sizeof(double)),
                     malloc(k * sizeof(double)), malloc(k * sizeof(double)),
                     malloc(k * sizeof *c->labels), malloc(k * sizeof *c->tips),
                     malloc(k * sizeof *c->tip_ptr)};
    if (c->series && c->x && c->y && c->err && c->fx && c->fy && c->labels && c->tips &&
        c->tip_ptr)
        return QA_OK;
    chart_bufs_free(c);
    return qa_error("report: out of memory drawing a chart");
}

typedef struct {
    double x, y;
} XY;

static int xy_cmp(const void *a, const void *b) {
    const XY *p = a, *q = b;
    return (p->x > q->x) - (p->x < q->x);
}

/* The F1 against speedup chart of the rows of row g0's teacher and data: a series per
 * strategy / fine-tune mode (rows come ordered so), one point per setting (the mean ± std of
 * its seeds when it has several, at their mean speedup), the frontier, the teacher's F1.
 * For a Natural Questions group f1 is the short-answer F1; with long_f1 the chart is of the
 * long-answer F1 instead: one point per run, no frontier or teacher mark (both are by f1). */
static int chart_group(FILE *f, const DbRunRow *rows, int n, const SeedStat *ss, int g0,
                       int many, int nq, int long_f1) {
    ChartBufs c;
    Names strategies = {0}, finetunes = {0};
    char *drawn = calloc((size_t)n + 1, 1);
    if (!drawn || chart_bufs_alloc(&c, n)) {
        free(drawn);
        return qa_error("report: out of memory drawing a chart");
    }
    int m = 0, n_series = 0, n_front = 0, opener = 0; /* opener: the current series' 1st row */
    double teacher_f1 = NAN;
    XY *front_pairs = malloc(sizeof *front_pairs * (size_t)(n + 1));
    if (!front_pairs) {
        free(drawn);
        chart_bufs_free(&c);
        return qa_error("report: out of memory drawing a chart");
    }
    for (int i = 0; i < n; i++) {
        const DbRunRow *r = &rows[i];
        if (!same_group(r, &rows[g0]) || r->status != DB_DONE || !r->has_result) continue;
        if (long_f1 && !r->m.nq) continue;
        if (!long_f1 && isnan(teacher_f1) && isfinite(r->m.teacher_f1)) teacher_f1 = r->m.teacher_f1;
        if (!long_f1 && r->on_pareto) front_pairs[n_front++] = (XY){r->m.speedup, r->m.f1};
        if (!long_f1 && drawn[ss[i].group]) continue; /* another seed of a setting drawn */
        drawn[ss[i].group] = 1;
        int si = names_index(&strategies, r->strategy), fi = names_index(&finetunes, r->finetune);
        SvgSeries *cur = n_series ? &c.series[n_series - 1] : NULL;
        if (!cur || strcmp(rows[opener].strategy, r->strategy) ||
            strcmp(rows[opener].finetune, r->finetune)) {
            opener = i;
            snprintf(c.labels[n_series], sizeof c.labels[0], "%.40s / %.40s", r->strategy,
                     r->finetune);
            cur = &c.series[n_series];
            *cur = (SvgSeries){.label = c.labels[n_series], .colour = svg_colour(si),
                               .marker = fi % SVG_N_MARKERS, .x = c.x + m, .y = c.y + m,
                               .err = c.err + m, .tips = c.tip_ptr + m};
            n_series++;
        }
        int several = !long_f1 && ss[i].count > 1;
        c.x[m] = several ? ss[i].speedup : r->m.speedup;
        c.y[m] = several ? ss[i].mean : long_f1 ? r->m.long_f1 : r->m.f1;
        c.err[m] = several ? ss[i].std : NAN;
        if (several)
            snprintf(c.tips[m], sizeof c.tips[0], "%s / %s, heads %.0f%% ffn %.0f%%: F1 %.2f "
                     "± %.2f over %d seeds, %.2fx", r->strategy, r->finetune,
                     100 * r->head_sparsity, 100 * r->ffn_sparsity, c.y[m], c.err[m],
                     ss[i].count, c.x[m]);
        else
            snprintf(c.tips[m], sizeof c.tips[0], "run %lld: %s / %s, heads %.0f%% ffn %.0f%%,"
                     " seed %lld: F1 %.2f, %.2fx", r->run_id, r->strategy, r->finetune,
                     100 * r->head_sparsity, 100 * r->ffn_sparsity, r->seed, c.y[m], c.x[m]);
        c.tip_ptr[m] = c.tips[m];
        cur->n++;
        m++;
    }
    qsort(front_pairs, (size_t)n_front, sizeof *front_pairs, xy_cmp);
    for (int i = 0; i < n_front; i++) c.fx[i] = front_pairs[i].x, c.fy[i] = front_pairs[i].y;
    if (n_front)
        c.series[n_series++] = (SvgSeries){.label = "Pareto frontier", .colour = "#333333",
                                           .step_line = 1, .n = n_front, .x = c.fx, .y = c.fy};
    char title[2 * DB_LABEL_MAX + 96], ref[64];
    const char *what = long_f1 ? "Long-answer F1 (Natural Questions)"
                       : nq ? "Short-answer F1 (Natural Questions)" : "F1";
    snprintf(title, sizeof title, "%s against speedup%s%s%s%s", what, many ? ": teacher " : "",
             many ? rows[g0].teacher : "", many ? ", data " : "", many ? rows[g0].data : "");
    snprintf(ref, sizeof ref, "teacher F1 %.1f", teacher_f1);
    svg_scatter(f, title, "speedup over the unpruned teacher (x, ratio of median latencies)",
                "F1 on the dev set (%)", c.series, n_series, teacher_f1, ref, 900, 440);
    free(front_pairs);
    free(drawn);
    chart_bufs_free(&c);
    return QA_OK;
}

/* ---------------------------------------------------------------- the table */

static const char *const COLUMNS[][2] = {
    {"run", "num"},     {"teacher", "text"},  {"data", "text"},     {"strategy", "text"},
    {"heads %", "num"}, {"FFN %", "num"},     {"fine-tune", "text"}, {"seed", "num"},
    {"F1", "num"},      {"F1 over seeds", "num"}, {"speedup", "num"}, {"train s", "num"},
    {"params", "num"},  {"FLOPs", "num"},   {"status", "text"},
};

static void table_rows(FILE *f, const DbRunRow *rows, int n, const SeedStat *ss) {
    fputs("<table class=\"sortable\" id=\"points\">\n<thead><tr>", f);
    for (size_t c = 0; c < sizeof COLUMNS / sizeof COLUMNS[0]; c++)
        fprintf(f, "<th data-type=\"%s\">%s</th>", COLUMNS[c][1], COLUMNS[c][0]);
    fputs("</tr></thead>\n<tbody>\n", f);
    for (int i = 0; i < n; i++) {
        const DbRunRow *r = &rows[i];
        const char *st = report_status_name(r->status);
        int done = r->status == DB_DONE && r->has_result;
        fprintf(f, "<tr class=\"point %s%s\" data-run=\"%lld\" data-group=\"%d\">", st,
                r->on_pareto ? " pareto" : "", r->run_id, ss[i].group);
        fprintf(f, "<td class=\"num\" data-v=\"%lld\"><a href=\"#run-%lld\">%lld</a></td>",
                r->run_id, r->run_id, r->run_id);
        report_td_text(f, r->teacher);
        report_td_text(f, r->data);
        report_td_text(f, r->strategy);
        report_td_num(f, 100 * r->head_sparsity, "%.1f");
        report_td_num(f, 100 * r->ffn_sparsity, "%.1f");
        report_td_text(f, r->finetune);
        report_td_num(f, (double)r->seed, "%.0f");
        report_td_num(f, done ? r->m.f1 : NAN, "%.2f");
        if (ss[i].count > 1)
            fprintf(f, "<td class=\"num\" data-v=\"%.17g\">%.2f ± %.2f (n=%d)</td>", ss[i].mean,
                    ss[i].mean, ss[i].std, ss[i].count);
        else
            report_td_num(f, NAN, "%g");
        report_td_num(f, done ? r->m.speedup : NAN, "%.2fx");
        /* the strategy's compute (gain's scoring, l0's joint steps) plus fine-tuning */
        report_td_num(f, done ? r->m.train_seconds : NAN, "%.1f");
        report_td_big(f, done ? (double)r->m.params : NAN);
        report_td_big(f, done ? r->m.flops : NAN);
        fprintf(f, "<td>%s%s</td></tr>\n", st, r->on_pareto ? " ★" : "");
    }
    fputs("</tbody>\n</table>\n", f);
}

/* ---------------------------------------------------------------- the cards */

/* Kept heads and FFN neurons per layer as bars, full height = the teacher's per-layer size
 * (the totals over the layers, which the engine's teachers share evenly). */
static void card_layers(FILE *f, const DbRunRow *r) {
    int L = r->n_layers;
    if (L <= 0) return;
    double hmax = (double)r->m.heads_total / L, fmax_ = (double)r->m.ffn_total / L;
    for (int l = 0; l < L; l++) {
        if (r->layer_heads[l] > hmax) hmax = r->layer_heads[l];
        if (r->layer_ffn[l] > fmax_) fmax_ = r->layer_ffn[l];
    }
    const int w = 360, h = 136, top = 34, base = 106;
    double gw = (double)(w - 50) / L, bw = gw * 0.38;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"layers\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n"
               "<rect x=\"40\" y=\"%d\" width=\"12\" height=\"8\" fill=\"#1f77b4\"/>"
               "<text x=\"56\" y=\"%d\" font-size=\"11\">heads kept</text>"
               "<rect x=\"140\" y=\"%d\" width=\"12\" height=\"8\" fill=\"#ff7f0e\"/>"
               "<text x=\"156\" y=\"%d\" font-size=\"11\">FFN neurons kept</text>\n"
               "<line x1=\"40\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#444\"/>\n",
            w, h, w, h, 4, 12, 4, 12, base, w - 8, base);
    for (int l = 0; l < L; l++) {
        double x0 = 44 + l * gw;
        double hh = hmax > 0 ? (base - top) * r->layer_heads[l] / hmax : 0;
        double fh = fmax_ > 0 ? (base - top) * r->layer_ffn[l] / fmax_ : 0;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#1f77b4\">"
                   "<title>layer %d: %d heads kept</title></rect>"
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ff7f0e\">"
                   "<title>layer %d: %d FFN neurons kept</title></rect>\n",
                x0, base - hh, bw, hh, l, r->layer_heads[l], x0 + bw, base - fh, bw, fh, l,
                r->layer_ffn[l]);
        if (L <= 12)
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" text-anchor=\"middle\">%d"
                       "</text><text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" "
                       "text-anchor=\"middle\">%d</text>\n",
                    x0 + bw / 2, base - hh - 2, r->layer_heads[l], x0 + 1.5 * bw, base - fh - 2,
                    r->layer_ffn[l]);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%d</text>\n",
                x0 + bw, base + 12, l);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">layer</text>"
               "\n</svg>\n", w / 2, base + 26);
}

/* One <dt>/<dd> pair with a number; nothing when v is not finite. */
static void dd_num(FILE *f, const char *name, double v, const char *fmt) {
    if (!isfinite(v)) return;
    fprintf(f, "<dt>%s</dt><dd>", name);
    fprintf(f, fmt, v);
    fputs("</dd>", f);
}

static void dd_text(FILE *f, const char *name, const char *s) {
    if (!s || !*s) return;
    fprintf(f, "<dt>%s</dt><dd>", name);
    html_escape(f, s);
    fputs("</dd>", f);
}

/* The config pretty-printed (two-space indent, "key": value), or as stored when it does
 * not parse. */
static void card_config(FILE *f, const char *json) {
    if (!*json) return;
    cJSON *j = cJSON_Parse(json);
    char *pretty = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    fputs("<details><summary>config</summary><pre class=\"config\">", f);
    const char *text = pretty ? pretty : json;
    for (const char *p = text; *p; p++) {
        if (*p == '\t') fputs(p > text && p[-1] == ':' ? " " : "  ", f); /* cJSON indents by tabs */
        else {
            char one[2] = {*p, 0};
            html_escape(f, one);
        }
    }
    fputs("</pre></details>\n", f);
    free(pretty);
}

static void card(FILE *f, const DbRunRow *r, const SeedStat *ss) {
    const char *st = report_status_name(r->status);
    const DbMetrics *m = &r->m;
    fprintf(f, "<div class=\"card %s%s\" id=\"run-%lld\">\n<h3>#%lld ", st,
            r->on_pareto ? " pareto" : "", r->run_id, r->run_id);
    html_escape(f, r->strategy);
    fputs(" / ", f);
    html_escape(f, r->finetune);
    fprintf(f, ", heads %.0f%% / FFN %.0f%%, seed %lld<span class=\"badge %s\">%s</span>%s"
               "</h3>\n<dl>", 100 * r->head_sparsity, 100 * r->ffn_sparsity, r->seed, st, st,
            r->on_pareto ? "<span class=\"badge pareto\">Pareto frontier</span>" : "");
    dd_text(f, "teacher", r->teacher);
    dd_text(f, "data", r->data);
    dd_text(f, "identity", r->config_hash);
    if (r->has_result) {
        dd_num(f, m->nq ? "F1 (short answers)" : "F1", m->f1, "%.2f");
        if (ss->count > 1)
            fprintf(f, "<dt>F1 over seeds</dt><dd>%.2f ± %.2f (n=%d)</dd>", ss->mean, ss->std,
                    ss->count);
        if (m->nq) { /* Natural Questions: the official metric at its best threshold */
            dd_num(f, "long-answer F1", m->long_f1, "%.2f");
            dd_num(f, "long precision", m->long_precision, "%.2f");
            dd_num(f, "long recall", m->long_recall, "%.2f");
            dd_num(f, "short-answer F1", m->short_f1, "%.2f");
            dd_num(f, "short precision", m->short_precision, "%.2f");
            dd_num(f, "short recall", m->short_recall, "%.2f");
        } else {
            dd_num(f, "exact match", m->exact, "%.2f");
            dd_num(f, "HasAns F1", m->has_ans_f1, "%.2f");
            dd_num(f, "NoAns F1", m->no_ans_f1, "%.2f");
        }
        dd_num(f, "F1 before fine-tune", m->f1_before_finetune, "%.2f");
        dd_num(f, "teacher F1", m->teacher_f1, "%.2f");
        dd_num(f, "latency (ms)", m->latency_ms, "%.3f");
        dd_num(f, "teacher latency (ms)", m->teacher_latency_ms, "%.3f");
        dd_num(f, "speedup", m->speedup, "%.2fx");
        dd_num(f, "ONNX Runtime latency (ms)", m->ort_latency_ms, "%.3f");
        dd_num(f, "ONNX Runtime teacher latency (ms)", m->ort_teacher_latency_ms, "%.3f");
        dd_num(f, "ONNX Runtime speedup", m->ort_speedup, "%.2fx");
        fprintf(f, "<dt>heads kept</dt><dd>%lld of %lld</dd><dt>FFN kept</dt>"
                   "<dd>%lld of %lld</dd>", m->heads_kept, m->heads_total, m->ffn_kept,
                m->ffn_total);
        dd_num(f, "params", (double)m->params, "%.0f");
        dd_num(f, "FLOPs", m->flops, "%.4g");
        dd_num(f, "train seconds", m->train_seconds, "%.1f");
        dd_num(f, "peak memory (MiB)", m->peak_rss_mb, "%.0f");
    }
    fprintf(f, "<dt>attempts</dt><dd>%lld</dd>", r->attempts);
    dd_text(f, "started", r->started_at);
    dd_text(f, "finished", r->finished_at);
    fputs("</dl>\n", f);
    if (r->has_result) card_layers(f, r);
    if (*r->error) {
        fputs("<pre class=\"error\">", f);
        html_escape(f, r->error);
        fputs("</pre>\n", f);
    }
    card_config(f, r->config_json);
    fputs("</div>\n", f);
}

/* ---------------------------------------------------------------- the page */

static void page_header(FILE *f, const char *title, const DbRunRow *rows, int n) {
    int count[4] = {0}, front = 0;
    for (int i = 0; i < n; i++) {
        count[rows[i].status]++;
        front += rows[i].on_pareto;
    }
    char now[32];
    db_time_now(now, sizeof now);
    fputs("<h1>qaprune sweep: ", f);
    html_escape(f, title);
    fprintf(f, "</h1>\n<p class=\"meta\">%d point(s): %d done, %d failed, %d running, %d "
               "pending; %d on the Pareto frontier of their teacher and data (highlighted). "
               "Written %s.</p>\n",
            n, count[DB_DONE], count[DB_FAILED], count[DB_RUNNING], count[DB_PENDING], front,
            now);
}

static int report_body(FILE *f, const char *title, const DbRunRow *rows, int n,
                       const SeedStat *ss) {
    html_page_begin(f, title);
    page_header(f, title, rows, n);
    int groups = 0;
    for (int i = 0; i < n; i++) {
        int first = 1;
        for (int k = 0; k < i && first; k++) first = !same_group(&rows[k], &rows[i]);
        groups += first;
    }
    fputs("<h2>F1 against speedup</h2>\n<p class=\"meta\">One point per setting; where a "
          "setting has several seeds, their mean F1 &plusmn; standard deviation at their mean "
          "speedup. Hover a point for its numbers.</p>\n", f);
    int drawn = 0;
    for (int i = 0; i < n; i++) {
        int first = 1;
        for (int k = 0; k < i && first; k++) first = !same_group(&rows[k], &rows[i]);
        /* a Natural Questions group: its short-answer F1 (f1), then its long-answer F1 */
        int nq = 0;
        for (int k = i; k < n && first && !nq; k++)
            nq = same_group(&rows[k], &rows[i]) && rows[k].has_result && rows[k].m.nq;
        if (first && chart_group(f, rows, n, ss, i, groups > 1, nq, 0)) return QA_ERR;
        if (nq && chart_group(f, rows, n, ss, i, groups > 1, nq, 1)) return QA_ERR;
        drawn += first;
    }
    if (!drawn) svg_scatter(f, "F1 against speedup", "speedup", "F1", NULL, 0, NAN, "", 900, 200);
    fputs("<h2>Points</h2>\n<p class=\"meta\">Click a header to sort. F1 over seeds: mean "
          "&plusmn; sample standard deviation over the runs equal in everything but the seed. "
          "★ and yellow: on the Pareto frontier.</p>\n", f);
    table_rows(f, rows, n, ss);
    fputs("<h2>Cards</h2>\n<div class=\"cards\">\n", f);
    for (int i = 0; i < n; i++) card(f, &rows[i], &ss[i]);
    fputs("</div>\n", f);
    html_page_end(f);
    return QA_OK;
}

int report_write(Db *db, int only_grid, const char *title, const char *path) {
    DbRunRow *rows = NULL;
    int n = 0;
    if (db_run_rows(db, only_grid, &rows, &n)) return QA_ERR;
    SeedStat *ss = malloc(sizeof *ss * (size_t)(n + 1));
    ReportBuf b;
    int rc = QA_ERR;
    if (!ss) {
        qa_error("%s: out of memory", path);
        goto cleanup;
    }
    if (report_seed_stats(rows, n, ss) || report_buffer_open(&b)) goto cleanup;
    if (report_body(b.f, title, rows, n, ss)) {
        fclose(b.f);
        free(b.data);
        goto cleanup;
    }
    rc = report_buffer_commit(&b, path);
cleanup:
    free(ss);
    db_run_rows_free(rows, n);
    return rc;
}
