/* tests/e2e.h: what the end-to-end tests share beside tests/test.h: running a shell command
 * and looking into the files the CLI wrote. Header-only, like test.h. */
#ifndef QAPRUNE_E2E_H
#define QAPRUNE_E2E_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Runs the printf-formatted command with /bin/sh; its exit code, or -1 when it did not exit. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static int sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* 1 when the file at path (its first MiB) contains needle; 0 when not or unreadable. */
static int __attribute__((unused)) file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static char buf[1 << 20];
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = '\0';
    return strstr(buf, needle) != NULL;
}

#endif
