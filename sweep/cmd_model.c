/* sweep/cmd_model.c: `sweep teacher`, `sweep eval`, `sweep prune`: the pipeline's stages
 * one at a time (the sweep runs them for every grid point). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model/checkpoint.h"
#include "core/util/error.h"
#include "core/model/ops.h"
#include "core/qa/qa.h"
#include "core/text/text.h"
#include "sweep/cli.h"
#include "sweep/commands.h"
#include "sweep/pipeline.h"
#include "sweep/progress.h"
#include "core/util/fileio.h"

/* --threads: an integer in [1, 256]. */
static int parse_threads(const char *v, const char *cmd, int *out) {
    long t;
    if (cli_int(cmd, "--threads", v, 1, 256, &t)) return 2;
    *out = (int)t;
    return 0;
}

static void print_scores(const char *label, const SquadScores *s) {
    printf("%-22s F1 %6.2f  EM %6.2f  HasAns F1 %6.2f  NoAns F1 %6.2f  (best F1 %6.2f)\n", label,
           s->f1, s->exact, s->has_ans_f1, s->no_ans_f1, s->best_f1);
}

int cmd_teacher(int argc, char **argv) {
    const char *data = NULL, *out = NULL, *config = NULL;
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: sweep teacher --data DIR --out DIR [--config FILE] [--threads 2]\n"
                   "                     [--eval-every N]\n"
                   "Trains the embedded default's teacher on DIR/train.json (vocab DIR/vocab.txt),\n"
                   "scores it on DIR/dev.json and saves a checkpoint to --out; reuses --out when it\n"
                   "already holds a teacher of the same settings and data. --config: a JSON object\n"
                   "overriding the settings listed below. --eval-every N: also score the dev set\n"
                   "every N steps while training (progress only; the checkpoint is the same).\n");
            TeacherSpec s;
            teacher_spec_default(&s);
            spec_print(stdout, "settings (defaults):", TEACHER_FIELDS, TEACHER_NFIELDS, &s);
            return 0;
        }
        if (!(v = cli_value("teacher", argc, argv, &i))) return 2;
        if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--config")) config = v;
        else if (!strcmp(a, "--threads")) {
            if (parse_threads(v, "teacher", &threads)) return 2;
        } else if (!strcmp(a, "--eval-every")) {
            long n;
            if (cli_int("teacher", a, v, 0, 1000000000L, &n)) return 2;
            pipeline_set_eval_every(n);
        } else {
            fprintf(stderr, "sweep teacher: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!data || !out) {
        fprintf(stderr, "sweep teacher: --data and --out are required (see --help)\n");
        return 2;
    }
    TeacherSpec spec;
    teacher_spec_default(&spec);
    if (config && spec_apply_file(config, TEACHER_FIELDS, TEACHER_NFIELDS, &spec)) {
        fprintf(stderr, "sweep teacher: %s\n", qa_last_error());
        return 2;
    }
    spec_print(stderr, "teacher settings:", TEACHER_FIELDS, TEACHER_NFIELDS, &spec);
    TeacherResult r;
    DataPaths paths;
    if (data_paths_in_dir(&paths, data) || teacher_build(&spec, &paths, out, threads, &r)) {
        fprintf(stderr, "sweep teacher: %s\n", qa_last_error());
        return 1;
    }
    if (r.reused)
        printf("teacher: reused %s (same settings and data, hash %s)\n", out, r.hash);
    else
        printf("teacher: trained in %.1f s, saved to %s\n", r.train_seconds, out);
    print_scores("teacher dev", &r.dev);
    return 0;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *out = NULL;
    int threads = 2, rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: sweep eval --model DIR --data FILE.json --out DIR [--threads 2]\n"
                   "Scores a checkpoint on a SQuAD file; writes OUT/predictions.json,\n"
                   "OUT/na_prob.json and OUT/eval.json (official SQuAD 2.0 keys).\n");
            return 0;
        }
        if (!(v = cli_value("eval", argc, argv, &i))) return 2;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--threads")) {
            if (parse_threads(v, "eval", &threads)) return 2;
        } else {
            fprintf(stderr, "sweep eval: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!model || !data || !out) {
        fprintf(stderr, "sweep eval: --model, --data and --out are required (see --help)\n");
        return 2;
    }
    ops_set_threads(threads);
    BertModel *m = NULL;
    Tokenizer *tok = NULL;
    QaSplit split = {0};
    Predictions *pred = NULL;
    char *json = NULL;
    FeatureOpts fo;
    SquadScores s;
    char p1[4096], p2[4096], p3[4096];
    if (model_feature_opts(model, &fo) || checkpoint_load(model, &m) ||
        tokenizer_load_dir(model, &tok))
        goto fail;
    fprintf(stderr, "eval: model %s, tokenizer %s (%s input format, %d ids) from",
            model, tokenizer_kind_name(tok), tokenizer_format(tok)->name, tokenizer_vocab_size(tok));
    for (const char *const *f = tokenizer_files(tok); *f; f++) fprintf(stderr, " %s", *f);
    fprintf(stderr, "\neval: windows max_seq_len %d, doc_stride %d, max_query_len %d\n",
            fo.max_seq_len, fo.doc_stride, fo.max_query_len);
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

static int find_field(const char *key) {
    for (int i = 0; i < PRUNE_NFIELDS; i++)
        if (!strcmp(PRUNE_FIELDS[i].key, key)) return i;
    return -1;
}

int cmd_prune(int argc, char **argv) {
    const char *teacher = NULL, *data = NULL, *out = NULL;
    int threads = 2;
    PruneSpec spec;
    prune_spec_default(&spec);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: sweep prune --teacher DIR --data DIR --strategy random|gain|l0\n"
                   "                   --heads F --ffn F --finetune none|standard|distill --out DIR\n"
                   "                   [--threads 2] [--SETTING VALUE ...]\n"
                   "Runs one pruning point end to end. --heads/--ffn are the fractions removed.\n"
                   "Every setting below can be given as --name value (e.g. --ft_steps 800).\n");
            spec_print(stdout, "settings (defaults):", PRUNE_FIELDS, PRUNE_NFIELDS, &spec);
            return 0;
        }
        if (!(v = cli_value("prune", argc, argv, &i))) return 2;
        char json[1200];
        const char *key = !strcmp(a, "--heads") ? "head_sparsity" : !strcmp(a, "--ffn") ? "ffn_sparsity" : a + 2;
        if (!strcmp(a, "--teacher")) teacher = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--threads")) {
            if (parse_threads(v, "prune", &threads)) return 2;
        } else if (!strncmp(a, "--", 2) && find_field(key) >= 0) {
            int f = find_field(key);
            if (PRUNE_FIELDS[f].type == SPEC_STRING)
                snprintf(json, sizeof json, "{\"%s\": \"%s\"}", key, v);
            else
                snprintf(json, sizeof json, "{\"%s\": %s}", key, v);
            if (spec_apply_json(json, "command line", "", PRUNE_FIELDS, PRUNE_NFIELDS, &spec)) {
                fprintf(stderr, "sweep prune: %s\n", qa_last_error());
                return 2;
            }
        } else {
            fprintf(stderr, "sweep prune: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!teacher || !data || !out) {
        fprintf(stderr, "sweep prune: --teacher, --data and --out are required (see --help)\n");
        return 2;
    }
    if (prune_spec_check(&spec, "command line")) {
        fprintf(stderr, "sweep prune: %s\n", qa_last_error());
        return 2;
    }
    spec_print(stderr, "prune settings:", PRUNE_FIELDS, PRUNE_NFIELDS, &spec);
    PruneResult r;
    DataPaths paths;
    if (data_paths_in_dir(&paths, data) || prune_run(&spec, teacher, &paths, out, threads, &r)) {
        fprintf(stderr, "sweep prune: %s\n", qa_last_error());
        return 1;
    }
    print_scores("teacher", &r.teacher);
    print_scores("pruned, before tuning", &r.pruned);
    print_scores("pruned, final", &r.final);
    printf("heads kept %d of %d, FFN neurons kept %d of %d\n", r.heads_kept, r.heads_total,
           r.ffn_kept, r.ffn_total);
    printf("layer  heads  ffn\n");
    for (int l = 0; l < r.layers; l++) printf("%5d  %5d  %4d\n", l, r.layer_heads[l], r.layer_ffn[l]);
    printf("parameters %zu (teacher %zu), forward GFLOP per window %.3f (teacher %.3f, ratio %.2fx)\n",
           r.params, r.teacher_params, r.flops / 1e9, r.teacher_flops / 1e9,
           r.teacher_flops / r.flops);
    printf("outputs: %s (checkpoint, predictions.json, na_prob.json, eval.json)\n", out);
    return 0;
}
