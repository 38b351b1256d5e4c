/* plots/report_private.h: what report.c shares with compare.c and nothing else sees. */
#ifndef QAPRUNE_REPORT_PRIVATE_H
#define QAPRUNE_REPORT_PRIVATE_H

#include <stdio.h>

#include "db/results.h"

/* A page composed in memory (open_memstream), then written atomically in one piece. */
typedef struct {
    FILE *f;
    char *data;
    size_t size;
} ReportBuf;

int report_buffer_open(ReportBuf *b);
/* Closes the stream and writes the page to path atomically; frees the buffer either way. */
int report_buffer_commit(ReportBuf *b, const char *path);

/* The seeds of one run's setting (the runs equal in everything but the seed): mean and
 * sample standard deviation (n - 1; NAN below 2) of F1 over the done ones, their mean
 * speedup, how many, and an id shared by the group (0..n-1). */
typedef struct {
    double mean, std, speedup;
    int count, group;
} SeedStat;

/* Fills out[0..n) for rows[0..n). */
int report_seed_stats(const DbRunRow *rows, int n, SeedStat *out);

/* Table cells: escaped text; a number sorted by its exact value and shown with fmt (empty
 * when not finite); a large count shown as 1.23M. */
void report_td_text(FILE *f, const char *s);
void report_td_num(FILE *f, double v, const char *fmt);
void report_td_big(FILE *f, double v);
const char *report_status_name(DbStatus s);

#endif
