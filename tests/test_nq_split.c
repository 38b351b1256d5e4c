/* tests/test_nq_split.c: an NQ file through the engine (core/qa/nq_split.c): the synthetic
 * NQ task is streamed into windows, a small model with the answer-type head is trained on
 * them and scored on dev with the official metric (better than before training), and the
 * predictions file it writes scores the same through `sweep score --nq`; saved as a
 * checkpoint, `sweep eval --nq` gives the same figures, and so does scoring the file
 * streamed in chunks. The training windows through the sweep's cache file (core/qa/windows.h,
 * version 2): written and mapped back with their answer types, SQuAD-like windows without;
 * a version 1 file, a wrong answer type and a cut file refused naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/bert.h"
#include "core/model/checkpoint.h"
#include "core/model/train.h"
#include "core/qa/nq_split.h"
#include "core/qa/synth_nq.h"
#include "core/qa/windows.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "tests/test.h"

/* The windows file round trip of d (with answer types) under dir. */
static void test_windows_file(const char *dir, const QaData *d) {
    char path[300], key[HASH_HEX];
    snprintf(path, sizeof path, "%s/windows.bin", dir);
    memset(key, 'a', sizeof key);
    key[HASH_HEX - 1] = '\0';
    WindowsMap *m = NULL;
    QaData back;
    CHECK(windows_write(path, d, key) == QA_OK && windows_map(path, key, &m, &back) == QA_OK,
          "windows file: %s", qa_last_error());
    if (!m) return;
    size_t nt = (size_t)d->n * d->T;
    CHECK(back.n == d->n && back.T == d->T && back.answer_type &&
              !memcmp(back.ids, d->ids, nt * 4) && !memcmp(back.types, d->types, nt * 4) &&
              !memcmp(back.mask, d->mask, nt * 4) && !memcmp(back.start, d->start, (size_t)d->n * 4) &&
              !memcmp(back.end, d->end, (size_t)d->n * 4) &&
              !memcmp(back.answer_type, d->answer_type, (size_t)d->n * 4),
          "%d windows with their answer types read back", d->n);
    windows_unmap(m);
    QaData plain = *d;
    plain.answer_type = NULL; /* SQuAD windows */
    CHECK(windows_write(path, &plain, key) == QA_OK && windows_map(path, key, &m, &back) == QA_OK &&
              back.answer_type == NULL && back.n == d->n,
          "windows without answer types read back without: %s", qa_last_error());
    windows_unmap(m);
    /* a byte patched in the file: the version (offset 8), an answer type (the last int32) */
    char *text = NULL;
    size_t len = 0;
    CHECK(windows_write(path, d, key) == QA_OK && file_read(path, 0, &text, &len) == QA_OK,
          "rewrite");
    if (!text) return;
    char *bad = malloc(len);
    memcpy(bad, text, len);
    bad[8] = 1;
    m = NULL;
    CHECK(file_write_atomic(path, bad, len) == QA_OK && windows_map(path, key, &m, &back) == QA_ERR &&
              !m && strstr(qa_last_error(), "version 1") && strstr(qa_last_error(), path),
          "a version 1 file is refused: %s", qa_last_error());
    memcpy(bad, text, len);
    int32_t seven = 7;
    memcpy(bad + len - 4, &seven, 4);
    CHECK(file_write_atomic(path, bad, len) == QA_OK && windows_map(path, key, &m, &back) == QA_ERR &&
              strstr(qa_last_error(), "answer type 7"),
          "an answer type outside the head is refused: %s", qa_last_error());
    CHECK(file_write_atomic(path, text, len - 4) == QA_OK &&
              windows_map(path, key, &m, &back) == QA_ERR && strstr(qa_last_error(), "bytes"),
          "a cut file is refused: %s", qa_last_error());
    free(bad);
    free(text);
}

int main(void) {
    char dir[] = "/tmp/test_nq_split.XXXXXX", path[256], vocab_path[256], pred_path[256];
    if (!mkdtemp(dir)) return 1;
    if (synth_nq_generate(dir, 3, 1200, 120, 1)) {
        fprintf(stderr, "%s\n", qa_last_error());
        return 1;
    }
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.txt", dir);
    WpVocab *v = NULL;
    CHECK(wp_vocab_load(vocab_path, &v) == QA_OK, "vocab: %s", qa_last_error());
    if (!v) return TEST_DONE();
    NqTokenizer tok = nq_tokenizer_wordpiece(v);
    NqWindowOpts o = NQ_WINDOW_OPTS_DEFAULT;
    o.max_seq_len = 96;
    o.doc_stride = 32;
    o.max_query_len = 24;
    NqWindowOpts ot = o;
    ot.training = 1;
    ot.include_unknowns = 0.1;
    NqSplit train = {0}, dev = {0};
    snprintf(path, sizeof path, "%s/nq-train.jsonl.gz", dir);
    CHECK(nq_split_load(path, &tok, &ot, 0, NULL, NULL, &train) == QA_OK, "train: %s", qa_last_error());
    snprintf(path, sizeof path, "%s/nq-dev.jsonl.gz", dir);
    CHECK(nq_split_load(path, &tok, &o, 1, NULL, NULL, &dev) == QA_OK, "dev: %s", qa_last_error());
    if (!train.win || !dev.win) return TEST_DONE();
    CHECK(dev.gold && dev.gold->n == 120 && dev.win->n_examples == 120, "120 dev examples");
    CHECK(train.data.answer_type == train.win->answer_type && train.data.n == train.win->n,
          "the trainer's view carries the answer types");
    test_windows_file(dir, &train.data);
    BertConfig cfg;
    bert_config_init(&cfg, wp_vocab_size(v), o.max_seq_len, 2, 32, 2, 64);
    cfg.num_answer_types = NQ_N_TYPES;
    cfg.hidden_dropout = cfg.attention_dropout = 0.f;
    BertModel *m = NULL;
    CHECK(bert_create(&cfg, &m) == QA_OK, "model");
    bert_init_xavier(m, 1);
    NqScores before, after;
    CHECK(nq_split_evaluate(m, &dev, 32, NULL, &before, NULL) == QA_OK, "score: %s", qa_last_error());
    TrainOpts to;
    train_opts_init(&to);
    to.batch_size = 16;
    to.steps = 250;
    to.lr = 1e-3f;
    to.seed = 2;
    TrainStats ts;
    CHECK(train_qa(m, &train.data, &to, &ts) == QA_OK, "train: %s", qa_last_error());
    NqPredictions *p = NULL;
    CHECK(nq_split_evaluate(m, &dev, 32, NULL, &after, &p) == QA_OK, "score: %s", qa_last_error());
    printf("%d train windows, %d dev windows; long F1 %.3f -> %.3f, short F1 %.3f -> %.3f "
           "(loss %.3f, %.1f s)\n", train.data.n, dev.data.n, before.long_answer.f1,
           after.long_answer.f1, before.short_answer.f1, after.short_answer.f1, ts.final_loss,
           ts.seconds);
    /* a few hundred steps teach spans; long answers follow the best span's block, and a random
     * model already hits two blocks in five, so only the short answers must improve here */
    CHECK(after.short_answer.f1 > before.short_answer.f1 + 0.02 && after.long_answer.f1 > 0.2,
          "training helps");
    /* streamed in chunks of 7 documents: the same figures */
    NqScores streamed;
    NqPredictions *ps = NULL;
    CHECK(nq_evaluate_file(m, path, &tok, &o, 32, NULL, 7, NULL, NULL, &streamed, &ps) == QA_OK &&
          ps->n == 120, "streamed: %s", qa_last_error());
    CHECK_CLOSE(streamed.long_answer.f1, after.long_answer.f1, 1e-9, "streamed long F1");
    CHECK_CLOSE(streamed.short_answer.f1, after.short_answer.f1, 1e-9, "streamed short F1");
    CHECK_CLOSE(streamed.short_answer.threshold, after.short_answer.threshold, 1e-4, "threshold");
    nq_predictions_free(ps);
    snprintf(pred_path, sizeof pred_path, "%s/predictions.json", dir);
    CHECK(p && nq_predictions_write(p, pred_path) == QA_OK, "write: %s", qa_last_error());
    char cmd[1024], buf[4096];
    snprintf(cmd, sizeof cmd, "%s score --nq %s %s 2>/dev/null", test_sweep_bin(), path, pred_path);
    FILE *f = popen(cmd, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    CHECK(f && pclose(f) == 0, "sweep score --nq runs");
    const char *k = strstr(buf, "\"short-best-threshold-f1\":");
    CHECK(k && fabs(strtod(k + strlen("\"short-best-threshold-f1\":"), NULL) - after.short_answer.f1) < 1e-12,
          "the written predictions score the same: %s", k ? k : buf);
    /* the checkpoint (type head included) through the CLI */
    char ck[300], meta[400], ev[300];
    snprintf(ck, sizeof ck, "%s/ckpt", dir);
    snprintf(meta, sizeof meta, "%s/qaprune.json", ck);
    snprintf(ev, sizeof ev, "%s/eval", dir);
    const char *spec = "{\"spec\": {\"max_seq_len\": 96, \"doc_stride\": 32, \"max_query_len\": 24}}";
    CHECK(checkpoint_save(m, ck, vocab_path) == QA_OK &&
          file_write_atomic(meta, spec, strlen(spec)) == QA_OK, "save: %s", qa_last_error());
    snprintf(cmd, sizeof cmd, "%s eval --nq --model %s --data %s --out %s --threads 1 2>/dev/null",
             test_sweep_bin(), ck, path, ev);
    f = popen(cmd, "r");
    n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    CHECK(f && pclose(f) == 0, "sweep eval --nq runs");
    k = strstr(buf, "\"long-best-threshold-f1\":");
    CHECK(k && fabs(strtod(k + strlen("\"long-best-threshold-f1\":"), NULL) - after.long_answer.f1) < 1e-6,
          "sweep eval --nq: the same long F1: %s", k ? k : buf);
    snprintf(meta, sizeof meta, "%s/predictions.json", ev);
    NqPredictions *q = NULL;
    CHECK(nq_predictions_load(meta, &q) == QA_OK && q->n == 120, "eval wrote predictions.json");
    nq_predictions_free(q);
    nq_predictions_free(p);
    bert_free(m);
    nq_split_free(&train);
    nq_split_free(&dev);
    wp_vocab_free(v);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
