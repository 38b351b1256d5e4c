/* sweep/cmd_data.c: the data commands of bin/sweep (each one's option table is its --help).
 *   sweep score DATA.json PREDICTIONS.json [--na-prob FILE] [--na-prob-thresh T]
 *   sweep score --nq GOLD PREDICTIONS.json
 *   sweep tokenize (--model DIR | --vocab FILE [--merges FILE] | --tokenizer-json FILE)
 *                  [--tokens] [--cased | --uncased]
 *   sweep gen-data --out DIR --seed S [--train N] [--dev M] [--lookup 0|1]
 *                  [--bpe-merges K] [--format nq]
 * Results go to stdout; the resolved settings and errors go to stderr. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/qa/nq_metric.h"
#include "core/qa/predictions.h"
#include "core/qa/squad.h"
#include "core/qa/squad_metric.h"
#include "core/qa/synth.h"
#include "core/text/tokenizer.h"
#include "core/util/fileio.h"
#include "core/qa/synth_nq.h"
#include "sweep/cli.h"
#include "sweep/commands.h"
#include "sweep/pipeline.h"
#include "sweep/progress.h"

static void score_nq_progress(void *ctx, const char *path, long lines, double fraction) {
    progress_update("score: %s: %ld lines, %.0f%%", path, lines, 100.0 * fraction);
}

/* sweep score --nq GOLD PREDICTIONS: the official NQ metric (nq_eval.py). */
static int score_nq(const char *gold_path, const char *pred_path) {
    fprintf(stderr, "score: Natural Questions, gold %s, predictions %s\n", gold_path, pred_path);
    NqGold *gold = NULL;
    NqPredictions *pred = NULL;
    NqScores scores;
    char *json = NULL;
    int rc = 1, loaded = nq_gold_load(gold_path, score_nq_progress, NULL, &gold);
    progress_done();
    if (loaded || nq_predictions_load(pred_path, &pred) || nq_evaluate(gold, pred, &scores)) {
        fprintf(stderr, "sweep score: %s\n", qa_last_error());
    } else if (!(json = nq_scores_json(&scores))) {
        fprintf(stderr, "sweep score: out of memory\n");
    } else {
        printf("%s\n", json);
        fprintf(stderr, "score: %d examples; gold long answers %d, short answers %d\n",
                gold->n, scores.long_answer.n_gold, scores.short_answer.n_gold);
        rc = 0;
    }
    free(json);
    nq_predictions_free(pred);
    nq_gold_free(gold);
    return rc;
}

int cmd_score(int argc, char **argv) {
    const char *files[2] = {NULL, NULL}, *na_path = NULL;
    double thresh = SQUAD_NA_PROB_THRESH;
    int nq = 0;
    const CliOpt opts[] = {
        {"nq", CLI_FLAG, &nq, 0, 0, NULL, "Natural Questions (nq_eval.py) instead of SQuAD",
         CLI_OPTIONAL},
        {"na-prob", CLI_STRING, &na_path, 0, 0, "FILE",
         "no-answer scores (id -> number); adds the best_* figures", CLI_OPTIONAL},
        {"na-prob-thresh", CLI_DOUBLE, &thresh, 0, 0, "T",
         "a no-answer score above T predicts no answer", CLI_OPTIONAL},
    };
    const CliSpec spec = {
        .cmd = "score",
        .synopsis = "DATA.json PREDICTIONS.json",
        .about = "Prints the official SQuAD 2.0 evaluation (evaluate-v2.0.py) as JSON.\n"
                 "--nq: the official Natural Questions evaluation (nq_eval.py: long- and short-\n"
                 "answer F1 at the best threshold, recall at precision >= 0.5/0.75/0.9, its JSON\n"
                 "keys); DATA is the gold, NQ JSON lines (gzipped or plain, original or simplified\n"
                 "format, or a quoted glob of files such as the five dev shards), PREDICTIONS\n"
                 "{\"predictions\": [...]} in the official prediction format.\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
        .pos = files,
        .min_pos = 2,
        .max_pos = 2,
    };
    int prc = cli_parse(&spec, argc, argv, NULL);
    if (prc != CLI_CONTINUE) return prc;
    if (nq && na_path) {
        fprintf(stderr, "sweep score: --na-prob is for SQuAD, not --nq (see sweep score --help)\n");
        return 2;
    }
    if (nq) return score_nq(files[0], files[1]);
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

int cmd_tokenize(int argc, char **argv) {
    const char *vocab_path = NULL, *merges = NULL, *tj = NULL, *model = NULL;
    int tokens = 0, lowercase = -1;
    const CliOpt opts[] = {
        {"model", CLI_STRING, &model, 0, 0, "DIR", "the tokenizer files of a checkpoint",
         CLI_OPTIONAL},
        {"vocab", CLI_STRING, &vocab_path, 0, 0, "FILE",
         "a WordPiece vocab.txt, or a BPE vocab.json (with --merges)", CLI_OPTIONAL},
        {"merges", CLI_STRING, &merges, 0, 0, "FILE", "the BPE merges.txt of --vocab",
         CLI_OPTIONAL},
        {"tokenizer-json", CLI_STRING, &tj, 0, 0, "FILE", "a Hugging Face tokenizer.json alone",
         CLI_OPTIONAL},
        {"tokens", CLI_FLAG, &tokens, 0, 0, NULL,
         "print the token strings instead of ids", CLI_OPTIONAL},
        {"cased", CLI_CONST, &lowercase, 0, 0, NULL, "keep case and accents", CLI_OPTIONAL},
        {"uncased", CLI_CONST, &lowercase, 1, 0, NULL, "lowercase and strip accents", CLI_OPTIONAL},
    };
    const CliSpec spec = {
        .cmd = "tokenize",
        .about =
            "Reads UTF-8 lines on stdin; prints per line the token ids separated by spaces\n"
            "(--tokens: the token strings), without special tokens. Give one of --model (a\n"
            "checkpoint's tokenizer.json, or vocab.json + merges.txt, or vocab.txt, with its\n"
            "tokenizer_config.json and special_tokens_map.json), --vocab vocab.txt (WordPiece),\n"
            "--vocab vocab.json --merges merges.txt (byte-level BPE) or --tokenizer-json. A bare\n"
            "vocab.txt counts as uncased unless it has uppercase entries; --cased / --uncased\n"
            "override (WordPiece only).\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
    };
    int prc = cli_parse(&spec, argc, argv, NULL);
    if (prc != CLI_CONTINUE) return prc;
    if ((model != NULL) + (vocab_path != NULL) + (tj != NULL) != 1 || (merges && !vocab_path)) {
        fprintf(stderr, "sweep tokenize: give one of --model, --vocab (with --merges for a "
                "vocab.json) or --tokenizer-json (see sweep tokenize --help)\n");
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

int cmd_gen_data(int argc, char **argv) {
    const char *out_dir = NULL;
    long seed = 0, n_train = SYNTH_DEFAULT_TRAIN, n_dev = SYNTH_DEFAULT_DEV, lookup = 1;
    long bpe_merges = 0;
    const char *format = "squad";
    const CliOpt opts[] = {
        {"format", CLI_STRING, &format, 0, 0, "squad|nq",
         "nq: as Natural Questions documents (nq-train/nq-dev.jsonl.gz)", CLI_OPTIONAL},
        {"out", CLI_STRING, &out_dir, 0, 0, "DIR",
         "where train.json, dev.json, vocab.txt go", CLI_REQUIRED},
        {"seed", CLI_LONG, &seed, 0, 100000000L, "S", "the generator's seed", CLI_REQUIRED},
        {"train", CLI_LONG, &n_train, 0, 100000000L, "N", "training questions", CLI_OPTIONAL},
        {"dev", CLI_LONG, &n_dev, 0, 100000000L, "M", "dev questions", CLI_OPTIONAL},
        {"lookup", CLI_LONG, &lookup, 0, 1, "0|1",
         "1: two lookup questions per training paragraph", CLI_OPTIONAL},
        {"bpe-merges", CLI_LONG, &bpe_merges, 0, 1000000L, "K",
         "K > 0: also a byte-level BPE of K merges (vocab.json, merges.txt)", CLI_OPTIONAL},
    };
    const CliSpec spec = {
        .cmd = "gen-data",
        .about =
            "Writes the synthetic QA task (SQuAD 2.0 format) as DIR/train.json and DIR/dev.json,\n"
            "with DIR/vocab.txt covering both; the same seed gives the same files. The lookup\n"
            "questions (\"Where is X mentioned?\", \"What does the text say about X?\") are part of\n"
            "the --train count; dev.json never has them. --bpe-merges K also writes DIR/vocab.json\n"
            "and DIR/merges.txt, a byte-level BPE (RoBERTa's layout) learnt on both files.\n"
            "--format nq: the same task as Natural\n"
            "Questions documents (HTML blocks as long-answer candidates, yes/no questions, five\n"
            "annotations per dev example): DIR/nq-train.jsonl.gz, DIR/nq-dev.jsonl.gz and\n"
            "DIR/vocab.txt (with BERT-joint's markup tokens); the SQuAD files stay in DIR/squad/.\n",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof opts[0]),
    };
    int prc = cli_parse(&spec, argc, argv, NULL);
    if (prc != CLI_CONTINUE) return prc;
    if (strcmp(format, "squad") && strcmp(format, "nq")) {
        fprintf(stderr, "sweep gen-data: --format: expected squad or nq, got '%s' (see sweep "
                "gen-data --help)\n", format);
        return 2;
    }
    fprintf(stderr, "gen-data: out %s, seed %ld, train %ld questions, dev %ld questions, lookup %ld, "
            "format %s, bpe merges %ld\n", out_dir, seed, n_train, n_dev, lookup, format, bpe_merges);
    if (!strcmp(format, "nq")) {
        if (synth_nq_generate(out_dir, (uint64_t)seed, (int)n_train, (int)n_dev, (int)lookup)) {
            fprintf(stderr, "sweep gen-data: %s\n", qa_last_error());
            return 1;
        }
        fprintf(stderr, "gen-data: wrote %s/nq-train.jsonl.gz, %s/nq-dev.jsonl.gz, %s/vocab.txt\n",
                out_dir, out_dir, out_dir);
        return 0;
    }
    if (synth_generate(out_dir, (uint64_t)seed, (int)n_train, (int)n_dev, (int)lookup)) {
        fprintf(stderr, "sweep gen-data: %s\n", qa_last_error());
        return 1;
    }
    fprintf(stderr, "gen-data: wrote %s/train.json, %s/dev.json, %s/vocab.txt\n", out_dir,
            out_dir, out_dir);
    if (bpe_merges > 0) {
        int learnt = data_write_bpe(out_dir, (int)bpe_merges);
        if (learnt < 0) {
            fprintf(stderr, "sweep gen-data: %s\n", qa_last_error());
            return 1;
        }
        fprintf(stderr, "gen-data: wrote %s/vocab.json, %s/merges.txt (%d merges)\n", out_dir,
                out_dir, learnt);
    }
    return 0;
}
