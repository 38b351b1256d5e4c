/* sweep/pipeline_private.h: what sweep/pipeline.c, sweep/teacher.c and sweep/prune.c share
 * and nothing else includes (it holds cJSON types, which stay inside these files). */
#ifndef QAPRUNE_PIPELINE_PRIVATE_H
#define QAPRUNE_PIPELINE_PRIVATE_H

#include <cjson/cJSON.h>

#include "core/model/train.h"
#include "core/qa/qa.h"
#include "sweep/pipeline.h"

/* The TrainOpts progress callback of every training stage: one progress line (ctx names the
 * stage); non-zero once the stop flag is set. */
int pipeline_on_progress(void *ctx, const TrainProgress *p);

/* Reads dir/qaprune.json: a new cJSON (caller deletes), NULL if absent or unreadable. */
cJSON *pipeline_read_meta(const char *dir);

/* The SQuAD scores of a squad_scores_json object (missing keys read as 0). */
void pipeline_scores_from_json(const cJSON *o, SquadScores *s);

/* Loads the vocabulary at vocab_path and the train and dev splits of data. */
int pipeline_load_data(const DataPaths *data, Tokenizer *tok, const FeatureOpts *fo,
                       QaSplit *train, QaSplit *dev);

#endif
