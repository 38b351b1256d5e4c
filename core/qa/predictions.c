/* core/qa/predictions.c: reading and writing predictions.json / na_prob.json (see
 * predictions.h). cJSON stays inside this file. */
#include "core/qa/predictions.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/util/strmap.h"
#include "core/text/text.h"
#include "core/util/fileio.h"

Predictions *predictions_new(int n, int n_na) {
    Predictions *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->id = calloc(n ? n : 1, sizeof *p->id);
    p->text = calloc(n ? n : 1, sizeof *p->text);
    p->na_id = calloc(n_na ? n_na : 1, sizeof *p->na_id);
    p->na_prob = calloc(n_na ? n_na : 1, sizeof *p->na_prob);
    p->n = n;
    p->n_na = n_na;
    if (!p->id || !p->text || !p->na_id || !p->na_prob) {
        predictions_free(p);
        return NULL;
    }
    return p;
}

void predictions_free(Predictions *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        free(p->id[i]);
        free(p->text[i]);
    }
    for (int i = 0; i < p->n_na; i++) free(p->na_id[i]);
    free(p->id);
    free(p->text);
    free(p->na_id);
    free(p->na_prob);
    free(p);
}

static cJSON *parse_file(const char *path) {
    char *buf = NULL;
    size_t len = 0;
    if (file_read(path, 0, &buf, &len)) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        qa_error("%s: byte %ld: not valid JSON", path, end ? (long)(end - buf) : -1L);
    } else if (!cJSON_IsObject(root)) {
        qa_error("%s: expected a JSON object mapping question ids to %s", path,
                 strstr(path, "na_prob") ? "numbers" : "answer texts");
        cJSON_Delete(root);
        root = NULL;
    }
    free(buf);
    return root;
}

/* Fills ids[] (and texts[] or probs[]) from the object's members, Python-dict style: a
 * repeated id keeps its first position and takes the last value. Returns the count. */
static int read_members(const cJSON *obj, const char *path, char **ids, char **texts,
                        double *probs) {
    StrMap *seen = strmap_new(cJSON_GetArraySize(obj));
    if (!seen) return qa_error("%s: out of memory", path);
    int n = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, obj) {
        if (texts ? !cJSON_IsString(m) : !cJSON_IsNumber(m)) {
            strmap_free(seen);
            return qa_error("%s: \"%s\": expected %s", path, m->string,
                            texts ? "a string (the answer text)" : "a number");
        }
        int k = strmap_get(seen, m->string, strlen(m->string));
        if (k < 0) {
            k = n++;
            ids[k] = strdup(m->string);
            if (!ids[k] || strmap_put(seen, ids[k], strlen(ids[k]), k)) {
                strmap_free(seen);
                return qa_error("%s: out of memory", path);
            }
        }
        if (texts) {
            free(texts[k]);
            if (!(texts[k] = strdup(m->valuestring))) {
                strmap_free(seen);
                return qa_error("%s: out of memory", path);
            }
        } else {
            probs[k] = m->valuedouble;
        }
    }
    strmap_free(seen);
    return n;
}

int predictions_load(const char *pred_path, const char *na_prob_path, Predictions **out) {
    *out = NULL;
    cJSON *preds = parse_file(pred_path), *nas = NULL;
    if (!preds) return QA_ERR;
    if (na_prob_path && !(nas = parse_file(na_prob_path))) {
        cJSON_Delete(preds);
        return QA_ERR;
    }
    int rc = QA_ERR;
    Predictions *p = predictions_new(cJSON_GetArraySize(preds), nas ? cJSON_GetArraySize(nas) : 0);
    if (!p) {
        qa_error("%s: out of memory", pred_path);
        goto cleanup;
    }
    int n = read_members(preds, pred_path, p->id, p->text, NULL);
    int n_na = nas ? read_members(nas, na_prob_path, p->na_id, NULL, p->na_prob) : 0;
    if (n < 0 || n_na < 0) goto cleanup;
    p->n = n; /* fewer than allocated when ids repeat; the unused tail is all NULL */
    p->n_na = n_na;
    *out = p;
    p = NULL;
    rc = QA_OK;
cleanup:
    predictions_free(p);
    cJSON_Delete(preds);
    cJSON_Delete(nas);
    return rc;
}

static int write_object(cJSON *obj, const char *path) {
    char *s = obj ? cJSON_Print(obj) : NULL;
    if (!s) return qa_error("%s: out of memory formatting JSON", path);
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        return qa_error("%s: out of memory formatting JSON", path);
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    int rc = file_write_atomic(path, line, n + 1);
    free(line);
    return rc;
}

int predictions_write(const Predictions *p, const char *pred_path, const char *na_prob_path) {
    cJSON *preds = cJSON_CreateObject(), *nas = na_prob_path ? cJSON_CreateObject() : NULL;
    int ok = preds && (!na_prob_path || nas);
    for (int i = 0; ok && i < p->n; i++)
        ok = cJSON_AddStringToObject(preds, p->id[i], p->text[i]) != NULL;
    for (int i = 0; ok && nas && i < p->n_na; i++)
        ok = cJSON_AddNumberToObject(nas, p->na_id[i], p->na_prob[i]) != NULL;
    int rc = ok ? write_object(preds, pred_path) : qa_error("%s: out of memory", pred_path);
    if (!rc && nas) rc = write_object(nas, na_prob_path);
    cJSON_Delete(preds);
    cJSON_Delete(nas);
    return rc;
}
