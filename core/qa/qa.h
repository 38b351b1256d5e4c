/* core/qa/qa.h: one SQuAD split ready for the engine (questions, windows, the trainer's view),
 * and scoring a model on it with the official metric. */
#ifndef QAPRUNE_QA_H
#define QAPRUNE_QA_H

#include "core/model/bert.h"
#include "core/qa/decode.h"
#include "core/qa/features.h"
#include "core/qa/squad.h"
#include "core/qa/squad_metric.h"
#include "core/model/train.h"
#include "core/text/tokenizer.h"

typedef struct {
    SquadSet *set;  /* owned */
    Features *feat; /* owned */
    QaData data;    /* views into feat */
} QaSplit;

/* Reads the SQuAD file at path and builds its windows with tok and fo; QA_ERR naming the
 * file on failure (nothing is left allocated). Free with qa_split_free. */
int qa_split_load(const char *path, Tokenizer *tok, const FeatureOpts *fo, QaSplit *out);
void qa_split_free(QaSplit *s); /* accepts a zeroed split */

/* Runs m over every window of s (inference, gates may be NULL), decodes with do_ (NULL =
 * defaults: n-best 20, max answer 30, null threshold 0) and scores with the official SQuAD
 * 2.0 metric (na_prob from the null-score differences, so best_* are filled too). When pred
 * is not NULL it gets the predictions (free with predictions_free). */
int qa_evaluate(BertModel *m, const QaSplit *s, int batch_size, const BertGates *gates,
                const DecodeOpts *do_, SquadScores *scores, Predictions **pred);

#endif
