/* sweep/cli.h: option parsing shared by the subcommands: one-line usage errors on stderr
 * naming the command and the option; the callers return exit code 2 on failure. */
#ifndef QAPRUNE_CLI_H
#define QAPRUNE_CLI_H

/* Returns the value after option argv[*i] (advancing *i), or NULL after "sweep CMD: OPT
 * needs a value". */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

/* Parses s as a whole base-10 integer in [lo, hi] into *out; 0, or 2 after "sweep CMD: OPT:
 * expected an integer in [lo, hi], got 's'". */
int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);

#endif
