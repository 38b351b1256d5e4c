/* core/prune/l0.c: hard-concrete gates and their joint training (see l0.h). */
#include "core/prune/l0.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/optim.h"
#include "core/util/error.h"

#define LOG_ALPHA_MIN -4.6051702f
#define LOG_ALPHA_MAX 4.6051702f

static float sigmoidf(float x) { return 1.f / (1.f + expf(-x)); }

void hc_sample(float *z, float *s, const float *log_alpha, int n, Rng *r) {
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(r);
        u = u < 1e-6 ? 1e-6 : u > 1 - 1e-6 ? 1 - 1e-6 : u;
        s[i] = sigmoidf((float)(log(u) - log1p(-u) + log_alpha[i]) / HC_BETA);
        float sbar = s[i] * (HC_ZETA - HC_GAMMA) + HC_GAMMA;
        z[i] = sbar < 0.f ? 0.f : sbar > 1.f ? 1.f : sbar;
    }
}

/* Forward: z = clamp(s (zeta - gamma) + gamma), s = sigmoid((noise + log_alpha) / beta).
 * dz/dlog_alpha = (zeta - gamma) s (1 - s) / beta inside the clamp, 0 outside. */
void hc_backward(float *dlog_alpha, const float *dz, const float *s, int n) {
    for (int i = 0; i < n; i++) {
        float sbar = s[i] * (HC_ZETA - HC_GAMMA) + HC_GAMMA;
        if (sbar > 0.f && sbar < 1.f)
            dlog_alpha[i] += dz[i] * (HC_ZETA - HC_GAMMA) * s[i] * (1.f - s[i]) / HC_BETA;
    }
}

float hc_prob_nonzero(float log_alpha) {
    return sigmoidf(log_alpha - HC_BETA * logf(-HC_GAMMA / HC_ZETA));
}

float hc_deterministic(float log_alpha) {
    float z = sigmoidf(log_alpha) * (HC_ZETA - HC_GAMMA) + HC_GAMMA;
    return z < 0.f ? 0.f : z > 1.f ? 1.f : z;
}

void l0_opts_init(L0Opts *o) {
    o->steps = 1000;
    o->lr_log_alpha = 0.1f;
    o->lr_lambda = 0.1f;
    o->target_warmup = 0.5f;
    o->init_drop = 0.3f;
}

/* State of the joint training, shared by the two hooks. One "group" is the heads, the
 * other the neurons: each has log alpha, Adam moments, its sample and its multipliers. */
typedef struct {
    int n;
    float *log_alpha, *m, *v, *z, *s, *grad;
    float lambda[2];
    double target;
} Group;

typedef struct {
    Group g[2];
    const L0Opts *o;
    Rng rng;
    long t;
} L0State;

static int group_init(Group *g, int n, double target, float init_la) {
    g->n = n;
    g->log_alpha = calloc(6 * (size_t)(n ? n : 1), sizeof(float));
    if (!g->log_alpha) return qa_error("l0: out of memory");
    g->m = g->log_alpha + n;
    g->v = g->m + n;
    g->z = g->v + n;
    g->s = g->z + n;
    g->grad = g->s + n;
    for (int i = 0; i < n; i++) g->log_alpha[i] = init_la;
    g->target = target;
    return QA_OK;
}

static double expected_sparsity(const Group *g) {
    double kept = 0;
    for (int i = 0; i < g->n; i++) kept += hc_prob_nonzero(g->log_alpha[i]);
    return g->n ? 1.0 - kept / g->n : 0.0;
}

static int l0_before(void *ctx, long step, BertGates *gates) {
    L0State *st = ctx;
    for (int k = 0; k < 2; k++) hc_sample(st->g[k].z, st->g[k].s, st->g[k].log_alpha, st->g[k].n, &st->rng);
    gates->head = st->g[0].z;
    gates->ffn = st->g[1].z;
    (void)step;
    return QA_OK;
}

/* Lagrangian (CoFi): L = lambda1 (S - t) + lambda2 (S - t)^2 with S the expected sparsity and t
 * the current target; log alpha descends on task loss + L, the multipliers ascend on L. */
static int l0_after(void *ctx, long step, const float *dhead, const float *dffn) {
    L0State *st = ctx;
    const L0Opts *o = st->o;
    st->t++;
    double ramp = o->target_warmup > 0 ? (double)(step + 1) / (o->target_warmup * o->steps) : 1.0;
    if (ramp > 1.0) ramp = 1.0;
    for (int k = 0; k < 2; k++) {
        Group *g = &st->g[k];
        if (!g->n) continue;
        double target = g->target * ramp, S = expected_sparsity(g), gap = S - target;
        memset(g->grad, 0, sizeof(float) * (size_t)g->n);
        hc_backward(g->grad, k ? dffn : dhead, g->s, g->n);
        double coef = g->lambda[0] + 2.0 * g->lambda[1] * gap;
        for (int i = 0; i < g->n; i++) {
            float p = hc_prob_nonzero(g->log_alpha[i]);
            /* dS/dlog_alpha_i = -p (1 - p) / n */
            g->grad[i] += (float)(coef * -(p * (1 - p)) / g->n);
        }
        optim_adam_update(g->log_alpha, g->grad, g->m, g->v, g->n, o->lr_log_alpha, 0.9f,
                          0.999f, 1e-8f, st->t, 1.f);
        /* Bounded as in Louizos et al.'s and CoFi's code (log 1e-2 .. log 1e2): a gate driven
         * far below stops feeling the penalty (p (1 - p) -> 0) and cannot return. */
        for (int i = 0; i < g->n; i++)
            g->log_alpha[i] = fminf(fmaxf(g->log_alpha[i], LOG_ALPHA_MIN), LOG_ALPHA_MAX);
        g->lambda[0] += (float)(o->lr_lambda * gap);
        g->lambda[1] += (float)(o->lr_lambda * gap * gap);
    }
    return QA_OK;
}

int l0_train(BertModel *m, const QaData *d, const TrainOpts *train, const L0Opts *o,
                      double head_sparsity, double ffn_sparsity, float *head_score,
                      float *ffn_score, L0Stats *stats) {
    const BertConfig *c = bert_config(m);
    L0State st = {.o = o};
    rng_seed(&st.rng, train->seed ^ 0x10);
    float la = logf((1.f - o->init_drop) / o->init_drop);
    int rc = QA_ERR;
    if (group_init(&st.g[0], bert_total_heads(c), head_sparsity, la) ||
        group_init(&st.g[1], bert_total_ffn(c), ffn_sparsity, la))
        goto cleanup;
    TrainHooks hooks = {l0_before, l0_after, &st};
    TrainOpts t = *train;
    t.hooks = &hooks;
    t.steps = o->steps;
    if (train_qa(m, d, &t, NULL)) goto cleanup;
    memcpy(head_score, st.g[0].log_alpha, sizeof(float) * (size_t)st.g[0].n);
    memcpy(ffn_score, st.g[1].log_alpha, sizeof(float) * (size_t)st.g[1].n);
    if (stats) {
        stats->exp_head_sparsity = (float)expected_sparsity(&st.g[0]);
        stats->exp_ffn_sparsity = (float)expected_sparsity(&st.g[1]);
        memcpy(stats->lambda_head, st.g[0].lambda, sizeof stats->lambda_head);
        memcpy(stats->lambda_ffn, st.g[1].lambda, sizeof stats->lambda_ffn);
    }
    rc = QA_OK;
cleanup:
    free(st.g[0].log_alpha);
    free(st.g[1].log_alpha);
    return rc;
}
