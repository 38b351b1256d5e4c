/* core/qa/predictions.h: a set of answers by question id, in the official SQuAD file formats.
 *
 * predictions.json maps question id -> answer text ("" = no answer); na_prob.json maps
 * question id -> a no-answer score (higher = more likely unanswerable; qaprune writes the
 * null-score difference of decode.h there, as run_squad.py does). The no-answer scores keep
 * their own order (the file's), because the official best-threshold search breaks ties by
 * it. Duplicate ids in a file behave as in a Python dict: first position, last value. */
#ifndef QAPRUNE_PREDICTIONS_H
#define QAPRUNE_PREDICTIONS_H

typedef struct {
    int n;           /* number of answers */
    char **id;       /* [n] question ids (owned) */
    char **text;     /* [n] answer texts (owned), "" for no answer */
    int n_na;        /* number of no-answer scores; 0 when there are none */
    char **na_id;    /* [n_na] question ids (owned) */
    double *na_prob; /* [n_na] no-answer scores */
} Predictions;

/* Returns a new Predictions with room for n answers and n_na scores, every string NULL,
 * n and n_na set (free with predictions_free()); NULL when out of memory. */
Predictions *predictions_new(int n, int n_na);

/* Reads predictions.json (and na_prob.json when na_prob_path is not NULL) into *out (new;
 * free with predictions_free()). Returns 0, or QA_ERR naming the file and the bad entry. */
int predictions_load(const char *pred_path, const char *na_prob_path, Predictions **out);

/* Writes pred_path (id -> text) and, when na_prob_path is not NULL, na_prob_path (id -> score)
 * as JSON objects. Returns 0, or QA_ERR naming the file. */
int predictions_write(const Predictions *p, const char *pred_path, const char *na_prob_path);

void predictions_free(Predictions *p);

#endif
