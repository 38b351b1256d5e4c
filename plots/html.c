/* plots/html.c: escaping, the page frame and the inline SVG scatter chart (see html.h).
 * Reads top-down: escaping, the page's style and scripts, then the chart: scales and ticks,
 * markers, the chart itself. */
#include "plots/html.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- escaping */

void html_escape(FILE *f, const char *s) {
    if (!s) return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(c < ' ' && c != '\t' && c != '\n' && c != '\r' ? ' ' : c, f);
        }
    }
}

/* ---------------------------------------------------------------- the page */

static const char STYLE[] =
    "body{font:14px/1.4 system-ui,'DejaVu Sans',sans-serif;margin:20px auto;max-width:1280px;"
    "padding:0 16px;color:#222;background:#fafafa}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}"
    "h3{font-size:15px;margin:0 0 6px}\n"
    ".meta{color:#555;margin:0 0 12px}\n"
    "table.sortable{border-collapse:collapse;background:#fff;font-size:13px}\n"
    "table.sortable th,table.sortable td{border:1px solid #ddd;padding:3px 7px;"
    "white-space:nowrap}\n"
    "table.sortable th{background:#eee;cursor:pointer;user-select:none;position:sticky;top:0}\n"
    "table.sortable th[data-sorted=asc]::after{content:' \\25B2'}\n"
    "table.sortable th[data-sorted=desc]::after{content:' \\25BC'}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tr.pareto td{background:#fff4c2;font-weight:600}\n"
    "tr.failed td{color:#a00}tr.pending td,tr.running td{color:#888}\n"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:12px}\n"
    ".card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 12px}\n"
    ".card.pareto{border:2px solid #e0b000}.card.failed{border:2px solid #c33}\n"
    ".card dl{display:grid;grid-template-columns:auto 1fr;gap:1px 10px;margin:6px 0}\n"
    ".card dt{color:#666}.card dd{margin:0;font-variant-numeric:tabular-nums}\n"
    "pre{background:#f4f4f4;padding:6px;overflow:auto;max-height:260px;font-size:12px;"
    "margin:6px 0}\n"
    "pre.error{background:#fde8e8;color:#900;white-space:pre-wrap}\n"
    ".badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;"
    "background:#eee;margin-left:6px}\n"
    ".badge.pareto{background:#ffe27a}.badge.failed{background:#f6b4b4}\n"
    "svg text{font-family:system-ui,'DejaVu Sans',sans-serif}\n";

/* Runs before the page's other scripts: counts uncaught errors on <body>. */
static const char ERROR_RECORDER[] =
    "window.qaErrors=0;window.addEventListener('error',function(){window.qaErrors++;"
    "if(document.body)document.body.setAttribute('data-script-errors',String(window.qaErrors));"
    "});";

/* Click a header to sort by it (again: the other way); #sort=N[-desc] sorts at load. */
static const char SORT_SCRIPT[] =
    "(function(){\n"
    "function val(td,type){var v=td.getAttribute('data-v');if(v===null)v=td.textContent;\n"
    "  if(type==='num'){var x=parseFloat(v);return isNaN(x)?-Infinity:x;}\n"
    "  return v.toLowerCase();}\n"
    "function sortBy(t,col,desc){var tb=t.tBodies[0],ths=t.tHead.rows[0].cells;\n"
    "  var type=ths[col].getAttribute('data-type')||'text';\n"
    "  var rows=Array.prototype.slice.call(tb.rows);\n"
    "  rows.sort(function(a,b){var x=val(a.cells[col],type),y=val(b.cells[col],type);\n"
    "    var c=x<y?-1:x>y?1:0;return desc?-c:c;});\n"
    "  rows.forEach(function(r){tb.appendChild(r);});\n"
    "  for(var i=0;i<ths.length;i++)ths[i].removeAttribute('data-sorted');\n"
    "  ths[col].setAttribute('data-sorted',desc?'desc':'asc');}\n"
    "var tables=document.querySelectorAll('table.sortable');\n"
    "tables.forEach(function(t){var ths=t.tHead.rows[0].cells;\n"
    "  Array.prototype.forEach.call(ths,function(th,i){th.addEventListener('click',function(){\n"
    "    sortBy(t,i,th.getAttribute('data-sorted')==='asc');});});});\n"
    "var m=/^#sort=(\\d+)(-desc)?$/.exec(location.hash);\n"
    "if(m&&tables.length&&+m[1]<tables[0].tHead.rows[0].cells.length)\n"
    "  sortBy(tables[0],+m[1],!!m[2]);\n"
    "document.body.setAttribute('data-script-errors',String(window.qaErrors));\n"
    "document.body.setAttribute('data-ready','1');\n"
    "})();\n";

void html_page_begin(FILE *f, const char *title) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
    html_escape(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n<script>%s</script>\n</head>\n<body>\n", STYLE,
            ERROR_RECORDER);
}

void html_page_end(FILE *f) {
    fprintf(f, "<script>\n%s</script>\n</body>\n</html>\n", SORT_SCRIPT);
}

/* ---------------------------------------------------------------- scales and ticks */

static const char *const PALETTE[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                      "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

const char *svg_colour(int i) {
    int n = (int)(sizeof PALETTE / sizeof PALETTE[0]);
    return PALETTE[((i % n) + n) % n];
}

/* A linear map from data [lo, hi] to pixels [p0, p1]. */
typedef struct {
    double lo, hi, p0, p1;
} Scale;

static double scale_px(const Scale *s, double v) {
    return s->p0 + (v - s->lo) / (s->hi - s->lo) * (s->p1 - s->p0);
}

/* A tick step of 1, 2 or 5 times a power of ten giving about five ticks over [lo, hi]. */
static double nice_step(double lo, double hi) {
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

/* Widens [*lo, *hi] by 6% each side (a point on the edge stays visible), to multiples of
 * the tick step. */
static double range_pad(double *lo, double *hi) {
    if (!(*hi > *lo)) {
        double c = *lo;
        *lo = c - (fabs(c) > 1 ? 0.05 * fabs(c) : 0.5);
        *hi = c + (fabs(c) > 1 ? 0.05 * fabs(c) : 0.5);
    }
    double pad = 0.06 * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
    double step = nice_step(*lo, *hi);
    *lo = floor(*lo / step) * step;
    *hi = ceil(*hi / step) * step;
    return step;
}

/* ---------------------------------------------------------------- markers */

static void marker(FILE *f, SvgMarker m, double x, double y, const char *colour) {
    const double r = 4.5;
    switch (m) {
    case SVG_SQUARE:
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"",
                x - r, y - r, 2 * r, 2 * r, colour);
        break;
    case SVG_TRIANGLE:
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\"", x,
                y - 1.2 * r, x - 1.1 * r, y + 0.8 * r, x + 1.1 * r, y + 0.8 * r, colour);
        break;
    case SVG_DIAMOND:
        fprintf(f, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\"", x,
                y - 1.3 * r, x + 1.3 * r, y, x, y + 1.3 * r, x - 1.3 * r, y, colour);
        break;
    case SVG_CROSS:
        fprintf(f, "<path d=\"M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f\" stroke=\"%s\" "
                   "stroke-width=\"2.5\" fill=\"none\"",
                x - r, y - r, x + r, y + r, x - r, y + r, x + r, y - r, colour);
        break;
    default:
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"", x, y, r, colour);
    }
}

/* ---------------------------------------------------------------- the scatter chart */

/* The legend's width: room for the longest label (about 6.6 px a character at 12 px),
 * between 160 px and half the chart. */
static int legend_width(const SvgSeries *series, int n, int w) {
    size_t longest = 0;
    for (int k = 0; k < n; k++) {
        size_t chars = 0;
        for (const char *p = series[k].label ? series[k].label : ""; *p; p++)
            chars += ((unsigned char)*p & 0xC0) != 0x80; /* code points, not bytes */
        if (chars > longest) longest = chars;
    }
    int lw = 44 + (int)(6.6 * (double)longest);
    return lw < 160 ? 160 : lw > w / 2 ? w / 2 : lw;
}

static int finite_xy(const SvgSeries *s, int i) { return isfinite(s->x[i]) && isfinite(s->y[i]); }

static void ticks(FILE *f, const Scale *xs, const Scale *ys, double xstep, double ystep) {
    for (double v = xs->lo; v <= xs->hi + 1e-9 * xstep; v += xstep) {
        double px = scale_px(xs, v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
                px, ys->p0, px, ys->p1, px, ys->p0 + 15, fabs(v) < 1e-12 ? 0 : v);
    }
    for (double v = ys->lo; v <= ys->hi + 1e-9 * ystep; v += ystep) {
        double py = scale_px(ys, v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n",
                xs->p0, py, xs->p1, py, xs->p0 - 6, py + 4, fabs(v) < 1e-12 ? 0 : v);
    }
}

static void series_draw(FILE *f, const SvgSeries *s, const Scale *xs, const Scale *ys) {
    if (s->step_line) {
        fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                   "stroke-dasharray=\"6 4\" d=\"", s->colour);
        int first = 1;
        double prev_y = 0;
        for (int i = 0; i < s->n; i++) {
            if (!finite_xy(s, i)) continue;
            double px = scale_px(xs, s->x[i]), py = scale_px(ys, s->y[i]);
            if (first) fprintf(f, "M%.1f %.1f", px, py);
            else fprintf(f, "V%.1fH%.1fV%.1f", prev_y, px, py); /* steps: across, then down */
            prev_y = py;
            first = 0;
        }
        fputs("\"/>\n", f);
    }
    for (int i = 0; i < s->n; i++) {
        if (!finite_xy(s, i)) continue;
        double px = scale_px(xs, s->x[i]), py = scale_px(ys, s->y[i]);
        if (s->err && isfinite(s->err[i]) && s->err[i] > 0)
            fprintf(f, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" stroke=\"%s\" "
                       "stroke-width=\"1.3\"/>\n",
                    px, scale_px(ys, s->y[i] - s->err[i]), scale_px(ys, s->y[i] + s->err[i]),
                    px - 4, scale_px(ys, s->y[i] - s->err[i]), px + 4, px - 4,
                    scale_px(ys, s->y[i] + s->err[i]), px + 4, s->colour);
        if (s->step_line) {
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"8\" fill=\"none\" stroke=\"%s\" "
                       "stroke-width=\"1.5\"", px, py, s->colour);
        } else {
            marker(f, s->marker, px, py, s->colour);
        }
        if (s->tips && s->tips[i]) {
            fputs("><title>", f);
            html_escape(f, s->tips[i]);
            fputs("</title></", f);
            fputs(s->step_line || s->marker == SVG_CIRCLE ? "circle"
                  : s->marker == SVG_SQUARE               ? "rect"
                  : s->marker == SVG_CROSS                ? "path"
                                                          : "polygon",
                  f);
            fputs(">\n", f);
        } else {
            fputs("/>\n", f);
        }
    }
}

static void legend(FILE *f, const SvgSeries *series, int n, int x0, int y0) {
    for (int k = 0; k < n; k++) {
        const SvgSeries *s = &series[k];
        double y = y0 + 18 * k;
        if (s->step_line)
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-width=\"2\" stroke-dasharray=\"6 4\"/>",
                    x0 - 6, y, x0 + 10, y, s->colour);
        else {
            marker(f, s->marker, x0 + 2, y, s->colour);
            fputs("/>", f);
        }
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"12\">", x0 + 16, y + 4);
        html_escape(f, s->label);
        fputs("</text>\n", f);
    }
}

void svg_scatter(FILE *f, const char *title, const char *xlabel, const char *ylabel,
                 const SvgSeries *series, int n_series, double ref_y, const char *ref_label,
                 int w, int h) {
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < series[k].n; i++) {
            if (!finite_xy(&series[k], i)) continue;
            double e = series[k].err && isfinite(series[k].err[i]) ? series[k].err[i] : 0;
            xlo = fmin(xlo, series[k].x[i]);
            xhi = fmax(xhi, series[k].x[i]);
            ylo = fmin(ylo, series[k].y[i] - e);
            yhi = fmax(yhi, series[k].y[i] + e);
        }
    int legend_w = legend_width(series, n_series, w);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n"
               "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n"
               "<text x=\"%d\" y=\"20\" font-size=\"15\" text-anchor=\"middle\">",
            w, h, w, h, w, h, (w - legend_w) / 2 + 30);
    html_escape(f, title);
    fputs("</text>\n", f);
    if (isfinite(ref_y)) {
        ylo = fmin(ylo, ref_y);
        yhi = fmax(yhi, ref_y);
    }
    if (!isfinite(xlo)) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"16\" text-anchor=\"middle\" "
                   "fill=\"#888\">no finished runs yet</text>\n</svg>\n", w / 2, h / 2);
        return;
    }
    double xstep = range_pad(&xlo, &xhi), ystep = range_pad(&ylo, &yhi);
    Scale xs = {xlo, xhi, 60, w - legend_w}, ys = {ylo, yhi, h - 48, 34};
    ticks(f, &xs, &ys, xstep, ystep);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#444\"/>\n",
            xs.p0, ys.p1, xs.p1 - xs.p0, ys.p0 - ys.p1);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">",
            (xs.p0 + xs.p1) / 2, h - 12);
    html_escape(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(16 %.1f) rotate(-90)\" font-size=\"12\" "
               "text-anchor=\"middle\">", (ys.p0 + ys.p1) / 2);
    html_escape(f, ylabel);
    fputs("</text>\n", f);
    if (isfinite(ref_y)) {
        double py = scale_px(&ys, ref_y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" "
                   "stroke-dasharray=\"2 3\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" "
                   "text-anchor=\"end\">",
                xs.p0, py, xs.p1, py, xs.p1 - 4, py - 4);
        html_escape(f, ref_label);
        fputs("</text>\n", f);
    }
    for (int k = 0; k < n_series; k++) series_draw(f, &series[k], &xs, &ys);
    legend(f, series, n_series, w - legend_w + 24, 44);
    fputs("</svg>\n", f);
}
