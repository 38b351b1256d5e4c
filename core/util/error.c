/* core/util/error.c: per-thread last-error buffer (see error.h). */
#include "core/util/error.h"

#include <stdarg.h>
#include <stdio.h>

#include <errno.h>

static _Thread_local char last_error[1024];
static _Thread_local int env_fault;

int qa_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return QA_ERR;
}

const char *qa_last_error(void) { return last_error; }

void qa_clear_error(void) {
    last_error[0] = '\0';
    env_fault = 0;
}

int qa_errno_is_env(int err) {
    return err == ENOSPC || err == EDQUOT || err == EROFS || err == ENOMEM || err == EIO ||
           err == EMFILE || err == ENFILE;
}

int qa_env_error(int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    if (qa_errno_is_env(err)) env_fault = 1;
    return QA_ERR;
}

int qa_error_is_env(void) { return env_fault; }
