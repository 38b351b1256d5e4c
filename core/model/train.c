/* core/model/train.c: the training loop and batched inference (see train.h). */
#include "core/model/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util/error.h"
#include "core/model/loss.h"
#include "core/model/optim.h"
#include "core/util/rng.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int qa_batch_fill(QaBatch *b, const QaData *d, const int *idx, int B) {
    int Tb = 1;
    for (int i = 0; i < B; i++) {
        const int32_t *mk = d->mask + (long)idx[i] * d->T;
        for (int t = d->T - 1; t >= Tb; t--)
            if (mk[t]) {
                Tb = t + 1;
                break;
            }
    }
    if (B * Tb > b->cap_tokens || B > b->cap_rows) {
        int tokens = B * d->T, rows = B;
        int32_t *mem = malloc(sizeof(int32_t) * (3 * (size_t)tokens + 3 * (size_t)rows));
        if (!mem) return qa_error("train: out of memory for a batch of %d windows", B);
        free(b->ids);
        b->ids = mem;
        b->cap_tokens = tokens;
        b->cap_rows = rows;
    }
    b->types = b->ids + b->cap_tokens;
    b->mask = b->types + b->cap_tokens;
    b->start = b->mask + b->cap_tokens;
    b->end = b->start + b->cap_rows;
    b->answer_type = b->end + b->cap_rows;
    b->B = B;
    b->Tb = Tb;
    for (int i = 0; i < B; i++) {
        long src = (long)idx[i] * d->T, dst = (long)i * Tb;
        memcpy(b->ids + dst, d->ids + src, sizeof(int32_t) * Tb);
        memcpy(b->types + dst, d->types + src, sizeof(int32_t) * Tb);
        memcpy(b->mask + dst, d->mask + src, sizeof(int32_t) * Tb);
        if (d->start) {
            /* a gold position cut off by trimming cannot happen: gold tokens are real */
            b->start[i] = d->start[idx[i]] < Tb ? d->start[idx[i]] : 0;
            b->end[i] = d->end[idx[i]] < Tb ? d->end[idx[i]] : 0;
        }
        b->answer_type[i] = d->answer_type ? d->answer_type[idx[i]] : 0;
    }
    return QA_OK;
}

void qa_batch_free(QaBatch *b) {
    free(b->ids);
    memset(b, 0, sizeof *b);
}

const char *const FINETUNE_NAMES[FINETUNE_N] = {"none", "standard", "distill"};

int finetune_parse(const char *name, FinetuneMode *out) {
    for (int i = 0; i < FINETUNE_N; i++)
        if (!strcmp(name, FINETUNE_NAMES[i])) {
            *out = (FinetuneMode)i;
            return QA_OK;
        }
    return qa_error("finetune '%s' is not one of %s", name, FINETUNE_NAMES_TEXT);
}

const char *finetune_name(FinetuneMode m) { return FINETUNE_NAMES[m]; }

void train_opts_init(TrainOpts *o) {
    memset(o, 0, sizeof *o);
    o->batch_size = 32;
    o->steps = 1000;
    o->lr = 1e-4f;
    o->warmup = 0.1f;
    o->weight_decay = 0.01f;
    o->clip = 1.0f;
    o->distill_alpha = 0.5f;
    o->distill_temp = 2.0f;
}

static void shuffle(int *idx, int n, Rng *r) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* Real length of every window (last unmasked position + 1). */
static int *window_lengths(const QaData *d) {
    int *len = malloc(sizeof(int) * (size_t)(d->n ? d->n : 1));
    if (!len) return NULL;
    for (int i = 0; i < d->n; i++) {
        const int32_t *mk = d->mask + (long)i * d->T;
        int t = d->T;
        while (t > 1 && !mk[t - 1]) t--;
        len[i] = t;
    }
    return len;
}

static const int *sort_len; /* qsort has no context argument; set just around the call */

static int by_length(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return sort_len[x] != sort_len[y] ? sort_len[x] - sort_len[y] : x - y;
}

#define BUCKET_BATCHES 50

/* One epoch's order of windows: shuffled, then sorted by length inside chunks of
 * BUCKET_BATCHES batches so that a batch holds windows of similar length (less padding, as
 * each batch is trimmed to its longest window), then the batches shuffled. tmp: [n / B + n]. */
static void epoch_order(int *order, int *tmp, int n, int B, const int *len, Rng *r) {
    shuffle(order, n, r);
    int chunk = B * BUCKET_BATCHES;
    sort_len = len;
    for (int c = 0; c < n; c += chunk)
        qsort(order + c, (size_t)(n - c < chunk ? n - c : chunk), sizeof(int), by_length);
    sort_len = NULL;
    int nb = n / B;
    int *batches = tmp;
    for (int b = 0; b < nb; b++) batches[b] = b;
    shuffle(batches, nb, r);
    int *out = tmp + nb;
    for (int b = 0; b < nb; b++) memcpy(out + (long)b * B, order + (long)batches[b] * B, sizeof(int) * B);
    memcpy(order, out, sizeof(int) * (size_t)nb * B);
}

int train_qa(BertModel *m, const QaData *d, const TrainOpts *o, TrainStats *stats) {
    int rc = QA_ERR, B = o->batch_size < d->n ? o->batch_size : d->n;
    int nh = bert_total_heads(bert_config(m)), nf = bert_total_ffn(bert_config(m));
    const TrainHooks *hk = o->hooks;
    int want_gate_grads = hk && hk->after_backward;
    int NT = d->answer_type ? bert_config(m)->num_answer_types : 0; /* 0: no type loss */
    int teacher_nt = o->teacher ? bert_config(o->teacher)->num_answer_types : 0;
    if (NT && o->teacher && teacher_nt != NT) {
        qa_error("train: the teacher has %d answer types, the student %d", teacher_nt, NT);
        return QA_ERR;
    }
    BertPrecision was = bert_train_precision(m);
    AdamW *opt = NULL;
    QaBatch batch = {0};
    /* order [n], then epoch_order scratch: batch ids [n / B] and the new order [n] */
    int *order = malloc(sizeof(int) * (size_t)(3 * d->n + 2)), *tmp = order ? order + d->n + 1 : NULL;
    int *len = window_lengths(d);
    float *grad = malloc(sizeof(float) * (2 * (size_t)B * d->T + (size_t)nh + (size_t)nf +
                                          (size_t)B * NT + 2));
    if (!order || !grad || !len) {
        qa_error("train: out of memory");
        goto cleanup;
    }
    float *ds = grad, *de = ds + (size_t)B * d->T, *dh = de + (size_t)B * d->T, *dfg = dh + nh;
    float *dty = NT ? dfg + nf : NULL;
    if (d->n < 1) {
        qa_error("train: no training windows");
        goto cleanup;
    }
    if (adamw_create(m, &(AdamWOpts){0.9f, 0.999f, 1e-8f, o->weight_decay}, &opt)) goto cleanup;
    if (o->precision != was && bert_set_train_precision(m, o->precision)) goto cleanup;
    Rng r;
    rng_seed(&r, o->seed);
    for (int i = 0; i < d->n; i++) order[i] = i;
    epoch_order(order, tmp, d->n, B, len, &r);
    long warm = (long)(o->warmup * (float)o->steps), pos = 0;
    double t0 = now_seconds(), last_report = t0, run_loss = 0.0;
    for (long step = 0; step < o->steps; step++) {
        if (pos + B > d->n) {
            epoch_order(order, tmp, d->n, B, len, &r);
            pos = 0;
        }
        const int *idx = order + pos;
        pos += B;
        if (qa_batch_fill(&batch, d, idx, B)) goto cleanup;
        BertGates gates = {NULL, NULL};
        if (hk && hk->before_step && hk->before_step(hk->ctx, step, &gates)) goto cleanup;
        BertBatch bb = {B, batch.Tb, batch.ids, batch.types, batch.mask};
        if (bert_forward(m, &bb, &gates, 1, rng_hash(o->seed, 0x7ea, (uint64_t)step)))
            goto cleanup;
        const float *sl = bert_start_logits(m), *el = bert_end_logits(m);
        float loss;
        if (o->teacher) {
            /* the two models have separate workspaces: both sets of logits stay valid */
            if (bert_forward(o->teacher, &bb, NULL, 0, 0)) goto cleanup;
            loss = loss_distill(ds, de, sl, el, bert_start_logits(o->teacher),
                                bert_end_logits(o->teacher), batch.start, batch.end, B, batch.Tb,
                                o->distill_temp, o->distill_alpha);
        } else {
            loss = loss_span(ds, de, sl, el, batch.start, batch.end, B, batch.Tb);
        }
        if (NT) { /* (CE start + CE end + CE type) / 3 = (2 span + type) / 3 */
            float lt = loss_type(dty, bert_type_logits(m),
                                 o->teacher ? bert_type_logits(o->teacher) : NULL,
                                 batch.answer_type, B, NT, o->distill_temp,
                                 o->teacher ? o->distill_alpha : 0.f);
            loss = (2.f * loss + lt) / 3.f;
            for (long k = 0; k < (long)B * batch.Tb; k++) ds[k] *= 2.f / 3.f, de[k] *= 2.f / 3.f;
            for (long k = 0; k < (long)B * NT; k++) dty[k] /= 3.f;
        }
        if (!isfinite(loss)) {
            qa_error("train: loss is %g at step %ld of %ld (diverged; try a lower lr)", loss,
                     step + 1, o->steps);
            goto cleanup;
        }
        bert_zero_grad(m);
        if (want_gate_grads) {
            memset(dh, 0, sizeof(float) * (size_t)nh);
            memset(dfg, 0, sizeof(float) * (size_t)nf);
        }
        if (bert_backward_typed(m, ds, de, dty, want_gate_grads ? dh : NULL,
                                want_gate_grads ? dfg : NULL, 1))
            goto cleanup;
        double norm = optim_clip_grad_norm(m, o->clip > 0 ? o->clip : INFINITY);
        if (!isfinite(norm)) {
            qa_error("train: gradient norm is %g at step %ld of %ld (diverged)", norm, step + 1,
                     o->steps);
            goto cleanup;
        }
        float lr = o->lr * optim_linear_schedule(step, warm, o->steps);
        adamw_step(opt, m, lr);
        if (want_gate_grads && hk->after_backward(hk->ctx, step, dh, dfg)) goto cleanup;
        run_loss = step == 0 ? loss : 0.98 * run_loss + 0.02 * loss;
        double now = now_seconds();
        if (o->progress && (now - last_report >= 2.0 || step + 1 == o->steps)) {
            TrainProgress p = {step + 1, o->steps, (float)run_loss, lr, now - t0};
            if (o->progress(o->progress_ctx, &p)) {
                qa_error("train: interrupted at step %ld of %ld", step + 1, o->steps);
                goto cleanup;
            }
            last_report = now;
        }
    }
    if (stats) *stats = (TrainStats){o->steps, (float)run_loss, now_seconds() - t0};
    rc = QA_OK;
cleanup:
    if (bert_train_precision(m) != was && bert_set_train_precision(m, was)) rc = QA_ERR;
    adamw_free(opt);
    qa_batch_free(&batch);
    free(order);
    free(len);
    free(grad);
    return rc;
}

int qa_predict(BertModel *m, const QaData *d, int batch_size, const BertGates *gates,
               float *start, float *end) {
    return qa_predict_typed(m, d, batch_size, gates, start, end, NULL);
}

int qa_predict_typed(BertModel *m, const QaData *d, int batch_size, const BertGates *gates,
                     float *start, float *end, float *type) {
    int NT = bert_config(m)->num_answer_types;
    QaBatch batch = {0};
    int idx[batch_size > 0 ? batch_size : 1];
    for (int i0 = 0; i0 < d->n; i0 += batch_size) {
        int B = d->n - i0 < batch_size ? d->n - i0 : batch_size;
        for (int i = 0; i < B; i++) idx[i] = i0 + i;
        if (qa_batch_fill(&batch, d, idx, B)) goto fail;
        BertBatch bb = {B, batch.Tb, batch.ids, batch.types, batch.mask};
        if (bert_forward(m, &bb, gates, 0, 0)) goto fail;
        const float *sl = bert_start_logits(m), *el = bert_end_logits(m);
        for (int i = 0; i < B; i++)
            for (int t = 0; t < d->T; t++) {
                long o = (long)(i0 + i) * d->T + t;
                start[o] = t < batch.Tb ? sl[i * batch.Tb + t] : -1e30f;
                end[o] = t < batch.Tb ? el[i * batch.Tb + t] : -1e30f;
            }
        if (type && NT)
            memcpy(type + (size_t)i0 * NT, bert_type_logits(m), sizeof(float) * (size_t)B * NT);
    }
    qa_batch_free(&batch);
    return QA_OK;
fail:
    qa_batch_free(&batch);
    return QA_ERR;
}
