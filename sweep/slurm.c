/* sweep/slurm.c: Slurm's commands and outputs (see slurm.h). */
#include "sweep/slurm.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util/error.h"

/* ---------------------------------------------------------------- values the user gives */

/* Reads a whole base-10 number of at most 9 digits at *s, advancing it; -1 when none. */
static long read_num(const char **s) {
    long v = 0;
    int n = 0;
    while (isdigit((unsigned char)**s) && n < 9) v = v * 10 + (*(*s)++ - '0'), n++;
    return n && !isdigit((unsigned char)**s) ? v : -1;
}

int slurm_parse_time(const char *what, const char *s, long *seconds) {
    if (!strcmp(s, "infinite") || !strcmp(s, "UNLIMITED") || !strcmp(s, "INFINITE")) {
        *seconds = -1;
        return QA_OK;
    }
    const char *p = s;
    long days = 0, part[3];
    int n = 0, has_days = strchr(s, '-') != NULL;
    if (has_days) {
        days = read_num(&p);
        if (days < 0 || *p++ != '-') goto bad;
    }
    for (;;) {
        if (n == 3 || (part[n++] = read_num(&p)) < 0) goto bad;
        if (!*p) break;
        if (*p++ != ':') goto bad;
    }
    long h = 0, m = 0, sec = 0;
    if (has_days) { /* D-HH, D-HH:MM, D-HH:MM:SS */
        h = part[0];
        m = n > 1 ? part[1] : 0;
        sec = n > 2 ? part[2] : 0;
    } else if (n == 1) { /* MM */
        m = part[0];
    } else if (n == 2) { /* MM:SS */
        m = part[0];
        sec = part[1];
    } else { /* HH:MM:SS */
        h = part[0];
        m = part[1];
        sec = part[2];
    }
    if ((n > 1 && (m > 59 || sec > 59)) || (has_days && h > 23)) goto bad;
    *seconds = ((days * 24 + h) * 60 + m) * 60 + sec;
    return QA_OK;
bad:
    return qa_error("%s: expected a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or "
                    "D-HH:MM:SS), got '%s'", what, s);
}

int slurm_parse_mem(const char *what, const char *s, long *mb) {
    const char *p = s;
    long v = read_num(&p);
    long scale = 1;
    if (*p && !p[1]) {
        switch (toupper((unsigned char)*p)) {
        case 'K': scale = 0; break; /* KB: rounded up to whole MB below */
        case 'M': scale = 1; break;
        case 'G': scale = 1024; break;
        case 'T': scale = 1024 * 1024; break;
        default: v = -1;
        }
        p++;
    }
    if (v <= 0 || *p)
        return qa_error("%s: expected a memory size like 4096, 500M, 4G or 1T (MB when no "
                        "suffix), got '%s'", what, s);
    *mb = scale ? v * scale : (v + 1023) / 1024;
    return QA_OK;
}

/* ---------------------------------------------------------------- what Slurm prints */

int slurm_parse_sbatch(const char *out, long *job_id) {
    const char *p = out;
    while (*p == ' ' || *p == '\t') p++;
    char *end;
    errno = 0;
    long id = strtol(p, &end, 10);
    if (errno || end == p || id <= 0 || (*end && *end != ';' && *end != '\n')) {
        char line[200];
        slurm_first_line(out, line, sizeof line);
        return qa_error("sbatch --parsable: expected a job id, got '%s'", line);
    }
    *job_id = id;
    return QA_OK;
}

int slurm_parse_max_array(const char *config, long *max_array_size) {
    const char *at = config;
    while ((at = strstr(at, "MaxArraySize"))) {
        if (at == config || at[-1] == '\n') {
            const char *p = at + strlen("MaxArraySize");
            while (*p == ' ' || *p == '\t') p++;
            if (*p++ != '=') break;
            while (*p == ' ' || *p == '\t') p++;
            long v = read_num(&p);
            if (v < 1 || (*p && *p != '\n' && *p != ' ')) break;
            *max_array_size = v;
            return QA_OK;
        }
        at++;
    }
    return qa_error("scontrol show config: no MaxArraySize = N line");
}

void slurm_tasks_free(SlurmTasks *t) {
    free(t->v);
    memset(t, 0, sizeof *t);
}

const SlurmTask *slurm_tasks_find(const SlurmTasks *t, long job, long task) {
    for (int i = 0; i < t->n; i++)
        if (t->v[i].job == job && t->v[i].task == task) return &t->v[i];
    return NULL;
}

static int tasks_add(SlurmTasks *t, const SlurmTask *x) {
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        SlurmTask *v = realloc(t->v, sizeof *v * (size_t)cap);
        if (!v) return qa_error("slurm: out of memory for %d tasks", cap);
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = *x;
    return QA_OK;
}

/* Adds x once for every task of the range list r ("4", "5-9", "5-9%2", "1,3,5-7"; NULL or ""
 * for a job that is not an array). */
static int tasks_add_range(SlurmTasks *t, SlurmTask x, const char *r) {
    if (!r || !*r) {
        x.task = -1;
        return tasks_add(t, &x);
    }
    const char *p = r;
    for (;;) {
        long a = read_num(&p), b = a;
        if (a < 0) return QA_ERR;
        if (*p == '-') {
            p++;
            b = read_num(&p);
            if (b < a || b - a > 1000000) return QA_ERR;
        }
        for (long k = a; k <= b; k++) {
            x.task = k;
            if (tasks_add(t, &x)) return QA_ERR;
        }
        if (*p == '%') { /* the throttle: not a task */
            p++;
            if (read_num(&p) < 0) return QA_ERR;
        }
        if (!*p) return QA_OK;
        if (*p++ != ',') return QA_ERR;
    }
}

/* "3:0" into code and signal. */
static int parse_exit(const char *s, SlurmTask *x) {
    const char *p = s;
    long c = read_num(&p);
    if (c < 0 || *p++ != ':') return QA_ERR;
    long sig = read_num(&p);
    if (sig < 0 || (*p && *p != ' ' && *p != '\n' && *p != '|')) return QA_ERR;
    x->exit_code = (int)c;
    x->exit_signal = (int)sig;
    return QA_OK;
}

/* Copies the field [s, s+n) into buf (cap bytes, truncated). */
static void copy_field(char *buf, size_t cap, const char *s, size_t n) {
    if (n >= cap) n = cap - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

/* A job id field "123", "123_4" or "123_[5-9%2]" with x's other fields: one entry per task. */
static int add_id_field(SlurmTasks *t, SlurmTask x, const char *id, size_t n) {
    char buf[256];
    copy_field(buf, sizeof buf, id, n);
    const char *p = buf;
    x.job = read_num(&p);
    if (x.job <= 0 || strlen(buf) > 200) return QA_ERR;
    if (!*p) return tasks_add_range(t, x, NULL);
    if (*p++ != '_') return QA_ERR;
    if (*p == '[') {
        size_t len = strlen(++p);
        if (!len || p[len - 1] != ']') return QA_ERR;
        buf[(size_t)(p - buf) + len - 1] = '\0';
    }
    return tasks_add_range(t, x, p);
}

/* Splits line at '|' into at most max fields (pointers and lengths); returns the count. */
static int split_bar(const char *line, size_t len, const char **f, size_t *fl, int max) {
    int n = 0;
    const char *s = line, *end = line + len;
    while (n < max) {
        const char *bar = memchr(s, '|', (size_t)(end - s));
        f[n] = s;
        fl[n++] = (size_t)((bar ? bar : end) - s);
        if (!bar) break;
        s = bar + 1;
    }
    return n;
}

/* Calls one(t, line, len) for each non-empty line of text. */
static int each_line(const char *text, SlurmTasks *t, const char *who,
                     int (*one)(SlurmTasks *, const char *, size_t)) {
    for (const char *s = text; s && *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (len && one(t, s, len)) {
            char line[160];
            copy_field(line, sizeof line, s, len);
            return qa_error("%s: cannot read the line '%s'", who, line);
        }
        s = nl ? nl + 1 : NULL;
    }
    return QA_OK;
}

static int squeue_line(SlurmTasks *t, const char *line, size_t len) {
    const char *f[3];
    size_t fl[3];
    if (split_bar(line, len, f, fl, 3) != 3 || !fl[1]) return QA_ERR;
    SlurmTask x = {.exit_code = -1, .exit_signal = -1};
    copy_field(x.state, sizeof x.state, f[1], fl[1]);
    copy_field(x.reason, sizeof x.reason, f[2], fl[2]);
    return add_id_field(t, x, f[0], fl[0]);
}

int slurm_parse_squeue(const char *text, SlurmTasks *t) {
    return each_line(text, t, "squeue", squeue_line);
}

static int sacct_line(SlurmTasks *t, const char *line, size_t len) {
    const char *f[3];
    size_t fl[3];
    if (split_bar(line, len, f, fl, 3) != 3 || !fl[1]) return QA_ERR;
    SlurmTask x = {.exit_code = -1, .exit_signal = -1};
    size_t word = strcspn(f[1], " |"); /* "CANCELLED by 0" -> CANCELLED */
    copy_field(x.state, sizeof x.state, f[1], word < fl[1] ? word : fl[1]);
    char ex[32];
    copy_field(ex, sizeof ex, f[2], fl[2]);
    if (*ex && parse_exit(ex, &x)) return QA_ERR;
    if (memchr(f[0], '.', fl[0])) return QA_OK; /* a job step (123.batch): not a task */
    return add_id_field(t, x, f[0], fl[0]);
}

int slurm_parse_sacct(const char *text, SlurmTasks *t) {
    return each_line(text, t, "sacct", sacct_line);
}

/* The value of " KEY=" in the record [line, line+len) into buf ("" when absent). */
static void record_value(const char *line, size_t len, const char *key, char *buf, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    size_t kl = strlen(pat);
    buf[0] = '\0';
    for (size_t i = 0; i + kl <= len; i++) {
        if ((i == 0 || line[i - 1] == ' ') && !strncmp(line + i, pat, kl)) {
            const char *v = line + i + kl;
            size_t n = 0;
            while (i + kl + n < len && v[n] != ' ') n++;
            copy_field(buf, cap, v, n);
            return;
        }
    }
}

static int scontrol_line(SlurmTasks *t, const char *line, size_t len) {
    char job[32], array_job[32], range[256], exit[32];
    SlurmTask x = {.exit_code = -1, .exit_signal = -1};
    record_value(line, len, "JobId", job, sizeof job);
    record_value(line, len, "ArrayJobId", array_job, sizeof array_job);
    record_value(line, len, "ArrayTaskId", range, sizeof range);
    record_value(line, len, "JobState", x.state, sizeof x.state);
    record_value(line, len, "Reason", x.reason, sizeof x.reason);
    record_value(line, len, "ExitCode", exit, sizeof exit);
    const char *p = *array_job ? array_job : job;
    x.job = read_num(&p);
    if (x.job <= 0 || *p || !*x.state || (*exit && parse_exit(exit, &x))) return QA_ERR;
    return tasks_add_range(t, x, *array_job ? range : NULL);
}

int slurm_parse_scontrol_jobs(const char *text, SlurmTasks *t) {
    return each_line(text, t, "scontrol show job", scontrol_line);
}

int slurm_state_live(const char *state) {
    static const char *const live[] = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING",
                                       "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                                       "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
                                       "RESV_DEL_HOLD"};
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (!strcmp(state, live[i])) return 1;
    return 0;
}

/* ---------------------------------------------------------------- partitions */

/* "24105", "2+" (nodes differ: the '+' marks more on some) -> the number. */
static long leading_num(const char *s, size_t n) {
    char buf[32];
    copy_field(buf, sizeof buf, s, n);
    const char *p = buf;
    long v = read_num(&p);
    return v >= 0 && (!*p || *p == '+') ? v : -1;
}

int slurm_parse_sinfo(const char *text, const char *name, SlurmPartition *p) {
    memset(p, 0, sizeof *p);
    int found = 0;
    for (const char *s = text; s && *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        const char *f[4];
        size_t fl[4];
        if (len && split_bar(s, len, f, fl, 4) == 4 && fl[0]) {
            int is_default = f[0][fl[0] - 1] == '*';
            char part[128], tl[64];
            copy_field(part, sizeof part, f[0], fl[0] - (size_t)is_default);
            copy_field(tl, sizeof tl, f[3], fl[3]);
            long cpus = leading_num(f[1], fl[1]), mem = leading_num(f[2], fl[2]), secs;
            if (cpus < 0 || mem < 0 || slurm_parse_time("sinfo", tl, &secs))
                return qa_error("sinfo: cannot read the line '%.*s'", (int)len, s);
            if (*name ? !strcmp(part, name) : is_default) {
                if (!found) {
                    snprintf(p->name, sizeof p->name, "%s", part);
                    p->is_default = is_default;
                    p->time_limit_s = secs;
                }
                found = 1;
                if (cpus > p->cpus) p->cpus = cpus;
                if (mem > p->mem_mb) p->mem_mb = mem;
            }
        }
        s = nl ? nl + 1 : NULL;
    }
    if (!found)
        return *name ? qa_error("slurm.partition: no partition '%s' on this cluster (sinfo)", name)
                     : qa_error("slurm.partition: the cluster has no default partition; "
                                "name one with --partition");
    return QA_OK;
}

int slurm_check_request(const SlurmOpts *o, int cpus, const SlurmPartition *p) {
    if (cpus > p->cpus)
        return qa_error("slurm.cpus_per_task: %d CPUs per task, but the largest node of "
                        "partition %s has %ld (the tasks would pend for ever)",
                        cpus, p->name, p->cpus);
    long v;
    if (*o->mem) {
        if (slurm_parse_mem("slurm.mem", o->mem, &v)) return QA_ERR;
        if (p->mem_mb > 0 && v > p->mem_mb)
            return qa_error("slurm.mem: %s (%ld MB) per node, but the largest node of "
                            "partition %s has %ld MB", o->mem, v, p->name, p->mem_mb);
    }
    if (*o->time) {
        if (slurm_parse_time("slurm.time", o->time, &v)) return QA_ERR;
        if (p->time_limit_s >= 0 && (v < 0 || v > p->time_limit_s))
            return qa_error("slurm.time: %s, but partition %s allows at most %ld s", o->time,
                            p->name, p->time_limit_s);
    }
    return QA_OK;
}

/* ---------------------------------------------------------------- running commands */

/* Appends what fd has to read into *buf (growing it); returns 0 at end of file. */
static int drain(int fd, char **buf, size_t *len, size_t *cap) {
    if (*cap - *len < 4096) {
        size_t nc = *cap * 2 + 8192;
        char *g = realloc(*buf, nc);
        if (!g) return 0;
        *buf = g;
        *cap = nc;
    }
    ssize_t k = read(fd, *buf + *len, *cap - *len - 1);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
    if (k <= 0) return 0;
    *len += (size_t)k;
    (*buf)[*len] = '\0';
    return 1;
}

int slurm_exec(const char *const *argv, int timeout_s, char **out, char **err, int *status) {
    int po[2], pe[2];
    if (out) *out = NULL;
    if (err) *err = NULL;
    *status = -1;
    if (pipe(po)) return qa_error("%s: pipe: %s", argv[0], strerror(errno));
    if (pipe(pe)) {
        close(po[0]);
        close(po[1]);
        return qa_error("%s: pipe: %s", argv[0], strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return qa_error("%s: fork: %s", argv[0], strerror(errno));
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    char *b[2] = {calloc(1, 8192), calloc(1, 8192)};
    size_t len[2] = {0, 0}, cap[2] = {8192, 8192};
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2, timed_out = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (open_fds > 0 && b[0] && b[1]) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = timeout_s * 1000L - ((now.tv_sec - t0.tv_sec) * 1000L +
                                         (now.tv_nsec - t0.tv_nsec) / 1000000L);
        if (left <= 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        if (poll(fds, 2, (int)(left < 1000 ? left : 1000)) < 0 && errno != EINTR) break;
        for (int k = 0; k < 2; k++)
            if (fds[k].fd >= 0 && (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) &&
                !drain(fds[k].fd, &b[k], &len[k], &cap[k])) {
                close(fds[k].fd);
                fds[k].fd = -1;
                open_fds--;
            }
    }
    for (int k = 0; k < 2; k++)
        if (fds[k].fd >= 0) close(fds[k].fd);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    int rc = QA_OK;
    if (!b[0] || !b[1]) rc = qa_error("%s: out of memory for its output", argv[0]);
    else if (timed_out) rc = qa_error("%s: no answer within %d s (is slurmctld up?)", argv[0], timeout_s);
    else if (*status == 127 && !len[0] && !len[1])
        rc = qa_error("%s: not found (is Slurm installed and on PATH?)", argv[0]);
    if (rc == QA_OK && out) *out = b[0], b[0] = NULL;
    if (rc == QA_OK && err) *err = b[1], b[1] = NULL;
    free(b[0]);
    free(b[1]);
    return rc;
}

int slurm_shell_quote(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    if (cap < 3) return qa_error("shell quoting: no room");
    buf[n++] = '\'';
    for (; *s; s++) {
        const char *piece = *s == '\'' ? "'\\''" : NULL;
        size_t k = piece ? 4 : 1;
        if (n + k + 2 > cap) return qa_error("shell quoting: '%.60s...' too long", s);
        if (piece) memcpy(buf + n, piece, k);
        else buf[n] = *s;
        n += k;
    }
    buf[n++] = '\'';
    buf[n] = '\0';
    return QA_OK;
}

void slurm_first_line(const char *text, char *buf, size_t cap) {
    const char *s = text ? text : "";
    while (*s == '\n' || *s == ' ') s++;
    copy_field(buf, cap, s, strcspn(s, "\n"));
}
