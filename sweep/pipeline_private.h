/* sweep/pipeline_private.h: what sweep/pipeline.c, sweep/teacher.c and sweep/prune.c share
 * and nothing else includes (it holds cJSON types, which stay inside these files). */
#ifndef QAPRUNE_PIPELINE_PRIVATE_H
#define QAPRUNE_PIPELINE_PRIVATE_H

#include <cjson/cJSON.h>

#include "core/model/train.h"
#include "core/qa/nq_split.h"
#include "core/qa/qa.h"
#include "sweep/pipeline.h"

/* The TrainOpts progress callback of every training stage: one progress line (ctx names the
 * stage); non-zero once the stop flag is set. */
int pipeline_on_progress(void *ctx, const TrainProgress *p);

/* Reads dir/qaprune.json: a new cJSON (caller deletes), NULL if absent or unreadable. */
cJSON *pipeline_read_meta(const char *dir);

/* The SQuAD scores of a squad_scores_json object (missing keys read as 0). */
void pipeline_scores_from_json(const cJSON *o, SquadScores *s);

/* The NQ scores of an nq_scores_json object: the best-threshold f1, precision, recall and
 * threshold of long and short answers (missing keys read as 0). */
void pipeline_nq_scores_from_json(const cJSON *o, NqScores *s);

/* What an NQ model's scores put in a SquadScores, so that the code that ranks by F1 works on
 * both: f1 = short-answer F1 in percent; exact, has_ans_f1, no_ans_f1, best_f1 NAN. */
void pipeline_nq_squad_view(const NqScores *n, SquadScores *s);

/* The BERT-joint window settings of a model with windows fo on data (training: answerless
 * windows kept with probability data->nq_include_unknowns, chosen by seed). */
NqWindowOpts pipeline_nq_window_opts(const FeatureOpts *fo, const DataPaths *data, int training,
                                     uint64_t seed);

/* Loads an NQ split of data (train or dev file path) windowed with tok; progress on stderr. */
int pipeline_load_nq(const char *path, const NqTokenizer *tok, const NqWindowOpts *o,
                     int with_gold, NqSplit *out);

/* Loads the vocabulary at vocab_path and the train and dev splits of data. */
int pipeline_load_data(const DataPaths *data, Tokenizer *tok, const FeatureOpts *fo,
                       QaSplit *train, QaSplit *dev);

#endif
