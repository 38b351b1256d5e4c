/* core/util/error.h: the one error convention of qaprune's library code.
 *
 * Code that touches files, configs or user input reports a failure by calling qa_error()
 * with one line naming the file, the field or tensor, and the bad value, and returns its
 * result (QA_ERR). The caller that decides what to do (main, or the sweep recording a failed
 * grid point) reads the line with qa_last_error(). The buffer is per thread, like errno. */
#ifndef QAPRUNE_ERROR_H
#define QAPRUNE_ERROR_H

#define QA_OK 0
#define QA_ERR (-1)

/* Formats the message into this thread's error buffer (truncated at 1 KiB); returns QA_ERR. */
int qa_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Returns this thread's last message ("" if none); borrowed, valid until the next qa_error. */
const char *qa_last_error(void);
void qa_clear_error(void);

#endif
