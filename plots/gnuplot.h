/* plots/gnuplot.h: writing gnuplot scripts and running the external `gnuplot` program.
 *
 * Every chart script renders the same body twice, to NAME.png (pngcairo, or the plain png
 * terminal where gnuplot lacks cairo) and to NAME.svg, with
 *   do for [fmt in "png svg"] { reset; set terminal ...; set output 'NAME.'.fmt; BODY }
 * so a user who edits the body changes both images. Scripts refer to their data files by
 * bare name and are run with their own directory as the working directory, so
 * `cd DIR && gnuplot NAME.gp` re-draws a chart. Text is drawn noenhanced: strategy names and
 * titles appear literally (no ^ _ @ markup). */
#ifndef QAPRUNE_GNUPLOT_H
#define QAPRUNE_GNUPLOT_H

#include <stdio.h>

/* Returns 1 when an executable named gnuplot is on PATH, else 0. */
int gnuplot_available(void);

/* Writes s as a gnuplot single-quoted string literal: ' doubles, control characters become
 * spaces; nothing else is special inside single quotes. */
void gnuplot_quote(FILE *f, const char *s);

/* Writes the script's opening comment and the start of the two-format loop for NAME.png and
 * NAME.svg of w x h pixels; the caller then writes the body and calls gnuplot_script_end. */
void gnuplot_script_begin(FILE *f, const char *name, const char *about, int w, int h);
void gnuplot_script_end(FILE *f);

/* Runs `gnuplot script` with dir as the working directory. Returns QA_OK when it exits 0;
 * else QA_ERR with one line naming dir/script and gnuplot's first error line (or that
 * gnuplot is not installed). */
int gnuplot_run(const char *dir, const char *script);

#endif
