/* sweep/cmd_data.c: the data commands of bin/sweep.
 *   sweep score DATA.json PREDICTIONS.json [--na-prob FILE] [--na-prob-thresh T]
 *   sweep tokenize --model DIR | --vocab FILE [--merges FILE] | --tokenizer-json FILE [--tokens]
 *   sweep gen-data --out DIR --seed S [--train N] [--dev M] [--lookup 0|1] [--bpe-merges K]
 * Results go to stdout; the resolved settings and errors go to stderr. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/qa/predictions.h"
#include "core/qa/squad.h"
#include "core/qa/squad_metric.h"
#include "core/qa/synth.h"
#include "core/text/bpe_train.h"
#include "core/text/tokenizer.h"
#include "core/util/fileio.h"
#include "sweep/cli.h"
#include "sweep/commands.h"

/* Parses a whole-string number into *out; returns 0, or 2 (usage error) after a message. */
static int parse_double(const char *cmd, const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "sweep %s: %s: expected a number, got '%s'\n", cmd, opt, s);
        return 2;
    }
    return 0;
}

static const char score_usage[] =
    "usage: sweep score DATA.json PREDICTIONS.json [--na-prob FILE] [--na-prob-thresh T]\n"
    "  Prints the official SQuAD 2.0 evaluation (evaluate-v2.0.py) as JSON.\n"
    "  --na-prob FILE        no-answer scores (id -> number); adds the best_* figures\n"
    "  --na-prob-thresh T    a no-answer score above T predicts no answer (default 1.0)\n";

int cmd_score(int argc, char **argv) {
    const char *files[2] = {NULL, NULL}, *na_path = NULL;
    double thresh = SQUAD_NA_PROB_THRESH;
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(score_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--na-prob")) {
            if (!(na_path = cli_value("score", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--na-prob-thresh")) {
            if (!(v = cli_value("score", argc, argv, &i))) return 2;
            if (parse_double("score", argv[i - 1], v, &thresh)) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "sweep score: unknown option '%s'\n%s", argv[i], score_usage);
            return 2;
        } else if (n_files < 2) {
            files[n_files++] = argv[i];
        } else {
            fprintf(stderr, "sweep score: too many arguments\n%s", score_usage);
            return 2;
        }
    }
    if (n_files != 2) {
        fputs(score_usage, stderr);
        return 2;
    }
    fprintf(stderr, "score: data %s, predictions %s, na-prob %s, na-prob-thresh %g\n", files[0],
            files[1], na_path ? na_path : "(none)", thresh);
    SquadSet *set = NULL;
    Predictions *pred = NULL;
    SquadScores scores;
    char *json = NULL;
    int rc = 1;
    if (squad_load(files[0], &set) || predictions_load(files[1], na_path, &pred) ||
        squad_evaluate(set, pred, thresh, &scores)) {
        fprintf(stderr, "sweep score: %s\n", qa_last_error());
    } else if (!(json = squad_scores_json(&scores))) {
        fprintf(stderr, "sweep score: out of memory\n");
    } else {
        printf("%s\n", json);
        rc = 0;
    }
    free(json);
    predictions_free(pred);
    squad_free(set);
    return rc;
}

static const char tokenize_usage[] =
    "usage: sweep tokenize (--model DIR | --vocab FILE [--merges FILE] | --tokenizer-json FILE)\n"
    "                      [--tokens] [--cased | --uncased]\n"
    "  Reads UTF-8 lines on stdin; prints per line the token ids separated by spaces\n"
    "  (--tokens: the token strings), without special tokens.\n"
    "  --model DIR           the tokenizer files of a checkpoint (tokenizer.json, or vocab.json\n"
    "                        + merges.txt, or vocab.txt; with tokenizer_config.json and\n"
    "                        special_tokens_map.json when present)\n"
    "  --vocab vocab.txt     WordPiece; uncased (lowercase, strip accents) unless it has\n"
    "                        uppercase entries; --cased / --uncased override\n"
    "  --vocab vocab.json --merges merges.txt    byte-level BPE (GPT-2, RoBERTa)\n"
    "  --tokenizer-json FILE a Hugging Face tokenizer.json alone\n";

int cmd_tokenize(int argc, char **argv) {
    const char *vocab_path = NULL, *merges = NULL, *tj = NULL, *model = NULL;
    int tokens = 0, lowercase = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(tokenize_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--vocab")) {
            if (!(vocab_path = cli_value("tokenize", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--merges")) {
            if (!(merges = cli_value("tokenize", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--tokenizer-json")) {
            if (!(tj = cli_value("tokenize", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--model")) {
            if (!(model = cli_value("tokenize", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--tokens")) {
            tokens = 1;
        } else if (!strcmp(argv[i], "--cased") || !strcmp(argv[i], "--uncased")) {
            lowercase = !strcmp(argv[i], "--uncased");
        } else {
            fprintf(stderr, "sweep tokenize: unknown argument '%s'\n%s", argv[i], tokenize_usage);
            return 2;
        }
    }
    if ((model != NULL) + (vocab_path != NULL) + (tj != NULL) != 1 || (merges && !vocab_path)) {
        fprintf(stderr, "sweep tokenize: give one of --model, --vocab (with --merges for a "
                "vocab.json) or --tokenizer-json\n%s", tokenize_usage);
        return 2;
    }
    Tokenizer *v = NULL;
    TokenizerFiles tf = {.tokenizer_json = tj, .vocab = vocab_path, .merges = merges};
    if ((model ? tokenizer_load_dir(model, &v) : tokenizer_load(&tf, &v)) ||
        (lowercase >= 0 && tokenizer_set_lowercase(v, lowercase))) {
        fprintf(stderr, "sweep tokenize: %s\n", qa_last_error());
        tokenizer_free(v);
        return 1;
    }
    fprintf(stderr, "tokenize: %s, %d ids%s, %s input format, from", tokenizer_kind_name(v),
            tokenizer_vocab_size(v),
            tokenizer_kind(v) == TOKENIZER_BPE ? "" : tokenizer_lowercase(v) ? ", uncased" : ", cased",
            tokenizer_format(v)->name);
    for (const char *const *f = tokenizer_files(v); *f; f++) fprintf(stderr, " %s", *f);
    fprintf(stderr, "; printing %s\n", tokens ? "tokens" : "ids");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
        TextToken *t = NULL;
        int n = 0;
        if (tokenizer_encode(v, line, (size_t)len, &t, &n)) {
            fprintf(stderr, "sweep tokenize: %s\n", qa_last_error());
            rc = 1;
            break;
        }
        for (int k = 0; k < n; k++) {
            if (tokens) printf(k ? " %s" : "%s", tokenizer_token_str(v, t[k].id));
            else printf(k ? " %d" : "%d", t[k].id);
        }
        putchar('\n');
        free(t);
    }
    free(line);
    tokenizer_free(v);
    return rc;
}

static const char gen_data_usage[] =
    "usage: sweep gen-data --out DIR --seed S [--train N] [--dev M] [--lookup 0|1]\n"
    "                      [--bpe-merges K]\n"
    "  Writes the synthetic QA task (SQuAD 2.0 format) as DIR/train.json and DIR/dev.json,\n"
    "  with DIR/vocab.txt covering both; the same seed gives the same files.\n"
    "  --train (default 200000) and --dev (2000) count questions. --lookup 1 (default) adds\n"
    "  two lookup questions per training paragraph (\"Where is X mentioned?\", \"What does\n"
    "  the text say about X?\"), part of the --train count; dev.json never has them.\n"
    "  --bpe-merges K (default 0: none) also writes DIR/vocab.json and DIR/merges.txt, a\n"
    "  byte-level BPE (RoBERTa layout) of K merges learnt on train.json and dev.json.\n";

/* A byte-level BPE of n_merges merges learnt on the contexts and questions of
 * dir/train.json and dir/dev.json, written as dir/vocab.json and dir/merges.txt. Returns the
 * merges learnt, or QA_ERR. */
static int write_bpe(const char *dir, int n_merges) {
    static const char *const splits[2] = {"train.json", "dev.json"};
    char path[4096], merges[4096];
    BpeTrainer *t = NULL;
    int rc = bpe_trainer_new(&t);
    for (int s = 0; s < 2 && rc == QA_OK; s++) {
        SquadSet *set = NULL;
        rc = path_join(path, sizeof path, dir, splits[s]) || squad_load(path, &set) ? QA_ERR : QA_OK;
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

int cmd_gen_data(int argc, char **argv) {
    const char *out_dir = NULL, *v;
    long seed = -1, n_train = SYNTH_DEFAULT_TRAIN, n_dev = SYNTH_DEFAULT_DEV, lookup = 1;
    long bpe_merges = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(gen_data_usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--out")) {
            if (!(out_dir = cli_value("gen-data", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--seed") || !strcmp(argv[i], "--train") ||
                   !strcmp(argv[i], "--dev")) {
            long *dst = argv[i][2] == 's' ? &seed : argv[i][2] == 't' ? &n_train : &n_dev;
            if (!(v = cli_value("gen-data", argc, argv, &i))) return 2;
            if (cli_int("gen-data", argv[i - 1], v, 0, 100000000L, dst)) return 2;
        } else if (!strcmp(argv[i], "--lookup")) {
            if (!(v = cli_value("gen-data", argc, argv, &i))) return 2;
            if (cli_int("gen-data", argv[i - 1], v, 0, 1, &lookup)) return 2;
        } else if (!strcmp(argv[i], "--bpe-merges")) {
            if (!(v = cli_value("gen-data", argc, argv, &i))) return 2;
            if (cli_int("gen-data", argv[i - 1], v, 0, 1000000L, &bpe_merges)) return 2;
        } else {
            fprintf(stderr, "sweep gen-data: unknown argument '%s'\n%s", argv[i], gen_data_usage);
            return 2;
        }
    }
    if (!out_dir || seed < 0) {
        fprintf(stderr, "sweep gen-data: --out and --seed are required\n%s", gen_data_usage);
        return 2;
    }
    fprintf(stderr, "gen-data: out %s, seed %ld, train %ld questions, dev %ld questions, "
            "lookup %ld, bpe merges %ld\n", out_dir, seed, n_train, n_dev, lookup, bpe_merges);
    if (synth_generate(out_dir, (uint64_t)seed, (int)n_train, (int)n_dev, (int)lookup)) {
        fprintf(stderr, "sweep gen-data: %s\n", qa_last_error());
        return 1;
    }
    fprintf(stderr, "gen-data: wrote %s/train.json, %s/dev.json, %s/vocab.txt\n", out_dir,
            out_dir, out_dir);
    if (bpe_merges > 0) {
        int learnt = write_bpe(out_dir, (int)bpe_merges);
        if (learnt < 0) {
            fprintf(stderr, "sweep gen-data: %s\n", qa_last_error());
            return 1;
        }
        fprintf(stderr, "gen-data: wrote %s/vocab.json, %s/merges.txt (%d merges)\n", out_dir,
                out_dir, learnt);
    }
    return 0;
}
