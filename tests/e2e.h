/* tests/e2e.h: what the end-to-end tests share beside tests/test.h: running a shell command
 * and looking into the files the CLI wrote. Header-only, like test.h. */
#ifndef QAPRUNE_E2E_H
#define QAPRUNE_E2E_H

#include <math.h>
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

/* Runs the printf-formatted command with /bin/sh, its stderr joined to its stdout, which
 * goes to out (n bytes, NUL-terminated, cut when longer; out may be NULL); its exit code, or
 * -1 when it did not exit. */
static int run(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4), unused));
static int run(char *out, size_t n, const char *fmt, ...) {
    char cmd[8192], full[8300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    size_t k = 0;
    int c;
    if (out) out[0] = '\0';
    if (!p) return -1;
    while ((c = fgetc(p)) != EOF)
        if (out && k + 1 < n) out[k++] = (char)c, out[k] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The whole file at path in a new NUL-terminated buffer (free with free()); NULL when it
 * cannot be read. */
static char *slurp_file(const char *path) __attribute__((unused));
static char *slurp_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? calloc((size_t)n + 1, 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = '\0';
    fclose(f);
    return s;
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

/* The single number sqlite3 prints for sql on the database file db, or NAN when the query
 * fails or yields no number (NAN compares false with everything, so no check passes on it). */
static double __attribute__((unused)) db_scalar(const char *db, const char *sql) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' \"%s\" 2>/dev/null", db, sql);
    FILE *p = popen(cmd, "r");
    double v;
    if (!p || fscanf(p, "%lf", &v) != 1) v = NAN;
    if (p && pclose(p) != 0) v = NAN;
    return v;
}

#endif
