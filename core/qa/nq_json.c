/* core/qa/nq_json.c: see nq_json.h. */
#include "core/qa/nq_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns the index just past the JSON string that opens at s[i] == '"' (len if unclosed). */
static size_t skip_string(const char *s, size_t len, size_t i) {
    for (i++; i < len; i++) {
        if (s[i] == '\\') i++;
        else if (s[i] == '"') return i + 1;
    }
    return len;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int is_number_char(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Finds, from text[*i], the next number that is the value of an "example_id" key: returns 1
 * with it at text[*j .. *k) and *i past it, or 0 when there is none. */
static int next_id_number(const char *text, size_t len, size_t *i, size_t *j, size_t *k) {
    static const char key[] = "\"example_id\"";
    const size_t key_len = sizeof key - 1;
    while (*i < len) {
        if (text[*i] != '"') {
            (*i)++;
            continue;
        }
        size_t end = skip_string(text, len, *i);
        int is_key = end - *i == key_len && !memcmp(text + *i, key, key_len);
        *i = end;
        if (!is_key) continue;
        size_t p = *i;
        while (p < len && is_ws(text[p])) p++;
        if (p >= len || text[p] != ':') continue;
        p++;
        while (p < len && is_ws(text[p])) p++;
        size_t q = p;
        while (q < len && is_number_char(text[q])) q++;
        if (q == p) continue; /* not a number: left as it is */
        *j = p;
        *k = q;
        *i = q;
        return 1;
    }
    return 0;
}

cJSON *nq_json_parse(const char *text, size_t len) {
    size_t i = 0, j, k, ids = 0;
    while (next_id_number(text, len, &i, &j, &k)) ids++;
    char *buf = malloc(len + 2 * ids + 1); /* each id gains its two quotes */
    if (!buf) return NULL;
    size_t n = 0, copied = 0;
    for (i = 0; next_id_number(text, len, &i, &j, &k); copied = k) {
        memcpy(buf + n, text + copied, j - copied);
        n += j - copied;
        buf[n++] = '"';
        memcpy(buf + n, text + j, k - j);
        n += k - j;
        buf[n++] = '"';
    }
    memcpy(buf + n, text + copied, len - copied);
    n += len - copied;
    buf[n] = '\0';
    cJSON *root = cJSON_ParseWithLength(buf, n);
    free(buf);
    return root;
}

int nq_json_id(const cJSON *obj, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "example_id");
    if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0]) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v->valuestring, &end, 10);
    if (errno || *end) return -1;
    *out = (int64_t)x;
    return 0;
}

int nq_json_int(const cJSON *obj, const char *field, int64_t lo, int64_t hi,
                int64_t absent_value, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!v || cJSON_IsNull(v)) {
        *out = absent_value;
        return 1;
    }
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return -1;
    *out = (int64_t)d;
    return 0;
}

int nq_json_span(const cJSON *js, NqSpan *out, char *msg, size_t cap) {
    static const char *names[4] = {"start_byte", "end_byte", "start_token", "end_token"};
    if (!cJSON_IsObject(js)) {
        snprintf(msg, cap, "expected an object");
        return -1;
    }
    int64_t v[4];
    for (int k = 0; k < 4; k++) {
        if (nq_json_int(js, names[k], -1, INT64_C(1) << 50, -1, &v[k]) < 0) {
            snprintf(msg, cap, "%s: expected a whole number >= -1", names[k]);
            return -1;
        }
    }
    for (int k = 0; k < 4; k += 2) {
        if ((v[k] < 0) != (v[k + 1] < 0)) {
            snprintf(msg, cap, "%s %lld and %s %lld: one end null, the other not", names[k],
                     (long long)v[k], names[k + 1], (long long)v[k + 1]);
            return -1;
        }
        if (v[k] >= 0 && v[k] >= v[k + 1]) {
            snprintf(msg, cap, "%s %lld is not before %s %lld", names[k], (long long)v[k],
                     names[k + 1], (long long)v[k + 1]);
            return -1;
        }
    }
    *out = (NqSpan){v[0], v[1], v[2], v[3]};
    return 0;
}
