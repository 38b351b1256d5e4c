/* sweep/prune.c: one pruning point (prune_run, see pipeline.h), as its stages:
 *   load      the teacher, its tokenizer and feature settings, the training windows (mapped
 *             from the sweep's cache when there is one) and the dev split;
 *   teacher   the teacher's dev scores (from its qaprune.json when made on this dev file);
 *   choose    the strategy's keep flags (core/prune/strategy.h);
 *   remove    physical pruning, and the pruned model's scores (dense: the teacher cut to the
 *             uniform shape, then fresh weights but the teacher's embeddings);
 *   finetune  none, the gold loss, or distillation from the teacher;
 *   score     the final scores and predictions;
 *   save      the pruned checkpoint, predictions.json, na_prob.json, eval.json, qaprune.json.
 * On Natural Questions data (DataPaths.nq) the windows are BERT-joint's with answer types
 * (the training ones down-sampled and cached like SQuAD's), the strategies and fine-tuning
 * train the type head too, and every score is the official NQ metric's: predictions.json in
 * the NQ format, eval.json with nq_eval.py's keys, no na_prob.json. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/checkpoint.h"
#include "core/model/gemm.h"
#include "core/model/latency.h"
#include "core/model/ops.h"
#include "core/prune/strategy.h"
#include "core/qa/qa.h"
#include "core/qa/windows.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "core/util/hash.h"
#include "sweep/pipeline.h"
#include "sweep/pipeline_private.h"
#include "sweep/progress.h"

/* Everything one point holds while it runs; prune_work_free releases it. */
typedef struct {
    const PruneSpec *spec;
    const char *teacher_dir;
    const DataPaths *data;
    StrategyKind kind;
    FinetuneMode mode;
    FeatureOpts fo;
    Tokenizer *tok;          /* the teacher's tokenizer files */
    BertModel *teacher;
    BertModel *source; /* l0: the jointly trained copy that is pruned; NULL otherwise */
    BertModel *pruned;
    QaData train;            /* the training windows: a view into train_map or train_split */
    WindowsMap *train_map;
    QaSplit train_split, dev;
    NqTokenizer nqt;         /* NQ data: tok behind the NQ windows' interface */
    NqSplit nq_train, nq_dev; /* NQ data: the windows (nq_dev with its annotations) */
    NqPredictions *nq_pred;  /* NQ data: the final predictions */
    uint8_t *keep;           /* [total heads + total ffn] */
    Predictions *pred;       /* the final predictions */
    PruneResult *res;
    const char *out_dir;     /* NULL: save nothing */
} PruneWork;

static void prune_work_free(PruneWork *w) {
    windows_unmap(w->train_map);
    qa_split_free(&w->train_split);
    qa_split_free(&w->dev);
    nq_split_free(&w->nq_train);
    nq_split_free(&w->nq_dev);
    nq_predictions_free(w->nq_pred);
    tokenizer_free(w->tok);
    bert_free(w->teacher);
    bert_free(w->source);
    bert_free(w->pruned);
    free(w->keep);
    predictions_free(w->pred);
}

/* ---------------------------------------------------------------- load */

/* Builds the training windows (or maps them from data->windows_dir). With the cache set and
 * no file for their content key yet, the built windows are written there for later points. */
static int load_train_windows(PruneWork *w) {
    const DataPaths *d = w->data;
    char key[HASH_HEX], path[4300];
    /* NQ: a fixed seed picks the answerless windows kept, so every point of a sweep trains
     * on the same windows */
    NqWindowOpts nw = pipeline_nq_window_opts(&w->fo, d, 1, 1);
    if (*d->windows_dir) {
        if (d->nq ? windows_key_nq(d->train, w->tok, &nw, key)
                  : windows_key(d->train, w->tok, &w->fo, key))
            return QA_ERR;
        snprintf(path, sizeof path, "%s/windows-%s.bin", d->windows_dir, key);
        if (file_exists(path)) return windows_map(path, key, &w->train_map, &w->train);
    }
    progress_update("prune: tokenizing %s", d->train);
    if (d->nq) {
        if (pipeline_load_nq(d->train, &w->nqt, &nw, 0, &w->nq_train)) return QA_ERR;
        w->train = w->nq_train.data;
    } else {
        if (qa_split_load(d->train, w->tok, &w->fo, &w->train_split)) return QA_ERR;
        w->train = w->train_split.data;
    }
    if (*d->windows_dir && (file_mkdirs(d->windows_dir) || windows_write(path, &w->train, key)))
        return QA_ERR;
    return QA_OK;
}

static int stage_load(PruneWork *w) {
    if (prune_spec_check(w->spec, "prune")) return QA_ERR;
    strategy_parse(w->spec->strategy, &w->kind);
    finetune_parse(w->spec->finetune, &w->mode);
    if (model_feature_opts(w->teacher_dir, &w->fo) ||
        checkpoint_load(w->teacher_dir, &w->teacher) ||
        bert_check_seq_len(bert_config(w->teacher), w->fo.max_seq_len, w->teacher_dir) ||
        tokenizer_load_dir(w->teacher_dir, &w->tok) ||
        (w->data->nq && tokenizer_check_special(w->tok))) /* what NQ windows need */
        return QA_ERR;
    w->nqt = nq_tokenizer_of(w->tok);
    NqWindowOpts dw = pipeline_nq_window_opts(&w->fo, w->data, 0, 0);
    if (load_train_windows(w) ||
        (w->data->nq ? pipeline_load_nq(w->data->dev, &w->nqt, &dw, 1, &w->nq_dev)
                     : qa_split_load(w->data->dev, w->tok, &w->fo, &w->dev)))
        return QA_ERR;
    w->res->nq = w->data->nq;
    const BertConfig *tc = bert_config(w->teacher);
    int nh = bert_total_heads(tc), nf = bert_total_ffn(tc);
    w->res->heads_total = nh;
    w->res->ffn_total = nf;
    w->res->teacher_params = bert_num_params(w->teacher);
    w->res->teacher_flops = bert_forward_flops(tc, 1, w->fo.max_seq_len);
    w->keep = malloc((size_t)(nh + nf + 1));
    if (!w->keep) return qa_error("prune: out of memory");
    return QA_OK;
}

/* Scores m on the dev split: SQuAD's metric, or NQ's (into *nq, with *s its SquadScores
 * view). keep: the predictions go to w->pred or w->nq_pred. */
static int evaluate(PruneWork *w, BertModel *m, SquadScores *s, NqScores *nq, int keep) {
    if (!w->data->nq)
        return qa_evaluate(m, &w->dev, w->spec->eval_batch, NULL, NULL, s, keep ? &w->pred : NULL);
    if (nq_split_evaluate(m, &w->nq_dev, w->spec->eval_batch, NULL, nq, keep ? &w->nq_pred : NULL))
        return QA_ERR;
    pipeline_nq_squad_view(nq, s);
    return QA_OK;
}

/* ---------------------------------------------------------------- teacher */

/* The teacher's dev scores from its qaprune.json when they were computed on this very dev
 * file (same bytes); QA_ERR (no message needed) otherwise. */
static int cached_teacher_scores(const char *teacher_dir, const DataPaths *data, PruneResult *r) {
    cJSON *meta = pipeline_read_meta(teacher_dir);
    const cJSON *h = meta ? cJSON_GetObjectItem(meta, "dev_hash") : NULL;
    const cJSON *dev = meta ? cJSON_GetObjectItem(meta, "dev") : NULL;
    const cJSON *fmt = meta ? cJSON_GetObjectItem(meta, "data_format") : NULL;
    int nq_meta = cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "nq");
    char want[HASH_HEX];
    int rc = QA_ERR;
    if (cJSON_IsString(h) && dev && nq_meta == data->nq && hash_file(data->dev, want) == QA_OK &&
        !strcmp(want, h->valuestring)) {
        if (data->nq) {
            pipeline_nq_scores_from_json(dev, &r->nq_teacher);
            pipeline_nq_squad_view(&r->nq_teacher, &r->teacher);
        } else {
            pipeline_scores_from_json(dev, &r->teacher);
        }
        rc = QA_OK;
    }
    cJSON_Delete(meta);
    return rc;
}

/* dir/teacher-KEY.json: the teacher's dev scores, keyed by the contents of its weights,
 * configuration and tokenizer files, the dev file and the feature settings. */
static int teacher_scores_path(const PruneWork *w, char *path, size_t cap) {
    char f[4300], h[3][HASH_HEX], key[HASH_HEX], text[1024];
    const char *names[2] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++)
        if (path_join(f, sizeof f, w->teacher_dir, names[i]) || hash_file(f, h[i]))
            return QA_ERR;
    if (hash_file(w->data->dev, h[2])) return QA_ERR;
    int k = snprintf(text, sizeof text, "qaprune teacher scores v1 %s %s %s %d %d %d%s", h[0],
                     h[1], h[2], w->fo.max_seq_len, w->fo.doc_stride, w->fo.max_query_len,
                     w->data->nq ? " nq" : "");
    for (const char *const *t = tokenizer_files(w->tok); *t && k < (int)sizeof text; t++) {
        char th[HASH_HEX];
        if (hash_file(*t, th)) return QA_ERR;
        k += snprintf(text + k, sizeof text - (size_t)k, " %s", th);
    }
    hash_bytes(text, strlen(text), key);
    snprintf(path, cap, "%s/teacher-%s.json", w->data->windows_dir, key);
    return QA_OK;
}

/* The teacher's dev scores: from its qaprune.json when made on this dev file, else from the
 * sweep's cache, else computed (and cached when there is a cache). */
static int stage_teacher(PruneWork *w) {
    if (cached_teacher_scores(w->teacher_dir, w->data, w->res) == QA_OK) return QA_OK;
    char path[4400] = "", *text = NULL;
    size_t len;
    if (*w->data->windows_dir && teacher_scores_path(w, path, sizeof path)) return QA_ERR;
    if (*path && file_exists(path) && file_read(path, 1 << 16, &text, &len) == QA_OK) {
        cJSON *j = cJSON_Parse(text);
        free(text);
        if (cJSON_IsObject(j) && w->data->nq &&
            cJSON_IsNumber(cJSON_GetObjectItem(j, "short-best-threshold-f1"))) {
            pipeline_nq_scores_from_json(j, &w->res->nq_teacher);
            pipeline_nq_squad_view(&w->res->nq_teacher, &w->res->teacher);
            cJSON_Delete(j);
            return QA_OK;
        }
        if (cJSON_IsObject(j) && !w->data->nq && cJSON_IsNumber(cJSON_GetObjectItem(j, "f1"))) {
            pipeline_scores_from_json(j, &w->res->teacher);
            cJSON_Delete(j);
            return QA_OK;
        }
        cJSON_Delete(j);
    }
    progress_update("prune: scoring the teacher on the dev set");
    if (evaluate(w, w->teacher, &w->res->teacher, &w->res->nq_teacher, 0)) return QA_ERR;
    if (!*path) return QA_OK;
    char *sj = w->data->nq ? nq_scores_json(&w->res->nq_teacher)
                           : squad_scores_json(&w->res->teacher);
    int rc = !sj || file_mkdirs(w->data->windows_dir) || file_write_atomic(path, sj, strlen(sj));
    free(sj);
    return rc ? QA_ERR : QA_OK;
}

int prune_prepare(const char *teacher_dir, const DataPaths *data, int eval_batch) {
    PruneSpec spec;
    prune_spec_default(&spec);
    spec.eval_batch = eval_batch;
    PruneResult res;
    memset(&res, 0, sizeof res);
    PruneWork w = {.spec = &spec, .teacher_dir = teacher_dir, .data = data, .res = &res};
    int rc = stage_load(&w) || stage_teacher(&w) ? QA_ERR : QA_OK;
    progress_done();
    prune_work_free(&w);
    return rc;
}

/* ---------------------------------------------------------------- choose, remove */

/* The optimiser settings of l0's joint training and of fine-tuning. */
static void train_opts(const PruneSpec *spec, TrainOpts *to) {
    train_opts_init(to);
    to->batch_size = spec->batch_size;
    to->lr = (float)spec->ft_lr;
    to->seed = (uint64_t)spec->seed;
    bert_precision_parse(spec->train_precision, &to->precision); /* checked by the spec */
    to->progress = pipeline_on_progress;
}

static int stage_choose(PruneWork *w) {
    const PruneSpec *spec = w->spec;
    StrategyOpts so = {.kind = w->kind, .head_sparsity = spec->head_sparsity,
                       .ffn_sparsity = spec->ffn_sparsity, .seed = (uint64_t)spec->seed,
                       .gain_batches = spec->gain_batches, .gain_steps = spec->gain_steps,
                       .batch_size = spec->batch_size};
    l0_opts_init(&so.l0);
    so.l0.steps = spec->l0_steps;
    so.l0.lr_log_alpha = (float)spec->l0_lr;
    so.l0.lr_lambda = (float)spec->l0_lambda_lr;
    train_opts(spec, &so.train);
    so.train.progress_ctx = "l0";
    if (w->kind == STRATEGY_GAIN)
        progress_update("prune: gain importance over %d batches", spec->gain_batches);
    double t0 = latency_now_ms();
    L0Stats ls;
    if (strategy_select(w->teacher, &w->train, &so, w->keep, &w->source, &ls)) return QA_ERR;
    progress_done();
    /* the strategy's compute (gain's gradients, l0's joint steps) is training time */
    w->res->train_seconds += (latency_now_ms() - t0) / 1000.0;
    if (w->kind == STRATEGY_L0) {
        fprintf(stderr, "l0: expected sparsity heads %.3f (target %.3f), ffn %.3f (target %.3f)\n",
                ls.exp_head_sparsity, spec->head_sparsity, ls.exp_ffn_sparsity,
                spec->ffn_sparsity);
    }
    return QA_OK;
}

static int stage_remove(PruneWork *w) {
    const BertModel *from = w->source ? w->source : w->teacher;
    int nh = w->res->heads_total;
    BertPrecision prec = BERT_FP32;
    bert_precision_parse(w->spec->precision, &prec); /* checked by prune_run */
    if (bert_prune(from, w->keep, w->keep + nh, &w->pruned) ||
        (w->kind == STRATEGY_DENSE &&
         strategy_dense_init(w->pruned, w->teacher, (uint64_t)w->spec->seed)) ||
        bert_set_precision(w->pruned, prec))
        return QA_ERR;
    const BertConfig *c = bert_config(w->pruned);
    PruneResult *r = w->res;
    r->layers = c->num_layers;
    for (int l = 0; l < c->num_layers; l++) {
        r->layer_heads[l] = c->heads[l];
        r->layer_ffn[l] = c->ffn[l];
    }
    r->heads_kept = bert_total_heads(c);
    r->ffn_kept = bert_total_ffn(c);
    r->params = bert_num_params(w->pruned);
    r->flops = bert_forward_flops(c, 1, w->fo.max_seq_len);
    bert_free(w->source); /* the pruned copy holds what is needed */
    w->source = NULL;
    progress_update("prune: scoring the pruned model");
    /* without fine-tuning these are the final predictions too */
    int keep = w->mode == FINETUNE_NONE || prune_spec_ft_steps(w->spec) == 0;
    return evaluate(w, w->pruned, &r->pruned, &r->nq_pruned, keep);
}

/* ---------------------------------------------------------------- finetune, score */

static int stage_finetune(PruneWork *w) {
    int steps = prune_spec_ft_steps(w->spec);
    if (w->mode == FINETUNE_NONE || steps == 0) return QA_OK;
    TrainOpts to;
    train_opts(w->spec, &to);
    to.steps = steps;
    to.progress_ctx = "fine-tune";
    if (w->mode == FINETUNE_DISTILL) {
        to.teacher = w->teacher; /* run on each batch: only the windows trained on */
        to.distill_alpha = (float)w->spec->distill_alpha;
        to.distill_temp = (float)w->spec->distill_temp;
    }
    TrainStats ts;
    if (train_qa(w->pruned, &w->train, &to, &ts)) return QA_ERR;
    progress_done();
    w->res->train_seconds += ts.seconds;
    return QA_OK;
}

static int stage_score(PruneWork *w) {
    if (w->pred || w->nq_pred) { /* not fine-tuned: the pruned model's scores are final */
        w->res->final = w->res->pruned;
        w->res->nq_final = w->res->nq_pruned;
        return QA_OK;
    }
    progress_update("prune: scoring the fine-tuned model");
    int rc = evaluate(w, w->pruned, &w->res->final, &w->res->nq_final, 1);
    progress_done();
    return rc;
}

/* ---------------------------------------------------------------- save */

/* OUT/qaprune.json: the teacher's feature settings (not its cache identity or scores) and
 * this point's prune settings under "prune" (read by sweep export). */
static int save_meta(const PruneWork *w, const char *out_dir) {
    cJSON *meta = pipeline_read_meta(w->teacher_dir);
    if (!meta) return QA_OK;
    cJSON_DeleteItemFromObject(meta, "hash");
    cJSON_DeleteItemFromObject(meta, "dev_hash");
    cJSON_DeleteItemFromObject(meta, "dev");
    cJSON_DeleteItemFromObject(meta, "train_seconds");
    cJSON_DeleteItemFromObject(meta, "format");
    cJSON_AddStringToObject(meta, "format", "qaprune pruned v1");
    char *pj = spec_to_json(PRUNE_FIELDS, PRUNE_NFIELDS, w->spec);
    cJSON *pruning = pj ? cJSON_Parse(pj) : NULL;
    free(pj);
    if (pruning) cJSON_AddItemToObject(meta, "prune", pruning);
    char *mt = cJSON_Print(meta), path[4096];
    cJSON_Delete(meta);
    int rc = !mt ? qa_error("%s: out of memory", out_dir)
                 : path_join(path, sizeof path, out_dir, "qaprune.json") ||
                       file_write_atomic(path, mt, strlen(mt));
    free(mt);
    return rc ? QA_ERR : QA_OK;
}

static int stage_save(PruneWork *w, const char *out_dir) {
    char path[4096], na_path[4096];
    int nq = w->data->nq;
    if (file_mkdirs(out_dir) || checkpoint_save_files(w->pruned, out_dir, tokenizer_files(w->tok)) ||
        path_join(path, sizeof path, out_dir, "predictions.json") ||
        path_join(na_path, sizeof na_path, out_dir, "na_prob.json") ||
        (nq ? nq_predictions_write(w->nq_pred, path) : predictions_write(w->pred, path, na_path)))
        return QA_ERR;
    char *ej = nq ? nq_scores_json(&w->res->nq_final) : squad_scores_json(&w->res->final);
    int rc = !ej || path_join(path, sizeof path, out_dir, "eval.json") ||
             file_write_atomic(path, ej, strlen(ej));
    free(ej);
    return rc ? QA_ERR : save_meta(w, out_dir);
}

/* ---------------------------------------------------------------- the point */

typedef int (*Stage)(PruneWork *w);

static int stage_save_out(PruneWork *w) { return w->out_dir ? stage_save(w, w->out_dir) : QA_OK; }

int prune_run(const PruneSpec *spec, const char *teacher_dir, const DataPaths *data,
              const char *out_dir, int threads, PruneResult *res) {
    static const struct {
        const char *name;
        Stage run;
    } stages[] = {{"load", stage_load},         {"teacher", stage_teacher},
                  {"choose", stage_choose},     {"remove", stage_remove},
                  {"finetune", stage_finetune}, {"score", stage_score},
                  {"save", stage_save_out}};
    enum { N_STAGES = sizeof stages / sizeof stages[0] };
    memset(res, 0, sizeof *res);
    GemmBackend gb;
    if (prune_spec_check(spec, "prune")) return QA_ERR;
    gemm_backend_parse(spec->gemm, &gb);
    gemm_set_backend(gb);
    PruneWork w = {.spec = spec, .teacher_dir = teacher_dir, .data = data, .res = res,
                   .out_dir = out_dir};
    ops_set_threads(threads);
    double seconds[N_STAGES] = {0};
    int rc = QA_OK;
    for (int i = 0; i < N_STAGES && rc == QA_OK; i++) {
        double t0 = latency_now_ms();
        rc = stages[i].run(&w);
        seconds[i] = (latency_now_ms() - t0) / 1000.0;
    }
    progress_done();
    res->peak_rss_mb = latency_peak_rss_mb();
    if (rc == QA_OK) { /* where a point's time and memory go */
        fprintf(stderr, "prune: seconds per stage:");
        for (int i = 0; i < N_STAGES; i++) fprintf(stderr, " %s %.2f", stages[i].name, seconds[i]);
        fprintf(stderr, "; peak memory %.1f MiB\n", res->peak_rss_mb);
    }
    prune_work_free(&w);
    return rc;
}
