/* core/qa/qa.c: splits and evaluation (see qa.h). */
#include "core/qa/qa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"

int qa_split_load(const char *path, const WpVocab *vocab, const FeatureOpts *fo, QaSplit *out) {
    memset(out, 0, sizeof *out);
    if (squad_load(path, &out->set)) return QA_ERR;
    if (features_build(out->set, vocab, fo, &out->feat)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", qa_last_error());
        qa_split_free(out);
        return qa_error("%s: %s", path, msg);
    }
    const Features *f = out->feat;
    out->data = (QaData){f->n, f->seq, f->input_ids, f->type_ids, f->mask, f->start_pos,
                         f->end_pos, NULL};
    return QA_OK;
}

void qa_split_free(QaSplit *s) {
    features_free(s->feat);
    squad_free(s->set);
    memset(s, 0, sizeof *s);
}

int qa_evaluate(BertModel *m, const QaSplit *s, int batch_size, const BertGates *gates,
                const DecodeOpts *do_, SquadScores *scores, Predictions **pred) {
    size_t n = (size_t)s->data.n * s->data.T;
    float *start = malloc(sizeof(float) * (2 * n + 1)), *end = start ? start + n : NULL;
    Predictions *p = NULL;
    int rc = QA_ERR;
    if (!start) return qa_error("evaluate: out of memory for %zu logits", 2 * n);
    DecodeOpts d = do_ ? *do_ : DECODE_OPTS_DEFAULT;
    if (qa_predict(m, &s->data, batch_size, gates, start, end) ||
        decode_predictions(s->set, s->feat, start, end, &d, &p) ||
        squad_evaluate(s->set, p, SQUAD_NA_PROB_THRESH, scores))
        goto cleanup;
    if (pred) {
        *pred = p;
        p = NULL;
    }
    rc = QA_OK;
cleanup:
    predictions_free(p);
    free(start);
    return rc;
}
