/* sweep/slurm_run.c: the Slurm backend (see slurm_run.h). slurm_stage reads as its steps:
 * collect, check, claim and write, submit, wait. */
#include "sweep/slurm_run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/model/latency.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "sweep/progress.h"

#define CMD_TIMEOUT_S 60
#define OWNER_PREFIX "slurm:"
#define MAX_CHUNKS 256

/* ---------------------------------------------------------------- Slurm commands */

/* Runs a Slurm command; a non-zero exit is an error with the first line it printed. */
static int run_cmd(const char *const *argv, char **out) {
    char *err = NULL;
    int status;
    if (slurm_exec(argv, CMD_TIMEOUT_S, out, &err, &status)) return QA_ERR;
    if (status != 0) {
        char line[300];
        slurm_first_line(err && *err ? err : (out && *out ? *out : ""), line, sizeof line);
        free(err);
        if (out) {
            free(*out);
            *out = NULL;
        }
        return qa_error("%s: exit code %d: %s", argv[0], status, *line ? line : "(no message)");
    }
    free(err);
    return QA_OK;
}

/* The live tasks of this user (squeue lists every job still queued or running). */
static int query_live(SlurmTasks *live) {
    struct passwd *pw = getpwuid(getuid());
    char uid[32];
    snprintf(uid, sizeof uid, "%d", (int)getuid());
    const char *argv[] = {"squeue", "-h", "-r", "-u", pw ? pw->pw_name : uid,
                          "-o", "%i|%T|%r", NULL};
    char *out = NULL;
    if (run_cmd(argv, &out)) return QA_ERR;
    int rc = slurm_parse_squeue(out, live);
    free(out);
    return rc;
}

/* What Slurm still knows of ended job `job`: scontrol (until MinJobAge), else sacct (with
 * accounting). Appends to ended; a job neither knows is no error (its tasks stay unknown). */
static int query_ended(long job, SlurmTasks *ended) {
    char id[32], *out = NULL, *err = NULL;
    int status;
    snprintf(id, sizeof id, "%ld", job);
    const char *sc[] = {"scontrol", "-o", "show", "job", id, NULL};
    if (slurm_exec(sc, CMD_TIMEOUT_S, &out, &err, &status) == QA_OK && status == 0 &&
        slurm_parse_scontrol_jobs(out, ended) == QA_OK) {
        int n = ended->n;
        free(out);
        free(err);
        for (int i = 0; i < n; i++)
            if (ended->v[i].job == job) return QA_OK;
    } else {
        free(out);
        free(err);
    }
    out = err = NULL;
    const char *sa[] = {"sacct", "-n", "-P", "-X", "-o", "JobID,State,ExitCode", "-j", id, NULL};
    if (slurm_exec(sa, CMD_TIMEOUT_S, &out, &err, &status) == QA_OK && status == 0)
        slurm_parse_sacct(out, ended);
    free(out);
    free(err);
    qa_clear_error();
    return QA_OK;
}

/* "slurm:J_T" into job and task; QA_ERR when the owner is not one. */
static int owner_task(const char *owner, long *job, long *task) {
    char tail;
    if (sscanf(owner, OWNER_PREFIX "%ld_%ld%c", job, task, &tail) != 2 || *job <= 0 || *task < 0)
        return qa_error("runs.owner: '%s' is not a Slurm task (slurm:JOB_TASK)", owner);
    return QA_OK;
}

/* The last two non-empty lines of path, joined by " | ", into buf ("no log" if none). */
static void log_tail(const char *path, char *buf, size_t cap) {
    snprintf(buf, cap, "no log at %.300s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    char text[4097];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > 4096 ? size - 4096 : 0;
    ssize_t k = pread(fd, text, 4096, from);
    close(fd);
    if (k <= 0) {
        snprintf(buf, cap, "empty log %.300s", path);
        return;
    }
    text[k] = '\0';
    const char *lines[2] = {NULL, NULL};
    size_t lens[2] = {0, 0};
    for (char *end = text + k; end > text && !lines[0];) {
        while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ')) *--end = '\0';
        char *start = end;
        while (start > text && start[-1] != '\n' && start[-1] != '\r') start--;
        if (start == end) break;
        if (!lines[1]) lines[1] = start, lens[1] = (size_t)(end - start);
        else lines[0] = start, lens[0] = (size_t)(end - start);
        end = start;
    }
    if (!lines[1]) return;
    if (lines[0])
        snprintf(buf, cap, "%.*s | %.*s", (int)lens[0], lines[0], (int)lens[1], lines[1]);
    else
        snprintf(buf, cap, "%.*s", (int)lens[1], lines[1]);
}

/* The prepare job that array job `job` waits for, from OUT/slurm/jobs.txt ("prepare P arrays
 * J1 J2 ... dir D" a submission); 0 when none is recorded. */
static long prepare_of(const char *out, long job) {
    char path[4300], *text = NULL;
    size_t len;
    long found = 0;
    snprintf(path, sizeof path, "%s/slurm/jobs.txt", out);
    if (!file_exists(path) || file_read(path, 1 << 24, &text, &len)) {
        qa_clear_error();
        return 0;
    }
    for (char *line = strtok(text, "\n"); line && !found; line = strtok(NULL, "\n")) {
        long prep;
        int at;
        if (sscanf(line, "prepare %ld arrays%n", &prep, &at) != 1) continue;
        for (char *p = line + at; *p && !found;) {
            char *end;
            long j = strtol(p, &end, 10);
            if (end == p) break;
            if (j == job) found = prep;
            p = end;
        }
    }
    free(text);
    return found;
}

/* ---------------------------------------------------------------- collect */

/* Slurm's word on task t (NULL: unknown) as "STATE (exit code C:S, reason R)". */
static void describe(const SlurmTask *t, char *buf, size_t cap) {
    if (!t) {
        snprintf(buf, cap, "(Slurm no longer knows the task: cancelled before it started, or "
                           "its record expired and there is no sacct)");
        return;
    }
    char ex[48] = "", why[160] = "";
    if (t->exit_code >= 0) snprintf(ex, sizeof ex, ", exit code %d:%d", t->exit_code, t->exit_signal);
    if (*t->reason && strcmp(t->reason, "None")) snprintf(why, sizeof why, ", reason %s", t->reason);
    snprintf(buf, cap, "%s%s%s", t->state, ex, why);
}

typedef struct {
    Db *db;
    const char *out;
    FILE *view;
    SlurmSeen *seen;
    SlurmTasks live, ended;
    long *queried; /* jobs already asked with query_ended */
    int n_queried;
} Collect;

/* Point i of pts (owned by task job_task): ingests its result file, or leaves it to its live
 * task, or fails it with Slurm's account of the task's end. */
static int collect_one(Collect *c, Points *pts, int i, const char *owner) {
    long job, task;
    char result[4400], logp[4400], what[200], tail[600];
    point_result_path(pts, i, result, sizeof result);
    if (owner_task(owner, &job, &task)) return QA_ERR;
    snprintf(logp, sizeof logp, "%s/slurm/logs/%ld_%ld.out", c->out, job, task);
    const SlurmTask *t = slurm_tasks_find(&c->live, job, task);
    if (file_exists(result)) {
        if (point_finish_file(pts, i)) return QA_ERR;
        c->seen->ingested++;
        return QA_OK;
    }
    if (t && slurm_state_live(t->state)) {
        int running = strcmp(t->state, "PENDING") != 0;
        c->seen->running += running;
        c->seen->pending += !running;
        if (c->view)
            fprintf(c->view, "%.16s %ld_%-6ld %-10s %-24s %s\n", pts->hash[i], job, task,
                    t->state, *t->reason ? t->reason : "-", logp);
        return QA_OK;
    }
    int asked = 0;
    for (int k = 0; k < c->n_queried; k++) asked |= c->queried[k] == job;
    if (!asked) {
        long *q = realloc(c->queried, sizeof *q * (size_t)(c->n_queried + 1));
        if (!q) return qa_error("slurm: out of memory");
        c->queried = q;
        q[c->n_queried++] = job;
        if (query_ended(job, &c->ended)) return QA_ERR;
    }
    if (file_exists(result)) { /* written while we asked */
        if (point_finish_file(pts, i)) return QA_ERR;
        c->seen->ingested++;
        return QA_OK;
    }
    char msg[1100];
    long prep = file_exists(logp) ? 0 : prepare_of(c->out, job);
    const SlurmTask *pt = NULL;
    if (prep) { /* it never started: did the job it waited for fail? */
        if (!(pt = slurm_tasks_find(&c->live, prep, -1)) && !slurm_tasks_find(&c->ended, prep, -1))
            query_ended(prep, &c->ended);
        if (!pt) pt = slurm_tasks_find(&c->ended, prep, -1);
    }
    if (pt && !slurm_state_live(pt->state) &&
        (strcmp(pt->state, "COMPLETED") || pt->exit_code != 0)) {
        snprintf(logp, sizeof logp, "%s/slurm/logs/prepare-%ld.out", c->out, prep);
        describe(pt, what, sizeof what);
        log_tail(logp, tail, sizeof tail);
        snprintf(msg, sizeof msg, "slurm task %ld_%ld never ran: its prepare job %ld ended "
                 "%.200s; log %.300s: %.400s", job, task, prep, what, logp, tail);
    } else {
        describe(slurm_tasks_find(&c->ended, job, task), what, sizeof what);
        log_tail(logp, tail, sizeof tail);
        snprintf(msg, sizeof msg, "slurm task %ld_%ld ended %.200s without a result; log "
                 "%.300s: %.400s", job, task, what, logp, tail);
    }
    if (c->view)
        fprintf(c->view, "%.16s %ld_%-6ld %-10s %s\n", pts->hash[i], job, task, "ENDED", msg);
    c->seen->failed++;
    return point_fail(pts, i, msg);
}

int slurm_collect(Db *db, const char *out, int only_grid, FILE *view, SlurmSeen *seen) {
    char **hashes = NULL, **owners = NULL;
    int n = 0, rc = QA_ERR;
    memset(seen, 0, sizeof *seen);
    if (db_running_owned(db, only_grid, OWNER_PREFIX, &hashes, &owners, &n)) return QA_ERR;
    if (n == 0) return QA_OK;
    Collect c = {.db = db, .out = out, .view = view, .seen = seen};
    Points pts;
    memset(&pts, 0, sizeof pts);
    /* Slurm first, files second: a task writes its file before it ends, so a task seen
     * ended here has its file by now if it ever will */
    if (query_live(&c.live) || points_init(&pts, n, (const char *const *)hashes, out, db))
        goto cleanup;
    if (view)
        fprintf(view, "Slurm's view (%d point(s) handed to tasks):\n%-16s %-12s %-10s %s\n", n,
                "identity", "task", "state", "reason / exit code, log");
    for (int i = 0; i < n; i++) {
        point_adopt(&pts, i);
        if (collect_one(&c, &pts, i, owners[i])) goto cleanup;
    }
    rc = QA_OK;
cleanup:
    points_free(&pts);
    slurm_tasks_free(&c.live);
    slurm_tasks_free(&c.ended);
    free(c.queried);
    db_strings_free(hashes, n);
    db_strings_free(owners, n);
    return rc;
}

/* ---------------------------------------------------------------- cancel */

int slurm_cancel(Db *db, const char *out, int only_grid, int *n_cancelled) {
    char **hashes = NULL, **owners = NULL;
    int n = 0, rc = QA_ERR;
    *n_cancelled = 0;
    if (db_running_owned(db, only_grid, OWNER_PREFIX, &hashes, &owners, &n)) return QA_ERR;
    SlurmTasks live = {0};
    const char **argv = calloc((size_t)n * 2 + 4, sizeof *argv);
    char(*ids)[32] = calloc((size_t)n * 2 + 4, sizeof *ids);
    long *jobs = calloc((size_t)n + 1, sizeof *jobs);
    if (!argv || !ids || !jobs) {
        qa_error("slurm: out of memory");
        goto cleanup;
    }
    if (n == 0) {
        rc = QA_OK;
        goto cleanup;
    }
    int argc = 0, n_jobs = 0;
    argv[argc++] = "scancel";
    if (query_live(&live)) goto cleanup;
    for (int i = 0; i < n; i++) {
        long job, task;
        if (owner_task(owners[i], &job, &task)) goto cleanup;
        if (!slurm_tasks_find(&live, job, task)) continue; /* ended: collect records it */
        snprintf(ids[argc], 32, "%ld_%ld", job, task);
        argv[argc] = ids[argc];
        argc++;
        int seen = 0;
        for (int k = 0; k < n_jobs; k++) seen |= jobs[k] == job;
        if (!seen) jobs[n_jobs++] = job;
    }
    *n_cancelled = argc - 1;
    for (int k = 0; k < n_jobs; k++) { /* the prepare jobs, while nothing else needs them */
        long prep = prepare_of(out, jobs[k]);
        int dup = 0;
        for (int m = 0; m < k; m++) dup |= prepare_of(out, jobs[m]) == prep;
        if (prep && !dup && slurm_tasks_find(&live, prep, -1)) {
            snprintf(ids[argc], 32, "%ld", prep);
            argv[argc] = ids[argc];
            argc++;
        }
    }
    if (argc > 1 && run_cmd(argv, NULL)) goto cleanup;
    SlurmSeen seen;
    for (int t = 0; t < 120; t++) { /* up to 30 s for the tasks to end */
        if (slurm_collect(db, out, only_grid, NULL, &seen)) goto cleanup;
        if (seen.pending + seen.running == 0) break;
        usleep(250000);
    }
    rc = QA_OK;
cleanup:
    slurm_tasks_free(&live);
    free(argv);
    free(ids);
    free(jobs);
    db_strings_free(hashes, n);
    db_strings_free(owners, n);
    return rc;
}

/* ---------------------------------------------------------------- submit */

typedef struct {
    SlurmRun *r;
    SlurmOpts o;                /* effective: the grid's with the command line's over them */
    int cpus;                   /* per task */
    long max_array;             /* MaxArraySize: a chunk's indices are 0 .. max_array - 1 */
    char cwd[PATH_MAX], bin[PATH_MAX], out[PATH_MAX]; /* absolute */
    char sub[2 * PATH_MAX];     /* OUT/slurm/SUB: this submission's files */
    char logs[2 * PATH_MAX];    /* OUT/slurm/logs */
    int *claimed, n_claimed;    /* point indices claimed for this submission */
    long prepare, arrays[MAX_CHUNKS];
    int n_arrays, n_submitted;
} Submit;

/* The effective options: g->slurm, and every option the command line gave over it. */
static void merge_opts(const SlurmOpts *grid, const SlurmOpts *cli, SlurmOpts *o) {
    *o = *grid;
    if (*cli->partition) snprintf(o->partition, sizeof o->partition, "%s", cli->partition);
    if (*cli->time) snprintf(o->time, sizeof o->time, "%s", cli->time);
    if (*cli->mem) snprintf(o->mem, sizeof o->mem, "%s", cli->mem);
    if (cli->cpus_per_task) o->cpus_per_task = cli->cpus_per_task;
    if (cli->array_parallelism) o->array_parallelism = cli->array_parallelism;
    for (int i = 0; i < cli->n_args && o->n_args < SLURM_MAX_ARGS; i++)
        snprintf(o->args[o->n_args++], SLURM_ARG_MAX, "%s", cli->args[i]);
}

/* MaxArraySize and the partition's limits; refuses a request the cluster cannot run. */
static int check_cluster(Submit *s) {
    char *out = NULL;
    const char *cfg[] = {"scontrol", "show", "config", NULL};
    if (run_cmd(cfg, &out)) return QA_ERR;
    int rc = slurm_parse_max_array(out, &s->max_array);
    free(out);
    if (rc) return QA_ERR;
    const char *si[] = {"sinfo", "-h", "-o", "%P|%c|%m|%l", NULL};
    if (run_cmd(si, &out)) return QA_ERR;
    SlurmPartition p;
    rc = slurm_parse_sinfo(out, s->o.partition, &p) || slurm_check_request(&s->o, s->cpus, &p);
    free(out);
    return rc ? QA_ERR : QA_OK;
}

/* Claims every pending point of the grid for this head. */
static int claim_all(Submit *s) {
    Points *pts = s->r->pts;
    s->claimed = malloc(sizeof *s->claimed * (size_t)(pts->n + 1));
    if (!s->claimed) return qa_error("slurm: out of memory");
    for (int i = 0; i < pts->n; i++) {
        int claimed = 0;
        if (pts->state[i] != POINT_PENDING) continue;
        if (point_claim(pts, i, s->r->owner, &claimed)) return QA_ERR;
        if (claimed) s->claimed[s->n_claimed++] = i;
    }
    return QA_OK;
}

/* Writes text to path atomically, executable when mode says so. */
static int write_file(const char *path, const char *text, mode_t mode) {
    if (file_write_atomic(path, text, strlen(text))) return QA_ERR;
    if (chmod(path, mode)) return qa_error("%s: chmod: %s", path, strerror(errno));
    return QA_OK;
}

/* The submission's directory, its grid copy (the prepare job reads the grid as submitted,
 * not as edited later), prepare.sh, and every claimed point's point.json (its resolved
 * settings; config.json in that directory is the pruned checkpoint's, once saved). */
static int write_submission(Submit *s) {
    const Grid *g = s->r->g;
    char stamp[64], path[3 * PATH_MAX], q[2][PATH_MAX * 6 + 8], text[12 * PATH_MAX + 512];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(s->sub, sizeof s->sub, "%s/slurm/%s-%d", s->out, stamp, (int)getpid());
    snprintf(s->logs, sizeof s->logs, "%s/slurm/logs", s->out);
    /* Slurm does not create the --output directory: a task would fail before it starts */
    if (file_mkdirs(s->sub) || file_mkdirs(s->logs)) return QA_ERR;
    char *grid_text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/grid.json", s->sub);
    if (file_read(g->file, 0, &grid_text, &len)) return QA_ERR;
    int rc = file_write_atomic(path, grid_text, len);
    free(grid_text);
    if (rc || slurm_shell_quote(s->bin, q[0], sizeof q[0]) ||
        slurm_shell_quote(path, q[1], sizeof q[1]))
        return QA_ERR;
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "# qaprune: prepares what every point of this submission shares, once: the data,\n"
             "# the teacher (trained, or reused from its cache) and the training windows.\n"
             "exec %s worker --prepare %s\n", q[0], q[1]);
    snprintf(path, sizeof path, "%s/prepare.sh", s->sub);
    if (write_file(path, text, 0755)) return QA_ERR;
    for (int k = 0; k < s->n_claimed; k++) {
        int i = s->claimed[k];
        snprintf(path, sizeof path, "%s/points/%s", g->out, g->points[i].hash);
        if (file_mkdirs(path)) return QA_ERR;
        snprintf(path, sizeof path, "%s/points/%s/point.json", g->out, g->points[i].hash);
        if (file_write_atomic(path, g->points[i].config_json, strlen(g->points[i].config_json)))
            return QA_ERR;
    }
    return QA_OK;
}

/* sbatch with the options every job of the submission shares, then extra[]; *job the id. */
static int sbatch(Submit *s, const char *const *extra, long *job) {
    const char *argv[SLURM_MAX_ARGS + 24];
    char opt[6][PATH_MAX + 40];
    int n = 0;
    argv[n++] = "sbatch";
    argv[n++] = "--parsable";
    argv[n++] = "--ntasks=1";
    snprintf(opt[0], sizeof opt[0], "--chdir=%s", s->cwd);
    snprintf(opt[1], sizeof opt[1], "--cpus-per-task=%d", s->cpus);
    argv[n++] = opt[0];
    argv[n++] = opt[1];
    if (*s->o.partition) snprintf(opt[2], sizeof opt[2], "--partition=%s", s->o.partition), argv[n++] = opt[2];
    if (*s->o.time) snprintf(opt[3], sizeof opt[3], "--time=%s", s->o.time), argv[n++] = opt[3];
    if (*s->o.mem) snprintf(opt[4], sizeof opt[4], "--mem=%s", s->o.mem), argv[n++] = opt[4];
    for (int i = 0; i < s->o.n_args; i++) argv[n++] = s->o.args[i];
    for (int i = 0; extra[i]; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    char *out = NULL;
    /* the exit code alone is not trusted: only a job id on stdout is a submission */
    if (run_cmd(argv, &out)) return QA_ERR;
    int rc = slurm_parse_sbatch(out, job);
    free(out);
    return rc;
}

/* Writes chunk c's hashes and script and submits it as one array after the prepare job;
 * hands its points to their tasks. */
static int submit_chunk(Submit *s, int first, int n) {
    const SlurmRun *r = s->r;
    char list[3 * PATH_MAX], script[3 * PATH_MAX], q[3][PATH_MAX * 6 + 8];
    char text[24 * PATH_MAX + 1024], *hashes = malloc((size_t)n * HASH_HEX + 1);
    if (!hashes) return qa_error("slurm: out of memory");
    hashes[0] = '\0';
    for (int k = 0; k < n; k++)
        strcat(strcat(hashes, r->g->points[s->claimed[first + k]].hash), "\n");
    snprintf(list, sizeof list, "%s/array-%d.hashes", s->sub, s->n_arrays);
    snprintf(script, sizeof script, "%s/array-%d.sh", s->sub, s->n_arrays);
    int rc = file_write_atomic(list, hashes, strlen(hashes));
    free(hashes);
    if (rc || slurm_shell_quote(s->bin, q[0], sizeof q[0]) ||
        slurm_shell_quote(list, q[1], sizeof q[1]) || slurm_shell_quote(s->out, q[2], sizeof q[2]))
        return QA_ERR;
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "# qaprune: one grid point per array task; line N+1 of the list is task N's point.\n"
             "# The task trains, scores and times the point on its node and writes\n"
             "# OUT/results/HASH.json; the head (sweep run, sweep status) ingests it.\n"
             "hash=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" %s)\n"
             "if [ -z \"$hash\" ]; then\n"
             "    echo \"qaprune: no point at index $SLURM_ARRAY_TASK_ID of %s\" >&2\n"
             "    exit 2\n"
             "fi\n"
             "exec %s worker %s \"$hash\"\n", q[1], list, q[0], q[2]);
    if (write_file(script, text, 0755)) return QA_ERR;
    char array[64], dep[64], output[3 * PATH_MAX];
    if (s->o.array_parallelism)
        snprintf(array, sizeof array, "--array=0-%d%%%d", n - 1, s->o.array_parallelism);
    else
        snprintf(array, sizeof array, "--array=0-%d", n - 1);
    snprintf(dep, sizeof dep, "--dependency=afterok:%ld", s->prepare);
    snprintf(output, sizeof output, "--output=%s/%%A_%%a.out", s->logs);
    const char *extra[] = {"--job-name=qaprune", array, dep, "--kill-on-invalid-dep=yes",
                           output, script, NULL};
    long job;
    if (sbatch(s, extra, &job)) return QA_ERR;
    s->arrays[s->n_arrays++] = job;
    const char **h = malloc(sizeof *h * (size_t)n), **to = malloc(sizeof *to * (size_t)n);
    char(*owners)[64] = malloc(sizeof *owners * (size_t)n);
    rc = QA_ERR;
    if (h && to && owners) {
        for (int k = 0; k < n; k++) {
            h[k] = r->g->points[s->claimed[first + k]].hash;
            snprintf(owners[k], 64, OWNER_PREFIX "%ld_%d", job, k);
            to[k] = owners[k];
        }
        int moved;
        rc = db_hand_over(r->db, h, to, n, r->owner, &moved);
        for (int k = 0; rc == QA_OK && k < n; k++) point_submitted(r->pts, s->claimed[first + k]);
        s->n_submitted += rc == QA_OK ? n : 0;
    } else {
        qa_error("slurm: out of memory");
    }
    free(h);
    free(to);
    free(owners);
    return rc;
}

/* The prepare job, then the chunks; OUT/slurm/jobs.txt records them. */
static int submit_all(Submit *s) {
    char output[3 * PATH_MAX], script[3 * PATH_MAX];
    snprintf(output, sizeof output, "--output=%s/prepare-%%j.out", s->logs);
    snprintf(script, sizeof script, "%s/prepare.sh", s->sub);
    const char *extra[] = {"--job-name=qaprune-prepare", output, script, NULL};
    if (sbatch(s, extra, &s->prepare)) return QA_ERR;
    int rc = QA_OK;
    for (int first = 0; first < s->n_claimed && rc == QA_OK; first += (int)s->max_array) {
        int n = s->n_claimed - first < s->max_array ? s->n_claimed - first : (int)s->max_array;
        if (s->n_arrays == MAX_CHUNKS) {
            rc = qa_error("slurm: more than %d arrays in one submission", MAX_CHUNKS);
            break;
        }
        rc = submit_chunk(s, first, n);
    }
    if (s->n_arrays == 0) { /* nothing depends on it */
        char id[32];
        snprintf(id, sizeof id, "%ld", s->prepare);
        const char *argv[] = {"scancel", id, NULL};
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", qa_last_error());
        run_cmd(argv, NULL);
        qa_error("%s", msg);
    }
    char line[64 + 24 * MAX_CHUNKS + 3 * PATH_MAX], path[3 * PATH_MAX];
    int len = snprintf(line, sizeof line, "prepare %ld arrays", s->prepare);
    for (int k = 0; k < s->n_arrays; k++)
        len += snprintf(line + len, sizeof line - (size_t)len, " %ld", s->arrays[k]);
    snprintf(line + len, sizeof line - (size_t)len, " dir %s\n", s->sub);
    snprintf(path, sizeof path, "%s/slurm/jobs.txt", s->out);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        if (write(fd, line, strlen(line)) < 0) {}
        fsync(fd);
        close(fd);
    }
    return rc;
}

/* Gives back the points claimed but not submitted (a failed sbatch). */
static void release_unsubmitted(Submit *s) {
    for (int k = 0; k < s->n_claimed; k++)
        if (s->r->pts->state[s->claimed[k]] == POINT_CLAIMED) point_release(s->r->pts, s->claimed[k]);
    char msg[1200];
    snprintf(msg, sizeof msg, "%s", qa_last_error());
    db_release_owner(s->r->db, s->r->owner, NULL);
    qa_error("%s", msg);
}

static void print_submitted(const Submit *s) {
    const SlurmOpts *o = &s->o;
    printf("slurm: submitted %d point(s) as %d array job(s):", s->n_submitted, s->n_arrays);
    for (int k = 0; k < s->n_arrays; k++) printf(" %ld", s->arrays[k]);
    printf(" (MaxArraySize %ld), after prepare job %ld\n", s->max_array, s->prepare);
    printf("slurm: partition %s, time %s, %d CPU(s) per task, mem %s, at most %s task(s) at "
           "once", *o->partition ? o->partition : "(default)", *o->time ? o->time : "(default)",
           s->cpus, *o->mem ? o->mem : "(default)", o->array_parallelism ? "" : "all");
    if (o->array_parallelism) printf(" (%d)", o->array_parallelism);
    for (int i = 0; i < o->n_args; i++) printf("%s%s", i ? " " : ", sbatch ", o->args[i]);
    printf("\nslurm: scripts in %s, logs in %s\n", s->sub, s->logs);
}

/* ---------------------------------------------------------------- wait */

static int wait_tasks(SlurmRun *r) {
    double t0 = latency_now_ms() / 1e3;
    SlurmSeen seen;
    int rc = QA_OK, failures = 0;
    while (!*r->stop) {
        /* a controller that does not answer for a while (a restart, a busy moment) is
         * waited out for a minute before the head gives up; the tasks go on regardless */
        if (slurm_collect(r->db, r->g->out, 1, NULL, &seen)) {
            if (++failures > 12) {
                rc = QA_ERR;
                break;
            }
            progress_done();
            fprintf(stderr, "sweep: slurm: %s (trying again in 5 s)\n", qa_last_error());
            sleep(5);
            continue;
        }
        failures = 0;
        int pending, running, done, failed;
        if ((rc = db_counts(r->db, 1, &pending, &running, &done, &failed))) break;
        progress_update("sweep: %d done, %d failed, %d running and %d queued on Slurm, %d "
                        "pending of %d | %.0fs", done, failed, seen.running, seen.pending,
                        pending, r->g->n_points, latency_now_ms() / 1e3 - t0);
        if (seen.running + seen.pending == 0) break;
        struct timespec ts = {0, 500000000};
        nanosleep(&ts, NULL);
    }
    progress_done();
    if (*r->stop)
        fprintf(stderr, "sweep: stopped waiting; the tasks go on on Slurm (`sweep run GRID "
                        "--backend slurm --wait` or `sweep status GRID` ingests them)\n");
    return rc;
}

int slurm_stage(SlurmRun *r) {
    Submit s = {.r = r};
    SlurmSeen seen;
    int rc = QA_ERR;
    merge_opts(&r->g->slurm, r->opts, &s.o);
    s.cpus = s.o.cpus_per_task ? s.o.cpus_per_task : r->g->threads;
    if (slurm_collect(r->db, r->g->out, 1, NULL, &seen)) return QA_ERR;
    if (seen.ingested || seen.failed)
        fprintf(stderr, "sweep: slurm: %d result(s) ingested, %d task(s) ended without one\n",
                seen.ingested, seen.failed);
    if (seen.failed && r->retry_failed && db_retry_failed(r->db, NULL)) return QA_ERR;
    if (check_cluster(&s)) return QA_ERR;
    if (!getcwd(s.cwd, sizeof s.cwd) || !realpath("/proc/self/exe", s.bin) ||
        (!realpath(r->g->out, s.out)))
        return qa_error("%s: cannot resolve the working directory, sweep binary or output: %s",
                        r->g->file, strerror(errno));
    if (claim_all(&s)) goto cleanup;
    if (s.n_claimed == 0) {
        printf("slurm: nothing to submit: every point of the grid is done, failed or has a "
               "live task (%d queued, %d running)\n", seen.pending, seen.running);
    } else {
        if (write_submission(&s) || submit_all(&s)) {
            release_unsubmitted(&s);
            if (s.n_submitted) print_submitted(&s);
            goto cleanup;
        }
        print_submitted(&s);
    }
    fflush(stdout);
    rc = r->wait ? wait_tasks(r) : QA_OK;
cleanup:
    free(s.claimed);
    return rc;
}
