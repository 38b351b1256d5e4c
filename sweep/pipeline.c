/* sweep/pipeline.c: the settings tables of the teacher and of a point, and what the
 * teacher (sweep/teacher.c) and point (sweep/prune.c) stages share (see pipeline.h). */
#include "sweep/pipeline.h"
#include "sweep/pipeline_private.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/checkpoint.h"
#include "core/model/gemm.h"
#include "core/util/error.h"
#include "core/model/latency.h"
#include "core/model/ops.h"
#include "core/qa/qa.h"
#include "core/prune/strategy.h"
#include "core/qa/squad.h"
#include "core/text/bpe_train.h"
#include "core/text/text.h"
#include "core/model/train.h"
#include "sweep/progress.h"
#include "core/util/fileio.h"

#define TF(k, t, f, lo, hi, h) {k, t, offsetof(TeacherSpec, f), lo, hi, h, NULL}
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
    /* added after teachers were first cached: a BERT teacher's identity leaves it out */
    {"family", SPEC_STRING, offsetof(TeacherSpec, family), 0, 0,
     "bert (the data's vocab.txt) | roberta (its vocab.json + merges.txt)", "bert"},
    {"train_precision", SPEC_STRING, offsetof(TeacherSpec, train_precision), 0, 0,
     "fp32 | bf16: training GEMMs (bf16: fp32 master weights)", "fp32"},
};
const int TEACHER_NFIELDS = (int)(sizeof TEACHER_FIELDS / sizeof TEACHER_FIELDS[0]);

void teacher_spec_default(TeacherSpec *s) {
    /* 32 heads of 16 dimensions for the strategies to choose from. The sinusoidal start of
     * the position embeddings and the lookup questions of the synthetic train split are what
     * get it past the "right type, wrong person" plateau; 9000 steps (not 4600) are what
     * make it leave the plateau on every data seed, not on lucky ones (docs/synthetic-task.md
     * has the measurements of both). */
    *s = (TeacherSpec){.layers = 4, .hidden = 128, .heads = 8, .ffn = 512,
                       .max_seq_len = 128, .doc_stride = 64, .max_query_len = 32,
                       .batch_size = 32, .steps = 9000, .lr = 1e-3, .warmup = 0.03,
                       .weight_decay = 0.01, .dropout = 0.0, .seed = 1, .init = "xavier",
                       .pos_init = "sinusoid", .family = "bert",
                       .train_precision = "fp32"};
}

char *teacher_identity_json(const TeacherSpec *s) {
    char *js = spec_identity_json(TEACHER_FIELDS, TEACHER_NFIELDS, s);
    if (!js) qa_error("teacher: out of memory");
    return js;
}

#define PF(k, t, f, lo, hi, h) {k, t, offsetof(PruneSpec, f), lo, hi, h, NULL}
const SpecField PRUNE_FIELDS[] = {
    PF("strategy", SPEC_STRING, strategy, 0, 0, STRATEGY_NAMES_TEXT),
    PF("head_sparsity", SPEC_DOUBLE, head_sparsity, 0, 1, "fraction of all heads removed"),
    PF("ffn_sparsity", SPEC_DOUBLE, ffn_sparsity, 0, 1, "fraction of all FFN neurons removed"),
    PF("finetune", SPEC_STRING, finetune, 0, 0, FINETUNE_NAMES_TEXT),
    PF("seed", SPEC_INT, seed, 0, 2147483647, "strategy and fine-tuning seed"),
    PF("gain_batches", SPEC_INT, gain_batches, 1, 100000, "gain: batches averaged"),
    PF("gain_steps", SPEC_INT, gain_steps, 1, 100, "gain: 1 one-shot; k: k rounds, re-scored"),
    PF("l0_steps", SPEC_INT, l0_steps, 1, 10000000, "l0: joint training steps"),
    PF("l0_lr", SPEC_DOUBLE, l0_lr, 0, 10, "l0: Adam lr of log alpha"),
    PF("l0_lambda_lr", SPEC_DOUBLE, l0_lambda_lr, 0, 100, "l0: Lagrange multiplier ascent rate"),
    PF("ft_steps", SPEC_INT, ft_steps, 0, 10000000, "fine-tuning steps"),
    /* added after points were first recorded: 0 leaves every earlier point's identity as is */
    {"dense_steps", SPEC_INT, offsetof(PruneSpec, dense_steps), 0, 10000000,
     "dense: the fresh student's fine-tuning steps (0 = ft_steps)", "0"},
    PF("batch_size", SPEC_INT, batch_size, 1, 4096, "windows per step"),
    PF("ft_lr", SPEC_DOUBLE, ft_lr, 0, 1, "fine-tuning (and l0 model) peak lr"),
    PF("distill_alpha", SPEC_DOUBLE, distill_alpha, 0, 1, "weight of the soft loss"),
    PF("distill_temp", SPEC_DOUBLE, distill_temp, 0.01, 100, "distillation temperature"),
    PF("eval_batch", SPEC_INT, eval_batch, 1, 4096, "windows per inference batch"),
    PF("precision", SPEC_STRING, precision, 0, 0,
       "fp32 | bf16: scoring and latency of the pruned model (training: train_precision)"),
    PF("gemm", SPEC_STRING, gemm, 0, 0, "onednn | openblas: the GEMM library"),
    /* added after points were first recorded: fp32 leaves every earlier point's identity */
    {"train_precision", SPEC_STRING, offsetof(PruneSpec, train_precision), 0, 0,
     "fp32 | bf16: l0 and fine-tuning GEMMs (bf16: fp32 master weights)", "fp32"},
};
const int PRUNE_NFIELDS = (int)(sizeof PRUNE_FIELDS / sizeof PRUNE_FIELDS[0]);

void prune_spec_default(PruneSpec *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->strategy, SPEC_STR, "gain");
    snprintf(s->finetune, SPEC_STR, "distill");
    s->head_sparsity = 0.5;
    s->ffn_sparsity = 0.7;
    snprintf(s->precision, SPEC_STR, "fp32");
    snprintf(s->train_precision, SPEC_STR, "fp32");
    snprintf(s->gemm, SPEC_STR, "%s", gemm_backend_name(GEMM_DEFAULT));
    s->seed = 1;
    s->gain_batches = 32;
    s->gain_steps = 1;
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

int window_specials(BertFamily family) { return family == BERT_FAMILY_ROBERTA ? 4 : 3; }

int window_check(const FeatureOpts *fo, int specials, const char *file, const char *path) {
    int room = fo->max_seq_len - fo->max_query_len - specials;
    if (room < 1)
        return qa_error("%s: %s.max_query_len: %d leaves no context tokens in a window of "
                        "max_seq_len %d (needs max_query_len <= max_seq_len - %d)", file, path,
                        fo->max_query_len, fo->max_seq_len, specials + 1);
    if (fo->doc_stride > room)
        return qa_error("%s: %s.doc_stride: %d is more than the %d context tokens of a window "
                        "(text between windows would never be seen)", file, path,
                        fo->doc_stride, room);
    return QA_OK;
}

int teacher_spec_check(const TeacherSpec *s, const char *file, const char *path) {
    if (strcmp(s->family, "bert") && strcmp(s->family, "roberta"))
        return qa_error("%s: %s.family: '%s' is not one of bert, roberta", file, path,
                        s->family);
    if (strcmp(s->init, "xavier") && strcmp(s->init, "bert"))
        return qa_error("%s: %s.init: '%s' is not one of xavier, bert", file, path, s->init);
    if (strcmp(s->pos_init, "random") && strcmp(s->pos_init, "sinusoid"))
        return qa_error("%s: %s.pos_init: '%s' is not one of random, sinusoid", file, path,
                        s->pos_init);
    BertPrecision tp;
    if (bert_precision_parse(s->train_precision, &tp))
        return qa_error("%s: %s.train_precision: '%s' is not one of fp32, bf16", file, path,
                        s->train_precision);
    if (s->hidden % s->heads)
        return qa_error("%s: %s.hidden: %d is not a multiple of heads %d", file, path,
                        s->hidden, s->heads);
    FeatureOpts fo = {s->max_seq_len, s->doc_stride, s->max_query_len};
    int specials = window_specials(strcmp(s->family, "roberta") ? BERT_FAMILY_BERT
                                                                 : BERT_FAMILY_ROBERTA);
    return window_check(&fo, specials, file, path);
}

int prune_spec_check(const PruneSpec *s, const char *file) {
    StrategyKind k;
    FinetuneMode m;
    if (strategy_parse(s->strategy, &k) || finetune_parse(s->finetune, &m)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", qa_last_error());
        return qa_error("%s: %s", file, msg);
    }
    BertPrecision p;
    GemmBackend b;
    if (bert_precision_parse(s->precision, &p))
        return qa_error("%s: precision: '%s' is not one of fp32, bf16", file, s->precision);
    if (bert_precision_parse(s->train_precision, &p))
        return qa_error("%s: train_precision: '%s' is not one of fp32, bf16", file,
                        s->train_precision);
    if (gemm_backend_parse(s->gemm, &b))
        return qa_error("%s: gemm: '%s' is not one of onednn, openblas", file, s->gemm);
    return k == STRATEGY_DENSE ? prune_spec_check_dense(s, s->finetune, file, "finetune", "ft_steps")
                              : QA_OK;
}

int prune_spec_check_dense(const PruneSpec *s, const char *finetune, const char *file,
                           const char *mode_key, const char *steps_key) {
    if (!strcmp(finetune, "none"))
        return qa_error("%s: %s: 'none' with strategy 'dense': a dense student starts from "
                        "fresh weights and is made only by fine-tuning (use standard or distill)",
                        file, mode_key);
    if (s->ft_steps == 0 && s->dense_steps == 0)
        return qa_error("%s: %s: 0 with strategy 'dense': a dense student needs training steps "
                        "(set ft_steps or dense_steps)", file, steps_key);
    return QA_OK;
}

void prune_spec_label(const PruneSpec *s, char *buf, size_t cap) {
    if (!strcmp(s->strategy, "gain") && s->gain_steps > 1)
        snprintf(buf, cap, "gain-iter%d", s->gain_steps);
    else
        snprintf(buf, cap, "%s", s->strategy);
}

int prune_spec_ft_steps(const PruneSpec *s) {
    return !strcmp(s->strategy, "dense") && s->dense_steps > 0 ? s->dense_steps : s->ft_steps;
}

/* ---------------------------------------------------------------- small helpers */

static volatile sig_atomic_t *stop_flag;

void pipeline_set_stop_flag(volatile sig_atomic_t *flag) { stop_flag = flag; }

int pipeline_on_progress(void *ctx, const TrainProgress *p) {
    double eta = p->step ? p->seconds / p->step * (p->total_steps - p->step) : 0;
    progress_update("%s: step %ld/%ld  loss %.3f  lr %.2e  %.0fs, eta %.0fs", (const char *)ctx,
                    p->step, p->total_steps, p->loss, p->lr, p->seconds, eta);
    return stop_flag && *stop_flag;
}

cJSON *pipeline_read_meta(const char *dir) {
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
    char path[4096];
    if (path_join(path, sizeof path, model_dir, "qaprune.json")) return QA_ERR;
    if (!file_exists(path)) return QA_OK;
    cJSON *j = pipeline_read_meta(model_dir);
    if (!j) return qa_error("%s: not valid JSON", path);
    cJSON *s = cJSON_GetObjectItem(j, "spec");
    static const char *const keys[3] = {"max_seq_len", "doc_stride", "max_query_len"};
    int *dst[3] = {&fo->max_seq_len, &fo->doc_stride, &fo->max_query_len};
    for (int i = 0; i < 3 && s; i++) {
        const cJSON *v = cJSON_GetObjectItem(s, keys[i]);
        if (!v) continue;
        if (!cJSON_IsNumber(v) || v->valuedouble != (int)v->valuedouble || v->valueint < 1 ||
            v->valueint > 65536) {
            cJSON_Delete(j);
            return qa_error("%s: spec.%s: expected an integer in [1, 65536]", path, keys[i]);
        }
        *dst[i] = v->valueint;
    }
    cJSON_Delete(j);
    return QA_OK;
}

void pipeline_scores_from_json(const cJSON *o, SquadScores *s) {
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

int data_paths_nq_in_dir(DataPaths *d, const char *dir, double include_unknowns) {
    d->windows_dir[0] = d->bpe_vocab[0] = d->bpe_merges[0] = '\0';
    d->nq = 1;
    d->nq_include_unknowns = include_unknowns;
    if (path_join(d->train, sizeof d->train, dir, "nq-train.jsonl.gz") ||
        path_join(d->dev, sizeof d->dev, dir, "nq-dev.jsonl.gz") ||
        path_join(d->vocab, sizeof d->vocab, dir, "vocab.txt"))
        return QA_ERR;
    return QA_OK;
}

void pipeline_nq_scores_from_json(const cJSON *o, NqScores *s) {
    memset(s, 0, sizeof *s);
    static const char *const names[4] = {"best-threshold-f1", "best-threshold-precision",
                                         "best-threshold-recall", "best-threshold"};
    NqAnswerScores *a[2] = {&s->long_answer, &s->short_answer};
    for (int k = 0; k < 2; k++) {
        double *dst[4] = {&a[k]->f1, &a[k]->precision, &a[k]->recall, &a[k]->threshold};
        for (int i = 0; i < 4; i++) {
            char key[64];
            snprintf(key, sizeof key, "%s-%s", k ? "short" : "long", names[i]);
            const cJSON *v = cJSON_GetObjectItem(o, key);
            if (cJSON_IsNumber(v)) *dst[i] = v->valuedouble;
        }
    }
}

void pipeline_nq_squad_view(const NqScores *n, SquadScores *s) {
    memset(s, 0, sizeof *s);
    s->f1 = 100.0 * n->short_answer.f1;
    s->exact = s->has_ans_f1 = s->no_ans_f1 = s->best_f1 = NAN;
    s->total = n->short_answer.n;
}

NqWindowOpts pipeline_nq_window_opts(const FeatureOpts *fo, const DataPaths *data, int training,
                                     uint64_t seed) {
    NqWindowOpts o = NQ_WINDOW_OPTS_DEFAULT;
    o.max_seq_len = fo->max_seq_len;
    o.doc_stride = fo->doc_stride;
    o.max_query_len = fo->max_query_len;
    o.training = training;
    o.include_unknowns = data->nq_include_unknowns;
    o.seed = seed;
    return o;
}

static void nq_load_progress(void *ctx, const char *path, long lines, double fraction) {
    progress_update("%s: %s: %ld documents, %.0f%%", (const char *)ctx, path, lines,
                    100.0 * fraction);
}

int pipeline_load_nq(const char *path, const NqTokenizer *tok, const NqWindowOpts *o,
                     int with_gold, NqSplit *out) {
    int rc = nq_split_load(path, tok, o, with_gold, nq_load_progress, "reading", out);
    progress_done();
    return rc;
}

int data_paths_in_dir(DataPaths *d, const char *dir) {
    d->windows_dir[0] = '\0'; /* no cache unless the caller sets one */
    d->nq = 0;
    if (path_join(d->train, sizeof d->train, dir, "train.json") ||
        path_join(d->dev, sizeof d->dev, dir, "dev.json") ||
        path_join(d->vocab, sizeof d->vocab, dir, "vocab.txt") ||
        path_join(d->bpe_vocab, sizeof d->bpe_vocab, dir, "vocab.json") ||
        path_join(d->bpe_merges, sizeof d->bpe_merges, dir, "merges.txt"))
        return QA_ERR;
    return QA_OK;
}

int data_tokenizer_files(const DataPaths *data, const char *family, TokenizerFiles *tf,
                         const char *paths[2], int *n) {
    memset(tf, 0, sizeof *tf);
    *n = 0;
    if (!strcmp(family, "roberta")) {
        if (!*data->bpe_vocab || !*data->bpe_merges)
            return qa_error("teacher: family roberta: the data has no byte-level BPE "
                            "(vocab.json + merges.txt)");
        paths[(*n)++] = tf->vocab = data->bpe_vocab;
        paths[(*n)++] = tf->merges = data->bpe_merges;
        tf->model_type = "roberta";
    } else {
        if (!*data->vocab) return qa_error("teacher: family bert: the data has no vocab.txt");
        paths[(*n)++] = tf->vocab = data->vocab;
        tf->model_type = "bert";
    }
    for (int i = 0; i < *n; i++)
        if (!file_exists(paths[i]))
            return qa_error("%s: missing: a %s teacher reads the data's %s%s", paths[i], family,
                            !strcmp(family, "roberta")
                                ? "byte-level BPE (vocab.json + merges.txt)"
                                : "WordPiece vocab.txt",
                            !strcmp(family, "roberta")
                                ? "; write it with sweep gen-data --bpe-merges K, or "
                                  "data.synthetic.bpe_merges in a grid"
                                : "");
    return QA_OK;
}

int data_write_bpe(const char *dir, int n_merges) {
    static const char *const splits[2] = {"train.json", "dev.json"};
    char path[4096], merges[4096];
    BpeTrainer *t = NULL;
    int rc = bpe_trainer_new(&t);
    for (int s = 0; s < 2 && rc == QA_OK; s++) {
        SquadSet *set = NULL;
        if (path_join(path, sizeof path, dir, splits[s]) || squad_load(path, &set)) {
            rc = QA_ERR;
            break;
        }
        for (int i = 0; rc == QA_OK && i < set->n_paragraphs; i++)
            rc = bpe_trainer_add(t, set->contexts[i], strlen(set->contexts[i]));
        for (int i = 0; rc == QA_OK && i < set->n_questions; i++)
            rc = bpe_trainer_add(t, set->questions[i].question, strlen(set->questions[i].question));
        squad_free(set);
    }
    if (rc == QA_OK && (path_join(path, sizeof path, dir, "vocab.json") ||
                        path_join(merges, sizeof merges, dir, "merges.txt")))
        rc = QA_ERR;
    if (rc == QA_OK) rc = bpe_trainer_write(t, n_merges, path, merges);
    bpe_trainer_free(t);
    return rc;
}

int pipeline_load_data(const DataPaths *data, Tokenizer *tok, const FeatureOpts *fo,
                       QaSplit *train, QaSplit *dev) {
    memset(train, 0, sizeof *train);
    memset(dev, 0, sizeof *dev);
    if (qa_split_load(data->train, tok, fo, train) || qa_split_load(data->dev, tok, fo, dev))
        return QA_ERR;
    return QA_OK;
}

