/* tests/test_nq_head.c: the answer-type head of core/model/bert.c (Natural Questions):
 * its backward against central finite differences (weights, encoder weights through the
 * first token, head gates), the type loss and its distillation against finite differences,
 * checkpoint save/load, pruning (equal to the gated model), and training on type labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/bert.h"
#include "core/model/checkpoint.h"
#include "core/model/loss.h"
#include "core/model/train.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "core/util/rng.h"
#include "tests/test.h"

enum { V = 23, P = 16, L = 2, C = 8, NH = 2, F = 12, NT = 5, B = 3, T = 7 };

static int32_t ids[B * T], types[B * T], mask[B * T];
static double coef_s[B * T], coef_e[B * T], coef_t[B * NT];

static BertModel *make_model(uint64_t seed, int nt) {
    BertConfig cfg;
    bert_config_init(&cfg, V, P, L, C, NH, F);
    cfg.num_answer_types = nt;
    BertModel *m = NULL;
    if (bert_create(&cfg, &m)) return NULL;
    bert_init_random(m, seed, 0.4f);
    bert_set_dropout(m, 0.f, 0.f);
    return m;
}

/* L = sum coef_s * start + coef_e * end + coef_t * type, in double over the float logits */
static double objective(BertModel *m, const float *head_gates) {
    BertBatch bb = {B, T, ids, types, mask};
    BertGates g = {head_gates, NULL};
    if (bert_forward(m, &bb, &g, 1, 0)) return NAN;
    const float *s = bert_start_logits(m), *e = bert_end_logits(m), *t = bert_type_logits(m);
    double sum = 0;
    for (int i = 0; i < B * T; i++) sum += coef_s[i] * s[i] + coef_e[i] * e[i];
    for (int i = 0; i < B * NT; i++) sum += coef_t[i] * t[i];
    return sum;
}

/* d objective / d x by central differences (eps relative to float resolution of x) */
static double numeric(BertModel *m, float *x, const float *gates) {
    float keep = *x, eps = 1e-2f * (fabsf(keep) > 1.f ? fabsf(keep) : 1.f);
    *x = keep + eps;
    double up = objective(m, gates);
    *x = keep - eps;
    double down = objective(m, gates);
    *x = keep;
    return (up - down) / (2.0 * (double)eps);
}

static void test_backward(void) {
    Rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < B * T; i++) {
        ids[i] = (int32_t)rng_below(&r, V);
        types[i] = i % T > 2;
        mask[i] = i % T < T - (i / T); /* rows of 7, 6, 5 real tokens */
        coef_s[i] = rng_normal(&r);
        coef_e[i] = rng_normal(&r);
    }
    for (int i = 0; i < B * NT; i++) coef_t[i] = rng_normal(&r);
    BertModel *m = make_model(9, NT);
    CHECK(m != NULL, "create: %s", qa_last_error());
    if (!m) return;
    float gates[L * NH] = {1.f, 0.7f, 0.4f, 1.f}, dg[L * NH] = {0};
    float ds[B * T], de[B * T], dt[B * NT];
    for (int i = 0; i < B * T; i++) ds[i] = (float)coef_s[i], de[i] = (float)coef_e[i];
    for (int i = 0; i < B * NT; i++) dt[i] = (float)coef_t[i];
    objective(m, gates);
    bert_zero_grad(m);
    CHECK(bert_backward_typed(m, ds, de, dt, dg, NULL, 1) == QA_OK, "backward");
    float *g = bert_grads(m), *p = bert_params(m);
    const char *names[] = {"answer_type_outputs.weight", "answer_type_outputs.bias",
                           "qa_outputs.weight", "bert.encoder.layer.1.output.LayerNorm.weight",
                           "bert.encoder.layer.0.attention.self.query.weight",
                           "bert.embeddings.word_embeddings.weight"};
    double worst = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const BertTensor *t = bert_find_tensor(m, names[k]);
        CHECK(t != NULL, "tensor %s", names[k]);
        if (!t) continue;
        size_t step = t->numel > 24 ? t->numel / 24 : 1;
        for (size_t i = 0; i < t->numel; i += step) {
            double want = numeric(m, p + t->offset + i, gates), got = g[t->offset + i];
            double err = fabs(want - got) / (1.0 + fabs(want));
            if (err > worst) worst = err;
            CHECK(err < 2e-3, "%s[%zu]: backward %.6g, finite differences %.6g", names[k], i,
                  got, want);
        }
    }
    for (int h = 0; h < L * NH; h++) {
        double want = numeric(m, &gates[h], gates);
        CHECK(fabs(want - dg[h]) / (1.0 + fabs(want)) < 2e-3, "head gate %d: %.6g vs %.6g", h,
              dg[h], want);
    }
    /* the type path alone: with dstart = dend = 0 only the first token's states are seeded */
    for (int i = 0; i < B * T; i++) coef_s[i] = coef_e[i] = ds[i] = de[i] = 0;
    objective(m, gates);
    bert_zero_grad(m);
    bert_backward_typed(m, ds, de, dt, NULL, NULL, 1);
    const BertTensor *qa = bert_find_tensor(m, "qa_outputs.weight");
    const BertTensor *tw = bert_find_tensor(m, "answer_type_outputs.weight");
    double qa_sum = 0, tw_sum = 0;
    for (size_t i = 0; i < qa->numel; i++) qa_sum += fabs(g[qa->offset + i]);
    for (size_t i = 0; i < tw->numel; i++) tw_sum += fabs(g[tw->offset + i]);
    CHECK(qa_sum == 0 && tw_sum > 0, "type-only backward touches the type head only at the top");
    const BertTensor *wq = bert_find_tensor(m, "bert.encoder.layer.0.attention.self.query.weight");
    for (size_t i = 0; i < wq->numel; i += wq->numel / 8) {
        double want = numeric(m, p + wq->offset + i, gates);
        CHECK(fabs(want - g[wq->offset + i]) / (1.0 + fabs(want)) < 2e-3,
              "type-only: query weight %zu: %.6g vs %.6g", i, g[wq->offset + i], want);
    }
    printf("type head backward vs central differences: worst relative error %.2e\n", worst);
    bert_free(m);
}

/* loss_type and its distillation: gradient against finite differences */
static void test_loss(void) {
    float x[B * NT], tt[B * NT], dx[B * NT], tmp[B * NT];
    int32_t gold[B] = {0, 3, 4};
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < B * NT; i++) x[i] = (float)rng_normal(&r), tt[i] = (float)rng_normal(&r);
    for (int teacher = 0; teacher < 2; teacher++) {
        const float *tp = teacher ? tt : NULL;
        float alpha = teacher ? 0.6f : 0.f;
        loss_type(dx, x, tp, gold, B, NT, 2.f, alpha);
        for (int i = 0; i < B * NT; i++) {
            float keep = x[i];
            x[i] = keep + 1e-3f;
            double up = loss_type(tmp, x, tp, gold, B, NT, 2.f, alpha);
            x[i] = keep - 1e-3f;
            double down = loss_type(tmp, x, tp, gold, B, NT, 2.f, alpha);
            x[i] = keep;
            CHECK_CLOSE(dx[i], (up - down) / 2e-3, 2e-3, "loss_type%s gradient %d",
                        teacher ? " (distilled)" : "", i);
        }
    }
    /* by hand: one row, logits 0: CE = log NT */
    float z[NT] = {0}, dz[NT];
    int32_t g1[1] = {2};
    CHECK_CLOSE(loss_type(dz, z, NULL, g1, 1, NT, 1.f, 0.f), log(5.0), 1e-6, "CE of uniform");
    CHECK_CLOSE(dz[2], 0.2 - 1.0, 1e-6, "its gradient at the gold type");
    /* distillation to itself at alpha 1: the soft loss is the entropy, its gradient 0 */
    loss_type(dz, z, z, g1, 1, NT, 2.f, 1.f);
    CHECK(fabsf(dz[0]) < 1e-7f && fabsf(dz[2]) < 1e-7f, "distilling to oneself: zero gradient");
}

static void test_checkpoint_and_prune(void) {
    BertModel *m = make_model(4, NT), *plain = make_model(4, 0), *back = NULL, *pruned = NULL;
    CHECK(m && plain, "create");
    if (!m || !plain) return;
    CHECK(bert_find_tensor(plain, "answer_type_outputs.weight") == NULL &&
          bert_num_params(m) == bert_num_params(plain) + NT * C + NT,
          "the type head exists only with num_answer_types > 0 (%zu vs %zu params)",
          bert_num_params(m), bert_num_params(plain));
    char dir[] = "/tmp/test_nq_head.XXXXXX", vocab[64], ck[64];
    if (!mkdtemp(dir)) return;
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", dir);
    snprintf(ck, sizeof ck, "%s/ckpt", dir);
    file_write_atomic(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n", 24);
    CHECK(checkpoint_save(m, ck, vocab) == QA_OK && checkpoint_load(ck, &back) == QA_OK,
          "save and load: %s", qa_last_error());
    if (back) {
        CHECK(bert_config(back)->num_answer_types == NT, "num_answer_types in config.json");
        CHECK(bert_num_params(back) == bert_num_params(m) &&
              !memcmp(bert_params(back), bert_params(m), bert_num_params(m) * sizeof(float)),
              "every parameter back, the type head included");
    }
    bert_free(back);
    /* pruned model = gated model with the pruned gates at 0, type logits included */
    uint8_t kh[L * NH] = {1, 0, 1, 1}, kf[L * F];
    float hg[L * NH] = {1, 0, 1, 1}, fg[L * F];
    for (int i = 0; i < L * F; i++) kf[i] = i % 3 != 0, fg[i] = kf[i];
    CHECK(bert_prune(m, kh, kf, &pruned) == QA_OK, "prune: %s", qa_last_error());
    if (pruned) {
        BertBatch bb = {B, T, ids, types, mask};
        BertGates g = {hg, fg};
        float want[B * NT];
        bert_forward(m, &bb, &g, 0, 0);
        memcpy(want, bert_type_logits(m), sizeof want);
        bert_forward(pruned, &bb, NULL, 0, 0);
        double worst = 0;
        for (int i = 0; i < B * NT; i++)
            worst = fmax(worst, fabs(want[i] - bert_type_logits(pruned)[i]));
        CHECK(worst < 1e-5, "pruned type logits equal the gated model's (%.2g)", worst);
        CHECK(bert_find_tensor(pruned, "answer_type_outputs.bias") != NULL, "the head is kept");
    }
    bert_free(pruned);
    bert_free(m);
    bert_free(plain);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
}

/* Training on type labels that the first real token decides; then distilling a student. */
static void test_training(void) {
    enum { N = 64, TT = 6 };
    static int32_t tid[N * TT], tty[N * TT], tmk[N * TT], st[N], en[N], at[N];
    Rng r;
    rng_seed(&r, 8);
    for (int i = 0; i < N; i++) {
        at[i] = (int32_t)rng_below(&r, NT);
        for (int t = 0; t < TT; t++) {
            tid[i * TT + t] = t == 1 ? 5 + at[i] : 10 + (int32_t)rng_below(&r, V - 10);
            tty[i * TT + t] = 0;
            tmk[i * TT + t] = 1;
        }
        st[i] = en[i] = 2;
    }
    QaData d = {N, TT, tid, tty, tmk, st, en, at};
    BertModel *m = make_model(6, NT), *student = make_model(7, NT);
    TrainOpts o;
    train_opts_init(&o);
    o.batch_size = 16;
    o.steps = 150;
    o.lr = 3e-3f;
    o.seed = 1;
    TrainStats s1 = {0}, s2 = {0};
    CHECK(train_qa(m, &d, &o, &s1) == QA_OK, "train: %s", qa_last_error());
    float *type = malloc(sizeof(float) * N * NT), *sl = malloc(sizeof(float) * N * TT),
          *el = malloc(sizeof(float) * N * TT);
    CHECK(qa_predict_typed(m, &d, 16, NULL, sl, el, type) == QA_OK, "predict");
    int right = 0;
    for (int i = 0; i < N; i++) {
        int best = 0;
        for (int k = 1; k < NT; k++)
            if (type[i * NT + k] > type[i * NT + best]) best = k;
        right += best == at[i];
    }
    CHECK(right >= N * 9 / 10, "the type head learnt the labels: %d of %d right (loss %.3f)",
          right, N, s1.final_loss);
    o.teacher = m;
    o.steps = 60;
    CHECK(train_qa(student, &d, &o, &s2) == QA_OK && isfinite(s2.final_loss),
          "distillation with type logits: %s", qa_last_error());
    BertModel *plain = make_model(1, 0);
    o.teacher = plain;
    CHECK(train_qa(student, &d, &o, &s2) == QA_ERR && strstr(qa_last_error(), "answer types"),
          "a teacher without the head is refused: %s", qa_last_error());
    printf("type accuracy after %ld steps: %d/%d; distilled student loss %.3f\n", s1.steps, right,
           N, s2.final_loss);
    free(type);
    free(sl);
    free(el);
    bert_free(plain);
    bert_free(student);
    bert_free(m);
}

int main(void) {
    test_backward();
    test_loss();
    test_checkpoint_and_prune();
    test_training();
    return TEST_DONE();
}
