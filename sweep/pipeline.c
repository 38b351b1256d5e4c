/* sweep/pipeline.c: teacher and pruning stages (see pipeline.h). */
#include "sweep/pipeline.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/checkpoint.h"
#include "core/util/error.h"
#include "core/model/latency.h"
#include "core/model/ops.h"
#include "core/qa/qa.h"
#include "core/prune/strategy.h"
#include "core/text/text.h"
#include "core/model/train.h"
#include "sweep/progress.h"
#include "core/util/fileio.h"

#define TF(k, t, f, lo, hi, h) {k, t, offsetof(TeacherSpec, f), lo, hi, h}
const SpecField TEACHER_FIELDS[] = {
    TF("layers", SPEC_INT, layers, 1, BERT_MAX_LAYERS, "encoder layers"),
    TF("hidden", SPEC_INT, hidden, 8, 4096, "hidden size"),
    TF("heads", SPEC_INT, heads, 1, BERT_MAX_HEADS, "attention heads per layer"),
    TF("ffn", SPEC_INT, ffn, 1, 65536, "FFN width"),
    TF("max_seq_len", SPEC_INT, max_seq_len, 16, 4096, "tokens per window"),
    TF("doc_stride", SPEC_INT, doc_stride, 1, 4096, "tokens between window starts"),
    TF("max_query_len", SPEC_INT, max_query_len, 4, 1024, "question tokens kept"),
    TF("batch_size", SPEC_INT, batch_size, 1, 4096, "windows per step"),
    TF("steps", SPEC_INT, steps, 1, 10000000, "optimizer steps"),
    TF("lr", SPEC_DOUBLE, lr, 0, 1, "peak learning rate (AdamW)"),
    TF("warmup", SPEC_DOUBLE, warmup, 0, 1, "fraction of steps of linear warm-up"),
    TF("weight_decay", SPEC_DOUBLE, weight_decay, 0, 1, "AdamW weight decay"),
    TF("dropout", SPEC_DOUBLE, dropout, 0, 0.9, "hidden and attention dropout"),
    TF("seed", SPEC_INT, seed, 0, 2147483647, "initialisation, shuffling, dropout"),
    TF("init", SPEC_STRING, init, 0, 0, "xavier | bert (N(0, 0.02))"),
    TF("pos_init", SPEC_STRING, pos_init, 0, 0, "position embeddings: random | sinusoid"),
};
const int TEACHER_NFIELDS = (int)(sizeof TEACHER_FIELDS / sizeof TEACHER_FIELDS[0]);

void teacher_spec_default(TeacherSpec *s) {
    /* 32 heads of 16 dimensions for the strategies to choose from. 4600 steps fit the
     * 10-minute budget on 2 cores; the sinusoidal start of the position embeddings and the
     * lookup questions of the synthetic train split are what get it past the "right type,
     * wrong person" plateau (docs/synthetic-task.md has the measurements). */
    *s = (TeacherSpec){.layers = 4, .hidden = 128, .heads = 8, .ffn = 512,
                       .max_seq_len = 128, .doc_stride = 64, .max_query_len = 32,
                       .batch_size = 32, .steps = 4600, .lr = 1e-3, .warmup = 0.03,
                       .weight_decay = 0.01, .dropout = 0.0, .seed = 1, .init = "xavier",
                       .pos_init = "sinusoid"};
}

#define PF(k, t, f, lo, hi, h) {k, t, offsetof(PruneSpec, f), lo, hi, h}
const SpecField PRUNE_FIELDS[] = {
    PF("strategy", SPEC_STRING, strategy, 0, 0, "random | gain | l0"),
    PF("head_sparsity", SPEC_DOUBLE, head_sparsity, 0, 1, "fraction of all heads removed"),
    PF("ffn_sparsity", SPEC_DOUBLE, ffn_sparsity, 0, 1, "fraction of all FFN neurons removed"),
    PF("finetune", SPEC_STRING, finetune, 0, 0, "none | standard | distill"),
    PF("seed", SPEC_INT, seed, 0, 2147483647, "strategy and fine-tuning seed"),
    PF("gain_batches", SPEC_INT, gain_batches, 1, 100000, "gain: batches averaged"),
    PF("l0_steps", SPEC_INT, l0_steps, 1, 10000000, "l0: joint training steps"),
    PF("l0_lr", SPEC_DOUBLE, l0_lr, 0, 10, "l0: Adam lr of log alpha"),
    PF("l0_lambda_lr", SPEC_DOUBLE, l0_lambda_lr, 0, 100, "l0: Lagrange multiplier ascent rate"),
    PF("ft_steps", SPEC_INT, ft_steps, 0, 10000000, "fine-tuning steps"),
    PF("batch_size", SPEC_INT, batch_size, 1, 4096, "windows per step"),
    PF("ft_lr", SPEC_DOUBLE, ft_lr, 0, 1, "fine-tuning (and l0 model) peak lr"),
    PF("distill_alpha", SPEC_DOUBLE, distill_alpha, 0, 1, "weight of the soft loss"),
    PF("distill_temp", SPEC_DOUBLE, distill_temp, 0.01, 100, "distillation temperature"),
    PF("eval_batch", SPEC_INT, eval_batch, 1, 4096, "windows per inference batch"),
};
const int PRUNE_NFIELDS = (int)(sizeof PRUNE_FIELDS / sizeof PRUNE_FIELDS[0]);

void prune_spec_default(PruneSpec *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->strategy, SPEC_STR, "gain");
    snprintf(s->finetune, SPEC_STR, "distill");
    s->head_sparsity = 0.5;
    s->ffn_sparsity = 0.7;
    s->seed = 1;
    s->gain_batches = 32;
    s->l0_steps = 600;
    s->l0_lr = 0.1;
    s->l0_lambda_lr = 0.1;
    s->ft_steps = 600;
    s->batch_size = 32;
    s->ft_lr = 3e-4;
    s->distill_alpha = 0.5;
    s->distill_temp = 2.0;
    s->eval_batch = 64;
}

int prune_spec_check(const PruneSpec *s, const char *file) {
    StrategyKind k;
    if (strategy_parse(s->strategy, &k)) return qa_error("%s: strategy: '%s' is not one of random, gain, l0", file, s->strategy);
    if (strcmp(s->finetune, "none") && strcmp(s->finetune, "standard") &&
        strcmp(s->finetune, "distill"))
        return qa_error("%s: finetune: '%s' is not one of none, standard, distill", file,
                        s->finetune);
    return QA_OK;
}

/* ---------------------------------------------------------------- small helpers */

static volatile sig_atomic_t *stop_flag;

void pipeline_set_stop_flag(volatile sig_atomic_t *flag) { stop_flag = flag; }

static long eval_every;

void pipeline_set_eval_every(long n) { eval_every = n > 0 ? n : 0; }

/* The before_step hook of teacher training with --eval-every: scores the dev set. */
typedef struct {
    BertModel *m;
    const QaSplit *dev;
    double seconds; /* spent scoring, left out of the teacher's training time */
} EvalHook;

static int eval_before_step(void *ctx, long step, BertGates *gates) {
    (void)gates;
    EvalHook *h = ctx;
    if (!eval_every || step == 0 || step % eval_every) return 0;
    SquadScores s;
    double t0 = latency_now_ms();
    if (qa_evaluate(h->m, h->dev, 64, NULL, NULL, &s, NULL)) return 1;
    h->seconds += (latency_now_ms() - t0) / 1000.0;
    progress_done();
    fprintf(stderr, "teacher: step %ld dev F1 %.2f (HasAns %.2f, NoAns %.2f, best %.2f)\n", step,
            s.f1, s.has_ans_f1, s.no_ans_f1, s.best_f1);
    return 0;
}

static int on_progress(void *ctx, const TrainProgress *p) {
    double eta = p->step ? p->seconds / p->step * (p->total_steps - p->step) : 0;
    progress_update("%s: step %ld/%ld  loss %.3f  lr %.2e  %.0fs, eta %.0fs", (const char *)ctx,
                    p->step, p->total_steps, p->loss, p->lr, p->seconds, eta);
    return stop_flag && *stop_flag;
}

/* Reads dir/qaprune.json (NULL if absent or unreadable): new cJSON, caller deletes. */
static cJSON *read_meta(const char *dir) {
    char path[4096], *text = NULL;
    size_t len;
    if (path_join(path, sizeof path, dir, "qaprune.json")) return NULL;
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fclose(f);
    if (file_read(path, 0, &text, &len)) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

int model_feature_opts(const char *model_dir, FeatureOpts *fo) {
    *fo = FEATURE_OPTS_DEFAULT;
    cJSON *j = read_meta(model_dir);
    cJSON *s = j ? cJSON_GetObjectItem(j, "spec") : NULL;
    if (s) {
        cJSON *a = cJSON_GetObjectItem(s, "max_seq_len"), *b = cJSON_GetObjectItem(s, "doc_stride");
        cJSON *c = cJSON_GetObjectItem(s, "max_query_len");
        if (cJSON_IsNumber(a)) fo->max_seq_len = a->valueint;
        if (cJSON_IsNumber(b)) fo->doc_stride = b->valueint;
        if (cJSON_IsNumber(c)) fo->max_query_len = c->valueint;
    }
    cJSON_Delete(j);
    return QA_OK;
}

static void scores_from_json(const cJSON *o, SquadScores *s) {
    memset(s, 0, sizeof *s);
#define GETD(k, f) do { cJSON *x_ = cJSON_GetObjectItem(o, k); if (cJSON_IsNumber(x_)) s->f = x_->valuedouble; } while (0)
    GETD("exact", exact);
    GETD("f1", f1);
    GETD("HasAns_f1", has_ans_f1);
    GETD("NoAns_f1", no_ans_f1);
    GETD("best_f1", best_f1);
#undef GETD
    cJSON *t = cJSON_GetObjectItem(o, "total");
    if (cJSON_IsNumber(t)) s->total = t->valueint;
}

int data_paths_in_dir(DataPaths *d, const char *dir) {
    if (path_join(d->train, sizeof d->train, dir, "train.json") ||
        path_join(d->dev, sizeof d->dev, dir, "dev.json") ||
        path_join(d->vocab, sizeof d->vocab, dir, "vocab.txt"))
        return QA_ERR;
    return QA_OK;
}

/* Loads the train/dev splits, tokenized with tok. */
static int load_data(const DataPaths *data, Tokenizer *tok, const FeatureOpts *fo,
                     QaSplit *train, QaSplit *dev) {
    memset(train, 0, sizeof *train);
    memset(dev, 0, sizeof *dev);
    if (qa_split_load(data->train, tok, fo, train) || qa_split_load(data->dev, tok, fo, dev))
        return QA_ERR;
    return QA_OK;
}

/* ---------------------------------------------------------------- teacher */

int teacher_hash(const TeacherSpec *spec, const DataPaths *data, unsigned long long *h) {
    char *js = spec_to_json(TEACHER_FIELDS, TEACHER_NFIELDS, spec);
    *h = spec_hash(SPEC_HASH_INIT, js, strlen(js));
    free(js);
    if (spec_hash_file(h, data->train) || spec_hash_file(h, data->dev) ||
        spec_hash_file(h, data->vocab))
        return QA_ERR;
    return QA_OK;
}

int teacher_build(const TeacherSpec *spec, const DataPaths *data, const char *out_dir,
                  int threads, TeacherResult *res) {
    memset(res, 0, sizeof *res);
    if (teacher_hash(spec, data, &res->hash)) return QA_ERR;
    char hash_hex[32], path[4096];
    snprintf(hash_hex, sizeof hash_hex, "%016llx", res->hash);
    cJSON *meta = read_meta(out_dir);
    cJSON *mh = meta ? cJSON_GetObjectItem(meta, "hash") : NULL;
    if (cJSON_IsString(mh) && !strcmp(mh->valuestring, hash_hex)) {
        BertModel *probe = NULL;
        if (checkpoint_load(out_dir, &probe) == QA_OK) {
            bert_free(probe);
            scores_from_json(cJSON_GetObjectItem(meta, "dev"), &res->dev);
            res->reused = 1;
            cJSON_Delete(meta);
            return QA_OK;
        }
    }
    cJSON_Delete(meta);

    FeatureOpts fo = {spec->max_seq_len, spec->doc_stride, spec->max_query_len};
    Tokenizer *tok = NULL;
    TokenizerFiles tf = {.vocab = data->vocab};
    QaSplit train, dev;
    BertModel *m = NULL;
    char *js = NULL, *scores = NULL, *meta_text = NULL;
    int rc = QA_ERR;
    ops_set_threads(threads);
    memset(&train, 0, sizeof train);
    memset(&dev, 0, sizeof dev);
    if (tokenizer_load(&tf, &tok) || load_data(data, tok, &fo, &train, &dev)) goto cleanup;
    BertConfig cfg;
    bert_config_init(&cfg, tokenizer_vocab_size(tok), spec->max_seq_len, spec->layers, spec->hidden,
                     spec->heads, spec->ffn);
    cfg.hidden_dropout = cfg.attention_dropout = (float)spec->dropout;
    if (bert_create(&cfg, &m)) goto cleanup;
    if (!strcmp(spec->init, "bert")) {
        bert_init_random(m, (uint64_t)spec->seed, 0.02f);
    } else if (!strcmp(spec->init, "xavier")) {
        bert_init_xavier(m, (uint64_t)spec->seed);
    } else {
        qa_error("teacher: init '%s' is not one of xavier, bert", spec->init);
        goto cleanup;
    }
    if (!strcmp(spec->pos_init, "sinusoid")) {
        bert_init_sinusoid_positions(m);
    } else if (strcmp(spec->pos_init, "random")) {
        qa_error("teacher: pos_init '%s' is not one of random, sinusoid", spec->pos_init);
        goto cleanup;
    }
    fprintf(stderr, "teacher: %d train windows, %d dev questions, %zu parameters\n",
            train.data.n, dev.set->n_questions, bert_num_params(m));
    TrainOpts to;
    train_opts_init(&to);
    to.batch_size = spec->batch_size;
    to.steps = spec->steps;
    to.lr = (float)spec->lr;
    to.warmup = (float)spec->warmup;
    to.weight_decay = (float)spec->weight_decay;
    to.seed = (uint64_t)spec->seed;
    to.progress = on_progress;
    to.progress_ctx = "teacher";
    EvalHook eh = {m, &dev, 0.0};
    TrainHooks hooks = {.before_step = eval_before_step, .ctx = &eh};
    if (eval_every) to.hooks = &hooks;
    TrainStats ts;
    if (train_qa(m, &train.data, &to, &ts)) goto cleanup;
    progress_done();
    ts.seconds -= eh.seconds;
    res->train_seconds = ts.seconds;
    if (qa_evaluate(m, &dev, 64, NULL, NULL, &res->dev, NULL)) goto cleanup;
    if (file_mkdirs(out_dir) || checkpoint_save_files(m, out_dir, tokenizer_files(tok)))
        goto cleanup;
    js = spec_to_json(TEACHER_FIELDS, TEACHER_NFIELDS, spec);
    scores = squad_scores_json(&res->dev);
    unsigned long long dev_hash = SPEC_HASH_INIT;
    if (spec_hash_file(&dev_hash, data->dev)) goto cleanup;
    size_t n = strlen(js) + strlen(scores) + 256;
    meta_text = malloc(n);
    snprintf(meta_text, n,
             "{\"format\": \"qaprune teacher v1\", \"hash\": \"%s\", \"train_seconds\": %.1f,\n"
             " \"dev_hash\": \"%016llx\",\n \"spec\": %s,\n \"dev\": %s}\n",
             hash_hex, ts.seconds, dev_hash, js, scores);
    if (path_join(path, sizeof path, out_dir, "qaprune.json") || file_write_atomic(path, meta_text, strlen(meta_text)))
        goto cleanup;
    rc = QA_OK;
cleanup:
    progress_done();
    free(js);
    free(scores);
    free(meta_text);
    bert_free(m);
    qa_split_free(&train);
    qa_split_free(&dev);
    tokenizer_free(tok);
    return rc;
}

/* ---------------------------------------------------------------- one pruning point */

/* The teacher's dev scores from its qaprune.json when they were computed on this very dev
 * file (same bytes); QA_ERR (no message needed) otherwise. */
static int cached_teacher_scores(const char *teacher_dir, const char *dev_path, SquadScores *s) {
    cJSON *meta = read_meta(teacher_dir);
    const cJSON *h = meta ? cJSON_GetObjectItem(meta, "dev_hash") : NULL;
    const cJSON *dev = meta ? cJSON_GetObjectItem(meta, "dev") : NULL;
    unsigned long long want = SPEC_HASH_INIT;
    char hex[32];
    int rc = QA_ERR;
    if (cJSON_IsString(h) && dev && spec_hash_file(&want, dev_path) == QA_OK) {
        snprintf(hex, sizeof hex, "%016llx", want);
        if (!strcmp(hex, h->valuestring)) {
            scores_from_json(dev, s);
            rc = QA_OK;
        }
    }
    cJSON_Delete(meta);
    return rc;
}

static int copy_model(const BertModel *src, BertModel **out) {
    if (bert_create(bert_config(src), out)) return QA_ERR;
    memcpy(bert_params(*out), bert_params((BertModel *)src), bert_num_params(src) * sizeof(float));
    return QA_OK;
}

static void fill_structure(PruneResult *r, const BertConfig *c) {
    r->layers = c->num_layers;
    for (int l = 0; l < c->num_layers; l++) {
        r->layer_heads[l] = c->heads[l];
        r->layer_ffn[l] = c->ffn[l];
    }
    r->heads_kept = bert_total_heads(c);
    r->ffn_kept = bert_total_ffn(c);
}

int prune_run(const PruneSpec *spec, const char *teacher_dir, const DataPaths *data,
              const char *out_dir, int threads, PruneResult *res) {
    memset(res, 0, sizeof *res);
    if (prune_spec_check(spec, "prune")) return QA_ERR;
    StrategyKind kind;
    strategy_parse(spec->strategy, &kind);
    FeatureOpts fo;
    Tokenizer *tok = NULL;
    QaSplit train, dev;
    memset(&train, 0, sizeof train);
    memset(&dev, 0, sizeof dev);
    BertModel *teacher = NULL, *work = NULL, *pruned = NULL;
    float *score = NULL;
    uint8_t *keep = NULL;
    Predictions *pred = NULL;
    char *ej = NULL;
    int rc = QA_ERR;
    char path[4096];
    ops_set_threads(threads);
    if (model_feature_opts(teacher_dir, &fo) ||
        tokenizer_load_dir(teacher_dir, &tok) ||
        checkpoint_load(teacher_dir, &teacher) ||
        load_data(data, tok, &fo, &train, &dev))
        goto cleanup;
    const BertConfig *tc = bert_config(teacher);
    int nh = bert_total_heads(tc), nf = bert_total_ffn(tc);
    res->heads_total = nh;
    res->ffn_total = nf;
    res->teacher_params = bert_num_params(teacher);
    res->teacher_flops = bert_forward_flops(tc, 1, fo.max_seq_len);
    if (cached_teacher_scores(teacher_dir, data->dev, &res->teacher) != QA_OK) {
        progress_update("prune: scoring the teacher on %d dev questions", dev.set->n_questions);
        if (qa_evaluate(teacher, &dev, spec->eval_batch, NULL, NULL, &res->teacher, NULL))
            goto cleanup;
    }
    score = malloc(sizeof(float) * (size_t)(nh + nf + 1));
    keep = malloc((size_t)(nh + nf + 1));
    if (!score || !keep) {
        qa_error("prune: out of memory");
        goto cleanup;
    }
    int keep_h = strategy_keep_count(nh, spec->head_sparsity);
    int keep_f = strategy_keep_count(nf, spec->ffn_sparsity);
    TrainOpts to;
    train_opts_init(&to);
    to.batch_size = spec->batch_size;
    to.lr = (float)spec->ft_lr;
    to.seed = (uint64_t)spec->seed;
    to.progress = on_progress;
    double t0 = 0;
    const BertModel *source = teacher;
    if (kind == STRATEGY_RANDOM) {
        strategy_random((uint64_t)spec->seed, nh, keep_h, keep);
        strategy_random((uint64_t)spec->seed + 1, nf, keep_f, keep + nh);
    } else if (kind == STRATEGY_GAIN) {
        progress_update("prune: gain importance over %d batches", spec->gain_batches);
        if (strategy_gain_scores(teacher, &train.data, spec->batch_size, spec->gain_batches,
                                 (uint64_t)spec->seed, score, score + nh))
            goto cleanup;
        strategy_topk(score, nh, keep_h, keep);
        strategy_topk(score + nh, nf, keep_f, keep + nh);
    } else {
        L0Opts lo;
        l0_opts_init(&lo);
        lo.steps = spec->l0_steps;
        lo.lr_log_alpha = (float)spec->l0_lr;
        lo.lr_lambda = (float)spec->l0_lambda_lr;
        L0Stats ls;
        if (copy_model(teacher, &work)) goto cleanup;
        to.progress_ctx = "l0";
        if (strategy_l0_train(work, &train.data, &to, &lo, spec->head_sparsity,
                              spec->ffn_sparsity, score, score + nh, &ls))
            goto cleanup;
        progress_done();
        fprintf(stderr, "l0: expected sparsity heads %.3f (target %.3f), ffn %.3f (target %.3f)\n",
                ls.exp_head_sparsity, spec->head_sparsity, ls.exp_ffn_sparsity,
                spec->ffn_sparsity);
        strategy_topk(score, nh, keep_h, keep);
        strategy_topk(score + nh, nf, keep_f, keep + nh);
        source = work;
    }
    if (bert_prune(source, keep, keep + nh, &pruned)) goto cleanup;
    fill_structure(res, bert_config(pruned));
    res->params = bert_num_params(pruned);
    res->flops = bert_forward_flops(bert_config(pruned), 1, fo.max_seq_len);
    progress_update("prune: scoring the pruned model");
    if (qa_evaluate(pruned, &dev, spec->eval_batch, NULL, NULL, &res->pruned, NULL)) goto cleanup;
    if (strcmp(spec->finetune, "none") && spec->ft_steps > 0) {
        to.steps = spec->ft_steps;
        to.progress_ctx = "fine-tune";
        if (!strcmp(spec->finetune, "distill")) {
            to.teacher = teacher; /* run on each batch: only the windows trained on */
            to.distill_alpha = (float)spec->distill_alpha;
            to.distill_temp = (float)spec->distill_temp;
        }
        TrainStats ts;
        if (train_qa(pruned, &train.data, &to, &ts)) goto cleanup;
        progress_done();
        t0 += ts.seconds;
    }
    res->train_seconds = t0;
    progress_update("prune: scoring the fine-tuned model");
    if (qa_evaluate(pruned, &dev, spec->eval_batch, NULL, NULL, &res->final, &pred)) goto cleanup;
    progress_done();
    if (out_dir) {
        char na_path[4096];
        if (file_mkdirs(out_dir) || checkpoint_save_files(pruned, out_dir, tokenizer_files(tok)))
            goto cleanup;
        if (path_join(path, sizeof path, out_dir, "predictions.json") ||
            path_join(na_path, sizeof na_path, out_dir, "na_prob.json") ||
            predictions_write(pred, path, na_path))
            goto cleanup;
        ej = squad_scores_json(&res->final);
        if (path_join(path, sizeof path, out_dir, "eval.json") || file_write_atomic(path, ej, strlen(ej)))
            goto cleanup;
        /* the pruned model keeps the teacher's feature settings (not its cache identity) */
        cJSON *meta = read_meta(teacher_dir);
        if (meta) {
            cJSON_DeleteItemFromObject(meta, "hash");
            cJSON_DeleteItemFromObject(meta, "dev_hash");
            cJSON_DeleteItemFromObject(meta, "dev");
            cJSON_DeleteItemFromObject(meta, "train_seconds");
            cJSON_ReplaceItemInObject(meta, "format", cJSON_CreateString("qaprune pruned v1"));
            char *mt = cJSON_Print(meta);
            int bad = !mt || path_join(path, sizeof path, out_dir, "qaprune.json") ||
                      file_write_atomic(path, mt, strlen(mt));
            free(mt);
            cJSON_Delete(meta);
            if (bad) goto cleanup;
        }
    }
    rc = QA_OK;
cleanup:
    progress_done();
    free(score);
    free(keep);
    free(ej);
    predictions_free(pred);
    bert_free(teacher);
    bert_free(work);
    bert_free(pruned);
    qa_split_free(&train);
    qa_split_free(&dev);
    tokenizer_free(tok);
    return rc;
}
