/* tests/test_strategy.c: gate selection: exact counts, seeds, the hard-concrete statistics
 * and derivative, gain scores (with the type loss too on a model with the answer-type head),
 * L0 training reaching its target on a toy task, and the dense baseline's shape, FLOPs and
 * fresh weights. */
#include <math.h>
#include <string.h>

#include "core/model/bert.h"
#include "core/util/error.h"
#include "core/model/loss.h"
#include "core/model/ops.h"
#include "core/prune/strategy.h"
#include "core/model/train.h"
#include "tests/test.h"

static void test_counts_and_topk(void) {
    CHECK(strategy_keep_count(144, 0.5) == 72, "50%% of 144 heads");
    CHECK(strategy_keep_count(36864, 0.7) == 11059, "70%% of 36864 neurons keeps 11059");
    CHECK(strategy_keep_count(10, 0.0) == 10 && strategy_keep_count(10, 1.0) == 0, "bounds");
    float s[6] = {0.5f, 0.9f, 0.5f, NAN, 0.1f, 0.7f};
    uint8_t k[6];
    strategy_topk(s, 6, 3, k);
    CHECK(k[1] && k[5] && k[0] && !k[2] && !k[3] && !k[4], "top-3 with a tie: lower index wins");
    uint8_t a[1000], b[1000], c[1000];
    strategy_random(5, 1000, 300, a);
    strategy_random(5, 1000, 300, b);
    strategy_random(6, 1000, 300, c);
    int na = 0, diff = 0;
    for (int i = 0; i < 1000; i++) na += a[i], diff += a[i] != c[i];
    CHECK(na == 300 && !memcmp(a, b, sizeof a), "random: exact count, same seed same choice");
    CHECK(diff > 100, "random: another seed, another choice (%d differ)", diff);
    StrategyKind kind;
    CHECK(strategy_parse("gain", &kind) == QA_OK && kind == STRATEGY_GAIN, "parse gain");
    CHECK(strategy_parse("magnitude", &kind) == QA_ERR &&
              strstr(qa_last_error(), "'magnitude' is not one of " STRATEGY_NAMES_TEXT),
          "unknown strategy named in the error with the choices: %s", qa_last_error());
    for (int k = 0; k < STRATEGY_N; k++)
        CHECK(strategy_parse(strategy_name((StrategyKind)k), &kind) == QA_OK && (int)kind == k,
              "strategy %d parses from its name", k);
    char list[128];
    CHECK(!strcmp(test_join(STRATEGY_NAMES, STRATEGY_N, " | ", list, sizeof list),
                  STRATEGY_NAMES_TEXT),
          "STRATEGY_NAMES_TEXT says what STRATEGY_NAMES holds: '%s' vs '%s'", list,
          STRATEGY_NAMES_TEXT);
}

static void test_hard_concrete(void) {
    Rng r;
    rng_seed(&r, 1);
    int n = 200000;
    float *la = malloc(sizeof(float) * n), *z = malloc(sizeof(float) * n), *s = malloc(sizeof(float) * n);
    double worst = 0;
    for (float a = -3.f; a <= 3.f; a += 1.5f) {
        for (int i = 0; i < n; i++) la[i] = a;
        hc_sample(z, s, la, n, &r);
        int nonzero = 0, ones = 0, out = 0;
        for (int i = 0; i < n; i++) {
            nonzero += z[i] > 0.f;
            ones += z[i] == 1.f;
            out += z[i] < 0.f || z[i] > 1.f;
        }
        CHECK(out == 0, "hard-concrete samples lie in [0, 1]");
        CHECK(ones > 0 && nonzero < n, "both clamps are reached at log alpha %g", a);
        worst = fmax(worst, fabs((double)nonzero / n - hc_prob_nonzero(a)));
    }
    CHECK(worst < 0.005, "P(z != 0) matches sigmoid(log a - beta log(-gamma/zeta)) (%.4f)", worst);
    CHECK_CLOSE(hc_prob_nonzero(0.f), 1.0 / (1.0 + exp((2.0 / 3.0) * log(0.1 / 1.1))), 1e-6,
                "expected L0 at log alpha 0");
    CHECK(hc_deterministic(10.f) == 1.f && hc_deterministic(-10.f) == 0.f, "deterministic gate");
    /* dz/dlog alpha against central differences with the same noise u. */
    Rng r1, r2;
    float a0 = 0.3f, h = 1e-3f, zp, zm, sp, sm, z0, s0, g = 0.f, one = 1.f, ap = a0 + h, am = a0 - h;
    rng_seed(&r1, 9);
    r2 = r1;
    hc_sample(&z0, &s0, &a0, 1, &r1);
    Rng r3 = r2;
    hc_sample(&zp, &sp, &ap, 1, &r2);
    hc_sample(&zm, &sm, &am, 1, &r3);
    hc_backward(&g, &one, &s0, 1);
    CHECK_CLOSE(g, (zp - zm) / (2 * h), 2e-3, "hard-concrete dz/dlog alpha vs finite differences");
    free(la), free(z), free(s);
}

/* A toy task: the answer is the position of token 3 (start) and token 4 (end). */
static void make_toy(QaData *d, int n, int T, int32_t *buf) {
    int32_t *ids = buf, *types = ids + n * T, *mask = types + n * T, *st = mask + n * T, *en = st + n;
    Rng r;
    rng_seed(&r, 4);
    for (int i = 0; i < n; i++) {
        int len = T - (int)rng_below(&r, 4);
        int a = 1 + (int)rng_below(&r, (uint64_t)len - 2), b = a + 1;
        for (int t = 0; t < T; t++) {
            ids[i * T + t] = t >= len ? 0 : t == a ? 3 : t == b ? 4 : 5 + (int)rng_below(&r, 10);
            types[i * T + t] = 0;
            mask[i * T + t] = t < len;
        }
        st[i] = a;
        en[i] = b;
    }
    *d = (QaData){n, T, ids, types, mask, st, en, NULL};
}

/* The gain scores by their definition, with every derivative taken by central finite
 * differences of the loss (accumulated in double): for the same batches as
 * strategy_gain_scores draws (B windows uniformly with replacement from the seeded Rng),
 * score_i = mean_b |(L_b(g_i = 1 + h) - L_b(g_i = 1 - h)) / 2h| with every other gate at 1 and
 * no dropout, L_b = the span loss of batch b (with answer types and a type head:
 * (2 span + type) / 3, the training loss), then L2-normalised per layer. */
static void gain_reference(BertModel *m, const QaData *d, int B, int n_batches, uint64_t seed,
                           double *head_ref, double *ffn_ref) {
    const BertConfig *c = bert_config(m);
    int nh = bert_total_heads(c), nf = bert_total_ffn(c), n = nh + nf;
    const double h = 1e-2;
    float *gate = malloc(sizeof(float) * (size_t)n);
    float *ds = malloc(sizeof(float) * (size_t)B * d->T), *de = malloc(sizeof(float) * (size_t)B * d->T);
    double *score = calloc((size_t)n, sizeof(double));
    int *idx = malloc(sizeof(int) * (size_t)B);
    int NT = d->answer_type ? c->num_answer_types : 0;
    float *dty = malloc(sizeof(float) * ((size_t)B * NT + 1));
    QaBatch batch = {0};
    Rng r;
    rng_seed(&r, seed);
    for (int b = 0; b < n_batches; b++) {
        for (int i = 0; i < B; i++) idx[i] = (int)rng_below(&r, (uint64_t)d->n);
        qa_batch_fill(&batch, d, idx, B);
        BertBatch bb = {B, batch.Tb, batch.ids, batch.types, batch.mask};
        for (int k = 0; k < n; k++) {
            double loss[2];
            for (int side = 0; side < 2; side++) {
                for (int q = 0; q < n; q++) gate[q] = 1.f;
                gate[k] = (float)(1.0 + (side ? -h : h));
                BertGates g = {gate, gate + nh};
                bert_forward(m, &bb, &g, 0, 0);
                loss[side] = loss_span(ds, de, bert_start_logits(m), bert_end_logits(m),
                                       batch.start, batch.end, B, batch.Tb);
                if (NT)
                    loss[side] = (2 * loss[side] + loss_type(dty, bert_type_logits(m), NULL,
                                                             batch.answer_type, B, NT, 1.f,
                                                             0.f)) / 3;
            }
            score[k] += fabs((loss[0] - loss[1]) / (2 * h)) / n_batches;
        }
    }
    for (int l = 0; l < c->num_layers; l++) {
        BertSlice sl = bert_slice(c, l);
        double sh = 0, sf = 0;
        for (int i = 0; i < c->heads[l]; i++) sh += score[sl.head_off + i] * score[sl.head_off + i];
        for (int i = 0; i < c->ffn[l]; i++)
            sf += score[nh + sl.ffn_off + i] * score[nh + sl.ffn_off + i];
        for (int i = 0; i < c->heads[l]; i++) head_ref[sl.head_off + i] = score[sl.head_off + i] / sqrt(sh);
        for (int i = 0; i < c->ffn[l]; i++)
            ffn_ref[sl.ffn_off + i] = score[nh + sl.ffn_off + i] / sqrt(sf);
    }
    qa_batch_free(&batch);
    free(gate), free(ds), free(de), free(score), free(idx), free(dty);
}

/* Gain on a model with the answer-type head and windows with answer types (Natural
 * Questions): the scores are those of the training loss (2 span + type) / 3, and differ from
 * the span loss's alone. */
static void test_gain_typed(void) {
    BertConfig c;
    bert_config_init(&c, 16, 16, 2, 16, 4, 32);
    c.num_answer_types = 5;
    BertModel *m = NULL;
    bert_create(&c, &m);
    bert_init_random(m, 5, 0.2f);
    int n = 48, T = 12;
    int32_t *buf = malloc(sizeof(int32_t) * (3 * n * T + 3 * n));
    QaData d;
    make_toy(&d, n, T, buf);
    int32_t *types = buf + 3 * n * T + 2 * n;
    for (int i = 0; i < n; i++) types[i] = (d.start[i] + i) % 5; /* a type per window */
    QaData typed = d;
    typed.answer_type = types;
    int nh = bert_total_heads(&c), nf = bert_total_ffn(&c);
    float hs[8], fs[64], hs0[8], fs0[64];
    CHECK(strategy_gain_scores(m, &typed, NULL, 16, 3, 9, hs, fs) == QA_OK &&
              strategy_gain_scores(m, &d, NULL, 16, 3, 9, hs0, fs0) == QA_OK,
          "gain with answer types: %s", qa_last_error());
    double href[8], fref[64], worst = 0, moved = 0;
    gain_reference(m, &typed, 16, 3, 9, href, fref);
    for (int i = 0; i < nh; i++) worst = fmax(worst, fabs(hs[i] - href[i]));
    for (int i = 0; i < nf; i++) worst = fmax(worst, fabs(fs[i] - fref[i]));
    for (int i = 0; i < nh; i++) moved = fmax(moved, fabs(hs[i] - hs0[i]));
    CHECK(worst < 1e-3, "typed gain scores = |d((2 span + type) / 3)/dgate| by central "
                        "differences (worst %.2g)", worst);
    CHECK(moved > 1e-3, "the type loss changes the scores (by up to %.2g)", moved);
    free(buf);
    bert_free(m);
}

static void test_gain_and_l0(void) {
    BertConfig c;
    bert_config_init(&c, 16, 16, 2, 16, 4, 32);
    BertModel *m = NULL;
    bert_create(&c, &m);
    bert_init_random(m, 3, 0.2f);
    int n = 64, T = 12;
    int32_t *buf = malloc(sizeof(int32_t) * (3 * n * T + 2 * n));
    QaData d;
    make_toy(&d, n, T, buf);
    int nh = bert_total_heads(&c), nf = bert_total_ffn(&c);
    float hs[8], fs[64], hs2[8], fs2[64];
    CHECK(strategy_gain_scores(m, &d, NULL, 16, 4, 7, hs, fs) == QA_OK, "gain: %s", qa_last_error());
    strategy_gain_scores(m, &d, NULL, 16, 4, 7, hs2, fs2);
    CHECK(!memcmp(hs, hs2, sizeof(float) * nh) && !memcmp(fs, fs2, sizeof(float) * nf),
          "gain scores are deterministic for a seed");
    for (int l = 0; l < 2; l++) {
        double sq = 0, sf = 0;
        for (int h = 0; h < 4; h++) sq += hs[l * 4 + h] * hs[l * 4 + h];
        for (int f = 0; f < 32; f++) sf += fs[l * 32 + f] * fs[l * 32 + f];
        CHECK_CLOSE(sq, 1.0, 1e-5, "layer %d head scores have unit L2 norm", l);
        CHECK_CLOSE(sf, 1.0, 1e-5, "layer %d neuron scores have unit L2 norm", l);
    }
    CHECK(bert_config(m)->hidden_dropout == c.hidden_dropout, "gain restores dropout");
    double href[8], fref[64], worst_h = 0, worst_f = 0;
    gain_reference(m, &d, 16, 4, 7, href, fref);
    for (int i = 0; i < nh; i++) worst_h = fmax(worst_h, fabs(hs[i] - href[i]));
    for (int i = 0; i < nf; i++) worst_f = fmax(worst_f, fabs(fs[i] - fref[i]));
    printf("gain vs finite differences: worst head score difference %.2g, neuron %.2g\n",
           worst_h, worst_f);
    CHECK(worst_h < 1e-3 && worst_f < 1e-3,
          "gain scores = mean |dL/dgate| by central differences, normalised per layer (worst "
          "%.2g heads, %.2g neurons)", worst_h, worst_f);

    /* strategy_select: one-shot gain = the top-k of these scores; iterative gain meets the
     * target exactly and re-scores with removed gates at 0 (a different choice here) */
    uint8_t k1[8 + 64], k4[8 + 64], ref[8 + 64];
    BertModel *src = NULL;
    StrategyOpts so = {.kind = STRATEGY_GAIN, .head_sparsity = 0.5, .ffn_sparsity = 0.75,
                       .seed = 7, .gain_batches = 4, .batch_size = 16, .gain_steps = 1};
    CHECK(strategy_select(m, &d, &so, k1, &src, NULL) == QA_OK && !src, "one-shot gain");
    strategy_topk(hs, nh, 4, ref);
    strategy_topk(fs, nf, 16, ref + nh);
    CHECK(!memcmp(k1, ref, (size_t)(nh + nf)), "one-shot gain keeps the top-k of its scores");
    so.gain_steps = 4;
    CHECK(strategy_select(m, &d, &so, k4, &src, NULL) == QA_OK, "iterative gain: %s",
          qa_last_error());
    int n_h = 0, n_f = 0;
    for (int i = 0; i < nh; i++) n_h += k4[i];
    for (int i = 0; i < nf; i++) n_f += k4[nh + i];
    CHECK(n_h == 4 && n_f == 16, "iterative gain meets the target exactly (%d heads, %d ffn)",
          n_h, n_f);
    CHECK(memcmp(k1, k4, (size_t)(nh + nf)) != 0, "re-scoring changes the choice on this model");

    TrainOpts t;
    train_opts_init(&t);
    t.batch_size = 16;
    t.lr = 1e-3f;
    t.seed = 1;
    L0Opts o;
    l0_opts_init(&o);
    o.steps = 300;
    L0Stats stats;
    float la_h[8], la_f[64];
    CHECK(l0_train(m, &d, &t, &o, 0.5, 0.7, la_h, la_f, &stats) == QA_OK, "l0: %s",
          qa_last_error());
    printf("l0 toy: expected sparsity heads %.3f (target 0.5), ffn %.3f (target 0.7); "
           "lambda heads %.3g %.3g\n",
           stats.exp_head_sparsity, stats.exp_ffn_sparsity, stats.lambda_head[0],
           stats.lambda_head[1]);
    /* 8 heads: one head is 0.125 of sparsity, so "near" is within about one head. */
    CHECK(fabs(stats.exp_head_sparsity - 0.5) < 0.15, "L0 expected head sparsity near target");
    CHECK(fabs(stats.exp_ffn_sparsity - 0.7) < 0.1, "L0 expected FFN sparsity near target");
    uint8_t kh[8], kf[64];
    strategy_topk(la_h, nh, strategy_keep_count(nh, 0.5), kh);
    strategy_topk(la_f, nf, strategy_keep_count(nf, 0.7), kf);
    int ch = 0, cf = 0;
    for (int i = 0; i < nh; i++) ch += kh[i];
    for (int i = 0; i < nf; i++) cf += kf[i];
    CHECK(ch == 4 && cf == 19, "top-k of log alpha meets the targets exactly (%d, %d)", ch, cf);
    bert_free(m);
    free(buf);
}

/* dense: every layer keeps round(n x (1 - sparsity)) heads and neurons, the student's FLOPs
 * are those of that uniform shape (and, when the totals agree, of any pruning to the target),
 * its layers are fresh and its embeddings the teacher's. */
static void test_dense(void) {
    BertConfig c;
    bert_config_init(&c, 16, 16, 3, 32, 8, 512);
    BertModel *teacher = NULL, *student = NULL;
    CHECK(bert_create(&c, &teacher) == QA_OK, "teacher");
    bert_init_random(teacher, 5, 0.2f);
    int nh = bert_total_heads(&c), nf = bert_total_ffn(&c);
    uint8_t *keep = malloc((size_t)(nh + nf));
    StrategyOpts so = {.kind = STRATEGY_DENSE, .head_sparsity = 0.5, .ffn_sparsity = 0.7,
                       .seed = 3};
    BertModel *src = (BertModel *)1;
    CHECK(strategy_select(teacher, NULL, &so, keep, &src, NULL) == QA_OK && !src,
          "dense selects without data and returns no source model");
    CHECK(bert_prune(teacher, keep, keep + nh, &student) == QA_OK, "cut to the dense shape");
    const BertConfig *sc = bert_config(student);
    int uniform = 1;
    for (int l = 0; l < 3; l++) uniform &= sc->heads[l] == 4 && sc->ffn[l] == 154;
    CHECK(uniform, "every layer has round(8 x 0.5) = 4 heads and round(512 x 0.3) = 154 neurons");
    BertConfig want;
    bert_config_init(&want, 16, 16, 3, 32, 8, 512);
    for (int l = 0; l < 3; l++) want.heads[l] = 4, want.ffn[l] = 154;
    CHECK(bert_forward_flops(sc, 1, 16) == bert_forward_flops(&want, 1, 16),
          "the student's FLOPs are the uniform shape's (%.6g vs %.6g)",
          bert_forward_flops(sc, 1, 16), bert_forward_flops(&want, 1, 16));
    /* a pruning to the same totals (12 heads, 462 neurons) spread unevenly costs the same */
    BertConfig ragged = want;
    ragged.heads[0] = 8, ragged.heads[1] = 4, ragged.heads[2] = 0;
    ragged.ffn[0] = 300, ragged.ffn[1] = 100, ragged.ffn[2] = 62;
    CHECK(bert_forward_flops(&ragged, 1, 16) == bert_forward_flops(sc, 1, 16),
          "FLOPs depend on the totals only: equal to a ragged pruning of the same totals");
    CHECK(strategy_dense_init(student, teacher, 3) == QA_OK, "dense init: %s", qa_last_error());
    int emb_same = 1, layers_differ = 0, n_emb = 0;
    for (int i = 0; i < bert_num_tensors(student); i++) {
        const BertTensor *t = bert_tensor(student, i);
        const BertTensor *f = bert_find_tensor(teacher, t->name);
        const float *a = bert_params(student) + t->offset, *b = bert_params(teacher) + f->offset;
        if (t->layer < 0 && strstr(t->name, "embeddings")) {
            emb_same &= !memcmp(a, b, sizeof(float) * t->numel);
            n_emb++;
        } else if (t->ndim == 2) {
            /* a kept row of Q, W1, ... would equal the teacher's first rows if copied */
            layers_differ += memcmp(a, b, sizeof(float) * (size_t)t->shape[1]) != 0;
        }
    }
    CHECK(n_emb == 5 && emb_same, "the 5 embedding tensors are the teacher's (%d)", n_emb);
    CHECK(layers_differ == 3 * 6 + 1, "every weight matrix of the layers and the QA head is "
          "fresh (%d of 19 differ)", layers_differ);
    const BertWeights *w = bert_weights(student);
    double sq = 0;
    int n = sc->ffn[0] * 32;
    for (int i = 0; i < n; i++) sq += (double)w->layer[0].f1w[i] * w->layer[0].f1w[i];
    double a = sqrt(6.0 / (154 + 32));
    CHECK_CLOSE(sqrt(sq / n), a / sqrt(3.0), 0.1 * a,
                "W1 is Xavier-initialised for its own shape [154, 32] (RMS %.4f, a/sqrt 3 = %.4f)",
                sqrt(sq / n), a / sqrt(3.0));
    free(keep);
    bert_free(student);
    bert_free(teacher);
}

int main(void) {
    ops_set_threads(2);
    test_dense();
    test_counts_and_topk();
    test_hard_concrete();
    test_gain_and_l0();
    test_gain_typed();
    return TEST_DONE();
}
