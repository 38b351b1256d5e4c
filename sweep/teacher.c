/* sweep/teacher.c: training (or reusing) the embedded default's teacher (see pipeline.h), on
 * SQuAD-format data or, with data->nq, on Natural Questions: BERT-joint windows, the
 * answer-type head, the NQ metric on dev. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/checkpoint.h"
#include "core/model/latency.h"
#include "core/model/ops.h"
#include "core/qa/qa.h"
#include "core/util/error.h"
#include "core/util/fileio.h"
#include "core/util/hash.h"
#include "sweep/pipeline.h"
#include "sweep/pipeline_private.h"
#include "sweep/progress.h"

static long eval_every;

void pipeline_set_eval_every(long n) { eval_every = n > 0 ? n : 0; }

/* The before_step hook of teacher training with --eval-every: scores the dev set. */
typedef struct {
    BertModel *m;
    const QaSplit *dev;
    const NqSplit *nq_dev; /* NQ data: scored with the NQ metric instead */
    double seconds; /* spent scoring, left out of the teacher's training time */
} EvalHook;

static int eval_before_step(void *ctx, long step, BertGates *gates) {
    (void)gates;
    EvalHook *h = ctx;
    if (!eval_every || step == 0 || step % eval_every) return 0;
    double t0 = latency_now_ms();
    if (h->nq_dev) {
        NqScores n;
        if (nq_split_evaluate(h->m, h->nq_dev, 64, NULL, &n, NULL)) return 1;
        h->seconds += (latency_now_ms() - t0) / 1000.0;
        progress_done();
        fprintf(stderr, "teacher: step %ld dev long F1 %.2f, short F1 %.2f\n", step,
                100 * n.long_answer.f1, 100 * n.short_answer.f1);
        return 0;
    }
    SquadScores s;
    if (qa_evaluate(h->m, h->dev, 64, NULL, NULL, &s, NULL)) return 1;
    h->seconds += (latency_now_ms() - t0) / 1000.0;
    progress_done();
    fprintf(stderr, "teacher: step %ld dev F1 %.2f (HasAns %.2f, NoAns %.2f, best %.2f)\n", step,
            s.f1, s.has_ans_f1, s.no_ans_f1, s.best_f1);
    return 0;
}

int teacher_hash(const TeacherSpec *spec, const DataPaths *data, char out[HASH_HEX]) {
    TokenizerFiles tf;
    const char *tok_files[2];
    int n_tok;
    if (data_tokenizer_files(data, spec->family, &tf, tok_files, &n_tok)) return QA_ERR;
    char *js = teacher_identity_json(spec);
    HashState *h = js ? hash_begin() : NULL;
    if (!h) {
        free(js);
        return qa_error("teacher: out of memory");
    }
    /* a BERT teacher hashes exactly what it did before families existed */
    hash_update_str(h, "qaprune teacher v2");
    hash_update_str(h, js);
    free(js);
    if (data->nq) { /* NQ windows, the type head and their down-sampling: another teacher */
        char nq[64];
        snprintf(nq, sizeof nq, "nq include_unknowns %.17g", data->nq_include_unknowns);
        hash_update_str(h, nq);
    }
    const char *files[4] = {data->train, data->dev, tok_files[0], n_tok > 1 ? tok_files[1] : NULL};
    for (int i = 0; i < 4 && files[i]; i++) {
        char fh[HASH_HEX];
        if (hash_file(files[i], fh)) {
            hash_end(h, out);
            return QA_ERR;
        }
        hash_update_str(h, fh);
    }
    hash_end(h, out);
    return QA_OK;
}

int teacher_build(const TeacherSpec *spec, const DataPaths *data, const char *out_dir,
                  int threads, TeacherResult *res) {
    memset(res, 0, sizeof *res);
    if (teacher_spec_check(spec, "teacher", "settings") || teacher_hash(spec, data, res->hash))
        return QA_ERR;
    char path[4096];
    cJSON *meta = pipeline_read_meta(out_dir);
    cJSON *mh = meta ? cJSON_GetObjectItem(meta, "hash") : NULL;
    if (cJSON_IsString(mh) && !strcmp(mh->valuestring, res->hash)) {
        BertModel *probe = NULL;
        if (checkpoint_load(out_dir, &probe) == QA_OK) {
            bert_free(probe);
            if (data->nq) {
                pipeline_nq_scores_from_json(cJSON_GetObjectItem(meta, "dev"), &res->nq_dev);
                pipeline_nq_squad_view(&res->nq_dev, &res->dev);
            } else {
                pipeline_scores_from_json(cJSON_GetObjectItem(meta, "dev"), &res->dev);
            }
            res->reused = 1;
            cJSON_Delete(meta);
            return QA_OK;
        }
    }
    cJSON_Delete(meta);

    FeatureOpts fo = {spec->max_seq_len, spec->doc_stride, spec->max_query_len};
    Tokenizer *tok = NULL;
    TokenizerFiles tf;
    const char *tok_files[2];
    int n_tok, roberta = !strcmp(spec->family, "roberta");
    QaSplit train, dev;
    NqSplit nq_train = {0}, nq_dev = {0};
    const QaData *train_data = &train.data;
    int n_dev = 0;
    BertModel *m = NULL;
    char *meta_text = NULL;
    cJSON *meta_out = NULL;
    int rc = QA_ERR;
    ops_set_threads(threads);
    memset(&train, 0, sizeof train);
    memset(&dev, 0, sizeof dev);
    if (data_tokenizer_files(data, spec->family, &tf, tok_files, &n_tok) ||
        tokenizer_load(&tf, &tok) || tokenizer_check_special(tok))
        goto cleanup;
    NqTokenizer nqt = nq_tokenizer_of(tok);
    if (data->nq) { /* BERT-joint windows: the training ones down-sampled */
        NqWindowOpts tw = pipeline_nq_window_opts(&fo, data, 1, (uint64_t)spec->seed);
        NqWindowOpts dw = pipeline_nq_window_opts(&fo, data, 0, 0);
        if (pipeline_load_nq(data->train, &nqt, &tw, 0, &nq_train) ||
            pipeline_load_nq(data->dev, &nqt, &dw, 1, &nq_dev))
            goto cleanup;
        train_data = &nq_train.data;
        n_dev = nq_dev.win->n_examples;
    } else {
        if (pipeline_load_data(data, tok, &fo, &train, &dev)) goto cleanup;
        n_dev = dev.set->n_questions;
    }
    BertConfig cfg;
    /* RoBERTa's positions start after padding_idx (<pad>'s id), as RobertaEmbeddings' */
    int position_offset = roberta ? tokenizer_special(tok).pad + 1 : 0;
    bert_config_init(&cfg, tokenizer_vocab_size(tok), spec->max_seq_len + position_offset,
                     spec->layers, spec->hidden, spec->heads, spec->ffn);
    if (roberta) { /* transformers' RobertaConfig: one token type, LayerNorm eps 1e-5 */
        cfg.family = BERT_FAMILY_ROBERTA;
        cfg.type_vocab_size = 1;
        cfg.layer_norm_eps = 1e-5f;
        cfg.position_offset = position_offset;
    }
    if (data->nq) cfg.num_answer_types = NQ_N_TYPES; /* the answer-type head */
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
    fprintf(stderr, "teacher: %s, %s tokenizer of %d ids, %d train windows, %d dev %s, "
            "%zu parameters\n", bert_family(cfg.family)->model_type, tokenizer_kind_name(tok),
            tokenizer_vocab_size(tok), train_data->n, n_dev,
            data->nq ? "documents (NQ)" : "questions", bert_num_params(m));
    TrainOpts to;
    train_opts_init(&to);
    to.batch_size = spec->batch_size;
    to.steps = spec->steps;
    to.lr = (float)spec->lr;
    to.warmup = (float)spec->warmup;
    to.weight_decay = (float)spec->weight_decay;
    to.seed = (uint64_t)spec->seed;
    bert_precision_parse(spec->train_precision, &to.precision); /* checked by the spec */
    to.progress = pipeline_on_progress;
    to.progress_ctx = "teacher";
    EvalHook eh = {m, &dev, data->nq ? &nq_dev : NULL, 0.0};
    TrainHooks hooks = {.before_step = eval_before_step, .ctx = &eh};
    if (eval_every) to.hooks = &hooks;
    TrainStats ts;
    if (train_qa(m, train_data, &to, &ts)) goto cleanup;
    progress_done();
    ts.seconds -= eh.seconds;
    res->train_seconds = ts.seconds;
    if (data->nq) {
        if (nq_split_evaluate(m, &nq_dev, 64, NULL, &res->nq_dev, NULL)) goto cleanup;
        pipeline_nq_squad_view(&res->nq_dev, &res->dev);
    } else if (qa_evaluate(m, &dev, 64, NULL, NULL, &res->dev, NULL)) {
        goto cleanup;
    }
    if (file_mkdirs(out_dir) || checkpoint_save_files(m, out_dir, tokenizer_files(tok)))
        goto cleanup;
    /* qaprune.json: the settings, the identity this teacher was built for, its scores */
    char dev_hash[HASH_HEX];
    if (hash_file(data->dev, dev_hash)) goto cleanup;
    char *js = spec_to_json(TEACHER_FIELDS, TEACHER_NFIELDS, spec);
    char *scores = data->nq ? nq_scores_json(&res->nq_dev) : squad_scores_json(&res->dev);
    meta_out = cJSON_CreateObject();
    cJSON_AddStringToObject(meta_out, "format", "qaprune teacher v2");
    cJSON_AddStringToObject(meta_out, "hash", res->hash);
    cJSON_AddNumberToObject(meta_out, "train_seconds", ts.seconds);
    cJSON_AddStringToObject(meta_out, "dev_hash", dev_hash);
    /* "nq": dev holds nq_eval.py's keys, and the model has the answer-type head */
    cJSON_AddStringToObject(meta_out, "data_format", data->nq ? "nq" : "squad");
    cJSON *spec_j = js ? cJSON_Parse(js) : NULL, *scores_j = scores ? cJSON_Parse(scores) : NULL;
    free(js);
    free(scores);
    if (!spec_j || !scores_j) {
        cJSON_Delete(spec_j);
        cJSON_Delete(scores_j);
        qa_error("%s: out of memory", out_dir);
        goto cleanup;
    }
    cJSON_AddItemToObject(meta_out, "spec", spec_j);
    cJSON_AddItemToObject(meta_out, "dev", scores_j);
    meta_text = cJSON_Print(meta_out);
    if (!meta_text || path_join(path, sizeof path, out_dir, "qaprune.json") ||
        file_write_atomic(path, meta_text, strlen(meta_text)))
        goto cleanup;
    rc = QA_OK;
cleanup:
    progress_done();
    free(meta_text);
    cJSON_Delete(meta_out);
    bert_free(m);
    qa_split_free(&train);
    qa_split_free(&dev);
    nq_split_free(&nq_train);
    nq_split_free(&nq_dev);
    tokenizer_free(tok);
    return rc;
}

