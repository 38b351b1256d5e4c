/* sweep/cmd_sweep.c: `sweep run`, `sweep status`, `sweep query`, `sweep plot`, `sweep report`,
 * `sweep compare`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util/error.h"
#include "db/results.h"
#include "plots/compare.h"
#include "plots/plots.h"
#include "plots/report.h"
#include "sweep/cli.h"
#include "sweep/commands.h"
#include "sweep/grid.h"
#include "sweep/identity.h"
#include "sweep/run.h"
#include "sweep/slurm_run.h"

/* Copies the Slurm options of the command line into o->slurm, checking their formats; 0, or
 * 2 after a one-line message. */
static int slurm_options(RunOpts *o, const char *backend, const char *partition,
                         const char *time, const char *mem, const CliList *args) {
    if (!strcmp(backend, "slurm")) o->backend = RUN_BACKEND_SLURM;
    else if (strcmp(backend, "local")) {
        fprintf(stderr, "sweep run: --backend: expected local or slurm, got '%s'\n", backend);
        return 2;
    }
    SlurmOpts *so = &o->slurm;
    long v;
    const char *strs[3] = {partition, time, mem};
    char *dst[3] = {so->partition, so->time, so->mem};
    size_t cap[3] = {sizeof so->partition, sizeof so->time, sizeof so->mem};
    for (int i = 0; i < 3; i++)
        if (strs[i] && (!*strs[i] || strlen(strs[i]) >= cap[i])) {
            fprintf(stderr, "sweep run: --%s: expected a non-empty value under %zu characters\n",
                    i == 0 ? "partition" : i == 1 ? "time" : "mem", cap[i]);
            return 2;
        } else if (strs[i]) {
            snprintf(dst[i], cap[i], "%s", strs[i]);
        }
    if ((time && slurm_parse_time("sweep run: --time", time, &v)) ||
        (mem && slurm_parse_mem("sweep run: --mem", mem, &v))) {
        fprintf(stderr, "%s\n", qa_last_error());
        return 2;
    }
    for (int i = 0; i < args->n; i++) {
        if (strlen(args->v[i]) >= SLURM_ARG_MAX || args->v[i][0] != '-') {
            fprintf(stderr, "sweep run: --sbatch-arg: expected an sbatch option (beginning with "
                            "'-', under %d characters), got '%s'\n", SLURM_ARG_MAX, args->v[i]);
            return 2;
        }
        snprintf(so->args[so->n_args++], SLURM_ARG_MAX, "%s", args->v[i]);
    }
    if (o->backend != RUN_BACKEND_SLURM &&
        (partition || time || mem || args->n || so->cpus_per_task || so->array_parallelism ||
         o->wait)) {
        fprintf(stderr, "sweep run: the Slurm options need --backend slurm\n");
        return 2;
    }
    return 0;
}

int cmd_run(int argc, char **argv) {
    RunOpts o = {.jobs = 1};
    const char *grid = NULL, *backend = "local", *partition = NULL, *time = NULL, *mem = NULL;
    CliList sbatch_args = {.n = 0};
    const CliOpt opts[] = {
        {"backend", CLI_STRING, &backend, 0, 0, "NAME",
         "local (worker processes here) or slurm (job arrays; see README, On a cluster)",
         CLI_OPTIONAL},
        {"wait", CLI_FLAG, &o.wait, 0, 0, NULL,
         "slurm: stay until every task ended, ingesting results as they come", CLI_OPTIONAL},
        {"partition", CLI_STRING, &partition, 0, 0, "P",
         "slurm: the partition (default: the grid's slurm.partition, else the cluster's)",
         CLI_OPTIONAL},
        {"time", CLI_STRING, &time, 0, 0, "T", "slurm: time limit per task (HH:MM:SS, D-HH:MM)",
         CLI_OPTIONAL},
        {"cpus-per-task", CLI_INT, &o.slurm.cpus_per_task, 1, 4096, "N",
         "slurm: CPUs per task (default: the grid's threads)", CLI_OPTIONAL},
        {"mem", CLI_STRING, &mem, 0, 0, "SIZE", "slurm: memory per task's node (4G, 500M)",
         CLI_OPTIONAL},
        {"array-parallelism", CLI_INT, &o.slurm.array_parallelism, 1, 4096, "K",
         "slurm: at most K tasks of an array at once", CLI_OPTIONAL},
        {"sbatch-arg", CLI_LIST, &sbatch_args, 0, 0, "ARG",
         "slurm: one more sbatch argument, e.g. --sbatch-arg=--account=nlp", CLI_OPTIONAL},
        {"jobs", CLI_INT, &o.jobs, 1, 64, "N",
         "worker processes for the training phase", CLI_OPTIONAL},
        {"retry-failed", CLI_FLAG, &o.retry_failed, 0, 0, NULL,
         "run failed points again", CLI_OPTIONAL},
        {"no-plots", CLI_FLAG, &o.no_plots, 0, 0, NULL,
         "do not draw the charts at the end", CLI_OPTIONAL},
        {"dry-run", CLI_FLAG, &o.dry_run, 0, 0, NULL,
         "validate the grid and print its settings and points only", CLI_OPTIONAL},
    };
    const CliSpec spec = {
        .cmd = "run",
        .synopsis = "GRID.json",
        .about =
            "Runs every point of the grid not done yet (see README.md for grid.json); results go\n"
            "to OUT/results.db, charts to OUT/plots/. Safe to interrupt and re-run: it resumes.\n"
            "Limits: grid file 1 MiB, 64 values per axis, 128 sparsity targets, 8 teachers,\n"
            "100,000 points. Exit codes: 0 all done, 1 some failed or the machine stopped the\n"
            "sweep (disk full, read-only; the points stay pending), 2 invalid grid or input,\n"
            "130 interrupted. With \"bench\": {\"ort\": true} ONNX Runtime is looked for in\n"
            "$QAPRUNE_ORT_DIR/node_modules/onnxruntime-node (default: the current directory).\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
        .pos = &grid,
        .min_pos = 1,
        .max_pos = 1,
    };
    int rc = cli_parse(&spec, argc, argv, NULL);
    if (rc != CLI_CONTINUE) return rc;
    if ((rc = slurm_options(&o, backend, partition, time, mem, &sbatch_args))) return rc;
    return sweep_run(grid, &o);
}

/* Opens the results database named by a grid file (its "out") or an output directory
 * (read-only: user SQL can then change nothing and attach nothing). For a grid file, the
 * temp table grid then holds the grid's points (resolved by content, with the database's
 * file-hash cache unless read-only) and *is_grid is 1. */
static int open_results(const char *what, int readonly, Db **db, char *out_dir, size_t n,
                        int *is_grid) {
    struct stat st;
    Grid *g = NULL;
    HashCache *cache = NULL;
    *db = NULL;
    *is_grid = 0;
    if (stat(what, &st)) return qa_error("%s: no such file or directory", what);
    if (S_ISDIR(st.st_mode)) {
        snprintf(out_dir, n, "%s", what);
    } else {
        if (grid_load(what, &g)) return QA_ERR;
        snprintf(out_dir, n, "%s", g->out);
    }
    char path[4300];
    snprintf(path, sizeof path, "%s/results.db", out_dir);
    int rc = QA_ERR;
    if (stat(path, &st)) {
        qa_error("%s: no results yet (run `sweep run` first)", path);
        goto cleanup;
    }
    if (readonly ? db_open_readonly(path, db) : db_open(path, db)) goto cleanup;
    if (g) {
        const char **hashes = malloc(sizeof *hashes * (size_t)(g->n_points + 1));
        if (!hashes || !(cache = hash_cache_new()) ||
            (!readonly && hash_cache_attach(cache, *db)) || grid_resolve(g, cache)) {
            free(hashes);
            goto cleanup;
        }
        for (int i = 0; i < g->n_points; i++) hashes[i] = g->points[i].hash;
        rc = db_select_grid(*db, hashes, g->n_points);
        free(hashes);
        if (rc) goto cleanup;
        *is_grid = 1;
    }
    rc = QA_OK;
cleanup:
    if (rc) {
        db_close(*db);
        *db = NULL;
    }
    hash_cache_free(cache);
    grid_free(g);
    return rc;
}

/* The options of a command whose one argument is GRID.json or OUT_DIR: only --help. */
static int parse_target(const char *cmd, const char *about, int argc, char **argv,
                        const char **what) {
    const CliSpec spec = {.cmd = cmd, .synopsis = "GRID.json|OUT_DIR", .about = about,
                          .pos = what, .min_pos = 1, .max_pos = 1};
    return cli_parse(&spec, argc, argv, NULL);
}

int cmd_status(int argc, char **argv) {
    const char *what = NULL;
    int prc = parse_target("status", "Prints the grid's points (or, for OUT_DIR, every point recorded there) with\n"
                 "their status, teacher and results. Points handed to Slurm tasks: delivered\n"
                 "results are ingested first, tasks that ended without one recorded failed,\n"
                 "and Slurm's view of the others (state, reason, log) printed after.\n", argc, argv, &what);
    if (prc != CLI_CONTINUE) return prc;
    Db *db = NULL;
    char out[4096];
    int is_grid;
    if (open_results(what, 0, &db, out, sizeof out, &is_grid)) {
        fprintf(stderr, "sweep status: %s\n", qa_last_error());
        return 1;
    }
    /* Slurm's view first (it ingests and records ended tasks), printed after the table */
    char *view = NULL;
    size_t view_len = 0;
    FILE *vf = open_memstream(&view, &view_len);
    SlurmSeen seen;
    int slurm_rc = vf ? slurm_collect(db, out, is_grid, vf, &seen) : QA_ERR;
    char slurm_err[1200] = "";
    if (slurm_rc) snprintf(slurm_err, sizeof slurm_err, "%s", qa_last_error());
    if (vf) fclose(vf);
    char sql[1536];
    int n_nq = 0, ort = 0;
    int rc = db_count_nq(db, is_grid, &n_nq);
    if (!rc) rc = db_has_ort(db, is_grid, &ort);
    /* Natural Questions points: f1 is the short-answer F1; both F1s shown */
    snprintf(sql, sizeof sql,
             "SELECT runs.id, substr(config_hash, 1, 8) AS hash, coalesce(teacher, '') AS teacher,"
             " strategy, finetune, head_sparsity AS heads, ffn_sparsity AS ffn, seed, status,"
             " attempts, round(f1, 2) AS f1,%s round(speedup, 2) AS speedup,%s"
             " CAST(round(peak_rss_mb) AS INTEGER) AS peak_rss_mb, coalesce(error, '') AS error"
             " FROM runs%s LEFT JOIN results ON results.run_id = runs.id ORDER BY runs.id",
             n_nq ? " round(long_f1, 2) AS long_f1, round(short_f1, 2) AS short_f1," : "",
             ort ? " round(ort_speedup, 2) AS ort_speedup," : "",
             is_grid ? " JOIN temp.grid USING (config_hash)" : "");
    if (!rc) rc = db_query_print(db, sql, stdout);
    int p = 0, r = 0, d = 0, f = 0;
    if (!rc) rc = db_counts(db, is_grid, &p, &r, &d, &f);
    if (!rc)
        printf("%s: %d done, %d failed, %d running, %d pending\n",
               is_grid ? "points of this grid" : "points in this output", d, f, r, p);
    if (!rc && view && *view) fputs(view, stdout);
    if (!rc && !slurm_rc && (seen.ingested || seen.failed))
        printf("slurm: %d result(s) ingested now, %d task(s) found ended without one\n",
               seen.ingested, seen.failed);
    if (slurm_rc) fprintf(stderr, "sweep status: Slurm's view unavailable: %s\n", slurm_err);
    free(view);
    if (rc) fprintf(stderr, "sweep status: %s\n", qa_last_error());
    db_close(db);
    return rc ? 1 : 0;
}

int cmd_cancel(int argc, char **argv) {
    const char *what = NULL;
    int prc = parse_target("cancel", "Cancels the Slurm tasks of the grid's points (for OUT_DIR: of every point\n"
                 "there) and the prepare jobs they wait for, with scancel; the points are\n"
                 "recorded failed (--retry-failed runs them again).\n", argc, argv, &what);
    if (prc != CLI_CONTINUE) return prc;
    Db *db = NULL;
    char out[4096];
    int is_grid, n = 0;
    if (open_results(what, 0, &db, out, sizeof out, &is_grid) ||
        slurm_cancel(db, out, is_grid, &n)) {
        fprintf(stderr, "sweep cancel: %s\n", qa_last_error());
        db_close(db);
        return 1;
    }
    printf("sweep cancel: %d task(s) cancelled; `sweep status %s` shows them\n", n, what);
    db_close(db);
    return 0;
}

int cmd_query(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int format = DB_FORMAT_TABLE;
    const CliOpt opts[] = {
        {"csv", CLI_CONST, &format, DB_FORMAT_CSV, 0, NULL,
         "print CSV (RFC 4180): a header line, then one line per row; NULL as an empty field",
         CLI_OPTIONAL},
        {"json", CLI_CONST, &format, DB_FORMAT_JSON, 0, NULL,
         "print JSON: per statement an array of objects, numbers as numbers, NULL as null",
         CLI_OPTIONAL},
    };
    const CliSpec spec = {
        .cmd = "query",
        .synopsis = "GRID.json|OUT_DIR SQL",
        .about =
            "Runs SQL on the results (tables runs, results, layers; view pareto) and prints each\n"
            "statement's rows as an aligned table (default), CSV or JSON (the last of --csv and\n"
            "--json given wins).\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
        .pos = pos,
        .min_pos = 2,
        .max_pos = 2,
    };
    int rc = cli_parse(&spec, argc, argv, NULL);
    if (rc != CLI_CONTINUE) return rc;
    Db *db = NULL;
    char out[4096];
    int is_grid;
    if (open_results(pos[0], 1, &db, out, sizeof out, &is_grid) ||
        db_query_write(db, pos[1], (DbFormat)format, stdout)) {
        fprintf(stderr, "sweep query: %s\n", qa_last_error());
        db_close(db);
        return 1;
    }
    db_close(db);
    return 0;
}

int cmd_plot(int argc, char **argv) {
    const char *what = NULL;
    int prc = parse_target("plot", "Draws the charts into OUT/plots/ (PNG and SVG).\n", argc, argv, &what);
    if (prc != CLI_CONTINUE) return prc;
    Db *db = NULL;
    char out[4096], dir[4200];
    PlotsReport rep;
    int is_grid;
    if (open_results(what, 0, &db, out, sizeof out, &is_grid)) {
        fprintf(stderr, "sweep plot: %s\n", qa_last_error());
        return 1;
    }
    snprintf(dir, sizeof dir, "%s/plots", out);
    int rc = plots_render(db, dir, &rep);
    if (rc) fprintf(stderr, "sweep plot: %s\n", qa_last_error());
    else printf("charts: %s/\n", dir);
    db_close(db);
    return rc ? 1 : 0;
}

int cmd_report(int argc, char **argv) {
    const char *what = NULL;
    int prc = parse_target("report", "Writes OUT/report.html: one self-contained page (no network) with the chart of\n"
                 "F1 against speedup, a sortable table of the grid's points (OUT_DIR: of every\n"
                 "point recorded there), the Pareto frontier highlighted, and a card per point\n"
                 "(layers, F1 breakdown, latency, config, error). `sweep run` writes it too.\n", argc, argv, &what);
    if (prc != CLI_CONTINUE) return prc;
    Db *db = NULL;
    char out[4096], path[4200];
    int is_grid;
    if (open_results(what, 1, &db, out, sizeof out, &is_grid)) {
        fprintf(stderr, "sweep report: %s\n", qa_last_error());
        return 1;
    }
    snprintf(path, sizeof path, "%s/report.html", out);
    int rc = report_write(db, is_grid, what, path);
    if (rc) fprintf(stderr, "sweep report: %s\n", qa_last_error());
    else printf("report: %s\n", path);
    db_close(db);
    return rc ? 1 : 0;
}

#define COMPARE_MAX 16

int cmd_compare(int argc, char **argv) {
    const char *pos[COMPARE_MAX] = {NULL};
    const char *out_path = "compare.html";
    const CliOpt opts[] = {
        {"out", CLI_STRING, &out_path, 0, 0, "FILE", "the page to write", CLI_OPTIONAL},
    };
    const CliSpec spec = {
        .cmd = "compare",
        .synopsis = "OUT_DIR OUT_DIR...",
        .about = "Writes one self-contained HTML page comparing sweeps (e.g. a BERT and a RoBERTa\n"
                 "teacher): F1 against speedup with a series per sweep and teacher, and one\n"
                 "sortable table of every done point, frontier points marked. At most 16.\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
        .pos = pos,
        .min_pos = 1,
        .max_pos = COMPARE_MAX,
    };
    int n = 0;
    int prc = cli_parse(&spec, argc, argv, &n);
    if (prc != CLI_CONTINUE) return prc;
    Db *dbs[COMPARE_MAX] = {NULL};
    char out[4096];
    int is_grid, rc = QA_OK;
    for (int k = 0; k < n && rc == QA_OK; k++) {
        struct stat st;
        if (stat(pos[k], &st) == 0 && !S_ISDIR(st.st_mode))
            rc = qa_error("%s: not an output directory (compare takes OUT_DIRs)", pos[k]);
        else
            rc = open_results(pos[k], 1, &dbs[k], out, sizeof out, &is_grid);
    }
    if (rc == QA_OK) rc = compare_write(dbs, pos, n, out_path);
    if (rc) fprintf(stderr, "sweep compare: %s\n", qa_last_error());
    else printf("comparison: %s\n", out_path);
    for (int k = 0; k < n; k++) db_close(dbs[k]);
    return rc ? 1 : 0;
}
