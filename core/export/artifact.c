/* core/export/artifact.c: checkpoint directory -> OUT.onnx plus tokenizer files, config.json
 * and qaprune.json beside it (see artifact.h). */
#include "core/export/artifact.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/model/checkpoint.h"
#include "core/util/error.h"
#include "core/util/fileio.h"

#define META_MAX_BYTES (16 << 20)
#define COPY_MAX_BYTES (256 << 20)

/* Files of a Hugging Face checkpoint that a runtime needs besides the graph. */
static const char *const COPIED[] = {
    "config.json",     "vocab.txt",  "vocab.json", "merges.txt", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json",
};

void export_meta_init(ExportMeta *meta) {
    meta->strategy = NULL;
    meta->f1 = NAN;
    meta->speedup = NAN;
}

/* ---------------------------------------------------------------- reading what the dir says */

/* dir/name parsed as JSON into a new cJSON (caller deletes), NULL when the file is absent.
 * A file that exists but does not parse is an error naming it. */
static int read_json(const char *dir, const char *name, cJSON **out) {
    char path[PATH_MAX], *text;
    size_t n;
    *out = NULL;
    if (path_join(path, sizeof path, dir, name)) return QA_ERR;
    if (!file_exists(path)) return QA_OK;
    if (file_read(path, META_MAX_BYTES, &text, &n)) return QA_ERR;
    *out = cJSON_ParseWithLength(text, n);
    free(text);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return qa_error("%s: not a JSON object", path);
    }
    return QA_OK;
}

static double number_at(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* ---------------------------------------------------------------- writing qaprune.json */

static void add_number_or_null(cJSON *o, const char *key, double v) {
    if (isnan(v)) cJSON_AddNullToObject(o, key);
    else cJSON_AddNumberToObject(o, key, v);
}

static cJSON *axes_json(const OnnxExportOpts *o) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, o->dynamic_batch ? cJSON_CreateString("batch")
                                             : cJSON_CreateNumber(o->batch));
    cJSON_AddItemToArray(a, o->dynamic_seq ? cJSON_CreateString("sequence")
                                           : cJSON_CreateNumber(o->seq));
    return a;
}

/* The pruned structure: per layer heads and FFN width, totals and sparsities. */
static void add_structure(cJSON *root, const BertConfig *c) {
    int ht = c->num_layers * c->num_heads, ft = c->num_layers * c->intermediate_size;
    int hk = bert_total_heads(c), fk = bert_total_ffn(c);
    cJSON_AddNumberToObject(root, "heads_kept", hk);
    cJSON_AddNumberToObject(root, "heads_total", ht);
    cJSON_AddNumberToObject(root, "ffn_kept", fk);
    cJSON_AddNumberToObject(root, "ffn_total", ft);
    cJSON_AddNumberToObject(root, "head_sparsity", ht ? 1.0 - (double)hk / ht : 0.0);
    cJSON_AddNumberToObject(root, "ffn_sparsity", ft ? 1.0 - (double)fk / ft : 0.0);
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (int l = 0; l < c->num_layers; l++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "heads", c->heads[l]);
        cJSON_AddNumberToObject(e, "ffn", c->ffn[l]);
        cJSON_AddItemToArray(layers, e);
    }
}

/* The record of the export, filled from the export itself, the caller's meta and the
 * checkpoint's own qaprune.json / eval.json (src_meta, eval; either may be NULL). */
static cJSON *build_meta(const char *onnx_base, const BertConfig *cfg, const OnnxExportOpts *o,
                         const OnnxExportInfo *info, const ExportMeta *meta,
                         const cJSON *src_meta, const cJSON *eval) {
    cJSON *root = cJSON_CreateObject();
    char data_name[PATH_MAX];
    snprintf(data_name, sizeof data_name, "%s.data", onnx_base);
    cJSON_AddStringToObject(root, "format", "qaprune onnx v1");
    cJSON_AddStringToObject(root, "model", onnx_base);
    if (info->external) cJSON_AddStringToObject(root, "external_data", data_name);
    else cJSON_AddNullToObject(root, "external_data");
    cJSON_AddStringToObject(root, "family", info->family);
    cJSON_AddNumberToObject(root, "opset", o->opset);
    cJSON_AddNumberToObject(root, "ir_version", ONNX_IR_VERSION);
    cJSON *in = cJSON_AddObjectToObject(root, "inputs");
    cJSON_AddItemToObject(in, "input_ids", axes_json(o));
    cJSON_AddItemToObject(in, "attention_mask", axes_json(o));
    if (info->token_types) cJSON_AddItemToObject(in, "token_type_ids", axes_json(o));
    cJSON *out = cJSON_AddObjectToObject(root, "outputs");
    cJSON_AddItemToObject(out, "start_logits", axes_json(o));
    cJSON_AddItemToObject(out, "end_logits", axes_json(o));

    const cJSON *prune = cJSON_GetObjectItemCaseSensitive(src_meta, "prune");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(prune, "strategy");
    const char *strategy = meta->strategy ? meta->strategy
                         : cJSON_IsString(st) ? st->valuestring : NULL;
    if (strategy) cJSON_AddStringToObject(root, "strategy", strategy);
    else cJSON_AddNullToObject(root, "strategy");
    add_structure(root, cfg);
    double f1 = meta->f1;
    if (isnan(f1)) f1 = number_at(eval, "f1");
    if (isnan(f1)) f1 = number_at(cJSON_GetObjectItemCaseSensitive(src_meta, "dev"), "f1");
    add_number_or_null(root, "f1", f1);
    add_number_or_null(root, "speedup", meta->speedup);
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(src_meta, "spec");
    add_number_or_null(root, "max_seq_len", number_at(spec, "max_seq_len"));
    add_number_or_null(root, "doc_stride", number_at(spec, "doc_stride"));
    return root;
}

/* ---------------------------------------------------------------- the artefact */

/* Copies those of COPIED that exist in src into dst, atomically each. */
static int copy_files(const char *src, const char *dst) {
    for (size_t i = 0; i < sizeof COPIED / sizeof *COPIED; i++) {
        char from[PATH_MAX], to[PATH_MAX], *data;
        size_t n;
        if (path_join(from, sizeof from, src, COPIED[i]) ||
            path_join(to, sizeof to, dst, COPIED[i]))
            return QA_ERR;
        if (!file_exists(from)) continue;
        if (file_read(from, COPY_MAX_BYTES, &data, &n)) return QA_ERR;
        int rc = file_write_atomic(to, data, n);
        free(data);
        if (rc) return QA_ERR;
    }
    return QA_OK;
}

/* The directory part of path ("." when none) into buf. */
static int dir_of(char *buf, size_t n, const char *path) {
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 1;
    if (slash && len == 0) len = 1; /* "/x.onnx" */
    if (len >= n) return qa_error("%s: path too long", path);
    memcpy(buf, slash ? path : ".", len);
    buf[len] = '\0';
    return QA_OK;
}

static int same_dir(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int export_artifact(const char *model_dir, const char *onnx_path, const OnnxExportOpts *opts,
                    const ExportMeta *meta, OnnxExportInfo *info) {
    char out_dir[PATH_MAX], meta_path[PATH_MAX];
    const char *base = strrchr(onnx_path, '/');
    base = base ? base + 1 : onnx_path;
    if (!*base) return qa_error("%s: --onnx must name a file", onnx_path);
    if (dir_of(out_dir, sizeof out_dir, onnx_path) || file_mkdirs(out_dir)) return QA_ERR;
    if (same_dir(out_dir, model_dir))
        return qa_error("%s: the export must go to a directory other than the checkpoint's "
                        "(its config.json and qaprune.json would be overwritten)", onnx_path);
    BertModel *m = NULL;
    cJSON *src_meta = NULL, *eval = NULL, *record = NULL;
    char *text = NULL;
    OnnxExportInfo local;
    if (!info) info = &local;
    int rc = QA_ERR;
    if (checkpoint_load(model_dir, &m) || read_json(model_dir, "qaprune.json", &src_meta) ||
        read_json(model_dir, "eval.json", &eval))
        goto cleanup;
    if (onnx_export_model(m, onnx_path, opts, info) || copy_files(model_dir, out_dir) ||
        path_join(meta_path, sizeof meta_path, out_dir, "qaprune.json"))
        goto cleanup;
    record = build_meta(base, bert_config(m), opts, info, meta, src_meta, eval);
    text = record ? cJSON_Print(record) : NULL;
    if (!text) {
        qa_error("%s: out of memory", meta_path);
        goto cleanup;
    }
    if (file_write_atomic(meta_path, text, strlen(text))) goto cleanup;
    rc = QA_OK;
cleanup:
    free(text);
    cJSON_Delete(record);
    cJSON_Delete(src_meta);
    cJSON_Delete(eval);
    bert_free(m);
    return rc;
}
