/* sweep/slurm.h: talking to Slurm: running its commands (sbatch, squeue, scontrol, sacct,
 * sinfo, scancel) without a shell, and reading what they print. Nothing here knows about
 * grids or the database (sweep/slurm_run.h is the backend built on it), so every parser can be
 * tested on text alone (tests/test_slurm.c).
 *
 * Slurm's outputs read here, each with the options that make it stable to parse:
 *   sbatch --parsable                 "JOBID" or "JOBID;CLUSTER"
 *   squeue -h -r -o '%i|%T|%r'        "123_4|RUNNING|None", "125|PENDING|Dependency"
 *   scontrol -o show job J            one record a line: "JobId=124 ArrayJobId=123
 *                                     ArrayTaskId=4 ... JobState=FAILED Reason=NonZeroExitCode
 *                                     ... ExitCode=3:0 ..."; the tasks not started yet of an
 *                                     array are one record with ArrayTaskId=5-9%2
 *   sacct -n -P -X -o JobID,State,ExitCode -j J   "123_4|CANCELLED by 0|0:15" (clusters with
 *                                     accounting; the record outlives scontrol's MinJobAge)
 *   sinfo -h -o '%P|%c|%m|%l'         "debug*|2|24105|infinite" (partition, CPUs per node,
 *                                     memory per node in MB, time limit; * = the default)
 *   scontrol show config              "MaxArraySize            = 1001"
 * Every function that can fail returns QA_OK or QA_ERR with one qa_error() line. */
#ifndef QAPRUNE_SLURM_H
#define QAPRUNE_SLURM_H

#include <stddef.h>

#define SLURM_MAX_ARGS 32
#define SLURM_ARG_MAX 256

/* What the user asks of Slurm (grid.json "slurm", overridden by `sweep run` options). */
typedef struct {
    char partition[128];     /* "" = the cluster's default partition */
    char time[32];           /* per task, Slurm's format ("HH:MM:SS", "D-HH:MM"); "" = default */
    int cpus_per_task;       /* 0 = the grid's threads */
    char mem[32];            /* per node, e.g. "4G", "500M" (MB without a suffix); "" = default */
    int array_parallelism;   /* at most this many tasks of an array at once (%K); 0 = no cap */
    int n_args;              /* more sbatch arguments, passed as given */
    char args[SLURM_MAX_ARGS][SLURM_ARG_MAX];
} SlurmOpts;

/* A Slurm time ("MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS"; "infinite" and
 * "UNLIMITED" are -1) into *seconds. QA_ERR when s is none of these ("what" names it). */
int slurm_parse_time(const char *what, const char *s, long *seconds);
/* A memory size ("4096", "500M", "4G", "1T"; a plain number is MB, as sbatch reads it) into
 * *mb; QA_ERR naming what when it is not one. */
int slurm_parse_mem(const char *what, const char *s, long *mb);

/* The job id sbatch --parsable printed; QA_ERR when out holds none (a rejected submission
 * printed nothing, or something else, even with exit code 0). */
int slurm_parse_sbatch(const char *out, long *job_id);
/* MaxArraySize from `scontrol show config`; QA_ERR when the line is missing or not a number. */
int slurm_parse_max_array(const char *config, long *max_array_size);

/* One task (or a job that is not an array: task -1) as Slurm reports it. */
typedef struct {
    long job, task;
    char state[32];    /* PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ... */
    char reason[128];  /* why it pends or ended ("None", "Dependency", ...); "" = not said */
    int exit_code, exit_signal; /* "3:0" -> 3 and 0; -1 when not said */
} SlurmTask;

typedef struct {
    SlurmTask *v;
    int n, cap;
} SlurmTasks;

void slurm_tasks_free(SlurmTasks *t); /* accepts a zeroed list */
/* The task job_task of job (task -1: the job itself), or NULL. Borrowed from t. */
const SlurmTask *slurm_tasks_find(const SlurmTasks *t, long job, long task);

/* Appends the tasks in squeue / scontrol -o / sacct -P output (formats above) to t; a range
 * of tasks ("123_[5-9%2]", ArrayTaskId=5-9) becomes one entry per task. QA_ERR naming the
 * line that is not in the format. */
int slurm_parse_squeue(const char *text, SlurmTasks *t);
int slurm_parse_scontrol_jobs(const char *text, SlurmTasks *t);
int slurm_parse_sacct(const char *text, SlurmTasks *t);

/* 1 when a task in this state has not ended (it pends, runs, or is being set up or torn
 * down), 0 when it has (COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, ...). */
int slurm_state_live(const char *state);

/* The biggest node of a partition. */
typedef struct {
    char name[128];
    int is_default;
    long cpus, mem_mb, time_limit_s; /* largest over its nodes; time -1 = infinite */
} SlurmPartition;

/* Reads `sinfo -h -o '%P|%c|%m|%l'` and fills *p for partition name ("" = the default one).
 * QA_ERR naming the partition when it is not there. */
int slurm_parse_sinfo(const char *text, const char *name, SlurmPartition *p);

/* Refuses what would pend for ever or be rejected later: more CPUs per task, memory or time
 * than the partition's biggest node or limit allows. QA_ERR, one line naming the option, the
 * value and the limit. cpus is the effective --cpus-per-task. */
int slurm_check_request(const SlurmOpts *o, int cpus, const SlurmPartition *p);

/* Runs argv[0] (found through PATH) with argv, no shell; waits at most timeout_s seconds
 * (then kills it). *out and *err (either may be NULL) get new NUL-terminated buffers with what
 * it printed (free with free()); *status its exit code (128 + signal when killed). QA_ERR only
 * when it could not be run at all (not installed: "sbatch: not found"), or timed out. */
int slurm_exec(const char *const *argv, int timeout_s, char **out, char **err, int *status);

/* s quoted for a POSIX shell ('...', with ' written '\''), into buf; QA_ERR when too long. */
int slurm_shell_quote(const char *s, char *buf, size_t cap);

/* The first line of text (at most cap-1 bytes, no newline) into buf: for one-line errors. */
void slurm_first_line(const char *text, char *buf, size_t cap);

#endif
