/* tests/test_point_states.c: the point state machine (sweep/point.h) on a results database,
 * without running a sweep: claim, train, measure, finish; failures; a stale result file is
 * removed when a point is claimed; a grid's slurm section; points submitted to a cluster.
 * (Split from tests/test_grid.c.) */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/error.h"
#include "core/util/fileio.h"
#include "db/results.h"
#include "sweep/grid.h"
#include "sweep/identity.h"
#include "sweep/point.h"
#include "tests/test.h"

static char dir[64];

static void test_state_machine(void) {
    char db_path[300], out[300], path[4500];
    snprintf(db_path, sizeof db_path, "%s/states.db", dir);
    snprintf(out, sizeof out, "%s/sm", dir);
    char sub[400];
    snprintf(sub, sizeof sub, "%s/results", out);
    file_mkdirs(sub);
    Db *db = NULL;
    if (db_open(db_path, &db)) {
        CHECK(0, "open: %s", qa_last_error());
        return;
    }
    const char *hashes[] = {"p-ok", "p-fail", "p-other"};
    for (int i = 0; i < 3; i++) {
        DbRun r = {.config_hash = hashes[i], .strategy = "gain", .finetune = "none",
                   .head_sparsity = 0.5, .ffn_sparsity = 0.5, .seed = 1, .config_json = "{}"};
        db_add_run(db, &r, NULL);
    }
    int claimed;
    db_claim(db, "p-other", "elsewhere:1", &claimed); /* another process holds it */
    Points pts;
    CHECK(points_init(&pts, 3, hashes, out, db) == QA_OK, "init");
    /* a stale result file from an interrupted attempt */
    point_result_path(&pts, 0, path, sizeof path);
    file_write_atomic(path, "stale", 5);
    CHECK(point_claim(&pts, 0, "me:1", &claimed) == QA_OK && claimed &&
          pts.state[0] == POINT_CLAIMED && !file_exists(path),
          "claim: CLAIMED, and the stale result file is gone");
    CHECK(point_claim(&pts, 2, "me:1", &claimed) == QA_OK && !claimed &&
          pts.state[2] == POINT_ELSEWHERE, "a point running elsewhere: ELSEWHERE");
    point_started(&pts, 0, 1234);
    point_trained(&pts, 0);
    point_measured(&pts, 0);
    CHECK(pts.state[0] == POINT_MEASURED && pts.pid[0] == 0, "claimed -> trained -> measured");
    DbResult r;
    memset(&r, 0, sizeof r);
    snprintf(r.config_hash, sizeof r.config_hash, "p-ok");
    r.status = DB_DONE;
    r.metrics = (DbMetrics){.f1 = 50, .exact = 40, .has_ans_f1 = 50, .no_ans_f1 = 50,
                            .heads_kept = 1, .heads_total = 2, .ffn_kept = 1, .ffn_total = 2,
                            .params = 10, .flops = 10, .latency_ms = 1,
                            .teacher_latency_ms = 2, .speedup = 2, .train_seconds = 1,
                            .f1_before_finetune = 40, .teacher_f1 = 60};
    DbStatus st;
    int found;
    CHECK(point_finish(&pts, 0, &r) == QA_OK && pts.state[0] == POINT_DONE &&
          db_get_status(db, "p-ok", &st, &found) == QA_OK && st == DB_DONE && !file_exists(path),
          "finish: DONE in the database, the result file removed");
    CHECK(point_claim(&pts, 1, "me:1", &claimed) == QA_OK && claimed &&
          point_fail(&pts, 1, "boom") == QA_OK && pts.state[1] == POINT_FAILED &&
          db_get_status(db, "p-fail", &st, &found) == QA_OK && st == DB_FAILED,
          "fail: FAILED with the message");
    CHECK(pts.finished_here[POINT_DONE] == 1 && pts.finished_here[POINT_FAILED] == 1 &&
          points_count(&pts, POINT_ELSEWHERE) == 1, "counts");
    CHECK(!strcmp(point_state_name(POINT_TRAINED), "trained"), "state names");
    points_free(&pts);
    db_close(db);
}

/* The "slurm" object: read into the grid, every key checked with one line naming it. */
static void test_slurm_section(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/slurm.json", dir);
    const char *head = "{\"out\": \"o\", \"data\": {\"synthetic\": {\"seed\": 1}}, \"axes\": "
                       "{\"strategy\": [\"gain\"], \"targets\": [{\"heads\": 0.5, \"ffn\": 0.5}], "
                       "\"finetune\": [\"none\"]}, \"slurm\": ";
    struct {
        const char *slurm, *error; /* NULL: valid */
    } cases[] = {
        {"{\"partition\": \"cpu\", \"time\": \"1-02:00\", \"cpus_per_task\": 4, \"mem\": \"8G\", "
         "\"array_parallelism\": 3, \"sbatch_args\": [\"--account=nlp\", \"--qos=low\"]}", NULL},
        {"{\"partitions\": \"cpu\"}", "slurm.partitions: unknown key"},
        {"{\"time\": \"2 hours\"}", "slurm.time: expected a Slurm time"},
        {"{\"mem\": \"lots\"}", "slurm.mem: expected a memory size"},
        {"{\"cpus_per_task\": 0}", "slurm.cpus_per_task: expected an integer"},
        {"{\"array_parallelism\": 2.5}", "slurm.array_parallelism: expected an integer"},
        {"{\"sbatch_args\": [\"account=nlp\"]}", "slurm.sbatch_args[0]: expected an sbatch option"},
        {"{\"sbatch_args\": \"--hold\"}", "slurm.sbatch_args: expected a list"},
        {"[]", "slurm: expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        fprintf(f, "%s%s}\n", head, cases[i].slurm);
        fclose(f);
        Grid *g = NULL;
        int rc = grid_load(path, &g);
        if (!cases[i].error) {
            CHECK(rc == QA_OK && !strcmp(g->slurm.partition, "cpu") &&
                      !strcmp(g->slurm.time, "1-02:00") && g->slurm.cpus_per_task == 4 &&
                      !strcmp(g->slurm.mem, "8G") && g->slurm.array_parallelism == 3 &&
                      g->slurm.n_args == 2 && !strcmp(g->slurm.args[1], "--qos=low"),
                  "a valid slurm object is read: %s", qa_last_error());
        } else {
            CHECK(rc == QA_ERR && strstr(qa_last_error(), cases[i].error) &&
                      strstr(qa_last_error(), path),
                  "%s: '%s' (got '%s')", cases[i].slurm, cases[i].error, qa_last_error());
        }
        grid_free(g);
    }
}

/* A point handed to a Slurm task: CLAIMED -> SUBMITTED -> (its result file) DONE; a point an
 * earlier head submitted is adopted PENDING -> SUBMITTED and failed when its task is gone. */
static void test_submitted_states(void) {
    char db_path[300], out[300], sub[400], path[4500];
    snprintf(db_path, sizeof db_path, "%s/submitted.db", dir);
    snprintf(out, sizeof out, "%s/sub", dir);
    snprintf(sub, sizeof sub, "%s/results", out);
    file_mkdirs(sub);
    Db *db = NULL;
    if (db_open(db_path, &db)) {
        CHECK(0, "open: %s", qa_last_error());
        return;
    }
    const char *hashes[] = {"s-task", "s-gone"};
    for (int i = 0; i < 2; i++) {
        DbRun r = {.config_hash = hashes[i], .strategy = "gain", .finetune = "none",
                   .head_sparsity = 0.5, .ffn_sparsity = 0.5, .seed = 1, .config_json = "{}"};
        db_add_run(db, &r, NULL);
    }
    Points pts;
    int claimed;
    CHECK(points_init(&pts, 2, hashes, out, db) == QA_OK, "init");
    CHECK(point_claim(&pts, 0, "head:1", &claimed) == QA_OK && claimed, "claim");
    point_submitted(&pts, 0);
    CHECK(pts.state[0] == POINT_SUBMITTED && !strcmp(point_state_name(POINT_SUBMITTED), "submitted"),
          "claimed -> submitted");
    DbResult r;
    memset(&r, 0, sizeof r);
    snprintf(r.config_hash, sizeof r.config_hash, "s-task");
    r.status = DB_FAILED;
    snprintf(r.error, sizeof r.error, "worker: boom");
    point_result_path(&pts, 0, path, sizeof path);
    DbStatus st;
    int found;
    CHECK(db_write_result_file(path, &r) == QA_OK && point_finish_file(&pts, 0) == QA_OK &&
              pts.state[0] == POINT_FAILED && !file_exists(path) &&
              db_get_status(db, "s-task", &st, &found) == QA_OK && st == DB_FAILED,
          "the task's own result file ends the point");
    point_adopt(&pts, 1);
    CHECK(pts.state[1] == POINT_SUBMITTED && point_fail(&pts, 1, "task gone") == QA_OK &&
              pts.state[1] == POINT_FAILED, "adopted, then failed");
    points_free(&pts);
    db_close(db);
}

/* Loads a grid made of body (the top-level object's contents) and returns grid_load's code;
 * with resolve, also grid_resolve's. */

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/qaprune_test_point_states_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_state_machine();
    test_slurm_section();
    test_submitted_states();
    if (!test_failed) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return TEST_DONE();
}
