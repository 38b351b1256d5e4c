/* sweep/spec.c: field tables over JSON (see spec.h). */
#include "sweep/spec.h"
#include "sweep/spec_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/error.h"
#include "core/text/text.h"
#include "core/util/fileio.h"

static const char *type_name(SpecType t) {
    return t == SPEC_INT ? "an integer" : t == SPEC_DOUBLE ? "a number"
                                        : t == SPEC_STRING ? "a string" : "true or false";
}

int spec_apply_object(const cJSON *obj, const char *file, const char *path,
                      const SpecField *fields, int n, void *dst) {
    const char *dot = *path ? "." : "";
    if (!cJSON_IsObject(obj))
        return qa_error("%s: %s: expected a JSON object", file, *path ? path : "(top level)");
    for (const cJSON *it = obj->child; it; it = it->next) {
        const SpecField *f = NULL;
        for (int i = 0; i < n; i++)
            if (!strcmp(fields[i].key, it->string)) f = &fields[i];
        if (!f) {
            char allowed[1024] = "";
            for (int i = 0; i < n; i++)
                snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s",
                         i ? ", " : "", fields[i].key);
            return qa_error("%s: %s%s%s: unknown key (allowed: %s)", file, path, dot, it->string,
                            allowed);
        }
        char *p = (char *)dst + f->offset;
        int ok = 1;
        switch (f->type) {
        case SPEC_INT:
            ok = cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble) &&
                 it->valuedouble >= f->min && it->valuedouble <= f->max;
            if (ok) *(int *)p = (int)it->valuedouble;
            break;
        case SPEC_DOUBLE:
            ok = cJSON_IsNumber(it) && it->valuedouble >= f->min && it->valuedouble <= f->max;
            if (ok) *(double *)p = it->valuedouble;
            break;
        case SPEC_STRING:
            ok = cJSON_IsString(it) && strlen(it->valuestring) < SPEC_STR;
            if (ok) snprintf(p, SPEC_STR, "%s", it->valuestring);
            break;
        case SPEC_BOOL:
            ok = cJSON_IsBool(it);
            if (ok) *(int *)p = cJSON_IsTrue(it);
            break;
        }
        if (!ok) {
            char *got = cJSON_PrintUnformatted(it);
            if (f->type == SPEC_INT || f->type == SPEC_DOUBLE)
                qa_error("%s: %s%s%s: expected %s in [%g, %g], got %s", file, path, dot,
                         it->string, type_name(f->type), f->min, f->max, got ? got : "?");
            else
                qa_error("%s: %s%s%s: expected %s, got %s", file, path, dot, it->string,
                         type_name(f->type), got ? got : "?");
            free(got);
            return QA_ERR;
        }
    }
    return QA_OK;
}

int spec_apply_json(const char *json, const char *file, const char *path,
                    const SpecField *fields, int n, void *dst) {
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithOpts(json, &end, 1);
    if (!obj) {
        long at = end ? (long)(end - json) : 0;
        return qa_error("%s: invalid JSON near byte %ld", file, at);
    }
    int rc = spec_apply_object(obj, file, path, fields, n, dst);
    cJSON_Delete(obj);
    return rc;
}

int spec_apply_file(const char *file, const SpecField *fields, int n, void *dst) {
    char *text = NULL;
    size_t len = 0;
    if (file_read(file, 0, &text, &len)) return QA_ERR;
    int rc = spec_apply_json(text, file, "", fields, n, dst);
    free(text);
    return rc;
}

/* The value of field f of dst as one JSON value (absent: compared as its text). */
static cJSON *field_value(const SpecField *f, const void *dst) {
    const char *p = (const char *)dst + f->offset;
    switch (f->type) {
    case SPEC_INT: return cJSON_CreateNumber(*(const int *)p);
    case SPEC_DOUBLE: return cJSON_CreateNumber(*(const double *)p);
    case SPEC_STRING: return cJSON_CreateString(p);
    case SPEC_BOOL: return cJSON_CreateBool(*(const int *)p);
    }
    return NULL;
}

/* fields as one JSON object; identity 1 leaves out fields at their absent value. */
static char *fields_json(const SpecField *fields, int n, const void *dst, int identity) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < n; i++) {
        cJSON *v = field_value(&fields[i], dst);
        if (!v) {
            cJSON_Delete(o);
            return NULL;
        }
        if (identity && fields[i].absent) {
            char *text = fields[i].type == SPEC_STRING ? NULL : cJSON_PrintUnformatted(v);
            const char *got = fields[i].type == SPEC_STRING ? v->valuestring : text;
            int skip = got && !strcmp(got, fields[i].absent);
            free(text);
            if (skip) {
                cJSON_Delete(v);
                continue;
            }
        }
        cJSON_AddItemToObject(o, fields[i].key, v);
    }
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

char *spec_to_json(const SpecField *fields, int n, const void *dst) {
    return fields_json(fields, n, dst, 0);
}

char *spec_identity_json(const SpecField *fields, int n, const void *dst) {
    return fields_json(fields, n, dst, 1);
}

void spec_print(void *fp, const char *title, const SpecField *fields, int n, const void *dst) {
    FILE *f = fp;
    fprintf(f, "%s\n", title);
    for (int i = 0; i < n; i++) {
        const char *p = (const char *)dst + fields[i].offset;
        fprintf(f, "  %-16s ", fields[i].key);
        switch (fields[i].type) {
        case SPEC_INT: fprintf(f, "%-12d", *(const int *)p); break;
        case SPEC_DOUBLE: fprintf(f, "%-12g", *(const double *)p); break;
        case SPEC_STRING: fprintf(f, "%-12s", p); break;
        case SPEC_BOOL: fprintf(f, "%-12s", *(const int *)p ? "true" : "false"); break;
        }
        fprintf(f, " %s\n", fields[i].help ? fields[i].help : "");
    }
}
