/* sweep/cmd_model.c: `sweep teacher`, `sweep eval`, `sweep prune`: the pipeline's stages
 * one at a time (the sweep runs them for every grid point). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/checkpoint.h"
#include "core/model/gemm.h"
#include "core/util/error.h"
#include "core/model/ops.h"
#include "core/model/train.h"
#include "core/prune/strategy.h"
#include "core/qa/nq_split.h"
#include "core/qa/qa.h"
#include "core/text/text.h"
#include "sweep/cli.h"
#include "sweep/commands.h"
#include "sweep/pipeline.h"
#include "sweep/progress.h"
#include "core/util/fileio.h"

static void print_nq_scores(const char *label, const NqScores *s) {
    printf("%-22s long F1 %6.2f (P %6.2f R %6.2f)  short F1 %6.2f (P %6.2f R %6.2f)\n", label,
           100 * s->long_answer.f1, 100 * s->long_answer.precision, 100 * s->long_answer.recall,
           100 * s->short_answer.f1, 100 * s->short_answer.precision,
           100 * s->short_answer.recall);
}

static void print_scores(const char *label, const SquadScores *s) {
    printf("%-22s F1 %6.2f  EM %6.2f  HasAns F1 %6.2f  NoAns F1 %6.2f  (best F1 %6.2f)\n", label,
           s->f1, s->exact, s->has_ans_f1, s->no_ans_f1, s->best_f1);
}

/* Applies --gemm (the backend, globally) and --precision (into *prec, when prec is given);
 * returns 0, or 2 after a one-line error naming the bad value. */
static int apply_speed_opts(const char *cmd, const char *gemm, const char *precision,
                            BertPrecision *prec) {
    GemmBackend b;
    if (gemm_backend_parse(gemm, &b)) {
        fprintf(stderr, "sweep %s: --gemm must be onednn or openblas, got '%s'\n", cmd, gemm);
        return 2;
    }
    gemm_set_backend(b);
    if (prec && bert_precision_parse(precision, prec)) {
        fprintf(stderr, "sweep %s: --precision must be fp32 or bf16, got '%s'\n", cmd, precision);
        return 2;
    }
    return 0;
}

/* --help's settings table of `sweep teacher`. */
static void teacher_help(FILE *f, void *ctx) {
    TeacherSpec s;
    teacher_spec_default(&s);
    spec_print(f, "settings for --config (defaults):", TEACHER_FIELDS, TEACHER_NFIELDS, &s);
}

int cmd_teacher(int argc, char **argv) {
    const char *data = NULL, *out = NULL, *config = NULL;
    const char *gemm = gemm_backend_name(GEMM_DEFAULT);
    int threads = 2, nq = 0;
    long eval_every = 0;
    double include_unknowns = NQ_INCLUDE_UNKNOWNS_DEFAULT;
    const CliOpt opts[] = {
        {"data", CLI_STRING, &data, 0, 0, "DIR",
         "train.json, dev.json and vocab.txt (roberta: vocab.json + merges.txt)", CLI_REQUIRED},
        {"nq", CLI_FLAG, &nq, 0, 0, NULL,
         "DIR holds nq-train.jsonl.gz, nq-dev.jsonl.gz, vocab.txt (gen-data --format nq)",
         CLI_OPTIONAL},
        {"include-unknowns", CLI_DOUBLE, &include_unknowns, 0, 1, "P",
         "--nq: answerless training windows kept (BERT-joint: 0.02)", CLI_OPTIONAL},
        {"out", CLI_STRING, &out, 0, 0, "DIR", "where the checkpoint goes", CLI_REQUIRED},
        {"config", CLI_STRING, &config, 0, 0, "FILE",
         "a JSON object overriding the settings below", CLI_OPTIONAL},
        {"threads", CLI_INT, &threads, 1, 256, "N", "threads for GEMMs and loops", CLI_OPTIONAL},
        {"eval-every", CLI_LONG, &eval_every, 0, 1000000000L, "N",
         "also score the dev set every N steps (progress only; 0: never)", CLI_OPTIONAL},
        {"gemm", CLI_STRING, &gemm, 0, 0, "onednn|openblas", "the GEMM library",
         CLI_OPTIONAL},
    };
    const CliSpec cli = {
        .cmd = "teacher",
        .about =
            "Trains the embedded default's teacher on DIR/train.json, scores it on DIR/dev.json\n"
            "and saves a checkpoint to --out; reuses --out when it already holds a teacher of the\n"
            "same settings and data. family bert: a BERT over DIR/vocab.txt (WordPiece); family\n"
            "roberta: a RoBERTa (model_type roberta) over DIR/vocab.json + DIR/merges.txt (a\n"
            "byte-level BPE: sweep gen-data --bpe-merges K). The checkpoint copies the\n"
            "tokenizer files it was trained with. --nq: Natural Questions files instead\n"
            "(BERT-joint windows, the answer-type head, the official NQ metric).\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
        .help_more = teacher_help,
    };
    int prc = cli_parse(&cli, argc, argv, NULL);
    if (prc != CLI_CONTINUE) return prc;
    if (apply_speed_opts("teacher", gemm, NULL, NULL)) return 2;
    pipeline_set_eval_every(eval_every);
    TeacherSpec spec;
    teacher_spec_default(&spec);
    if (config && spec_apply_file(config, TEACHER_FIELDS, TEACHER_NFIELDS, &spec)) {
        fprintf(stderr, "sweep teacher: %s\n", qa_last_error());
        return 2;
    }
    spec_print(stderr, "teacher settings:", TEACHER_FIELDS, TEACHER_NFIELDS, &spec);
    fprintf(stderr, "  gemm  %s\n", gemm_backend_name(gemm_backend()));
    TeacherResult r;
    DataPaths paths = {0}; /* windows_dir "": no window cache for one command */
    if ((nq ? data_paths_nq_in_dir(&paths, data, include_unknowns)
            : data_paths_in_dir(&paths, data)) ||
        teacher_build(&spec, &paths, out, threads, &r)) {
        fprintf(stderr, "sweep teacher: %s\n", qa_last_error());
        return 1;
    }
    if (r.reused)
        printf("teacher: reused %s (same settings and data, hash %s)\n", out, r.hash);
    else
        printf("teacher: trained in %.1f s, saved to %s\n", r.train_seconds, out);
    if (nq) print_nq_scores("teacher dev", &r.nq_dev);
    else print_scores("teacher dev", &r.dev);
    return 0;
}

static void eval_nq_progress(void *ctx, const char *path, long lines, double fraction) {
    progress_update("eval: %s: %ld documents, %.0f%%", path, lines, 100.0 * fraction);
}

/* sweep eval --nq: a checkpoint on an NQ file, BERT-joint windows of the model's length in
 * its tokenizer's format (WordPiece or BPE, tokenizer_load_dir). */
static int eval_nq(const char *model, const char *data, const char *out, BertPrecision prec) {
    BertModel *m = NULL;
    Tokenizer *tk = NULL;
    NqPredictions *pred = NULL;
    NqScores s;
    FeatureOpts fo;
    char *json = NULL, p1[4096], p2[4096];
    int rc = 1;
    if (model_feature_opts(model, &fo) || checkpoint_load(model, &m) ||
        bert_set_precision(m, prec) || bert_check_seq_len(bert_config(m), fo.max_seq_len, model) ||
        tokenizer_load_dir(model, &tk) || tokenizer_check_special(tk))
        goto fail;
    NqTokenizer tok = nq_tokenizer_of(tk);
    NqWindowOpts wo = NQ_WINDOW_OPTS_DEFAULT;
    wo.max_seq_len = fo.max_seq_len;
    wo.doc_stride = fo.doc_stride;
    wo.max_query_len = fo.max_query_len;
    fprintf(stderr, "eval: NQ %s, model %s (%d answer types, %s tokenizer, %s input format), "
            "windows of %d, stride %d, question %d\n", data, model,
            bert_config(m)->num_answer_types, tokenizer_kind_name(tk), tokenizer_format(tk)->name,
            wo.max_seq_len, wo.doc_stride, wo.max_query_len);
    /* streamed: 256 documents' windows at a time */
    if (nq_evaluate_file(m, data, &tok, &wo, 64, NULL, 256, eval_nq_progress, NULL, &s, &pred) ||
        !(json = nq_scores_json(&s)) ||
        path_join(p1, sizeof p1, out, "predictions.json") || path_join(p2, sizeof p2, out, "eval.json") ||
        file_mkdirs(out) || file_write_atomic(p2, json, strlen(json)) || nq_predictions_write(pred, p1))
        goto fail;
    progress_done();
    printf("%s\n", json);
    fprintf(stderr, "eval: long F1 %.4f, short F1 %.4f; wrote %s, %s\n", s.long_answer.f1,
            s.short_answer.f1, p1, p2);
    rc = 0;
    goto cleanup;
fail:
    progress_done();
    fprintf(stderr, "sweep eval: %s\n", qa_last_error());
cleanup:
    free(json);
    nq_predictions_free(pred);
    tokenizer_free(tk);
    bert_free(m);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *out = NULL;
    const char *gemm = gemm_backend_name(GEMM_DEFAULT), *precision = "fp32";
    BertPrecision prec = BERT_FP32;
    int threads = 2, rc = 1, nq = 0;
    const CliOpt opts[] = {
        {"model", CLI_STRING, &model, 0, 0, "DIR",
         "the checkpoint (ours or Hugging Face's)", CLI_REQUIRED},
        {"data", CLI_STRING, &data, 0, 0, "FILE.json", "a SQuAD-format file", CLI_REQUIRED},
        {"out", CLI_STRING, &out, 0, 0, "DIR", "where the outputs go", CLI_REQUIRED},
        {"threads", CLI_INT, &threads, 1, 256, "N", "threads for GEMMs and loops", CLI_OPTIONAL},
        {"nq", CLI_FLAG, &nq, 0, 0, NULL, "the data is Natural Questions", CLI_OPTIONAL},
        {"gemm", CLI_STRING, &gemm, 0, 0, "onednn|openblas", "the GEMM library",
         CLI_OPTIONAL},
        {"precision", CLI_STRING, &precision, 0, 0, "fp32|bf16",
         "bf16: GEMMs in bf16 with fp32 accumulation", CLI_OPTIONAL},
    };
    const CliSpec cli = {
        .cmd = "eval",
        .about =
            "Scores a checkpoint on a SQuAD file; writes OUT/predictions.json, OUT/na_prob.json\n"
            "and OUT/eval.json (official SQuAD 2.0 keys). The checkpoint's tokenizer files are\n"
            "used: tokenizer.json, or vocab.json + merges.txt, or vocab.txt, with\n"
            "tokenizer_config.json and special_tokens_map.json; config.json's model_type sets\n"
            "the input format. --nq: the file is Natural Questions\n"
            "(JSON lines, gzipped or plain, original or simplified): BERT-joint windows, the\n"
            "answer-type head when the checkpoint has one; OUT/predictions.json in the official\n"
            "NQ format and OUT/eval.json with nq_eval.py's keys.\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
    };
    int prc = cli_parse(&cli, argc, argv, NULL);
    if (prc != CLI_CONTINUE) return prc;
    if (apply_speed_opts("eval", gemm, precision, &prec)) return 2;
    ops_set_threads(threads);
    if (nq) return eval_nq(model, data, out, prec);
    BertModel *m = NULL;
    Tokenizer *tok = NULL;
    QaSplit split = {0};
    Predictions *pred = NULL;
    char *json = NULL;
    FeatureOpts fo;
    SquadScores s;
    char p1[4096], p2[4096], p3[4096];
    if (model_feature_opts(model, &fo) || checkpoint_load(model, &m) ||
        bert_set_precision(m, prec) ||
        bert_check_seq_len(bert_config(m), fo.max_seq_len, model) ||
        tokenizer_load_dir(model, &tok))
        goto fail;
    fprintf(stderr, "eval: model %s, tokenizer %s (%s input format, %d ids) from",
            model, tokenizer_kind_name(tok), tokenizer_format(tok)->name, tokenizer_vocab_size(tok));
    for (const char *const *f = tokenizer_files(tok); *f; f++) fprintf(stderr, " %s", *f);
    fprintf(stderr, "\neval: windows max_seq_len %d, doc_stride %d, max_query_len %d\n",
            fo.max_seq_len, fo.doc_stride, fo.max_query_len);
    fprintf(stderr, "eval: threads %d, gemm %s, precision %s\n", threads,
            gemm_backend_name(gemm_backend()), bert_precision_name(prec));
    if (qa_split_load(data, tok, &fo, &split)) goto fail;
    progress_update("eval: %d windows of %d questions", split.data.n, split.set->n_questions);
    if (qa_evaluate(m, &split, 64, NULL, NULL, &s, &pred)) goto fail;
    progress_done();
    json = squad_scores_json(&s);
    if (path_join(p1, sizeof p1, out, "predictions.json") ||
        path_join(p2, sizeof p2, out, "na_prob.json") || path_join(p3, sizeof p3, out, "eval.json"))
        goto fail;
    if (file_mkdirs(out) || file_write_atomic(p3, json, strlen(json))) goto fail;
    if (predictions_write(pred, p1, p2)) goto fail;
    printf("%s\n", json);
    fprintf(stderr, "eval: wrote %s, %s, %s\n", p1, p2, p3);
    rc = 0;
    goto cleanup;
fail:
    progress_done();
    fprintf(stderr, "sweep eval: %s\n", qa_last_error());
cleanup:
    free(json);
    predictions_free(pred);
    qa_split_free(&split);
    tokenizer_free(tok);
    bert_free(m);
    return rc;
}

/* The settings field --name sets (--heads and --ffn stand for head_sparsity and
 * ffn_sparsity), or -1. */
static int prune_field(const char *name) {
    const char *key = !strcmp(name, "heads") ? "head_sparsity"
                      : !strcmp(name, "ffn") ? "ffn_sparsity"
                                             : name;
    for (int i = 0; i < PRUNE_NFIELDS; i++)
        if (!strcmp(PRUNE_FIELDS[i].key, key)) return i;
    return -1;
}

static int prune_known(void *ctx, const char *name) { return prune_field(name) >= 0; }

/* Sets one setting from its command-line text through the settings table, so that it is
 * validated exactly as in a grid file: {"key": value} with value a JSON string for string
 * settings, else the text read as JSON (a number or true/false; anything else goes in as a
 * string, which the table then refuses with its one-line type error). */
static int prune_apply(void *ctx, const char *name, const char *value) {
    const SpecField *f = &PRUNE_FIELDS[prune_field(name)];
    cJSON *obj = cJSON_CreateObject(), *v = NULL;
    if (f->type != SPEC_STRING) v = cJSON_ParseWithOpts(value, NULL, 1);
    if (!v) v = cJSON_CreateString(value);
    char *json = NULL;
    if (obj && v && cJSON_AddItemToObject(obj, f->key, v)) {
        v = NULL;
        json = cJSON_PrintUnformatted(obj);
    }
    cJSON_Delete(v);
    cJSON_Delete(obj);
    int rc = 2;
    if (!json)
        fprintf(stderr, "sweep prune: out of memory\n");
    else if (spec_apply_json(json, "command line", "", PRUNE_FIELDS, PRUNE_NFIELDS, ctx))
        fprintf(stderr, "sweep prune: %s\n", qa_last_error());
    else
        rc = 0;
    free(json);
    return rc;
}

/* --help's settings table of `sweep prune`: every one is also an option. */
static void prune_help(FILE *f, void *ctx) {
    spec_print(f, "settings, each also an option --name VALUE (defaults):", PRUNE_FIELDS,
               PRUNE_NFIELDS, ctx);
}

int cmd_prune(int argc, char **argv) {
    const char *teacher = NULL, *data = NULL, *out = NULL;
    int threads = 2, nq = 0;
    double include_unknowns = NQ_INCLUDE_UNKNOWNS_DEFAULT;
    PruneSpec spec;
    prune_spec_default(&spec);
    const CliOpt opts[] = {
        {"teacher", CLI_STRING, &teacher, 0, 0, "DIR", "the unpruned checkpoint", CLI_REQUIRED},
        {"data", CLI_STRING, &data, 0, 0, "DIR",
         "train.json, dev.json (and vocab.txt)", CLI_REQUIRED},
        {"nq", CLI_FLAG, &nq, 0, 0, NULL,
         "DIR holds nq-train.jsonl.gz and nq-dev.jsonl.gz (gen-data --format nq)", CLI_OPTIONAL},
        {"include-unknowns", CLI_DOUBLE, &include_unknowns, 0, 1, "P",
         "--nq: answerless training windows kept (BERT-joint: 0.02)", CLI_OPTIONAL},
        {"out", CLI_STRING, &out, 0, 0, "DIR", "where the pruned checkpoint goes", CLI_REQUIRED},
        {"threads", CLI_INT, &threads, 1, 256, "N", "threads for GEMMs and loops", CLI_OPTIONAL},
    };
    const CliExtra settings = {prune_known, prune_apply, &spec};
    const CliSpec cli = {
        .cmd = "prune",
        .about =
            "Runs one pruning point end to end: --strategy " STRATEGY_NAMES_TEXT ", --heads F and\n"
            "--ffn F (the fractions of all heads / all FFN neurons removed; short for\n"
            "--head_sparsity and --ffn_sparsity), --finetune " FINETUNE_NAMES_TEXT ",\n"
            "and any setting below. --nq: on Natural Questions files (NQ windows, the\n"
            "official NQ metric; predictions.json in the NQ format).\n"
            "--strategy dense is the baseline without pruning (distillation alone): a student\n"
            "with round(heads x (1 - F)) heads and round(ffn x (1 - F)) FFN neurons in every\n"
            "layer (the target's FLOPs up to that rounding), fresh Xavier weights in its layers\n"
            "and QA head and the teacher's embeddings copied (the pruned students keep them\n"
            "too, and a small model is in practice distilled from pre-trained embeddings, which\n"
            "on the synthetic task only the teacher has). It is trained by --finetune standard\n"
            "or distill only (none is refused) for dense_steps steps (0 = ft_steps, equal\n"
            "compute; a fresh student may need more to be a fair baseline).\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
        .extra = &settings,
        .help_more = prune_help,
        .help_ctx = &spec,
    };
    int prc = cli_parse(&cli, argc, argv, NULL);
    if (prc != CLI_CONTINUE) return prc;
    if (prune_spec_check(&spec, "command line")) {
        fprintf(stderr, "sweep prune: %s\n", qa_last_error());
        return 2;
    }
    spec_print(stderr, "prune settings:", PRUNE_FIELDS, PRUNE_NFIELDS, &spec);
    PruneResult r;
    DataPaths paths = {0}; /* windows_dir "": no window cache for one command */
    if ((nq ? data_paths_nq_in_dir(&paths, data, include_unknowns)
            : data_paths_in_dir(&paths, data)) ||
        prune_run(&spec, teacher, &paths, out, threads, &r)) {
        fprintf(stderr, "sweep prune: %s\n", qa_last_error());
        return 1;
    }
    if (nq) {
        print_nq_scores("teacher", &r.nq_teacher);
        print_nq_scores("pruned, before tuning", &r.nq_pruned);
        print_nq_scores("pruned, final", &r.nq_final);
    } else {
        print_scores("teacher", &r.teacher);
        print_scores("pruned, before tuning", &r.pruned);
        print_scores("pruned, final", &r.final);
    }
    printf("heads kept %d of %d, FFN neurons kept %d of %d\n", r.heads_kept, r.heads_total,
           r.ffn_kept, r.ffn_total);
    printf("layer  heads  ffn\n");
    for (int l = 0; l < r.layers; l++) printf("%5d  %5d  %4d\n", l, r.layer_heads[l], r.layer_ffn[l]);
    printf("parameters %zu (teacher %zu), forward GFLOP per window %.3f (teacher %.3f, ratio %.2fx)\n",
           r.params, r.teacher_params, r.flops / 1e9, r.teacher_flops / 1e9,
           r.teacher_flops / r.flops);
    printf("outputs: %s (checkpoint, predictions.json, %seval.json)\n", out,
           nq ? "" : "na_prob.json, ");
    return 0;
}
