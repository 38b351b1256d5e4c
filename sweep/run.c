/* sweep/run.c: the scheduler (see run.h). */
#include "sweep/run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/model/checkpoint.h"
#include "core/util/error.h"
#include "core/model/latency.h"
#include "core/model/ops.h"
#include "core/qa/synth.h"
#include "core/text/text.h"
#include "db/results.h"
#include "plots/plots.h"
#include "sweep/grid.h"
#include "sweep/progress.h"
#include "core/util/fileio.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

/* ---------------------------------------------------------------- phase-1 records */

/* OUT/points/HASH/trained.json: what a worker measured, in the result-file format itself
 * (db_write_result_file) with latency still 0; the latency phase reads it back, adds the
 * timings and writes the real result file. */
static int trained_write(const char *path, const char *hash, const PruneResult *r) {
    DbResult d;
    memset(&d, 0, sizeof d);
    snprintf(d.config_hash, sizeof d.config_hash, "%s", hash);
    d.status = DB_DONE;
    d.metrics = (DbMetrics){.f1 = r->final.f1, .exact = r->final.exact,
                            .has_ans_f1 = r->final.has_ans_f1, .no_ans_f1 = r->final.no_ans_f1,
                            .heads_kept = r->heads_kept, .heads_total = r->heads_total,
                            .ffn_kept = r->ffn_kept, .ffn_total = r->ffn_total,
                            .params = (long long)r->params, .flops = r->flops,
                            .train_seconds = r->train_seconds,
                            .f1_before_finetune = r->pruned.f1, .teacher_f1 = r->teacher.f1};
    d.n_layers = r->layers;
    for (int l = 0; l < r->layers; l++) {
        d.layer_heads[l] = r->layer_heads[l];
        d.layer_ffn[l] = r->layer_ffn[l];
    }
    return db_write_result_file(path, &d);
}

/* ---------------------------------------------------------------- the sweep */

typedef struct {
    const Grid *g;
    const RunOpts *o;
    Db *db;
    char owner[300], host[256];
    int lock_fd;
    /* points of this process: index into g->points; state per point */
    int *state; /* 0 untouched, 1 training (pid), 2 trained (bench queue), 3 finished */
    pid_t *pid;
    int running, done_here, failed_here, trained_here;
    int done_before, failed_before; /* this grid's points finished before this run */
    double t0;
} Sweep;

static int pid_alive(int pid) { return kill(pid, 0) == 0 || errno == EPERM; }

static void path_of(char *buf, size_t n, const Grid *g, const char *sub, const char *hash,
                    const char *suffix) {
    snprintf(buf, n, "%s/%s/%s%s", g->out, sub, hash, suffix);
}

/* Records a failed point through a result file, as workers do. */
static int record_failure(Sweep *s, int i, const char *error) {
    DbResult r;
    memset(&r, 0, sizeof r);
    snprintf(r.config_hash, sizeof r.config_hash, "%s", s->g->points[i].hash);
    r.status = DB_FAILED;
    snprintf(r.error, sizeof r.error, "%s", error);
    char path[4200];
    path_of(path, sizeof path, s->g, "results", s->g->points[i].hash, ".json");
    if (db_write_result_file(path, &r) || db_ingest_result(s->db, path)) return QA_ERR;
    remove(path);
    s->failed_here++;
    s->state[i] = 3;
    return QA_OK;
}

/* The worker: one point's training phase, in a child process. */
static void worker_main(Sweep *s, int i, int threads) {
    const Grid *g = s->g;
    const GridPoint *p = &g->points[i];
    char dir[4200], log[4300], trained[4300];
    path_of(dir, sizeof dir, g, "points", p->hash, "");
    snprintf(log, sizeof log, "%s/log.txt", dir);
    snprintf(trained, sizeof trained, "%s/trained.json", dir);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed head takes its workers with it */
    signal(SIGINT, SIG_IGN);
    if (file_mkdirs(dir) == QA_OK && freopen(log, "w", stderr)) setvbuf(stderr, NULL, _IOLBF, 0);
    /* its own open file description: a shared lock that only this process holds */
    char lock[4300];
    snprintf(lock, sizeof lock, "%s/.compute.lock", g->out);
    int fd = open(lock, O_RDWR);
    if (fd >= 0) flock(fd, LOCK_SH);
    PruneResult r;
    int rc = prune_run(&p->spec, g->teacher_dirs[p->teacher], &g->data, dir, threads, &r);
    if (rc == QA_OK) rc = trained_write(trained, p->hash, &r);
    if (rc != QA_OK) {
        char path[4200];
        DbResult f;
        memset(&f, 0, sizeof f);
        snprintf(f.config_hash, sizeof f.config_hash, "%s", p->hash);
        f.status = DB_FAILED;
        snprintf(f.error, sizeof f.error, "%s", qa_last_error());
        fprintf(stderr, "failed: %s\n", qa_last_error());
        path_of(path, sizeof path, g, "results", p->hash, ".json");
        db_write_result_file(path, &f);
    }
    fflush(stderr);
    _exit(rc == QA_OK ? 0 : 1);
}

static void show_progress(Sweep *s, const char *stage) {
    int done = s->done_before + s->done_here, failed = s->failed_before + s->failed_here;
    int trained = 0;
    for (int i = 0; i < s->g->n_points; i++) trained += s->state[i] == 2;
    int pending = s->g->n_points - done - failed - trained - s->running;
    double el = (latency_now_ms() / 1e3) - s->t0;
    /* ETA from the points this process has trained so far (latency is the short phase) */
    int left = pending + s->running;
    char eta[64] = "";
    if (s->trained_here > 0 && left > 0)
        snprintf(eta, sizeof eta, ", eta %.0fs", el / s->trained_here * left / s->o->jobs);
    progress_update("sweep: %d done, %d failed, %d awaiting latency, %d training, %d pending "
                    "of %d | %s | %.0fs%s",
                    done, failed, trained, s->running, pending, s->g->n_points, stage, el, eta);
}

/* Claims the next pending point of the grid (in grid order); -1 when none. */
static int claim_next(Sweep *s) {
    for (int i = 0; i < s->g->n_points; i++) {
        if (s->state[i]) continue;
        int claimed = 0;
        if (db_claim(s->db, s->g->points[i].hash, s->owner, &claimed)) return -2;
        if (claimed) return i;
        s->state[i] = 3; /* done, failed or someone else's */
    }
    return -1;
}

/* Collects finished workers; blocks when `block`. */
static int reap(Sweep *s, int block) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0) {
        block = 0;
        for (int i = 0; i < s->g->n_points; i++) {
            if (s->state[i] != 1 || s->pid[i] != pid) continue;
            s->running--;
            const char *h = s->g->points[i].hash;
            char trained[4300], result[4200];
            path_of(trained, sizeof trained, s->g, "points", h, "/trained.json");
            path_of(result, sizeof result, s->g, "results", h, ".json");
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && file_exists(trained)) {
                s->state[i] = 2;
                s->trained_here++;
            } else if (file_exists(result)) {
                if (db_ingest_result(s->db, result)) return QA_ERR;
                remove(result);
                s->failed_here++;
                s->state[i] = 3;
            } else if (interrupted) {
                s->state[i] = 3;
            } else {
                char msg[128];
                snprintf(msg, sizeof msg, "worker died (%s %d) without a result",
                         WIFSIGNALED(status) ? "signal" : "exit code",
                         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                if (record_failure(s, i, msg)) return QA_ERR;
            }
        }
    }
    return QA_OK;
}

/* Phase 2: with the compute lock held exclusively, times teacher and pruned model of every
 * trained point, interleaved, and ingests its result. */
static int bench_phase(Sweep *s) {
    const Grid *g = s->g;
    BertModel *teacher = NULL;
    int rc = QA_OK, loaded = -1, locked = 0;
    for (int i = 0; i < g->n_points && !interrupted; i++) {
        if (s->state[i] != 2) continue;
        const GridPoint *p = &g->points[i];
        if (!locked) {
            flock(s->lock_fd, LOCK_EX);
            ops_set_threads(g->threads);
            locked = 1;
        }
        if (loaded != p->teacher) {
            bert_free(teacher);
            teacher = NULL;
            if (checkpoint_load(g->teacher_dirs[p->teacher], &teacher)) {
                rc = QA_ERR;
                break;
            }
            loaded = p->teacher;
        }
        show_progress(s, "latency");
        char dir[4200], trained[4300], result[4200];
        path_of(dir, sizeof dir, g, "points", p->hash, "");
        snprintf(trained, sizeof trained, "%s/trained.json", dir);
        path_of(result, sizeof result, g, "results", p->hash, ".json");
        DbResult r;
        memset(&r, 0, sizeof r);
        snprintf(r.config_hash, sizeof r.config_hash, "%s", p->hash);
        r.status = DB_DONE;
        BertModel *pruned = NULL;
        LatencyOpts lo = g->bench;
        if (lo.seq == 0) {
            FeatureOpts fo;
            model_feature_opts(g->teacher_dirs[p->teacher], &fo);
            lo.seq = fo.max_seq_len;
        }
        LatencyResult lat;
        if (db_read_result_file(trained, &r) || checkpoint_load(dir, &pruned) ||
            latency_measure(teacher, pruned, &lo, &lat)) {
            r.status = DB_FAILED;
            snprintf(r.error, sizeof r.error, "latency: %s", qa_last_error());
        } else {
            r.metrics.latency_ms = lat.pruned_ms;
            r.metrics.teacher_latency_ms = lat.teacher_ms;
            r.metrics.speedup = lat.speedup;
        }
        bert_free(pruned);
        if (db_write_result_file(result, &r) || db_ingest_result(s->db, result)) {
            rc = QA_ERR;
            break;
        }
        remove(result);
        if (r.status == DB_FAILED) s->failed_here++;
        else s->done_here++;
        s->state[i] = 3;
    }
    bert_free(teacher);
    flock(s->lock_fd, LOCK_UN);
    return rc;
}

/* Generates the synthetic data once (OUT/data/stamp records its settings). */
static int prepare_data(const Grid *g) {
    if (!g->synthetic) return QA_OK;
    char dir[4200], stamp[4300], want[128], *have = NULL;
    size_t len;
    snprintf(dir, sizeof dir, "%s/data", g->out);
    snprintf(stamp, sizeof stamp, "%s/stamp", dir);
    snprintf(want, sizeof want, "synthetic v%d seed %d train %d dev %d lookup %d\n",
             SYNTH_VERSION, g->synth_seed, g->synth_train, g->synth_dev, g->synth_lookup);
    if (file_exists(stamp) && file_read(stamp, 0, &have, &len) == QA_OK && !strcmp(have, want)) {
        free(have);
        return QA_OK;
    }
    free(have);
    progress_update("sweep: writing the synthetic data to %s", dir);
    if (file_mkdirs(dir) || synth_generate(dir, (uint64_t)g->synth_seed, g->synth_train, g->synth_dev,
                                            g->synth_lookup) ||
        file_write_atomic(stamp, want, strlen(want)))
        return QA_ERR;
    return QA_OK;
}

/* Makes teacher k ready: checks a given checkpoint loads, or trains (or reuses) the
 * embedded default's teacher; its dev F1 (or -1 when unknown) in *teacher_f1. */
static int prepare_teacher(const Grid *g, int k, double *teacher_f1) {
    *teacher_f1 = -1;
    if (g->teacher_checkpoint) {
        BertModel *m = NULL;
        int rc = checkpoint_load(g->teacher_dirs[k], &m);
        bert_free(m);
        return rc;
    }
    char lock[4300];
    snprintf(lock, sizeof lock, "%s.lock", g->teacher_dirs[k]);
    char parent[4200];
    snprintf(parent, sizeof parent, "%s", g->teacher_dirs[k]);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = '\0';
    if (slash && file_mkdirs(parent)) return QA_ERR;
    int fd = open(lock, O_CREAT | O_RDWR, 0666);
    if (fd < 0) return qa_error("%s: cannot open: %s", lock, strerror(errno));
    flock(fd, LOCK_EX); /* two sweeps never train the same teacher at once */
    TeacherResult tr;
    int rc = teacher_build(&g->teacher, &g->data, g->teacher_dirs[k], g->threads, &tr);
    close(fd);
    if (rc == QA_OK) {
        *teacher_f1 = tr.dev.f1;
        fprintf(stderr, "sweep: teacher %s %s (dev F1 %.2f)\n", g->teacher_dirs[k],
                tr.reused ? "reused from the cache" : "trained", tr.dev.f1);
    }
    return rc;
}

/* The resolved grid: shared settings and one line per point. */
static void print_plan(const Grid *g) {
    printf("grid %s: output %s, %d point(s), %d thread(s)\n", g->file, g->out, g->n_points,
           g->threads);
    if (g->synthetic)
        printf("data: synthetic, seed %d, %d train / %d dev questions, lookups %s (in %s/data)\n",
               g->synth_seed, g->synth_train, g->synth_dev, g->synth_lookup ? "on" : "off",
               g->out);
    else
        printf("data: train %s, dev %s\n", g->data.train, g->data.dev);
    for (int k = 0; k < g->n_teachers; k++)
        printf("teacher %d: %s%s\n", k, g->teacher_dirs[k],
               g->teacher_checkpoint ? "" : " (trained here, cached)");
    if (!g->teacher_checkpoint)
        spec_print(stdout, "teacher settings:", TEACHER_FIELDS, TEACHER_NFIELDS, &g->teacher);
    if (g->n_points)
        spec_print(stdout, "point settings (first point):", PRUNE_FIELDS, PRUNE_NFIELDS,
                   &g->points[0].spec);
    printf("%-16s %-8s %-7s %6s %6s %5s %s\n", "hash", "strategy", "tune", "heads", "ffn", "seed",
           "teacher");
    for (int i = 0; i < g->n_points; i++) {
        const GridPoint *p = &g->points[i];
        printf("%-16s %-8s %-7s %6.3f %6.3f %5d %d\n", p->hash, p->spec.strategy,
               p->spec.finetune, p->spec.head_sparsity, p->spec.ffn_sparsity, p->spec.seed,
               p->teacher);
    }
}

int sweep_run(const char *grid_path, const RunOpts *o) {
    Grid *g = NULL;
    if (grid_load(grid_path, &g)) {
        fprintf(stderr, "sweep run: %s\n", qa_last_error());
        return 2;
    }
    if (o->dry_run) {
        print_plan(g);
        grid_free(g);
        return 0;
    }
    Sweep s = {.g = g, .o = o, .lock_fd = -1};
    int rc = 1;
    s.state = calloc((size_t)g->n_points, sizeof *s.state);
    s.pid = calloc((size_t)g->n_points, sizeof *s.pid);
    char path[4300];
    gethostname(s.host, sizeof s.host - 1);
    snprintf(s.owner, sizeof s.owner, "%s:%d", s.host, (int)getpid());
    fprintf(stderr, "sweep: %s: %d points, output %s, teacher %s, %d job(s), %d thread(s)\n",
            grid_path, g->n_points, g->out, g->teacher_dirs[0], o->jobs, g->threads);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pipeline_set_stop_flag(&interrupted);
    double teacher_f1 = -1;
    snprintf(path, sizeof path, "%s/results.db", g->out);
    if (file_mkdirs(g->out) || db_open(path, &s.db) || prepare_data(g)) goto fail;
    snprintf(path, sizeof path, "%s/results", g->out);
    if (file_mkdirs(path)) goto fail;
    snprintf(path, sizeof path, "%s/points", g->out);
    if (file_mkdirs(path)) goto fail;
    snprintf(path, sizeof path, "%s/.compute.lock", g->out);
    s.lock_fd = open(path, O_CREAT | O_RDWR, 0666);
    if (s.lock_fd < 0) {
        qa_error("%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    for (int i = 0; i < g->n_points; i++) {
        const GridPoint *p = &g->points[i];
        DbRun r = {p->hash, p->spec.strategy, p->spec.finetune, p->spec.head_sparsity,
                   p->spec.ffn_sparsity, p->spec.seed, p->config_json};
        int inserted;
        if (db_add_run(s.db, &r, &inserted)) goto fail;
    }
    int n;
    if (db_reset_stale(s.db, s.host, pid_alive, &n)) goto fail;
    if (n) fprintf(stderr, "sweep: %d point(s) left running by a dead process will run again\n", n);
    if (o->retry_failed) {
        if (db_retry_failed(s.db, &n)) goto fail;
        fprintf(stderr, "sweep: %d failed point(s) will run again\n", n);
    }
    int pending, running, done, failed;
    db_counts(s.db, &pending, &running, &done, &failed);
    for (int i = 0; i < g->n_points; i++) {
        DbStatus st;
        int found;
        if (db_get_status(s.db, g->points[i].hash, &st, &found) == QA_OK && found) {
            s.done_before += st == DB_DONE;
            s.failed_before += st == DB_FAILED;
        }
    }
    for (int k = 0; k < g->n_teachers && pending > 0; k++) {
        double f1;
        if (prepare_teacher(g, k, &f1) == QA_OK) {
            if (k == 0) teacher_f1 = f1;
            continue;
        }
        if (interrupted) break; /* not the teacher's fault: nothing is recorded as failed */
        /* without its teacher a point cannot run: each is recorded as failed */
        char err[1100];
        snprintf(err, sizeof err, "teacher %s: %s", g->teacher_dirs[k], qa_last_error());
        fprintf(stderr, "sweep: %s\n", err);
        for (int i = 0; i < g->n_points; i++) {
            int claimed = 0;
            if (g->points[i].teacher != k || s.state[i]) continue;
            if (db_claim(s.db, g->points[i].hash, s.owner, &claimed)) goto fail;
            if (claimed && record_failure(&s, i, err)) goto fail;
            s.state[i] = 3;
        }
    }
    if (teacher_f1 >= 0) {
        char v[64];
        snprintf(v, sizeof v, "%.17g", teacher_f1);
        db_set_meta(s.db, "teacher_f1", v);
    }
    /* Points trained by an earlier, interrupted sweep go straight to the latency phase. */
    s.t0 = (latency_now_ms() / 1e3);
    int per_worker = g->threads / (o->jobs > 0 ? o->jobs : 1);
    if (per_worker < 1) per_worker = 1;
    for (;;) {
        if (reap(&s, 0)) goto fail;
        if (interrupted) break;
        if (s.running < o->jobs) {
            int i = claim_next(&s);
            if (i == -2) goto fail;
            if (i >= 0) {
                char trained[4300];
                path_of(trained, sizeof trained, g, "points", g->points[i].hash, "/trained.json");
                if (file_exists(trained)) {
                    s.state[i] = 2;
                    continue;
                }
                fflush(NULL);
                pid_t pid = fork();
                if (pid < 0) {
                    qa_error("fork: %s", strerror(errno));
                    goto fail;
                }
                if (pid == 0) worker_main(&s, i, per_worker);
                s.pid[i] = pid;
                s.state[i] = 1;
                s.running++;
                char stage[640];
                snprintf(stage, sizeof stage, "training %s h%.2f f%.2f %s", g->points[i].spec.strategy,
                         g->points[i].spec.head_sparsity, g->points[i].spec.ffn_sparsity,
                         g->points[i].spec.finetune);
                show_progress(&s, stage);
                continue;
            }
        }
        if (s.running == 0) break;
        if (reap(&s, 1)) goto fail;
        show_progress(&s, "training");
    }
    if (!interrupted && bench_phase(&s)) goto fail;
    progress_done();
    if (interrupted) {
        for (int i = 0; i < g->n_points; i++)
            if (s.state[i] == 1) kill(s.pid[i], SIGTERM);
        while (s.running > 0 && waitpid(-1, NULL, 0) > 0) s.running--;
        db_release_owner(s.db, s.owner, &n);
        fprintf(stderr, "sweep: interrupted; %d unfinished point(s) are pending again. "
                        "Run the same command to resume.\n", n);
        rc = 130;
        goto cleanup;
    }
    /* this grid's points (the database may also hold points of earlier grids) */
    done = failed = pending = running = 0;
    for (int i = 0; i < g->n_points; i++) {
        DbStatus st;
        int found;
        if (db_get_status(s.db, g->points[i].hash, &st, &found)) goto fail;
        done += st == DB_DONE;
        failed += st == DB_FAILED;
        pending += st == DB_PENDING;
        running += st == DB_RUNNING;
    }
    if (!o->no_plots) {
        char pdir[4300];
        snprintf(pdir, sizeof pdir, "%s/plots", g->out);
        PlotsReport pr;
        if (plots_render(s.db, pdir, &pr))
            fprintf(stderr, "sweep: charts not drawn: %s\n", qa_last_error());
    }
    printf("Pareto frontier (speedup vs F1):\n");
    db_query_print(s.db,
                   "SELECT strategy, finetune, head_sparsity AS heads, ffn_sparsity AS ffn, "
                   "round(f1, 2) AS f1, round(speedup, 2) AS speedup, round(latency_ms, 2) AS ms, "
                   "heads_kept, ffn_kept FROM pareto ORDER BY speedup",
                   stdout);
    printf("points of this grid: %d done, %d failed, %d pending, %d running\n", done, failed,
           pending, running);
    printf("results: %s/results.db (sqlite3 %s/results.db 'SELECT * FROM pareto')\n", g->out, g->out);
    if (!o->no_plots) printf("charts:  %s/plots/\n", g->out);
    rc = failed || pending || running ? 1 : 0;
    goto cleanup;
fail:
    progress_done();
    fprintf(stderr, "sweep run: %s\n", qa_last_error());
    rc = 1;
cleanup:
    if (s.lock_fd >= 0) close(s.lock_fd);
    db_close(s.db);
    free(s.state);
    free(s.pid);
    grid_free(g);
    return rc;
}
