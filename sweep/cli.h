/* sweep/cli.h: the one option parser of every subcommand, and the program's version.
 *
 * A command describes its options in a table of CliOpt; cli_parse() walks argv with the
 * conventions every command shares:
 *   --name value  and  --name=value    (a value may begin with '-': "--lr -1" is a value)
 *   --flag                              (flags take no value: "--flag=1" is an error)
 *   -h, --help                          usage, the options with their defaults, the command's
 *                                       own extra text; exit code 0
 *   --                                  ends the options: the rest are positional
 *   anything else beginning with '-' (except "-" alone) is an unknown option: exit code 2
 * Every usage error is one line on stderr, "sweep CMD: ... (see sweep CMD --help)", and the
 * caller returns exit code 2. The defaults shown by --help are the values the destinations
 * hold when cli_parse() is called, so a command states each default once. */
#ifndef QAPRUNE_CLI_H
#define QAPRUNE_CLI_H

#include <stdio.h>

/* The version `sweep --version` prints; defined here only (override with
 * CPPFLAGS=-DQAPRUNE_VERSION='"x.y"'). */
#ifndef QAPRUNE_VERSION
#define QAPRUNE_VERSION "0.2.0"
#endif

typedef enum {
    CLI_FLAG,   /* int *: set to 1; takes no value */
    CLI_CONST,  /* int *: set to lo; takes no value (e.g. --csv and --json into one mode) */
    CLI_STRING, /* const char **: the argument itself (borrowed from argv) */
    CLI_INT,    /* int *: a whole base-10 integer in [lo, hi] */
    CLI_LONG,   /* long *: a whole base-10 integer in [lo, hi] */
    CLI_DOUBLE, /* double *: the whole argument read as a number (strtod), finite */
    CLI_LIST    /* CliList *: each use appends its argument (borrowed from argv) */
} CliKind;

#define CLI_LIST_MAX 32
typedef struct {
    const char *v[CLI_LIST_MAX];
    int n;
} CliList;

typedef struct {
    const char *name;  /* without the leading "--" */
    CliKind kind;
    void *dst;         /* see CliKind */
    long lo, hi;       /* CLI_INT, CLI_LONG: inclusive range; CLI_CONST: lo is the value */
    const char *meta;  /* the value's placeholder in --help ("N", "DIR"); NULL for flags */
    const char *help;  /* one line for --help */
    int required;      /* CLI_REQUIRED: an error when absent; else CLI_OPTIONAL */
} CliOpt;

enum { CLI_OPTIONAL = 0, CLI_REQUIRED = 1 };

/* Options outside the table, e.g. `sweep prune --SETTING VALUE` for every setting of a
 * settings table: known(ctx, name) is 1 when --name is one (it then takes a value), and
 * apply(ctx, name, value) sets it, returning 0, or 2 after its own one-line message. */
typedef struct {
    int (*known)(void *ctx, const char *name);
    int (*apply)(void *ctx, const char *name, const char *value);
    void *ctx;
} CliExtra;

typedef struct {
    const char *cmd;      /* "run" */
    const char *synopsis; /* positional part of the usage line ("GRID.json"); may be NULL */
    const char *about;    /* what the command does, printed by --help after the usage line */
    const CliOpt *opts;
    int n_opts;
    const char **pos;     /* receives the positional arguments (borrowed from argv) */
    int min_pos, max_pos; /* how many there must be */
    const CliExtra *extra; /* may be NULL */
    /* May be NULL: prints more after the options in --help (e.g. a settings table). */
    void (*help_more)(FILE *f, void *ctx);
    void *help_ctx;
} CliSpec;

/* cli_parse() returns this when the command should go on; any other value is the exit code
 * the command returns at once (0 after --help, 2 after a usage error). */
#define CLI_CONTINUE (-1)

/* Parses argv[1..argc) (argv[0] is the command's name) by spec; *n_pos (may be NULL) gets
 * the number of positional arguments stored in spec->pos. */
int cli_parse(const CliSpec *spec, int argc, char **argv, int *n_pos);

/* Prints spec's --help text to f. */
void cli_usage(const CliSpec *spec, FILE *f);

/* Parses s as a whole base-10 integer in [lo, hi] into *out; 0, or 2 after "sweep CMD: OPT:
 * expected an integer in [lo, hi], got 's'". */
int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);

#endif
