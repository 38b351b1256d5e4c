/* sweep/run.c: the scheduler (see run.h). sweep_run reads as its stages:
 *   open      load the grid and resolve every input's identity (nothing written yet);
 *   register  create OUT and the database, add this grid's points, reset stale ones;
 *   prepare   the synthetic data and the teachers, once for the whole sweep;
 *   train     workers train the points (sweep/point.h is each point's state machine);
 *   measure   latency of every trained point with the machine to itself (sweep/measure.c);
 *   report    charts, OUT/report.html and the end-of-run tables, per teacher and data. */
#include "sweep/run.h"
#include "sweep/run_private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/model/checkpoint.h"
#include "core/model/latency.h"
#include "core/qa/synth.h"
#include "core/qa/synth_nq.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "db/results.h"
#include "plots/plots.h"
#include "plots/report.h"
#include "sweep/grid.h"
#include "sweep/ort.h"
#include "sweep/point.h"
#include "sweep/progress.h"
#include "sweep/slurm_run.h"

volatile sig_atomic_t sweep_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    sweep_interrupted = 1;
}


/* A worker that fails for its environment (qa_error_is_env: disk full, read-only, no memory)
 * exits with this code, writes no result and sends its one-line cause through its pipe. */
#define WORKER_ENV_EXIT 75

static int pid_alive(int pid) { return kill(pid, 0) == 0 || errno == EPERM; }

/* ---------------------------------------------------------------- open */

/* The resolved grid: shared settings, every input's identity, one line per point, and an
 * estimate of the time where earlier points of the same kind exist in the database. */
static void print_plan(const Sweep *s) {
    const Grid *g = s->g;
    printf("grid %s: output %s, %d point(s), %d thread(s)\n", g->file, g->out, g->n_points,
           g->threads);
    if (g->synthetic)
        printf("data %s: synthetic%s, seed %d, %d train / %d dev questions, lookups %s "
               "(in %s/data), identity %s\n",
               g->data_name, g->data.nq ? " as Natural Questions" : "", g->synth_seed,
               g->synth_train, g->synth_dev, g->synth_lookup ? "on" : "off", g->out,
               g->data_hash);
    else
        printf("data %s: %strain %s, dev %s%s%s, identity %s\n", g->data_name,
               g->data.nq ? "Natural Questions, " : "", g->data.train, g->data.dev,
               *g->data.vocab ? ", vocab " : "", g->data.vocab, g->data_hash);
    if (g->data.nq)
        printf("NQ windows: BERT-joint's, answerless training windows kept with probability "
               "%g; scores: the official NQ metric (f1 = short-answer F1)\n",
               g->data.nq_include_unknowns);
    for (int k = 0; k < g->n_teachers; k++)
        printf("teacher %s: %s%s, identity %s\n", g->teachers[k].name, g->teachers[k].dir,
               g->teacher_checkpoint ? "" : " (trained here, cached)", g->teachers[k].hash);
    if (!g->teacher_checkpoint)
        spec_print(stdout, "teacher settings:", TEACHER_FIELDS, TEACHER_NFIELDS, &g->teacher);
    if (g->n_points)
        spec_print(stdout, "point settings (first point):", PRUNE_FIELDS, PRUNE_NFIELDS,
                   &g->points[0].spec);
    printf("%-16s %-8s %-8s %6s %6s %5s %-10s %s\n", "identity", "strategy", "finetune",
           "heads", "ffn", "seed", "status", "teacher");
    double estimate = 0;
    int n_est = 0, n_todo = 0;
    for (int i = 0; i < g->n_points; i++) {
        const GridPoint *p = &g->points[i];
        DbStatus st = DB_PENDING;
        int found = 0;
        if (s->db) db_get_status(s->db, p->hash, &st, &found);
        static const char *const names[] = {"pending", "running", "done", "failed"};
        char label[SPEC_STR];
        prune_spec_label(&p->spec, label, sizeof label);
        printf("%.16s %-8s %-8s %6.3f %6.3f %5d %-10s %s\n", p->hash, label,
               p->spec.finetune, p->spec.head_sparsity, p->spec.ffn_sparsity, p->spec.seed,
               found ? names[st] : "new", g->teachers[p->teacher].name);
        if (found && st == DB_DONE) continue;
        n_todo++;
        double mean = 0;
        int n = 0;
        if (s->db &&
            db_mean_seconds(s->db, g->teachers[p->teacher].hash, label,
                            p->spec.finetune, &mean, &n) == QA_OK && n > 0) {
            estimate += mean;
            n_est++;
        }
    }
    int jobs = s->o->jobs > 0 ? s->o->jobs : 1;
    if (n_est > 0)
        printf("estimate: %d point(s) to run; %d like earlier ones take about %.0f s "
               "(%d job(s)), not counting data and teacher preparation\n",
               n_todo, n_est, estimate / jobs, jobs);
    else
        printf("estimate: %d point(s) to run; no earlier points of this kind to estimate "
               "their time from\n", n_todo);
}

/* Loads the grid and resolves every identity: an existing database lends its file-hash
 * cache; nothing is created or written. Returns 0, or 2 for a grid or input that is not
 * valid (with one line on stderr). */
static int stage_open(Sweep *s, const char *grid_path) {
    char path[4300];
    if (grid_load(grid_path, &s->g) || !(s->cache = hash_cache_new())) goto bad;
    snprintf(path, sizeof path, "%s/results.db", s->g->out);
    if (!s->o->dry_run && file_exists(s->g->out) && access(s->g->out, W_OK) != 0) {
        qa_env_error(errno, "%s: cannot write there: %s", s->g->out, strerror(errno));
        goto bad;
    }
    if (file_exists(path)) {
        if (db_open(path, &s->db)) goto bad;
        if (hash_cache_attach(s->cache, s->db)) goto bad;
    }
    if (!s->o->dry_run || s->db) {
        /* resolving hashes the inputs: say so, a large file takes a moment */
        progress_update("sweep: hashing the inputs of %s", grid_path);
    }
    if (grid_resolve(s->g, s->cache)) goto bad;
    progress_done();
    if (s->g->bench_ort && !s->o->dry_run) {
        if (s->o->backend == RUN_BACKEND_SLURM) {
            qa_error("%s: bench.ort: ONNX Runtime latency is measured by the local backend "
                     "only (not by Slurm tasks)", grid_path);
            goto bad;
        }
        if (ort_check(ort_dir_choose(NULL))) goto bad;
    }
    s->hashes = malloc(sizeof *s->hashes * (size_t)(s->g->n_points + 1));
    if (!s->hashes) {
        qa_error("%s: out of memory", grid_path);
        goto bad;
    }
    for (int i = 0; i < s->g->n_points; i++) s->hashes[i] = s->g->points[i].hash;
    return 0;
bad:
    progress_done();
    fprintf(stderr, "sweep run: %s\n", qa_last_error());
    return qa_error_is_env() ? 1 : 2; /* the machine's fault is not a bad grid */
}

/* ---------------------------------------------------------------- register */

/* Creates OUT (results/, points/, the compute lock) and the database, records the hashes
 * computed so far, adds this grid's points and returns stale or (--retry-failed) failed
 * points to pending. */
static int stage_register(Sweep *s) {
    const Grid *g = s->g;
    char path[4300];
    snprintf(path, sizeof path, "%s/results.db", g->out);
    if (file_mkdirs(g->out) || (!s->db && db_open(path, &s->db)) ||
        hash_cache_attach(s->cache, s->db))
        return QA_ERR;
    snprintf(path, sizeof path, "%s/results", g->out);
    if (file_mkdirs(path)) return QA_ERR;
    snprintf(path, sizeof path, "%s/points", g->out);
    if (file_mkdirs(path)) return QA_ERR;
    snprintf(path, sizeof path, "%s/.compute.lock", g->out);
    s->lock_fd = open(path, O_CREAT | O_RDWR, 0666);
    if (s->lock_fd < 0) return qa_error("%s: cannot open: %s", path, strerror(errno));
    if (points_init(&s->pts, g->n_points, s->hashes, g->out, s->db)) return QA_ERR;
    s->msg_fd = malloc(sizeof *s->msg_fd * (size_t)(g->n_points + 1));
    if (!s->msg_fd) return qa_error("%s: out of memory", g->out);
    for (int i = 0; i < g->n_points; i++) s->msg_fd[i] = -1;
    for (int i = 0; i < g->n_points; i++) {
        const GridPoint *p = &g->points[i];
        const GridTeacher *t = &g->teachers[p->teacher];
        char label[SPEC_STR];
        prune_spec_label(&p->spec, label, sizeof label);
        DbRun r = {p->hash, label, p->spec.finetune, p->spec.head_sparsity,
                   p->spec.ffn_sparsity, p->spec.seed, p->config_json,
                   t->name, t->hash, g->data_name, g->data_hash};
        if (db_add_run(s->db, &r, NULL)) return QA_ERR;
    }
    if (db_select_grid(s->db, s->hashes, g->n_points)) return QA_ERR;
    int n;
    if (db_reset_stale(s->db, s->host, pid_alive, &n)) return QA_ERR;
    if (n) fprintf(stderr, "sweep: %d point(s) left running by a dead process will run again\n", n);
    if (s->o->retry_failed) {
        if (db_retry_failed(s->db, &n)) return QA_ERR;
        fprintf(stderr, "sweep: %d failed point(s) will run again\n", n);
    }
    for (int i = 0; i < g->n_points; i++) {
        DbStatus st;
        int found;
        if (db_get_status(s->db, g->points[i].hash, &st, &found)) return QA_ERR;
        s->done_before += found && st == DB_DONE;
        s->failed_before += found && st == DB_FAILED;
        s->todo += found && st == DB_PENDING;
    }
    return QA_OK;
}

/* ---------------------------------------------------------------- prepare */

/* 1 when the stamp file starts with want[0..n) and lists the current hash of each of the
 * n_files files. */
static int stamp_matches(HashCache *cache, const char *stamp, const char *want, int n,
                         const char *const *files, int n_files) {
    char *have = NULL;
    size_t len;
    if (!file_exists(stamp) || file_read(stamp, 1 << 16, &have, &len) != QA_OK) return 0;
    int ok = !strncmp(have, want, (size_t)n) && len == (size_t)n + (size_t)n_files * HASH_HEX;
    const char *line = have + n;
    for (int i = 0; i < n_files && ok; i++) {
        char h[HASH_HEX];
        ok = file_exists(files[i]) && identity_file(cache, files[i], h) == QA_OK &&
             !strncmp(line, h, HASH_HEX - 1) && line[HASH_HEX - 1] == '\n';
        line += HASH_HEX;
    }
    free(have);
    return ok;
}

/* Generates the synthetic data once: OUT/data/stamp records the generator's settings and
 * the content hash of each file it wrote, and data whose files no longer match (edited,
 * truncated, missing) is generated again rather than trusted. */
static int prepare_data(const Grid *g, HashCache *cache) {
    if (!g->synthetic) return QA_OK;
    char dir[4200], stamp[4300], want[512];
    snprintf(dir, sizeof dir, "%s/data", g->out);
    snprintf(stamp, sizeof stamp, "%s/stamp", dir);
    char nq[32] = "";
    if (g->data.nq) snprintf(nq, sizeof nq, " nq v%d", SYNTH_NQ_VERSION);
    int n = snprintf(want, sizeof want, "synthetic v%d seed %d train %d dev %d lookup %d%s\n",
                     SYNTH_VERSION, g->synth_seed, g->synth_train, g->synth_dev,
                     g->synth_lookup, nq);
    /* with a BPE: its setting on a line of its own (data without one keeps its stamp) */
    if (g->synth_bpe_merges)
        n += snprintf(want + n, sizeof want - (size_t)n, "bpe merges %d\n", g->synth_bpe_merges);
    const char *files[5] = {g->data.train, g->data.dev, g->data.vocab, g->data.bpe_vocab,
                            g->data.bpe_merges};
    int n_files = g->synth_bpe_merges ? 5 : 3;
    if (stamp_matches(cache, stamp, want, n, files, n_files)) return QA_OK;
    /* one writer at a time: a second sweep on a fresh OUT waits, then finds the stamp */
    char lock[4300];
    snprintf(lock, sizeof lock, "%s/data.lock", g->out);
    int fd = open(lock, O_CREAT | O_RDWR, 0666);
    if (fd < 0) return qa_error("%s: cannot open: %s", lock, strerror(errno));
    flock(fd, LOCK_EX);
    int rc = QA_OK;
    if (!stamp_matches(cache, stamp, want, n, files, n_files)) {
        if (file_exists(stamp))
            fprintf(stderr, "sweep: %s does not match its stamp (a file missing, edited or "
                            "from other settings); writing it again\n", dir);
        progress_update("sweep: writing the synthetic data to %s", dir);
        uint64_t seed = (uint64_t)g->synth_seed;
        rc = file_mkdirs(dir) ||
                     (g->data.nq ? synth_nq_generate(dir, seed, g->synth_train, g->synth_dev,
                                                     g->synth_lookup)
                                 : synth_generate(dir, seed, g->synth_train, g->synth_dev,
                                                  g->synth_lookup))
                 ? QA_ERR
                 : QA_OK;
        if (rc == QA_OK && g->synth_bpe_merges) {
            progress_update("sweep: learning a byte-level BPE of %d merges in %s",
                            g->synth_bpe_merges, dir);
            rc = data_write_bpe(dir, g->synth_bpe_merges) < 0 ? QA_ERR : QA_OK;
        }
        for (int i = 0; i < n_files && rc == QA_OK; i++) {
            char h[HASH_HEX];
            rc = identity_file(cache, files[i], h);
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s\n", h);
        }
        progress_done();
        if (rc == QA_OK) rc = file_write_atomic(stamp, want, strlen(want));
    }
    close(fd);
    return rc;
}

/* Makes teacher k ready: checks a given checkpoint loads, or trains (or reuses) the
 * embedded default's teacher; its dev F1 (NQ: the short-answer F1) and NQ long-answer F1
 * (or -1 when unknown) in *teacher_f1, *teacher_long_f1. */
static int prepare_teacher(const Grid *g, int k, double *teacher_f1, double *teacher_long_f1) {
    *teacher_f1 = *teacher_long_f1 = -1;
    const char *dir = g->teachers[k].dir;
    if (g->teacher_checkpoint) {
        BertModel *m = NULL;
        int rc = checkpoint_load(dir, &m);
        bert_free(m);
        return rc;
    }
    char lock[4300], parent[4200];
    snprintf(lock, sizeof lock, "%s.lock", dir);
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = '\0';
    if (slash && file_mkdirs(parent)) return QA_ERR;
    int fd = open(lock, O_CREAT | O_RDWR, 0666);
    if (fd < 0) return qa_error("%s: cannot open: %s", lock, strerror(errno));
    flock(fd, LOCK_EX); /* two sweeps never train the same teacher at once */
    TeacherResult tr;
    int rc = teacher_build(&g->teacher, &g->data, dir, g->threads, &tr);
    close(fd);
    if (rc == QA_OK) {
        fault_at("teacher");
        *teacher_f1 = tr.dev.f1;
        if (g->data.nq) *teacher_long_f1 = 100 * tr.nq_dev.long_answer.f1;
        if (g->data.nq)
            fprintf(stderr, "sweep: teacher %s %s (dev long F1 %.2f, short F1 %.2f)\n", dir,
                    tr.reused ? "reused from the cache" : "trained",
                    100 * tr.nq_dev.long_answer.f1, 100 * tr.nq_dev.short_answer.f1);
        else
            fprintf(stderr, "sweep: teacher %s %s (dev F1 %.2f)\n", dir,
                    tr.reused ? "reused from the cache" : "trained", tr.dev.f1);
    }
    return rc;
}

/* The data, then every teacher that has points left to run. A teacher that cannot be made
 * ready fails its pending points (they cannot run without it); an interruption fails none. */
static int stage_prepare(Sweep *s) {
    const Grid *g = s->g;
    if (s->todo == 0 || s->o->backend == RUN_BACKEND_SLURM) return QA_OK; /* a prepare job */
    if (prepare_data(g, s->cache)) return QA_ERR;
    double teacher_f1 = -1, teacher_long_f1 = -1;
    for (int k = 0; k < g->n_teachers && !sweep_interrupted; k++) {
        double f1, long_f1;
        if (prepare_teacher(g, k, &f1, &long_f1) == QA_OK) {
            if (k == 0) teacher_f1 = f1, teacher_long_f1 = long_f1;
            /* its training windows and dev scores, once for every point */
            progress_update("sweep: tokenizing the data and scoring teacher %s",
                            g->teachers[k].name);
            if (prune_prepare(g->teachers[k].dir, &g->data, g->points[0].spec.eval_batch) ==
                QA_OK)
                continue;
        }
        if (sweep_interrupted) break;
        if (qa_error_is_env()) return QA_ERR; /* the machine's fault: stop, fail nothing */
        char err[1200];
        snprintf(err, sizeof err, "teacher %s: %s", g->teachers[k].dir, qa_last_error());
        fprintf(stderr, "sweep: %s\n", err);
        for (int i = 0; i < g->n_points; i++) {
            int claimed = 0;
            if (g->points[i].teacher != k || s->pts.state[i] != POINT_PENDING) continue;
            if (point_claim(&s->pts, i, s->owner, &claimed)) return QA_ERR;
            if (claimed && point_fail(&s->pts, i, err)) return QA_ERR;
        }
    }
    if (teacher_f1 >= 0 && g->n_teachers == 1) {
        char v[64];
        snprintf(v, sizeof v, "%.17g", teacher_f1);
        if (db_set_meta(s->db, "teacher_f1", v)) return QA_ERR;
    }
    if (teacher_long_f1 >= 0 && g->n_teachers == 1) { /* NQ: for the long-answer chart */
        char v[64];
        snprintf(v, sizeof v, "%.17g", teacher_long_f1);
        if (db_set_meta(s->db, "teacher_long_f1", v)) return QA_ERR;
    }
    return QA_OK;
}

int sweep_prepare_inputs(const Grid *g, HashCache *cache) {
    if (prepare_data(g, cache)) return QA_ERR;
    for (int k = 0; k < g->n_teachers; k++) {
        double f1, long_f1;
        if (prepare_teacher(g, k, &f1, &long_f1) ||
            prune_prepare(g->teachers[k].dir, &g->data, g->points[0].spec.eval_batch)) {
            char err[1200];
            snprintf(err, sizeof err, "%s", qa_last_error());
            return qa_error("teacher %s: %s", g->teachers[k].dir, err);
        }
    }
    return QA_OK;
}

/* ---------------------------------------------------------------- train */

/* OUT/points/HASH/trained.json: what a worker measured, in the result-file format itself
 * with latency still 0; the measure stage reads it back, adds the timings and finishes the
 * point with it. */
static int trained_write(const char *path, const char *hash, const PruneResult *r) {
    DbResult d;
    point_result_init(&d, hash, r);
    return db_write_result_file(path, &d);
}

/* The worker, in a child process: trains point i and writes trained.json, or its failure as
 * the point's result file. Never touches SQLite (the handle belongs to the parent). */
static void worker_main(Sweep *s, int i, int threads, int msg_fd) {
    const Grid *g = s->g;
    const GridPoint *p = &g->points[i];
    char dir[4400], log[4500], trained[4500], cfg[4500], result[4400];
    point_dir(&s->pts, i, dir, sizeof dir);
    point_trained_path(&s->pts, i, trained, sizeof trained);
    point_result_path(&s->pts, i, result, sizeof result);
    snprintf(log, sizeof log, "%s/log.txt", dir);
    snprintf(cfg, sizeof cfg, "%s/point.json", dir);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed head takes its workers with it */
    signal(SIGINT, SIG_IGN);
    if (file_mkdirs(dir) == QA_OK && freopen(log, "w", stderr)) setvbuf(stderr, NULL, _IOLBF, 0);
    /* its own open file description: a shared lock that only this process holds */
    char lock[4300];
    snprintf(lock, sizeof lock, "%s/.compute.lock", g->out);
    int fd = open(lock, O_RDWR);
    if (fd >= 0) flock(fd, LOCK_SH);
    PruneResult r;
    int rc = file_write_atomic(cfg, p->config_json, strlen(p->config_json));
    if (rc == QA_OK)
        rc = prune_run(&p->spec, g->teachers[p->teacher].dir, &g->data, dir, threads, &r);
    if (rc == QA_OK) rc = trained_write(trained, p->hash, &r);
    if (rc != QA_OK) {
        /* the cause goes through the pipe: a full disk may not take a log line */
        const char *e = qa_last_error();
        if (write(msg_fd, e, strlen(e)) < 0) { /* the head is gone; nothing to tell */
        }
    }
    if (rc != QA_OK && qa_error_is_env()) {
        fprintf(stderr, "stopped (environment): %s\n", qa_last_error());
        fflush(stderr);
        _exit(WORKER_ENV_EXIT);
    }
    if (rc != QA_OK) {
        DbResult f;
        memset(&f, 0, sizeof f);
        snprintf(f.config_hash, sizeof f.config_hash, "%s", p->hash);
        f.status = DB_FAILED;
        snprintf(f.error, sizeof f.error, "%s", qa_last_error());
        fprintf(stderr, "failed: %s\n", qa_last_error());
        db_write_result_file(result, &f);
    }
    fflush(stderr);
    _exit(rc == QA_OK ? 0 : 1);
}

void sweep_show_progress(Sweep *s, const char *stage) {
    const Points *pt = &s->pts;
    int done = s->done_before + pt->finished_here[POINT_DONE];
    int failed = s->failed_before + pt->finished_here[POINT_FAILED];
    int trained = points_count(pt, POINT_TRAINED);
    int pending = s->g->n_points - done - failed - trained - s->running;
    double el = latency_now_ms() / 1e3 - s->t0;
    /* ETA from the points this process has trained so far (latency is the short phase) */
    int left = pending + s->running;
    char eta[64] = "";
    if (s->trained_here > 0 && left > 0)
        snprintf(eta, sizeof eta, ", eta %.0fs", el / s->trained_here * left / s->o->jobs);
    progress_update("sweep: %d done, %d failed, %d awaiting latency, %d training, %d pending "
                    "of %d | %s | %.0fs%s",
                    done, failed, trained, s->running, pending, s->g->n_points, stage, el, eta);
}

/* Claims the next pending point of the grid (in grid order); -1 when none, -2 on error. */
static int claim_next(Sweep *s) {
    for (int i = 0; i < s->g->n_points; i++) {
        if (s->pts.state[i] != POINT_PENDING) continue;
        int claimed = 0;
        if (point_claim(&s->pts, i, s->owner, &claimed)) return -2;
        if (claimed) return i;
    }
    return -1;
}

/* Collects finished workers; blocks for the first when `block`. */
static int reap(Sweep *s, int block) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0) {
        block = 0;
        for (int i = 0; i < s->g->n_points; i++) {
            if (s->pts.state[i] != POINT_CLAIMED || s->pts.pid[i] != pid) continue;
            s->running--;
            char msg[1024] = "";
            if (s->msg_fd[i] >= 0) {
                ssize_t k = read(s->msg_fd[i], msg, sizeof msg - 1);
                msg[k > 0 ? k : 0] = '\0';
                close(s->msg_fd[i]);
                s->msg_fd[i] = -1;
            }
            char trained[4500], result[4400];
            point_trained_path(&s->pts, i, trained, sizeof trained);
            point_result_path(&s->pts, i, result, sizeof result);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && file_exists(trained)) {
                point_trained(&s->pts, i);
                s->trained_here++;
            } else if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_ENV_EXIT) {
                /* not the point's fault: it goes back to pending when the sweep stops */
                point_release(&s->pts, i);
                snprintf(s->env_fault, sizeof s->env_fault, "point %.16s: %s", s->hashes[i],
                         *msg ? msg : "stopped by its environment (see its log.txt)");
            } else if (file_exists(result)) {
                if (point_finish_file(&s->pts, i)) return QA_ERR;
            } else if (sweep_interrupted) {
                point_release(&s->pts, i); /* db_release_owner puts it back to pending */
            } else {
                char msg[128];
                snprintf(msg, sizeof msg, "worker died (%s %d) without a result",
                         WIFSIGNALED(status) ? "signal" : "exit code",
                         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                if (point_fail(&s->pts, i, msg)) return QA_ERR;
            }
        }
    }
    return QA_OK;
}

/* Starts a worker for claimed point i, or moves it on when an earlier, sweep_interrupted sweep
 * already trained it. */
static int start_worker(Sweep *s, int i, int threads) {
    char trained[4500];
    point_trained_path(&s->pts, i, trained, sizeof trained);
    if (file_exists(trained)) {
        point_trained(&s->pts, i);
        return QA_OK;
    }
    int fds[2];
    if (pipe(fds) != 0) return qa_env_error(errno, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return qa_env_error(e, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        close(fds[0]);
        worker_main(s, i, threads, fds[1]);
    }
    close(fds[1]);
    s->msg_fd[i] = fds[0];
    point_started(&s->pts, i, pid);
    fault_at("train");
    s->running++;
    const PruneSpec *p = &s->g->points[i].spec;
    char stage[640];
    snprintf(stage, sizeof stage, "training %s h%.2f f%.2f %s", p->strategy, p->head_sparsity,
             p->ffn_sparsity, p->finetune);
    sweep_show_progress(s, stage);
    return QA_OK;
}

/* Keeps up to --jobs workers busy until no pending point is left (or Ctrl-C); with the Slurm
 * backend, submits the pending points as job arrays instead (and waits with --wait). */
static int stage_train(Sweep *s) {
    if (s->o->backend == RUN_BACKEND_SLURM) {
        SlurmRun r = {.g = s->g, .db = s->db, .pts = &s->pts, .owner = s->owner,
                      .opts = &s->o->slurm, .wait = s->o->wait,
                      .retry_failed = s->o->retry_failed, .stop = &sweep_interrupted};
        return slurm_stage(&r);
    }
    int jobs = s->o->jobs > 0 ? s->o->jobs : 1;
    int per_worker = s->g->threads / jobs;
    if (per_worker < 1) per_worker = 1;
    s->t0 = latency_now_ms() / 1e3;
    for (;;) {
        if (reap(s, 0)) return QA_ERR;
        if (sweep_interrupted) break;
        if (s->running < jobs && !*s->env_fault) {
            int i = claim_next(s);
            if (i == -2) return QA_ERR;
            if (i >= 0) {
                if (start_worker(s, i, per_worker)) return QA_ERR;
                continue;
            }
        }
        if (s->running == 0) break;
        if (reap(s, 1)) return QA_ERR;
        sweep_show_progress(s, "training");
    }
    if (*s->env_fault) {
        qa_env_error(ENOSPC, "%s", s->env_fault); /* keeps the mark for sweep_run */
        return QA_ERR;
    }
    return QA_OK;
}

/* ---------------------------------------------------------------- report */

/* Charts, the Pareto frontier of this grid's teachers and data, and the counts of this
 * grid's points. Returns the exit code: 0 when every point is done, else 1. */
static int stage_report(Sweep *s) {
    const Grid *g = s->g;
    int done = 0, failed = 0, pending = 0, running = 0;
    for (int i = 0; i < g->n_points; i++) {
        DbStatus st;
        int found;
        if (db_get_status(s->db, g->points[i].hash, &st, &found)) return 1;
        done += st == DB_DONE;
        failed += st == DB_FAILED;
        pending += st == DB_PENDING;
        running += st == DB_RUNNING;
    }
    fault_at("plot");
    if (!s->o->no_plots) {
        char pdir[4300];
        snprintf(pdir, sizeof pdir, "%s/plots", g->out);
        PlotsReport pr;
        if (plots_render(s->db, pdir, &pr))
            fprintf(stderr, "sweep: charts not drawn: %s\n", qa_last_error());
    }
    char report[4300];
    snprintf(report, sizeof report, "%s/report.html", g->out);
    if (report_write(s->db, 1, g->file, report))
        fprintf(stderr, "sweep: report not written: %s\n", qa_last_error());
    int n_nq = 0;
    db_count_nq(s->db, 1, &n_nq);
    printf("Pareto frontier (speedup vs F1%s) per teacher and data, of this grid's points:\n",
           n_nq ? "; Natural Questions: f1 = short-answer F1" : "");
    /* train_s: the strategy's compute (gain's scoring, l0's joint steps) plus fine-tuning,
     * to compare strategies at equal compute; peak_rss_mb: the worker's peak memory (MiB) */
    int ort = 0;
    db_has_ort(s->db, 1, &ort);
    char sql[1600];
    snprintf(sql, sizeof sql,
             "SELECT p.teacher, p.data, p.strategy, p.finetune, p.head_sparsity AS heads,"
             " p.ffn_sparsity AS ffn, round(p.f1, 2) AS f1,%s round(p.speedup, 2) AS speedup,"
             " round(p.latency_ms, 2) AS ms,%s p.heads_kept, p.ffn_kept,"
             " round(s.train_seconds, 1) AS train_s,"
             " CAST(round(s.peak_rss_mb) AS INTEGER) AS peak_rss_mb"
             " FROM pareto p JOIN results s ON s.run_id = p.run_id"
             " JOIN temp.grid g ON g.config_hash = p.config_hash"
             " ORDER BY p.teacher, p.data, p.speedup",
             n_nq ? " round(p.long_f1, 2) AS long_f1, round(p.short_f1, 2) AS short_f1," : "",
             ort ? " round(p.ort_speedup, 2) AS ort_speedup, round(p.ort_latency_ms, 2) AS"
                   " ort_ms,"
                 : "");
    db_query_print(s->db, sql, stdout);
    if (n_nq) { /* every point: the long- versus short-answer question is about all of them */
        printf("Natural Questions points of this grid (long and short F1 against speedup):\n");
        db_query_print(s->db,
                       "SELECT strategy, finetune, head_sparsity AS heads, ffn_sparsity AS ffn,"
                       " round(long_f1, 2) AS long_f1, round(short_f1, 2) AS short_f1,"
                       " round(teacher_f1, 2) AS teacher_short_f1,"
                       " round(speedup, 2) AS speedup"
                       " FROM runs JOIN results ON results.run_id = runs.id"
                       " JOIN temp.grid USING (config_hash)"
                       " WHERE status = 'done' AND long_f1 IS NOT NULL"
                       " ORDER BY strategy, finetune, speedup",
                       stdout);
    }
    printf("points of this grid: %d done, %d failed, %d pending, %d running\n", done, failed,
           pending, running);
    /* submitted without --wait: the points still queued or running are the expected state */
    int submitted_only = s->o->backend == RUN_BACKEND_SLURM && !s->o->wait;
    printf("results: %s/results.db (sqlite3 %s/results.db 'SELECT * FROM pareto')\n", g->out,
           g->out);
    if (!s->o->no_plots) printf("charts:  %s/plots/\n", g->out);
printf("report:  %s\n", report);
    return failed || (!submitted_only && (pending || running)) ? 1 : 0;
}

/* ---------------------------------------------------------------- the sweep */

/* Stops every worker: SIGTERM, and SIGCONT for one that is stopped (SIGSTOP) so that it can
 * act on it; SIGKILL for those still alive after 5 s. Waits for all of them. */
static void stop_workers(Sweep *s) {
    for (int i = 0; i < s->g->n_points; i++)
        if (s->pts.state[i] == POINT_CLAIMED && s->pts.pid[i] > 0) {
            kill(s->pts.pid[i], SIGTERM);
            kill(s->pts.pid[i], SIGCONT);
        }
    double deadline = latency_now_ms() + 5000;
    while (s->running > 0) {
        pid_t pid = waitpid(-1, NULL, WNOHANG);
        if (pid > 0) {
            s->running--;
            continue;
        }
        if (pid < 0) break;
        if (latency_now_ms() > deadline) {
            for (int i = 0; i < s->g->n_points; i++)
                if (s->pts.state[i] == POINT_CLAIMED && s->pts.pid[i] > 0)
                    kill(s->pts.pid[i], SIGKILL);
            while (s->running > 0 && waitpid(-1, NULL, 0) > 0) s->running--;
            break;
        }
        usleep(20000);
    }
}

/* Ctrl-C: stops the workers and returns this process's unfinished points to pending. */
static int stop_interrupted(Sweep *s) {
    stop_workers(s);
    int n = 0;
    db_release_owner(s->db, s->owner, &n);
    fprintf(stderr, "sweep: sweep_interrupted; %d unfinished point(s) are pending again. "
                    "Run the same command to resume.\n", n);
    return 130;
}

int sweep_run(const char *grid_path, const RunOpts *o) {
    Sweep s = {.o = o, .lock_fd = -1};
    int rc = stage_open(&s, grid_path);
    if (rc) goto cleanup;
    if (o->dry_run) {
        print_plan(&s);
        goto cleanup;
    }
    gethostname(s.host, sizeof s.host - 1);
    snprintf(s.owner, sizeof s.owner, "%s:%d", s.host, (int)getpid());
    fprintf(stderr, "sweep: %s: %d points, output %s, teacher %s, %d job(s), %d thread(s)\n",
            grid_path, s.g->n_points, s.g->out, s.g->teachers[0].name, o->jobs, s.g->threads);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pipeline_set_stop_flag(&sweep_interrupted);
    if (path_join(s.g->data.windows_dir, sizeof s.g->data.windows_dir, s.g->out, "cache")) {
        fprintf(stderr, "sweep run: %s\n", qa_last_error());
        rc = 2;
        goto cleanup;
    }
    if (stage_register(&s) || stage_prepare(&s) || stage_train(&s) ||
        (!sweep_interrupted && sweep_stage_measure(&s))) {
        progress_done();
        if (sweep_interrupted) {
            rc = stop_interrupted(&s);
            goto cleanup;
        }
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", qa_last_error());
        int env = qa_error_is_env();
        stop_workers(&s);
        int n = 0;
        if (s.db) db_release_owner(s.db, s.owner, &n);
        fprintf(stderr, "sweep run: %s\n", msg);
        if (env)
            fprintf(stderr, "sweep: stopped by the machine, not by a point: %d unfinished "
                            "point(s) are pending again; run the same command once the cause "
                            "is gone\n", n);
        rc = 1;
        goto cleanup;
    }
    progress_done();
    rc = sweep_interrupted ? stop_interrupted(&s) : stage_report(&s);
    if (rc != 130 && db_check_file(s.db)) {
        fprintf(stderr, "sweep run: %s\n", qa_last_error());
        rc = 1;
    }
cleanup:
    if (s.lock_fd >= 0) close(s.lock_fd);
    if (s.msg_fd)
        for (int i = 0; i < s.g->n_points; i++)
            if (s.msg_fd[i] >= 0) close(s.msg_fd[i]);
    free(s.msg_fd);
    points_free(&s.pts);
    db_close(s.db);
    hash_cache_free(s.cache);
    free(s.hashes);
    grid_free(s.g);
    return rc;
}
