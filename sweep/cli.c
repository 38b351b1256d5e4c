/* sweep/cli.c: see cli.h. */
#include "sweep/cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static int takes_value(const CliOpt *o) {
    return o->kind != CLI_FLAG && o->kind != CLI_CONST;
}

/* The option whose name is the n bytes at name, or NULL. */
static const CliOpt *find_opt(const CliSpec *s, const char *name, size_t n) {
    for (int i = 0; i < s->n_opts; i++)
        if (strlen(s->opts[i].name) == n && !strncmp(s->opts[i].name, name, n))
            return &s->opts[i];
    return NULL;
}

/* Stores value (NULL for flags) into o's destination; 0, or 2 after a one-line message. */
static int store(const CliSpec *s, const CliOpt *o, const char *value) {
    char opt[128];
    snprintf(opt, sizeof opt, "--%s", o->name);
    long v;
    switch (o->kind) {
    case CLI_FLAG: *(int *)o->dst = 1; return 0;
    case CLI_CONST: *(int *)o->dst = (int)o->lo; return 0;
    case CLI_STRING: *(const char **)o->dst = value; return 0;
    case CLI_LIST: {
        CliList *l = o->dst;
        if (l->n == CLI_LIST_MAX) {
            fprintf(stderr, "sweep %s: %s: at most %d times\n", s->cmd, opt, CLI_LIST_MAX);
            return 2;
        }
        l->v[l->n++] = value;
        return 0;
    }
    case CLI_INT:
        if (cli_int(s->cmd, opt, value, o->lo, o->hi, &v)) return 2;
        *(int *)o->dst = (int)v;
        return 0;
    case CLI_LONG:
        if (cli_int(s->cmd, opt, value, o->lo, o->hi, &v)) return 2;
        *(long *)o->dst = v;
        return 0;
    case CLI_DOUBLE: {
        char *end;
        errno = 0;
        double d = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(d)) {
            fprintf(stderr, "sweep %s: %s: expected a number, got '%s'\n", s->cmd, opt, value);
            return 2;
        }
        *(double *)o->dst = d;
        return 0;
    }
    }
    return 2;
}

/* Handles the option argv[*i] ("--name" or "--name=value"), taking its value from the next
 * argument when needed (advancing *i). seen[k] is set for table option k. */
static int parse_long_opt(const CliSpec *s, int argc, char **argv, int *i, char *seen) {
    const char *arg = argv[*i], *name = arg + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    const CliOpt *o = find_opt(s, name, n);
    char full[128];
    snprintf(full, sizeof full, "--%.*s", (int)(n < 100 ? n : 100), name);
    int extra = !o && s->extra && n < 100 && s->extra->known(s->extra->ctx, full + 2);
    if (!o && !extra) {
        fprintf(stderr, "sweep %s: unknown option '%s' (see sweep %s --help)\n", s->cmd, full,
                s->cmd);
        return 2;
    }
    if (o && !takes_value(o)) {
        if (eq) {
            fprintf(stderr, "sweep %s: %s takes no value, got '%s'\n", s->cmd, full, arg);
            return 2;
        }
        seen[o - s->opts] = 1;
        return store(s, o, NULL);
    }
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "sweep %s: %s needs a value (see sweep %s --help)\n", s->cmd, full,
                    s->cmd);
            return 2;
        }
        value = argv[++*i];
    }
    if (extra) return s->extra->apply(s->extra->ctx, full + 2, value);
    seen[o - s->opts] = 1;
    return store(s, o, value);
}

int cli_parse(const CliSpec *s, int argc, char **argv, int *n_pos) {
    char seen[64] = {0};
    int np = 0, only_pos = 0, rc;
    if (n_pos) *n_pos = 0;
    if (s->n_opts > (int)sizeof seen) {
        fprintf(stderr, "sweep %s: too many options in its table\n", s->cmd);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            cli_usage(s, stdout);
            return 0;
        }
        if (!only_pos && !strcmp(a, "--")) {
            only_pos = 1;
        } else if (!only_pos && a[0] == '-' && a[1] == '-') {
            if ((rc = parse_long_opt(s, argc, argv, &i, seen))) return rc;
        } else if (!only_pos && a[0] == '-' && a[1]) {
            fprintf(stderr, "sweep %s: unknown option '%s' (see sweep %s --help)\n", s->cmd, a,
                    s->cmd);
            return 2;
        } else if (np < s->max_pos) {
            s->pos[np++] = a;
        } else {
            fprintf(stderr, "sweep %s: unexpected argument '%s' (see sweep %s --help)\n", s->cmd,
                    a, s->cmd);
            return 2;
        }
    }
    for (int k = 0; k < s->n_opts; k++)
        if (s->opts[k].required && !seen[k]) {
            fprintf(stderr, "sweep %s: --%s is required (see sweep %s --help)\n", s->cmd,
                    s->opts[k].name, s->cmd);
            return 2;
        }
    if (np < s->min_pos) {
        fprintf(stderr, "sweep %s: expected %s (see sweep %s --help)\n", s->cmd, s->synopsis,
                s->cmd);
        return 2;
    }
    if (n_pos) *n_pos = np;
    return CLI_CONTINUE;
}

/* " (default X)" for o's current value into buf, or "" when there is nothing to show. */
static void default_text(const CliOpt *o, char *buf, size_t n) {
    buf[0] = '\0';
    if (o->required) {
        snprintf(buf, n, " (required)");
        return;
    }
    switch (o->kind) {
    case CLI_STRING:
        if (*(const char **)o->dst) snprintf(buf, n, " (default %s)", *(const char **)o->dst);
        break;
    case CLI_INT: snprintf(buf, n, " (default %d)", *(int *)o->dst); break;
    case CLI_LONG: snprintf(buf, n, " (default %ld)", *(long *)o->dst); break;
    case CLI_DOUBLE: snprintf(buf, n, " (default %g)", *(double *)o->dst); break;
    case CLI_LIST: snprintf(buf, n, " (repeatable)"); break;
    case CLI_FLAG:
    case CLI_CONST: break;
    }
}

void cli_usage(const CliSpec *s, FILE *f) {
    const char *syn = s->synopsis ? s->synopsis : "";
    fprintf(f, "usage: sweep %s%s%s [options]\n", s->cmd, *syn ? " " : "", syn);
    if (s->about && *s->about) fputs(s->about, f);
    int w = (int)strlen("-h, --help");
    for (int k = 0; k < s->n_opts; k++) {
        const CliOpt *o = &s->opts[k];
        int len = 2 + (int)strlen(o->name) + (o->meta ? 1 + (int)strlen(o->meta) : 0);
        if (len > w) w = len;
    }
    fprintf(f, "options (--name value or --name=value):\n");
    for (int k = 0; k < s->n_opts; k++) {
        const CliOpt *o = &s->opts[k];
        char head[160], def[300];
        snprintf(head, sizeof head, "--%s%s%s", o->name, o->meta ? " " : "",
                 o->meta ? o->meta : "");
        default_text(o, def, sizeof def);
        fprintf(f, "  %-*s  %s%s\n", w, head, o->help, def);
    }
    fprintf(f, "  %-*s  %s\n", w, "-h, --help", "print this help and exit");
    if (s->help_more) s->help_more(f, s->help_ctx);
}
