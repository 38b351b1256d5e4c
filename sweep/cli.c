/* sweep/cli.c: see cli.h. */
#include "sweep/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "sweep %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "sweep %s: %s: expected an integer in [%ld, %ld], got '%s'\n", cmd, opt,
                lo, hi, s);
        return 2;
    }
    *out = v;
    return 0;
}
