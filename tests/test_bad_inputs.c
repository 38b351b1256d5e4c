/* tests/test_bad_inputs.c: inputs that used to load or score silently are refused with one
 * line naming the file and what is wrong:
 *   - a checkpoint with a NaN or infinite weight (it scored F1 26.3 / 0 before);
 *   - a FIFO in place of model.safetensors or config.json (the open hung);
 *   - a vocab.txt listing a token twice (reported as "token id out of range" elsewhere);
 *   - non-finite thresholds written into eval JSON (Infinity is not JSON);
 *   - a question id listed twice in a SQuAD file counts once, as in the official script;
 *   - the latency inputs for batch x seq beyond 2^31 / 7919 tokens (int overflow gave
 *     negative token ids);
 *   - the environment mark of errors (disk full, read-only) survives wrapping. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/model/checkpoint.h"
#include "core/model/latency.h"
#include "core/qa/predictions.h"
#include "core/qa/squad.h"
#include "core/qa/squad_metric.h"
#include "core/text/wordpiece.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "tests/test.h"

static char dir[64];

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: a reader hung on a FIFO\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(1);
}

static void test_non_finite_weights(void) {
    BertModel *m = NULL;
    if (checkpoint_load("tests/data/torch_ckpt", &m)) {
        CHECK(0, "fixture: %s", qa_last_error());
        return;
    }
    char out[128];
    snprintf(out, sizeof out, "%s/nan_ckpt", dir);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    const char *name[3] = {"NaN", "+inf", "-inf"};
    for (int k = 0; k < 3; k++) {
        float *p = bert_params(m) + 5;
        float keep = *p;
        *p = bad[k];
        BertModel *back = NULL;
        CHECK(checkpoint_save(m, out, "tests/data/torch_ckpt/vocab.txt") == QA_OK &&
                  checkpoint_load(out, &back) == QA_ERR && strstr(qa_last_error(), name[k]) &&
                  strstr(qa_last_error(), "tensor ") && strstr(qa_last_error(), "model.safetensors"),
              "a %s weight is refused naming the tensor: %s", name[k], qa_last_error());
        bert_free(back);
        *p = keep;
    }
    bert_free(m);
}

static void test_fifo(void) {
    char ck[128], path[256];
    snprintf(ck, sizeof ck, "%s/fifo_ckpt", dir);
    file_mkdirs(ck);
    char *text = NULL;
    size_t n;
    CHECK(file_read("tests/data/torch_ckpt/config.json", 0, &text, &n) == QA_OK, "fixture");
    snprintf(path, sizeof path, "%s/config.json", ck);
    file_write_atomic(path, text, n);
    free(text);
    snprintf(path, sizeof path, "%s/model.safetensors", ck);
    CHECK(mkfifo(path, 0644) == 0, "mkfifo: %s", strerror(errno));
    signal(SIGALRM, on_alarm);
    alarm(10);
    BertModel *m = NULL;
    CHECK(checkpoint_load(ck, &m) == QA_ERR && strstr(qa_last_error(), "not a regular file"),
          "a FIFO as model.safetensors: %s", qa_last_error());
    snprintf(path, sizeof path, "%s/fifo.json", dir);
    mkfifo(path, 0644);
    char *buf = NULL;
    CHECK(file_read(path, 0, &buf, &n) == QA_ERR && strstr(qa_last_error(), "not a regular file"),
          "a FIFO as a JSON file: %s", qa_last_error());
    alarm(0);
    bert_free(m);
}

static void test_vocab_duplicates(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/dup_vocab.txt", dir);
    static const char v[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\nhello\n";
    file_write_atomic(path, v, sizeof v - 1);
    WpVocab *voc = NULL;
    CHECK(wp_vocab_load(path, &voc) == QA_ERR && strstr(qa_last_error(), "dup_vocab.txt") &&
              strstr(qa_last_error(), "line 7") && strstr(qa_last_error(), "line 5"),
          "a repeated token names the file and both lines: %s", qa_last_error());
    wp_vocab_free(voc);
}

static void test_json_thresholds(void) {
    SquadScores s;
    memset(&s, 0, sizeof s);
    s.total = 1;
    s.has_best = 1;
    s.best_exact_thresh = INFINITY;
    s.best_f1_thresh = -INFINITY;
    char *j = squad_scores_json(&s);
    cJSON *o = j ? cJSON_Parse(j) : NULL;
    CHECK(o && cJSON_IsNull(cJSON_GetObjectItem(o, "best_exact_thresh")) &&
              cJSON_IsNull(cJSON_GetObjectItem(o, "best_f1_thresh")),
          "non-finite thresholds are JSON null: %s", j ? j : "(none)");
    cJSON_Delete(o);
    free(j);
}

/* The official script keys scores by question id: a duplicate counts once. */
static void test_duplicate_ids(void) {
    char path[128], pp[128], np[128];
    snprintf(path, sizeof path, "%s/dup.json", dir);
    static const char set[] =
        "{\"version\": \"v2.0\", \"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": "
        "\"the cat sat\", \"qas\": [{\"id\": \"q1\", \"question\": \"who?\", \"answers\": "
        "[{\"text\": \"cat\", \"answer_start\": 4}], \"is_impossible\": false}, {\"id\": \"q1\","
        " \"question\": \"who?\", \"answers\": [{\"text\": \"cat\", \"answer_start\": 4}],"
        " \"is_impossible\": false}, {\"id\": \"q2\", \"question\": \"what?\", \"answers\": [],"
        " \"is_impossible\": true}]}]}]}";
    file_write_atomic(path, set, sizeof set - 1);
    snprintf(pp, sizeof pp, "%s/pred.json", dir);
    snprintf(np, sizeof np, "%s/na.json", dir);
    static const char pred[] = "{\"q1\": \"cat\", \"q2\": \"\"}";
    static const char na[] = "{\"q1\": 0.1, \"q2\": 0.9}";
    file_write_atomic(pp, pred, sizeof pred - 1);
    file_write_atomic(np, na, sizeof na - 1);
    SquadSet *s = NULL;
    Predictions *p = NULL;
    SquadScores sc;
    CHECK(squad_load(path, &s) == QA_OK && predictions_load(pp, np, &p) == QA_OK &&
              squad_evaluate(s, p, 1.0, &sc) == QA_OK,
          "score: %s", qa_last_error());
    CHECK(sc.total == 2 && sc.has_ans_total == 1 && sc.no_ans_total == 1,
          "a repeated id counts once (total %d, has %d, no %d)", sc.total, sc.has_ans_total,
          sc.no_ans_total);
    CHECK(sc.has_best && sc.best_f1 == 100.0, "best F1 over unique ids: %g", sc.best_f1);
    squad_free(s);
    predictions_free(p);
}

static void test_latency_inputs(void) {
    /* 67 x 4096 = 274,432 tokens: i * 7919 passes INT_MAX at i = 271,190 */
    int batch = 67, seq = 4096, vocab = 30522;
    size_t n = (size_t)batch * seq;
    int32_t *a = malloc(3 * n * sizeof *a);
    if (!a) return;
    latency_inputs(batch, seq, vocab, a, a + n, a + 2 * n);
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= a[i] >= 0 && a[i] < vocab && (a[n + i] == 0 || a[n + i] == 1) && a[2 * n + i] == 1;
    CHECK(ok, "every timed input id is in [0, vocab) beyond 2^31 / 7919 tokens");
    free(a);
}

static void test_env_mark(void) {
    qa_clear_error();
    CHECK(!qa_error_is_env(), "no mark after clearing");
    qa_env_error(EINVAL, "x: bad");
    CHECK(!qa_error_is_env(), "EINVAL is not the environment's");
    qa_env_error(ENOSPC, "x: cannot write: No space left on device");
    qa_error("wrapped: %s", "x");
    CHECK(qa_error_is_env(), "a full disk is, and wrapping keeps the mark");
    qa_clear_error();
    char path[128];
    snprintf(path, sizeof path, "/proc/version/nope");
    CHECK(file_write_atomic(path, "a", 1) == QA_ERR && !qa_error_is_env(),
          "a path that cannot exist is the caller's fault: %s", qa_last_error());
    qa_clear_error();
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/qaprune_bad_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_non_finite_weights();
    test_fifo();
    test_vocab_duplicates();
    test_json_thresholds();
    test_duplicate_ids();
    test_latency_inputs();
    test_env_mark();
    if (!test_failed) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return TEST_DONE();
}
