/* sweep/progress.c: see progress.h. */
#include "sweep/progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static int line_open;

void progress_update(const char *fmt, ...) {
    int tty = isatty(fileno(stderr));
    va_list ap;
    va_start(ap, fmt);
    if (tty) fputs("\r\033[K", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (!tty) fputc('\n', stderr);
    line_open = tty;
    fflush(stderr);
}

void progress_done(void) {
    if (line_open) fputc('\n', stderr);
    line_open = 0;
}
