/* sweep/cmd_worker.c: `sweep worker OUT HASH`, one grid point as a Slurm task runs it, and
 * `sweep worker --prepare GRID`, the prepare job (sweep/slurm_run.h).
 *
 * A point's task reads OUT/points/HASH/point.json (written by the head at submission: the
 * point's settings, its teacher and data, the bench settings and threads), then as stages:
 *   train    prune_run: strategy, physical pruning, fine-tuning, scoring (OUT/points/HASH/);
 *   measure  the teacher and the pruned model timed on this node, interleaved, as the local
 *            measure stage does; the host name and CPU model go with the result, and the
 *            task's peak resident memory over both stages (peak_rss_mb, for --mem);
 *   deliver  OUT/results/HASH.json written atomically (temporary, fsync, rename), done or
 *            failed with the error. SQLite is never opened: OUT may be on NFS.
 * SIGTERM (scancel, a time limit) stops training within ~2 s and is delivered as a failure
 * naming it. Exit code 0 when the point is done, 1 when it failed (with a result file), 2 for
 * a bad command line. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/checkpoint.h"
#include "core/model/latency.h"
#include "core/model/ops.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "sweep/cli.h"
#include "sweep/commands.h"
#include "sweep/grid.h"
#include "sweep/point.h"
#include "sweep/run.h"

static volatile sig_atomic_t stopped;

static void on_term(int sig) { stopped = sig; }

/* Everything a task needs of its point, from point.json. */
typedef struct {
    PruneSpec spec;
    LatencyOpts bench;
    DataPaths data;
    char teacher_dir[4096];
    int threads;
} Task;

/* Applies the object under key of cfg through a settings table. */
static int apply_object(const cJSON *cfg, const char *key, const char *path,
                        const SpecField *f, int n, void *dst) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!cJSON_IsObject(o)) return qa_error("%s: %s: missing (an object is required)", path, key);
    char *text = cJSON_PrintUnformatted(o);
    if (!text) return qa_error("%s: out of memory", path);
    int rc = spec_apply_json(text, path, key, f, n, dst);
    free(text);
    return rc;
}

/* A string member key of o into buf; QA_ERR naming path and where when it is missing. */
static int get_path(const cJSON *o, const char *key, const char *path, const char *where,
                    char *buf, size_t cap, int required) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    buf[0] = '\0';
    if (!v && !required) return QA_OK;
    if (!cJSON_IsString(v) || !*v->valuestring || strlen(v->valuestring) >= cap)
        return qa_error("%s: %s.%s: expected a path", path, where, key);
    snprintf(buf, cap, "%s", v->valuestring);
    return QA_OK;
}

/* Reads the point's point.json (sweep/grid.c point_identity writes it) into *t. */
static int task_load(const char *out, const char *hash, Task *t) {
    char path[4400], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/points/%s/point.json", out, hash);
    if (file_read(path, 1 << 22, &text, &len)) return QA_ERR;
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    int rc = QA_ERR;
    memset(t, 0, sizeof *t);
    prune_spec_default(&t->spec);
    t->bench = (LatencyOpts){1, 0, 3, 20};
    const cJSON *te = cJSON_GetObjectItemCaseSensitive(cfg, "teacher");
    const cJSON *da = cJSON_GetObjectItemCaseSensitive(cfg, "data");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(cfg, "identity");
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(cfg, "threads");
    if (!cfg || !cJSON_IsObject(te) || !cJSON_IsObject(da)) {
        qa_error("%s: expected a point's configuration with teacher and data", path);
        goto cleanup;
    }
    if (!cJSON_IsString(id) || strcmp(id->valuestring, hash)) {
        qa_error("%s: identity: expected %s", path, hash);
        goto cleanup;
    }
    const char *tkey = cJSON_GetObjectItemCaseSensitive(te, "checkpoint") ? "checkpoint" : "cache";
    if (get_path(te, tkey, path, "teacher", t->teacher_dir, sizeof t->teacher_dir, 1) ||
        apply_object(cfg, "prune", path, PRUNE_FIELDS, PRUNE_NFIELDS, &t->spec) ||
        prune_spec_check(&t->spec, path) ||
        apply_object(cfg, "bench", path, GRID_BENCH_FIELDS, GRID_BENCH_NFIELDS, &t->bench))
        goto cleanup;
    /* Natural Questions: "format": "nq" (in "synthetic" for synthetic data) */
    const cJSON *sy = cJSON_GetObjectItemCaseSensitive(da, "synthetic");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(sy ? sy : da, "format");
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(da, "include_unknowns");
    int nq = cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "nq");
    double u = cJSON_IsNumber(unk) ? unk->valuedouble : NQ_INCLUDE_UNKNOWNS_DEFAULT;
    if (sy) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/data", out);
        if (nq ? data_paths_nq_in_dir(&t->data, dir, u) : data_paths_in_dir(&t->data, dir))
            goto cleanup;
    } else if (get_path(da, "train", path, "data", t->data.train, sizeof t->data.train, 1) ||
               get_path(da, "dev", path, "data", t->data.dev, sizeof t->data.dev, 1) ||
               get_path(da, "vocab", path, "data", t->data.vocab, sizeof t->data.vocab, 0)) {
        goto cleanup;
    }
    if (!sy) {
        t->data.nq = nq;
        t->data.nq_include_unknowns = u;
    }
    if (path_join(t->data.windows_dir, sizeof t->data.windows_dir, out, "cache")) goto cleanup;
    t->threads = cJSON_IsNumber(th) && th->valueint > 0 ? th->valueint : 1;
    /* Slurm gives the task its CPUs: use them all */
    const char *cpus = getenv("SLURM_CPUS_PER_TASK");
    if (cpus && atoi(cpus) > 0) t->threads = atoi(cpus);
    rc = QA_OK;
cleanup:
    cJSON_Delete(cfg);
    return rc;
}

/* Times the teacher and the pruned model in point_dir on this node into r. */
static int task_measure(const Task *t, const char *point_dir, DbResult *r) {
    BertModel *teacher = NULL, *pruned = NULL;
    LatencyOpts lo = t->bench;
    LatencyResult lat;
    if (lo.seq == 0) {
        FeatureOpts fo;
        model_feature_opts(t->teacher_dir, &fo);
        lo.seq = fo.max_seq_len;
    }
    ops_set_threads(t->threads);
    int rc = checkpoint_load(t->teacher_dir, &teacher) || checkpoint_load(point_dir, &pruned) ||
             latency_measure(teacher, pruned, &lo, &lat);
    bert_free(teacher);
    bert_free(pruned);
    if (rc) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", qa_last_error());
        return qa_error("latency: %s", msg);
    }
    r->metrics.latency_ms = lat.pruned_ms;
    r->metrics.teacher_latency_ms = lat.teacher_ms;
    r->metrics.speedup = lat.speedup;
    r->metrics.peak_rss_mb = latency_peak_rss_mb(); /* training and timing: what --mem needs */
    point_result_where(r);
    return QA_OK;
}

/* One point: train, measure, deliver. Returns the exit code. */
static int work_point(const char *out, const char *hash) {
    char dir[4400], results[4400], result[4500];
    Task t;
    PruneResult pr;
    DbResult r;
    snprintf(dir, sizeof dir, "%s/points/%s", out, hash);
    snprintf(results, sizeof results, "%s/results", out);
    snprintf(result, sizeof result, "%s/%s.json", results, hash);
    fprintf(stderr, "sweep worker: point %s in %s\n", hash, dir);
    int rc = file_mkdirs(dir) || file_mkdirs(results) || task_load(out, hash, &t);
    if (!rc) rc = prune_run(&t.spec, t.teacher_dir, &t.data, dir, t.threads, &pr);
    if (!rc) {
        point_result_init(&r, hash, &pr);
        rc = task_measure(&t, dir, &r);
    }
    if (!rc && !stopped) {
        if (db_write_result_file(result, &r) == QA_OK) {
            fprintf(stderr, "sweep worker: done: F1 %.2f, speedup %.2fx on %s; %s\n",
                    r.metrics.f1, r.metrics.speedup, r.host, result);
            return 0;
        }
    }
    memset(&r, 0, sizeof r);
    snprintf(r.config_hash, sizeof r.config_hash, "%s", hash);
    r.status = DB_FAILED;
    if (stopped)
        snprintf(r.error, sizeof r.error, "stopped by signal %d (scancel, a time limit or "
                 "preemption): %s", (int)stopped, rc ? qa_last_error() : "before delivering");
    else
        snprintf(r.error, sizeof r.error, "%s", qa_last_error());
    fprintf(stderr, "sweep worker: failed: %s\n", r.error);
    if (db_write_result_file(result, &r))
        fprintf(stderr, "sweep worker: %s\n", qa_last_error());
    return 1;
}

/* The prepare job: the grid as submitted, resolved without a database. */
static int work_prepare(const char *grid_path) {
    Grid *g = NULL;
    HashCache *cache = NULL;
    int rc = grid_load(grid_path, &g) || !(cache = hash_cache_new()) || grid_resolve(g, cache) ||
             path_join(g->data.windows_dir, sizeof g->data.windows_dir, g->out, "cache") ||
             sweep_prepare_inputs(g, cache);
    if (rc) fprintf(stderr, "sweep worker --prepare: %s\n", qa_last_error());
    else fprintf(stderr, "sweep worker --prepare: %s ready (data, teacher, windows)\n", grid_path);
    hash_cache_free(cache);
    grid_free(g);
    return rc ? 1 : 0;
}

int cmd_worker(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int prepare = 0;
    const CliOpt opts[] = {
        {"prepare", CLI_FLAG, &prepare, 0, 0, NULL,
         "the prepare job: `sweep worker --prepare GRID.json` readies data, teachers, windows",
         CLI_OPTIONAL},
    };
    const CliSpec spec = {
        .cmd = "worker",
        .synopsis = "OUT HASH | --prepare GRID.json",
        .about = "Runs one grid point as a Slurm task does (sweep run --backend slurm submits\n"
                 "it): trains, scores and times point HASH of output OUT on this machine and\n"
                 "writes OUT/results/HASH.json. Never opens the database.\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
        .pos = pos,
        .min_pos = 1,
        .max_pos = 2,
    };
    int n_pos;
    int rc = cli_parse(&spec, argc, argv, &n_pos);
    if (rc != CLI_CONTINUE) return rc;
    if (n_pos != (prepare ? 1 : 2)) {
        fprintf(stderr, "sweep worker: expected %s (see sweep worker --help)\n",
                prepare ? "--prepare GRID.json" : "OUT HASH");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pipeline_set_stop_flag(&stopped);
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (prepare) return work_prepare(pos[0]);
    size_t n = strlen(pos[1]);
    if (n == 0 || n >= DB_HASH_MAX || strspn(pos[1], "0123456789abcdef") != n) {
        fprintf(stderr, "sweep worker: HASH: expected a point's identity (hex digits), got "
                        "'%s'\n", pos[1]);
        return 2;
    }
    return work_point(pos[0], pos[1]);
}
