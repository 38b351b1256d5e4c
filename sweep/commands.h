/* sweep/commands.h: the subcommands of bin/sweep. Each takes the arguments after its name
 * (argv[0] is the subcommand's name) and returns the process exit code (0 ok, 1 failure,
 * 2 usage error). Only main() exits. */
#ifndef QAPRUNE_COMMANDS_H
#define QAPRUNE_COMMANDS_H

int cmd_bench(int argc, char **argv);
int cmd_teacher(int argc, char **argv); /* sweep/cmd_model.c */
int cmd_eval(int argc, char **argv);    /* sweep/cmd_model.c */
int cmd_prune(int argc, char **argv);   /* sweep/cmd_model.c */
int cmd_run(int argc, char **argv);     /* sweep/cmd_sweep.c */
int cmd_status(int argc, char **argv);  /* sweep/cmd_sweep.c */
int cmd_query(int argc, char **argv);   /* sweep/cmd_sweep.c */
int cmd_plot(int argc, char **argv);    /* sweep/cmd_sweep.c */
int cmd_report(int argc, char **argv);  /* sweep/cmd_sweep.c */
int cmd_compare(int argc, char **argv); /* sweep/cmd_sweep.c */
int cmd_tokenize(int argc, char **argv);   /* sweep/cmd_data.c */
int cmd_score(int argc, char **argv);      /* sweep/cmd_data.c */
int cmd_gen_data(int argc, char **argv);   /* sweep/cmd_data.c */
int cmd_export(int argc, char **argv);     /* sweep/cmd_export.c */

#endif
