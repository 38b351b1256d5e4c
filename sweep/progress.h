/* sweep/progress.h: progress on stderr: one updating line on a terminal, plain lines
 * otherwise (logs and pipes get one line per report). */
#ifndef QAPRUNE_PROGRESS_H
#define QAPRUNE_PROGRESS_H

/* Shows a progress report (printf format, no newline). */
void progress_update(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends an updating line (newline on a terminal when a line is open; nothing otherwise). */
void progress_done(void);

#endif
