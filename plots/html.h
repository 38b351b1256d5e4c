/* plots/html.h: the pieces every HTML page of qaprune is made of: the one escaping helper,
 * the page frame (inline CSS, and the inline script that sorts tables and records script
 * errors), and charts drawn as inline SVG by this code. Pages load nothing from anywhere:
 * no network, no external script or style sheet.
 *
 * Sortable tables: <table class="sortable">, each <th data-type="num|text"> clickable; a
 * cell's sort value is its data-v attribute (else its text); rows sort as they are, so a
 * table keeps one <tbody>. A page opened as page.html#sort=N (or #sort=N-desc) sorts its
 * first sortable table by column N at load, which is how the tests drive the script.
 * When the script has run, <body> carries data-ready="1" and data-script-errors="K" (K
 * uncaught errors seen by then, 0 on a healthy page). */
#ifndef QAPRUNE_HTML_H
#define QAPRUNE_HTML_H

#include <stdio.h>

/* Writes s with & < > " ' as character references, so it is inert both as element text and
 * inside a quoted attribute; control characters other than tab, LF and CR become spaces.
 * NULL writes nothing. Every string from a database, a config or a file goes through here. */
void html_escape(FILE *f, const char *s);

/* Writes the doctype, head (charset, escaped title, the style sheet, the error recorder) and
 * opens <body>; html_page_end writes the sorting script and closes the page. */
void html_page_begin(FILE *f, const char *title);
void html_page_end(FILE *f);

/* Marker shapes of a scatter series. */
typedef enum { SVG_CIRCLE, SVG_SQUARE, SVG_TRIANGLE, SVG_DIAMOND, SVG_CROSS } SvgMarker;
#define SVG_N_MARKERS 5

/* One series of a scatter chart; every pointer is borrowed for the call. */
typedef struct {
    const char *label;  /* legend text (escaped when written) */
    const char *colour; /* a CSS colour written as is, e.g. "#1f77b4": ours, never user text */
    SvgMarker marker;
    int step_line;      /* 1: a step line through the points (a frontier), ordered by x */
    int n;
    const double *x, *y;
    const double *err;  /* may be NULL: else a vertical ± bar of this half-height per point */
    const char *const *tips; /* may be NULL: else a tooltip per point (escaped) */
} SvgSeries;

/* Draws an inline <svg> scatter chart of w x h pixels: a frame with nice ticks over the data
 * range (padded), axis labels, the series (non-finite points skipped) and a legend at the
 * right. An optional horizontal reference line at y = ref_y (NAN: none) labelled ref_label.
 * A chart with no finite point says "no finished runs yet". */
void svg_scatter(FILE *f, const char *title, const char *xlabel, const char *ylabel,
                 const SvgSeries *series, int n_series, double ref_y, const char *ref_label,
                 int w, int h);

/* The colour of series index i (a fixed palette, cycling). */
const char *svg_colour(int i);

#endif
