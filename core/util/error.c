/* core/util/error.c: per-thread last-error buffer (see error.h). */
#include "core/util/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

int qa_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return QA_ERR;
}

const char *qa_last_error(void) { return last_error; }

void qa_clear_error(void) { last_error[0] = '\0'; }
