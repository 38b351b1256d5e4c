/* core/qa/nq_split.c: see nq_split.h. */
#include "core/qa/nq_split.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"

int nq_split_load(const char *path, const NqTokenizer *tok, const NqWindowOpts *o, int with_gold,
                  NqProgressFn progress, void *ctx, NqSplit *out) {
    memset(out, 0, sizeof *out);
    NqReader *r = NULL;
    NqExample ex = {0};
    int got = 0, rc = QA_ERR;
    if (!(out->win = nq_windows_new(o))) return QA_ERR;
    if (with_gold && !(out->gold = nq_gold_new())) {
        qa_env_error(ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    if (nq_reader_open(path, NQ_READ_ALL, &r)) goto cleanup;
    while ((got = nq_reader_next(r, &ex)) == 1) {
        if (nq_windows_add(out->win, &ex, tok, o)) {
            char why[512]; /* qa_error writes the buffer qa_last_error reads */
            snprintf(why, sizeof why, "%s", qa_last_error());
            qa_error("%s: line %ld: %s", path, nq_reader_line(r), why);
            goto cleanup;
        }
        if (out->gold) {
            int grc = nq_gold_add(out->gold, ex.example_id, ex.annotations, ex.n_annotations);
            ex.annotations = NULL; /* owned by the gold now */
            ex.n_annotations = 0;
            if (grc) goto cleanup;
        }
        if (progress && out->win->n_examples % 500 == 0)
            progress(ctx, path, nq_reader_line(r), nq_reader_progress(r));
    }
    if (got < 0 || (out->gold && nq_gold_finish(out->gold))) goto cleanup;
    if (progress) progress(ctx, path, nq_reader_line(r), 1.0);
    const NqWindows *w = out->win;
    out->data = (QaData){w->n, w->seq, w->input_ids, w->type_ids, w->mask, w->start_pos,
                         w->end_pos, w->answer_type};
    rc = QA_OK;
cleanup:
    nq_example_clear(&ex);
    nq_reader_close(r);
    if (rc) nq_split_free(out);
    return rc;
}

void nq_split_free(NqSplit *s) {
    nq_windows_free(s->win);
    nq_gold_free(s->gold);
    memset(s, 0, sizeof *s);
}

/* Runs m over the windows w and decodes them: *out gets new predictions. */
static int predict_windows(BertModel *m, const NqWindows *w, int batch_size,
                           const BertGates *gates, NqPredictions **out) {
    size_t n = (size_t)w->n * w->seq;
    int typed = bert_config(m)->num_answer_types == NQ_N_TYPES;
    float *start = malloc(sizeof(float) * (2 * n + 1));
    float *type = typed ? malloc(sizeof(float) * ((size_t)w->n * NQ_N_TYPES + 1)) : NULL;
    QaData d = {w->n, w->seq, w->input_ids, w->type_ids, w->mask, w->start_pos, w->end_pos,
                w->answer_type};
    int rc = QA_ERR;
    if (!start || (typed && !type))
        qa_env_error(ENOMEM, "nq evaluate: out of memory for %zu logits", 2 * n);
    else if (!qa_predict_typed(m, &d, batch_size, gates, start, start + n, type))
        rc = nq_decode(w, start, start + n, type, NQ_MAX_ANSWER_LEN, out);
    free(start);
    free(type);
    return rc;
}

/* Moves the predictions of part to the end of all (part is freed). */
static int append_predictions(NqPredictions *all, NqPredictions *part) {
    NqPrediction *p = realloc(all->p, ((size_t)all->n + (size_t)part->n + 1) * sizeof *p);
    if (!p) {
        nq_predictions_free(part);
        return qa_env_error(ENOMEM, "nq evaluate: out of memory for %d predictions", all->n + part->n);
    }
    all->p = p;
    memcpy(all->p + all->n, part->p, (size_t)part->n * sizeof *p);
    all->n += part->n;
    free(part->p);
    free(part);
    return QA_OK;
}

int nq_evaluate_file(BertModel *m, const char *path, const NqTokenizer *tok,
                     const NqWindowOpts *o, int batch_size, const BertGates *gates,
                     int chunk_examples, NqProgressFn progress, void *ctx, NqScores *scores,
                     NqPredictions **pred) {
    NqReader *r = NULL;
    NqExample ex = {0};
    NqWindows *w = NULL;
    NqGold *gold = nq_gold_new();
    NqPredictions *all = calloc(1, sizeof *all), *part = NULL;
    int got = 0, rc = QA_ERR;
    if (!gold || !all) {
        qa_env_error(ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    if (nq_reader_open(path, NQ_READ_ALL, &r)) goto cleanup;
    do {
        if (!(w = nq_windows_new(o))) goto cleanup;
        while (w->n_examples < chunk_examples && (got = nq_reader_next(r, &ex)) == 1) {
            if (nq_windows_add(w, &ex, tok, o)) {
                char why[512]; /* qa_error writes the buffer qa_last_error reads */
                snprintf(why, sizeof why, "%s", qa_last_error());
                qa_error("%s: line %ld: %s", path, nq_reader_line(r), why);
                goto cleanup;
            }
            int grc = nq_gold_add(gold, ex.example_id, ex.annotations, ex.n_annotations);
            ex.annotations = NULL; /* owned by the gold now */
            ex.n_annotations = 0;
            if (grc) goto cleanup;
        }
        if (got < 0) goto cleanup;
        if (w->n_examples && (predict_windows(m, w, batch_size, gates, &part) ||
                              append_predictions(all, part)))
            goto cleanup;
        part = NULL;
        if (progress) progress(ctx, path, nq_reader_line(r), got ? nq_reader_progress(r) : 1.0);
        nq_windows_free(w);
        w = NULL;
    } while (got == 1);
    if (nq_gold_finish(gold) || nq_evaluate(gold, all, scores)) goto cleanup;
    if (pred) {
        *pred = all;
        all = NULL;
    }
    rc = QA_OK;
cleanup:
    nq_example_clear(&ex);
    nq_reader_close(r);
    nq_windows_free(w);
    nq_gold_free(gold);
    nq_predictions_free(all);
    return rc;
}

int nq_split_evaluate(BertModel *m, const NqSplit *s, int batch_size, const BertGates *gates,
                      NqScores *scores, NqPredictions **pred) {
    if (!s->gold) return qa_error("nq evaluate: the split was loaded without its annotations");
    NqPredictions *p = NULL;
    if (predict_windows(m, s->win, batch_size, gates, &p) || nq_evaluate(s->gold, p, scores)) {
        nq_predictions_free(p);
        return QA_ERR;
    }
    if (pred) *pred = p;
    else nq_predictions_free(p);
    return QA_OK;
}
