/* sweep/cmd_sweep.c: `sweep run`, `sweep status`, `sweep query`, `sweep plot`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util/error.h"
#include "db/results.h"
#include "plots/plots.h"
#include "sweep/cli.h"
#include "sweep/commands.h"
#include "sweep/grid.h"
#include "sweep/identity.h"
#include "sweep/run.h"

int cmd_run(int argc, char **argv) {
    RunOpts o = {.jobs = 1};
    const char *grid = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: sweep run GRID.json [--jobs N] [--retry-failed] [--no-plots] [--dry-run]\n"
                   "Runs every point of the grid not done yet (see README.md for grid.json);\n"
                   "results go to OUT/results.db, charts to OUT/plots/. Safe to interrupt and\n"
                   "re-run: it resumes. --jobs: worker processes for the training phase.\n"
                   "--dry-run: validate the grid and print its settings and points only.\n");
            return 0;
        } else if (!strcmp(argv[i], "--jobs")) {
            const char *v = cli_value("run", argc, argv, &i);
            long j;
            if (!v || cli_int("run", "--jobs", v, 1, 64, &j)) return 2;
            o.jobs = (int)j;
        } else if (!strcmp(argv[i], "--retry-failed")) {
            o.retry_failed = 1;
        } else if (!strcmp(argv[i], "--no-plots")) {
            o.no_plots = 1;
        } else if (!strcmp(argv[i], "--dry-run")) {
            o.dry_run = 1;
        } else if (argv[i][0] != '-' && !grid) {
            grid = argv[i];
        } else {
            fprintf(stderr, "sweep run: unexpected argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!grid) {
        fprintf(stderr, "sweep run: which grid? usage: sweep run GRID.json (see --help)\n");
        return 2;
    }
    return sweep_run(grid, &o);
}

/* Opens the results database named by a grid file (its "out") or an output directory. For
 * a grid file, the temp table grid then holds the grid's points (resolved by content, with
 * the database's file-hash cache) and *is_grid is 1. */
static int open_results(const char *what, Db **db, char *out_dir, size_t n, int *is_grid) {
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
    if (db_open(path, db)) goto cleanup;
    if (g) {
        const char **hashes = malloc(sizeof *hashes * (size_t)(g->n_points + 1));
        if (!hashes || !(cache = hash_cache_new()) || hash_cache_attach(cache, *db) ||
            grid_resolve(g, cache)) {
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

int cmd_status(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        printf("usage: sweep status GRID.json|OUT_DIR\n"
               "Prints the grid's points (or, for OUT_DIR, every point recorded there) with\n"
               "their status, teacher and results.\n");
        return argc == 2 ? 0 : 2;
    }
    Db *db = NULL;
    char out[4096];
    int is_grid;
    if (open_results(argv[1], &db, out, sizeof out, &is_grid)) {
        fprintf(stderr, "sweep status: %s\n", qa_last_error());
        return 1;
    }
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT runs.id, substr(config_hash, 1, 8) AS hash, coalesce(teacher, '') AS teacher,"
             " strategy, finetune, head_sparsity AS heads, ffn_sparsity AS ffn, seed, status,"
             " attempts, round(f1, 2) AS f1, round(speedup, 2) AS speedup,"
             " coalesce(error, '') AS error"
             " FROM runs%s LEFT JOIN results ON results.run_id = runs.id ORDER BY runs.id",
             is_grid ? " JOIN temp.grid USING (config_hash)" : "");
    int rc = db_query_print(db, sql, stdout);
    int p = 0, r = 0, d = 0, f = 0;
    if (!rc) rc = db_counts(db, is_grid, &p, &r, &d, &f);
    if (!rc)
        printf("%s: %d done, %d failed, %d running, %d pending\n",
               is_grid ? "points of this grid" : "points in this output", d, f, r, p);
    if (rc) fprintf(stderr, "sweep status: %s\n", qa_last_error());
    db_close(db);
    return rc ? 1 : 0;
}

int cmd_query(int argc, char **argv) {
    if (argc != 3) {
        printf("usage: sweep query GRID.json|OUT_DIR \"SQL\"\n"
               "Runs SQL on the results (tables runs, results, layers; view pareto).\n");
        return argc == 2 && argv[1][0] == '-' ? 0 : 2;
    }
    Db *db = NULL;
    char out[4096];
    int is_grid;
    if (open_results(argv[1], &db, out, sizeof out, &is_grid) ||
        db_query_print(db, argv[2], stdout)) {
        fprintf(stderr, "sweep query: %s\n", qa_last_error());
        db_close(db);
        return 1;
    }
    db_close(db);
    return 0;
}

int cmd_plot(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        printf("usage: sweep plot GRID.json|OUT_DIR\nDraws the charts into OUT/plots/ (PNG and SVG).\n");
        return argc == 2 ? 0 : 2;
    }
    Db *db = NULL;
    char out[4096], dir[4200];
    PlotsReport rep;
    int is_grid;
    if (open_results(argv[1], &db, out, sizeof out, &is_grid)) {
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
