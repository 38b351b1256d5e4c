/* core/model/train.h: the QA training loop over windows, and batched inference.
 *
 * The data is a plain view of n windows of T tokens (the features module's arrays, or any
 * other source): no tokenizer or SQuAD type reaches the trainer. Each batch is trimmed to
 * its longest real sequence (the padding mask makes the trimmed positions invisible to the
 * real ones, so their logits are unchanged; the span loss then runs over real positions only).
 * Progress goes through a callback; the trainer knows nothing of files or databases. */
#ifndef QAPRUNE_TRAIN_H
#define QAPRUNE_TRAIN_H

#include <stdint.h>

#include "core/model/bert.h"

typedef struct {
    int n, T;                           /* windows, tokens per window */
    const int32_t *ids, *types, *mask;  /* [n*T] each */
    const int32_t *start, *end;         /* [n] gold positions (0 = [CLS]: no answer here) */
    /* [n] answer types for a model with a type head (Natural Questions), or NULL: then the
     * loss is the span loss alone. With them it is BERT-joint's (CE start + CE end + CE type)
     * / 3, distilled term by term when there is a teacher. */
    const int32_t *answer_type;
} QaData;

/* A batch assembled from windows idx[0..B): copies into owned buffers, trimmed to Tb. */
typedef struct {
    int B, Tb, cap_tokens, cap_rows;
    int32_t *ids, *types, *mask, *start, *end, *answer_type;
} QaBatch;

/* Fills b with windows idx[0..B) of d (grows its buffers); QA_ERR when out of memory. */
int qa_batch_fill(QaBatch *b, const QaData *d, const int *idx, int B);
void qa_batch_free(QaBatch *b); /* frees the buffers, not b */

typedef struct {
    long step, total_steps;
    float loss;    /* running mean of the recent training losses */
    float lr;
    double seconds;
} TrainProgress;

/* Per-step hooks for strategies that train gates with the model (L0). */
typedef struct {
    /* Before each forward: may point gates->head / gates->ffn at gate values for the step. */
    int (*before_step)(void *ctx, long step, BertGates *gates);
    /* After backward: gate gradients of this step ([total heads], [total ffn]). */
    int (*after_backward)(void *ctx, long step, const float *dhead, const float *dffn);
    void *ctx;
} TrainHooks;

typedef struct {
    int batch_size;       /* 32 */
    long steps;           /* total optimizer steps */
    float lr;             /* peak learning rate */
    float warmup;         /* fraction of steps of linear warm-up (0.1) */
    float weight_decay;   /* 0.01 */
    float clip;           /* max gradient norm (1.0); 0 = no clipping */
    uint64_t seed;        /* shuffling and dropout */
    /* Distillation: when teacher is not NULL, every batch also runs through it (inference,
     * no dropout) and the loss is loss_distill with its logits. It must be another model
     * than the one trained (their logits must both stay valid) and read the same ids. */
    BertModel *teacher;
    float distill_alpha, distill_temp;
    const TrainHooks *hooks;   /* may be NULL */
    /* BERT_FP32 (the default) or BERT_BF16: the run's bert_set_train_precision (the linear
     * layers' GEMMs in bf16, fp32 master weights); the model's own is restored at the end. */
    BertPrecision precision;
    /* May be NULL; called every ~2 s and at the end. A non-zero return stops training
     * (train_qa then fails with "interrupted"), so a caller can honour Ctrl-C. */
    int (*progress)(void *ctx, const TrainProgress *p);
    void *progress_ctx;
} TrainOpts;

/* Fine-tuning after pruning (DESIGN.md, step 5): none, the gold span loss, or distillation
 * from the unpruned teacher mixed with the gold loss. FINETUNE_NAMES is the one list the
 * grid parser, the settings checks and the help texts read. */
typedef enum { FINETUNE_NONE, FINETUNE_STANDARD, FINETUNE_DISTILL, FINETUNE_N } FinetuneMode;
extern const char *const FINETUNE_NAMES[FINETUNE_N];
#define FINETUNE_NAMES_TEXT "none | standard | distill"
/* Parses a name of FINETUNE_NAMES; QA_ERR naming the value otherwise. */
int finetune_parse(const char *name, FinetuneMode *out);
const char *finetune_name(FinetuneMode m);

typedef struct {
    long steps;
    float final_loss; /* running mean at the end */
    double seconds;
} TrainStats;

/* Fills o with the defaults above (steps 1000, lr 1e-4, batch 32, no distillation). */
void train_opts_init(TrainOpts *o);

/* Trains m on d with AdamW under a linear warm-up/decay schedule. Returns QA_ERR (naming the
 * step) when the loss or the gradient norm becomes NaN or infinite, or out of memory; the
 * model is then left as it was after the last good step. */
int train_qa(BertModel *m, const QaData *d, const TrainOpts *o, TrainStats *stats);

/* Logits of every window (inference, no dropout): start, end [n*T], positions beyond a
 * batch's trimmed length set to -1e30. gates may be NULL. */
int qa_predict(BertModel *m, const QaData *d, int batch_size, const BertGates *gates,
               float *start, float *end);
/* qa_predict that also writes the answer-type logits [n*NT] to type (when not NULL and the
 * model has a type head). */
int qa_predict_typed(BertModel *m, const QaData *d, int batch_size, const BertGates *gates,
                     float *start, float *end, float *type);

#endif
