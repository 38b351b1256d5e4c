/* tests/test_train.c: the training loop's distillation: the teacher runs on each batch and
 * the loss the trainer optimises is loss_distill of the student's and the teacher's logits
 * on exactly that batch (same windows, same positions); and training lowers the span loss,
 * measured outside the trainer before and after. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/bert.h"
#include "core/util/error.h"
#include "core/model/loss.h"
#include "core/model/ops.h"
#include "core/util/rng.h"
#include "core/model/train.h"
#include "tests/test.h"

enum { N = 8, T = 14, V = 20 };

/* n windows of random tokens, some with padding at the end, gold span inside each. */
static void make_data(QaData *d, int32_t *buf, int full0) {
    int32_t *ids = buf, *types = ids + N * T, *mask = types + N * T, *st = mask + N * T,
            *en = st + N;
    Rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < N; i++) {
        /* full0: window 0 is full, so the batch is not trimmed; else every window is
         * shorter than T and the trainer trims the batch to the longest */
        int len = full0 && i == 0 ? T : T - 2 - (int)rng_below(&r, 4);
        for (int t = 0; t < T; t++) {
            ids[i * T + t] = t < len ? 2 + (int)rng_below(&r, V - 2) : 0;
            types[i * T + t] = t > 4;
            mask[i * T + t] = t < len;
        }
        st[i] = 1 + (int)rng_below(&r, (uint64_t)len - 2);
        en[i] = st[i] + (int)rng_below(&r, 2);
    }
    *d = (QaData){N, T, ids, types, mask, st, en, NULL};
}

/* The distillation loss over all windows, computed outside the trainer on the windows
 * trimmed to the longest one. */
static float reference_loss(BertModel *student, BertModel *teacher, const QaData *d, float temp,
                            float alpha) {
    int Tb = 0;
    for (int i = 0; i < N; i++)
        for (int t = 0; t < T; t++)
            if (d->mask[i * T + t] && t + 1 > Tb) Tb = t + 1;
    int32_t ids[N * T], types[N * T], mask[N * T];
    for (int i = 0; i < N; i++)
        for (int t = 0; t < Tb; t++) {
            ids[i * Tb + t] = d->ids[i * T + t];
            types[i * Tb + t] = d->types[i * T + t];
            mask[i * Tb + t] = d->mask[i * T + t];
        }
    BertBatch b = {N, Tb, ids, types, mask};
    float ts[N * T], te[N * T], ds[N * T], de[N * T], ss[N * T], se[N * T];
    size_t n = sizeof(float) * N * Tb;
    bert_forward(teacher, &b, NULL, 0, 0);
    memcpy(ts, bert_start_logits(teacher), n);
    memcpy(te, bert_end_logits(teacher), n);
    /* like the trainer (and Hugging Face): padded positions inside the batch stay in */
    bert_forward(student, &b, NULL, 0, 0);
    memcpy(ss, bert_start_logits(student), n);
    memcpy(se, bert_end_logits(student), n);
    return loss_distill(ds, de, ss, se, ts, te, d->start, d->end, N, Tb, temp, alpha);
}

/* The gold span loss of m (inference, no dropout) over all windows of d as one batch
 * trimmed to the longest window. */
static float span_loss(BertModel *m, const QaData *d) {
    int idx[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    QaBatch b = {0};
    float ds[N * T], de[N * T], loss = NAN;
    if (qa_batch_fill(&b, d, idx, N) == QA_OK) {
        BertBatch bb = {N, b.Tb, b.ids, b.types, b.mask};
        if (bert_forward(m, &bb, NULL, 0, 0) == QA_OK)
            loss = loss_span(ds, de, bert_start_logits(m), bert_end_logits(m), b.start, b.end,
                             N, b.Tb);
    }
    qa_batch_free(&b);
    return loss;
}

/* 150 AdamW steps on the gold loss (batches of 4 of the 8 windows, dropout on) must bring the
 * span loss of the 8 windows well down: a sign error, a missing update, a wrong gradient or a
 * schedule stuck at lr 0 leaves it where it was or raises it. */
static void test_training_lowers_loss(const BertConfig *c0, BertPrecision prec,
                                      float *after_out) {
    BertConfig c = *c0;
    c.hidden_dropout = c.attention_dropout = 0.1f;
    BertModel *m = NULL;
    CHECK(bert_create(&c, &m) == QA_OK, "create: %s", qa_last_error());
    if (!m) return;
    bert_init_random(m, 5, 0.1f);
    int32_t buf[3 * N * T + 2 * N];
    QaData d;
    make_data(&d, buf, 1);
    TrainOpts o;
    train_opts_init(&o);
    o.batch_size = 4;
    o.steps = 150;
    o.lr = 3e-3f;
    o.seed = 3;
    o.precision = prec;
    TrainStats s;
    float before = span_loss(m, &d);
    CHECK(train_qa(m, &d, &o, &s) == QA_OK && s.steps == 150, "train: %s", qa_last_error());
    CHECK(bert_train_precision(m) == BERT_FP32, "train_qa restores the model's training "
          "precision");
    float after = span_loss(m, &d);
    *after_out = after;
    printf("%s training: span loss of the 8 windows: %.4f before training, %.4f after %ld "
           "steps (trainer's running mean %.4f)\n", bert_precision_name(prec), before, after,
           s.steps, s.final_loss);
    CHECK(isfinite(before) && before > 2.0f, "the untrained loss is near log(T) (%.4f)", before);
    CHECK(after < 0.25f * before, "training lowers the loss: %.4f -> %.4f", before, after);
    CHECK(s.final_loss < 0.75f * before, "the trainer's running loss went down too (%.4f)",
          s.final_loss);
    bert_free(m);
}

/* One training step's weight gradients in bf16 against fp32: every GEMM operand of the
 * linear layers and of attention rounded to bf16 (2^-9 relative), so the gradient moves by
 * well under 2% of its norm; and it moves (the bf16 path ran). Then an fp32 step after a bf16
 * one gives the fp32 gradient bit for bit (no bf16 state is left behind). With `gated`:
 * dropout on (the same masks in both precisions), head and neuron gates, and their
 * gradients (L0 pruning's joint training) within the same bound, each kind on its own;
 * gated 2: the gate gradients asked for without gates (all 1, as gain scoring does); with
 * `ragged` on a pruned shape whose first layer has no FFN neurons and second no heads. */
static void test_bf16_gradients(const BertConfig *c0, int gated, int ragged) {
    BertConfig c = *c0;
    if (gated) c.hidden_dropout = c.attention_dropout = 0.1f;
    if (ragged) c.ffn[0] = 0, c.heads[1] = 0;
    BertModel *m = NULL;
    CHECK(bert_create(&c, &m) == QA_OK, "create: %s", qa_last_error());
    if (!m) return;
    bert_init_random(m, 7, 0.3f);
    int32_t buf[3 * N * T + 2 * N];
    QaData d;
    make_data(&d, buf, 1);
    BertBatch bb = {N, T, d.ids, d.types, d.mask};
    float ds[N * T], de[N * T];
    int nh = bert_total_heads(&c), nf = bert_total_ffn(&c);
    float hg[64], fg[256], dh[3][64], df[3][256];
    for (int i = 0; i < nh; i++) hg[i] = 0.5f + 0.1f * (float)(i % 5);
    for (int i = 0; i < nf; i++) fg[i] = 0.3f + 0.07f * (float)(i % 10);
    BertGates gates = {hg, fg};
    size_t np = bert_num_params(m);
    float *g[3];
    BertPrecision order[3] = {BERT_FP32, BERT_BF16, BERT_FP32};
    for (int k = 0; k < 3; k++) {
        CHECK(bert_set_train_precision(m, order[k]) == QA_OK, "set train precision");
        bert_zero_grad(m);
        memset(dh[k], 0, sizeof dh[k]);
        memset(df[k], 0, sizeof df[k]);
        CHECK(bert_forward(m, &bb, gated == 1 ? &gates : NULL, 1, 1) == QA_OK,
              "train forward: %s", qa_last_error());
        loss_span(ds, de, bert_start_logits(m), bert_end_logits(m), d.start, d.end, N, T);
        CHECK(bert_backward(m, ds, de, gated ? dh[k] : NULL, gated ? df[k] : NULL, 1) == QA_OK,
              "backward");
        g[k] = malloc(sizeof(float) * np);
        memcpy(g[k], bert_grads(m), sizeof(float) * np);
    }
    double diff = 0, norm = 0;
    for (size_t i = 0; i < np; i++) {
        diff += (double)(g[1][i] - g[0][i]) * (g[1][i] - g[0][i]);
        norm += (double)g[0][i] * g[0][i];
    }
    double rel = sqrt(diff / norm);
    const char *what = ragged ? " ragged, with dropout and gates"
                       : gated == 2 ? " with dropout, gate gradients without gates"
                       : gated ? " with dropout and gates" : "";
    printf("bf16 training gradient%s: %.3g of the fp32 gradient's norm away\n", what, rel);
    CHECK(rel < 0.02 && rel > 1e-5, "bf16 weight gradients%s within 2%% of fp32's (and not "
          "equal): %.3g", what, rel);
    CHECK(!memcmp(g[0], g[2], sizeof(float) * np), "fp32 after bf16%s: the same gradient bit "
          "for bit", what);
    if (gated) {
        for (int kind = 0; kind < 2; kind++) { /* heads, then FFN neurons */
            int n = kind ? nf : nh;
            const float *a = kind ? df[0] : dh[0], *b = kind ? df[1] : dh[1];
            double dg = 0, ng = 0;
            for (int i = 0; i < n; i++) {
                dg += (double)(b[i] - a[i]) * (b[i] - a[i]);
                ng += (double)a[i] * a[i];
            }
            double relg = sqrt(dg / ng);
            printf("bf16 %s gate gradients%s: %.3g of fp32's norm away\n",
                   kind ? "neuron" : "head", what, relg);
            CHECK(ng > 0 && relg < 0.02 && relg > 1e-6, "bf16 %s gate gradients%s within 2%% "
                  "of fp32's (and not equal): %.3g", kind ? "neuron" : "head", what, relg);
        }
        CHECK(!memcmp(dh[0], dh[2], sizeof dh[0]) && !memcmp(df[0], df[2], sizeof df[0]),
              "fp32 gate gradients after bf16: bit for bit");
    }
    for (int k = 0; k < 3; k++) free(g[k]);
    bert_free(m);
}

/* A forward that rejects its batch leaves the last training forward for its backward: an
 * inference forward in another precision (bf16) failing on a bad token id between a
 * training forward (fp32) and its backward changes neither the gradient nor its bits. */
static void test_rejected_forward(const BertConfig *c) {
    BertModel *m = NULL;
    CHECK(bert_create(c, &m) == QA_OK, "create: %s", qa_last_error());
    if (!m) return;
    bert_init_random(m, 9, 0.3f);
    CHECK(bert_set_precision(m, BERT_BF16) == QA_OK, "bf16 inference");
    int32_t buf[3 * N * T + 2 * N];
    QaData d;
    make_data(&d, buf, 1);
    BertBatch bb = {N, T, d.ids, d.types, d.mask};
    float ds[N * T], de[N * T];
    size_t np = bert_num_params(m);
    float *g0 = malloc(sizeof(float) * np);
    for (int k = 0; k < 2; k++) {
        bert_zero_grad(m);
        CHECK(bert_forward(m, &bb, NULL, 1, 1) == QA_OK, "train forward: %s", qa_last_error());
        loss_span(ds, de, bert_start_logits(m), bert_end_logits(m), d.start, d.end, N, T);
        if (k) {
            int32_t bad[N * T];
            memcpy(bad, d.ids, sizeof bad);
            bad[3] = V + 5;
            BertBatch bx = {N, T, bad, d.types, d.mask};
            CHECK(bert_forward(m, &bx, NULL, 0, 0) == QA_ERR, "a bad token id is rejected");
        }
        CHECK(bert_backward(m, ds, de, NULL, NULL, 1) == QA_OK, "backward");
        if (!k) memcpy(g0, bert_grads(m), sizeof(float) * np);
    }
    CHECK(!memcmp(g0, bert_grads(m), sizeof(float) * np), "the backward after a rejected "
          "forward: the same gradient bit for bit");
    free(g0);
    bert_free(m);
}

static void test_finetune_names(void) {
    FinetuneMode m;
    for (int k = 0; k < FINETUNE_N; k++)
        CHECK(finetune_parse(finetune_name((FinetuneMode)k), &m) == QA_OK && (int)m == k,
              "fine-tune mode %d parses from its name", k);
    CHECK(finetune_parse("distill", &m) == QA_OK && m == FINETUNE_DISTILL, "parse distill");
    CHECK(finetune_parse("Distill", &m) == QA_ERR &&
              strstr(qa_last_error(), "'Distill' is not one of " FINETUNE_NAMES_TEXT),
          "unknown mode named with the choices: %s", qa_last_error());
    char list[128];
    CHECK(!strcmp(test_join(FINETUNE_NAMES, FINETUNE_N, " | ", list, sizeof list),
                  FINETUNE_NAMES_TEXT),
          "FINETUNE_NAMES_TEXT says what FINETUNE_NAMES holds: '%s' vs '%s'", list,
          FINETUNE_NAMES_TEXT);
}

int main(void) {
    ops_set_threads(2);
    BertConfig c;
    bert_config_init(&c, V, T, 2, 16, 4, 32);
    c.hidden_dropout = c.attention_dropout = 0.f; /* train and inference forwards agree */
    BertModel *student = NULL, *teacher = NULL;
    CHECK(bert_create(&c, &student) == QA_OK && bert_create(&c, &teacher) == QA_OK, "create");
    bert_init_random(student, 1, 0.3f);
    bert_init_random(teacher, 2, 0.3f);
    int32_t buf[3 * N * T + 2 * N];
    QaData d;

    TrainOpts o;
    train_opts_init(&o);
    o.batch_size = N; /* one batch: every window, so the loss is order-free */
    o.steps = 1;
    o.lr = 0.f;       /* the first step's loss is all we look at */
    o.weight_decay = 0.f;
    o.teacher = teacher;
    o.distill_temp = 2.0f;
    o.distill_alpha = 0.7f;
    TrainStats s;
    float want = 0;
    for (int full0 = 1; full0 >= 0; full0--) {
        make_data(&d, buf, full0);
        want = reference_loss(student, teacher, &d, 2.0f, 0.7f);
        CHECK(train_qa(student, &d, &o, &s) == QA_OK, "train: %s", qa_last_error());
        printf("distill step loss %.6f, reference %.6f (%s)\n", s.final_loss, want,
               full0 ? "full batch" : "trimmed batch");
        CHECK_CLOSE(s.final_loss, want, 1e-4 * fabs(want) + 1e-6,
                    "trainer's distillation loss = loss_distill on the teacher's logits of the "
                    "batch (%s)", full0 ? "full" : "trimmed");
    }

    o.teacher = NULL;
    CHECK(train_qa(student, &d, &o, &s) == QA_OK, "train: %s", qa_last_error());
    CHECK(fabsf(s.final_loss - want) > 1e-3f, "without a teacher the loss differs (%.4f)",
          s.final_loss);
    bert_free(student);
    bert_free(teacher);
    float after32, after16;
    test_training_lowers_loss(&c, BERT_FP32, &after32);
    test_training_lowers_loss(&c, BERT_BF16, &after16);
    CHECK(after16 != after32, "bf16 training does run in bf16 (loss %.6f vs fp32 %.6f)",
          after16, after32);
    test_bf16_gradients(&c, 0, 0);
    test_bf16_gradients(&c, 1, 0);
    test_bf16_gradients(&c, 1, 1);
    test_bf16_gradients(&c, 2, 0);
    test_rejected_forward(&c);
    test_finetune_names();
    return TEST_DONE();
}
