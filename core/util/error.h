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
void qa_clear_error(void); /* also clears the environment mark */

/* Environment faults: a full disk, a read-only file system, a quota, no memory, an I/O
 * error, too many open files. They are the machine's fault, not a grid point's: a sweep
 * leaves the point pending and stops with the cause instead of recording it failed.
 * qa_env_error formats like qa_error and marks the error as the environment's when err is
 * one of those errno values; the mark stays (through later qa_error calls that wrap the
 * message) until qa_clear_error. */
int qa_errno_is_env(int err);
int qa_env_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int qa_error_is_env(void);

#endif
