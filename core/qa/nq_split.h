/* core/qa/nq_split.h: one Natural Questions file ready for the engine (its windows, the
 * trainer's view, the gold annotations), and scoring a model on it with the official metric:
 * the NQ counterpart of qa.h. The file is streamed: one document at a time is in memory,
 * only the windows (and, for scoring, the annotations) of all of them are kept. */
#ifndef QAPRUNE_NQ_SPLIT_H
#define QAPRUNE_NQ_SPLIT_H

#include "core/model/bert.h"
#include "core/model/train.h"
#include "core/qa/nq_metric.h"
#include "core/qa/nq_predict.h"
#include "core/qa/nq_windows.h"

typedef struct {
    NqWindows *win; /* owned */
    NqGold *gold;   /* owned; NULL unless loaded with_gold */
    QaData data;    /* views into win, answer types included */
} NqSplit;

/* Reads path (NQ JSON lines, gzipped or plain, either format) and builds its windows with tok
 * and o (o->training: down-sampled windows for training). with_gold keeps the annotations for
 * nq_split_evaluate. progress (may be NULL) is called every 500 examples and at the end.
 * QA_ERR naming file, line and field (nothing is left allocated). Free with nq_split_free. */
int nq_split_load(const char *path, const NqTokenizer *tok, const NqWindowOpts *o, int with_gold,
                  NqProgressFn progress, void *ctx, NqSplit *out);
void nq_split_free(NqSplit *s); /* accepts a zeroed split */

/* Runs m over every window of s (inference; gates may be NULL), decodes per example
 * (nq_decode, type head used when m has NQ_N_TYPES answer types) and scores against s->gold
 * with the official metric. When pred is not NULL it gets the predictions (free with
 * nq_predictions_free; nq_predictions_write writes the official file). */
int nq_split_evaluate(BertModel *m, const NqSplit *s, int batch_size, const BertGates *gates,
                      NqScores *scores, NqPredictions **pred);

/* Scores m on the NQ file at path without keeping its windows: documents are read, windowed,
 * run and decoded chunk_examples at a time (only the annotations and the predictions of all
 * of them are kept), so a real dev set (~8k documents, ~1 GB) needs the memory of one chunk.
 * Gives the same figures as nq_split_load + nq_split_evaluate. progress as nq_split_load.
 * When pred is not NULL it gets the predictions (free with nq_predictions_free). */
int nq_evaluate_file(BertModel *m, const char *path, const NqTokenizer *tok,
                     const NqWindowOpts *o, int batch_size, const BertGates *gates,
                     int chunk_examples, NqProgressFn progress, void *ctx, NqScores *scores,
                     NqPredictions **pred);

#endif
