/* sweep/pipeline.h: the stages of one grid point: train (or reuse) the teacher, then prune
 * it with a strategy, fine-tune, and score. Shared by `sweep teacher`, `sweep prune` and the
 * sweep scheduler. Progress goes to stderr; results come back in structs. */
#ifndef QAPRUNE_PIPELINE_H
#define QAPRUNE_PIPELINE_H

#include <signal.h>

#include "core/model/bert.h"
#include "core/qa/features.h"
#include "core/qa/nq_metric.h"
#include "core/qa/squad_metric.h"
#include "core/util/fileio.h"
#include "core/util/hash.h"
#include "sweep/spec.h"

/* How the embedded default teacher is built and trained (its identity, with the data).
 * family "bert": a BERT encoder over the data's WordPiece vocab.txt; "roberta": RoBERTa's
 * (model_type roberta: one token type, LayerNorm eps 1e-5, position ids from padding_idx + 1
 * as Hugging Face's RobertaEmbeddings, <s> </s> <pad> from the tokenizer) over the data's
 * byte-level BPE vocab.json + merges.txt. */
typedef struct {
    char family[SPEC_STR]; /* "bert" or "roberta" */
    int layers, hidden, heads, ffn;
    int max_seq_len, doc_stride, max_query_len;
    int batch_size, steps;
    double lr, warmup, weight_decay, dropout;
    int seed;
    char init[SPEC_STR];     /* "xavier" or "bert" (N(0, 0.02)) */
    char pos_init[SPEC_STR]; /* "random" or "sinusoid" (position embeddings' start) */
    char train_precision[SPEC_STR]; /* fp32 | bf16: the training GEMMs (TrainOpts.precision) */
} TeacherSpec;

/* Checks what the field table cannot: the names of family, init and pos_init, hidden a multiple of
 * heads, the window (window_check). QA_ERR naming file, path.key and the value. */
int teacher_spec_check(const TeacherSpec *s, const char *file, const char *path);
/* Checks a window setting: at least one context token after the question, and a stride no
 * longer than a window's context (else text between windows is never seen). specials: the
 * special tokens of a window, 3 for BERT ([CLS] q [SEP] c [SEP]), 4 for RoBERTa
 * (<s> q </s></s> c </s>): window_specials(). */
int window_check(const FeatureOpts *fo, int specials, const char *file, const char *path);
/* The special tokens of one window of a model of this family. */
int window_specials(BertFamily family);

extern const SpecField TEACHER_FIELDS[];
extern const int TEACHER_NFIELDS;
void teacher_spec_default(TeacherSpec *s);
/* The settings as they enter the teacher's identity (teacher_hash, the grid's teacher
 * identity): spec_to_json of every field, less family when it is "bert", so that a BERT
 * teacher keeps the identity it had before there were families (caches stay valid). A new
 * string (free with free()), or NULL after qa_error. */
char *teacher_identity_json(const TeacherSpec *s);

typedef struct {
    SquadScores dev;      /* the teacher's dev scores (NQ data: f1 = short-answer F1, see
                           * pipeline_nq_squad_view; the rest NAN) */
    NqScores nq_dev;      /* NQ data: the official NQ scores (fractions) */
    double train_seconds; /* 0 when reused from the cache */
    int reused;
    char hash[HASH_HEX]; /* teacher_hash: what its qaprune.json records */
} TeacherResult;

/* The data of a run: SQuAD-format train and dev files and, for training a teacher, the
 * tokenizer files of the data (a pruned or scored model always uses its own checkpoint's):
 * vocab, a WordPiece vocab.txt (a BERT teacher's), and bpe_vocab + bpe_merges, a byte-level
 * BPE's vocab.json + merges.txt (a RoBERTa teacher's); "" for the ones not given.
 * windows_dir (may be ""): where the tokenized training windows are cached by content
 * (core/qa/windows.h), so that the points of a sweep tokenize the training set once.
 * nq = 1: train and dev are Natural Questions JSON lines (core/qa/nq.h, gzipped or plain,
 * either format) instead, windowed as BERT-joint does (core/qa/nq_windows.h) with the
 * model's window settings; training windows without an answer are kept with probability
 * nq_include_unknowns; scores are the official NQ metric's (core/qa/nq_metric.h). */
typedef struct {
    char train[4096], dev[4096];
    char vocab[4096];                       /* vocab.txt */
    char bpe_vocab[4096], bpe_merges[4096]; /* vocab.json, merges.txt */
    char windows_dir[4096];
    int nq;
    double nq_include_unknowns;
} DataPaths;

/* BERT-joint's share of answerless training windows kept (run_nq.py --include_unknowns) */
#define NQ_INCLUDE_UNKNOWNS_DEFAULT 0.02

/* Fills d with DIR/train.json, DIR/dev.json and the tokenizer files DIR/vocab.txt,
 * DIR/vocab.json, DIR/merges.txt (whether or not they exist; teacher_build says which one
 * is missing); QA_ERR if a path is too long. */
int data_paths_in_dir(DataPaths *d, const char *dir);
/* Fills d with what `sweep gen-data --format nq` writes: DIR/nq-train.jsonl.gz,
 * DIR/nq-dev.jsonl.gz, DIR/vocab.txt, nq = 1, include_unknowns (0..1); QA_ERR if a path is
 * too long. */
int data_paths_nq_in_dir(DataPaths *d, const char *dir, double include_unknowns);

/* The tokenizer files of data a teacher of this family reads (tokenizer_load's), and the
 * paths it hashes: *n of at most 2 into paths (vocab.txt; or vocab.json, merges.txt). QA_ERR
 * naming the family when data gives none of them, or naming a file that does not exist. */
int data_tokenizer_files(const DataPaths *data, const char *family, TokenizerFiles *tf,
                         const char *paths[2], int *n);

/* Writes DIR/vocab.json and DIR/merges.txt: a byte-level BPE of n_merges merges learnt on
 * the contexts and questions of DIR/train.json and DIR/dev.json (core/text/bpe_train.h).
 * Returns the merges learnt, or QA_ERR. */
int data_write_bpe(const char *dir, int n_merges);

/* Hash of the teacher's identity: its settings (teacher_identity_json) and the bytes of its
 * data files: train, dev and the tokenizer files of its family (data_tokenizer_files). */
int teacher_hash(const TeacherSpec *spec, const DataPaths *data, char out[HASH_HEX]);

/* Trains a teacher of spec->family on data->train (tokenized with the family's tokenizer
 * files of data), scores it on data->dev and saves it to out_dir as a checkpoint (config.json
 * of its model_type, with copies of the tokenizer files) plus out_dir/qaprune.json (its spec,
 * hash and scores). When out_dir already holds a teacher with the same hash, it is reused and
 * nothing is trained. NQ data: the model gets the answer-type head (NQ_N_TYPES logits) and
 * trains on BERT-joint windows (answerless ones down-sampled with the spec's seed);
 * res->nq_dev holds the NQ scores, qaprune.json's "dev" nq_eval.py's keys and "data_format"
 * "nq". */
int teacher_build(const TeacherSpec *spec, const DataPaths *data, const char *out_dir,
                  int threads, TeacherResult *res);

/* Makes teacher_build score the dev set every n steps while it trains (0: only at the end)
 * and print the scores to stderr. Not part of the teacher's identity. */
void pipeline_set_eval_every(long n);

/* Feature settings a model was trained with (out_dir/qaprune.json), or run_squad's defaults
 * when the checkpoint has none (a checkpoint from elsewhere). */
int model_feature_opts(const char *model_dir, FeatureOpts *fo);

/* One pruning point. */
typedef struct {
    char strategy[SPEC_STR]; /* random | gain | l0 | dense */
    double head_sparsity, ffn_sparsity;
    char finetune[SPEC_STR]; /* none | standard | distill */
    int seed;
    int gain_batches, gain_steps;
    int l0_steps;
    double l0_lr, l0_lambda_lr;
    int ft_steps, batch_size;
    int dense_steps; /* dense: fine-tuning steps of the fresh student; 0 = ft_steps */
    double ft_lr, distill_alpha, distill_temp;
    int eval_batch;
    char precision[SPEC_STR]; /* fp32 | bf16: the pruned model's scoring and latency */
    char gemm[SPEC_STR];      /* onednn | openblas */
    char train_precision[SPEC_STR]; /* fp32 | bf16: l0's and fine-tuning's training GEMMs */
} PruneSpec;

extern const SpecField PRUNE_FIELDS[];
extern const int PRUNE_NFIELDS;
void prune_spec_default(PruneSpec *s);
/* Checks the string fields (strategy, finetune, precision, gemm), and that a dense student
 * is trained (finetune standard or distill, and steps: prune_spec_check_dense); QA_ERR
 * naming the bad value. */
int prune_spec_check(const PruneSpec *s, const char *file);
/* For strategy dense with fine-tune mode `finetune`: QA_ERR naming file and mode_key when
 * the mode is none, file and steps_key when there are no fine-tuning steps: a fresh student
 * that is not trained measures nothing. The grid checks its axes with it before any point
 * runs (a grid error, not a failed point). */
int prune_spec_check_dense(const PruneSpec *s, const char *finetune, const char *file,
                           const char *mode_key, const char *steps_key);
/* Fine-tuning steps of the point: dense_steps for a dense student when set, else ft_steps. */
int prune_spec_ft_steps(const PruneSpec *s);
/* The point's method as results record it (runs.strategy) and charts and tables show it:
 * the strategy's name, except iterative gain, "gain-iterK" for gain_steps K > 1, so that it
 * is a series of its own beside one-shot gain. Writes at most cap bytes into buf. */
void prune_spec_label(const PruneSpec *s, char *buf, size_t cap);

typedef struct {
    SquadScores teacher, pruned, final; /* before pruning, right after, after fine-tuning
                                         * (NQ data: f1 = short-answer F1, the rest NAN) */
    int nq;                             /* 1: NQ data; the official NQ scores below */
    NqScores nq_teacher, nq_pruned, nq_final;
    int heads_kept, heads_total, ffn_kept, ffn_total;
    int layers, layer_heads[BERT_MAX_LAYERS], layer_ffn[BERT_MAX_LAYERS];
    size_t params, teacher_params;
    double flops, teacher_flops; /* forward FLOPs of one max_seq_len window */
    double train_seconds;        /* strategy + fine-tuning */
    double peak_rss_mb;          /* the process's peak resident memory at the end, MiB */
} PruneResult;

/* Runs one point: loads the teacher checkpoint (teacher_dir), the data (data->train and
 * data->dev, tokenized with the teacher's tokenizer files, tokenizer_load_dir), selects gates, prunes physically,
 * fine-tunes, scores, and saves the pruned checkpoint, predictions.json, na_prob.json and
 * eval.json into out_dir (NULL: save nothing). NQ data: NQ windows and the NQ metric
 * (res->nq set, nq_* filled), predictions.json in the official NQ format, no na_prob.json. */
int prune_run(const PruneSpec *spec, const char *teacher_dir, const DataPaths *data,
              const char *out_dir, int threads, PruneResult *res);

/* What every point of a sweep on this teacher and data shares, done once before the workers
 * start, into data->windows_dir: the training windows (its vocabulary and feature settings)
 * and the teacher's dev scores, each under a key of the contents it comes from, unless
 * already there. prune_run then maps and reads them instead of redoing them. */
int prune_prepare(const char *teacher_dir, const DataPaths *data, int eval_batch);

/* Training stages stop (failing with "interrupted") within ~2 s once *flag is non-zero;
 * the sweep points it at its SIGINT/SIGTERM flag. NULL: never stop. */
void pipeline_set_stop_flag(volatile sig_atomic_t *flag);

#endif
