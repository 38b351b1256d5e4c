/* core/qa/nq_json.h: JSON of Natural Questions files, with 64-bit example ids kept exact.
 *
 * NQ example ids are 64-bit integers (-1220107454853145579); a JSON number read as a double
 * keeps only 53 bits of it. So before cJSON parses a line, every number that is the value of
 * an "example_id" key is turned into a string of the same digits, and nq_json_id() reads
 * that string as an int64_t. Shared by the NQ reader (nq.c) and the NQ metric (nq_metric.c)
 * only: cJSON types go no further than these three files. */
#ifndef QAPRUNE_NQ_JSON_H
#define QAPRUNE_NQ_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/qa/nq.h"

/* Parses text[0..len) as above. Returns a new tree (free with cJSON_Delete()), or NULL when
 * the text is not JSON (or out of memory). */
cJSON *nq_json_parse(const char *text, size_t len);

/* Reads obj's "example_id" (a whole number in int64 range, written as a JSON number or a
 * string of digits) into *out; returns 0, or -1 when it is absent or not such a number. */
int nq_json_id(const cJSON *obj, int64_t *out);

/* Reads obj[field] into *out when it is a whole JSON number in [lo, hi]. Returns 0; 1 when
 * the field is absent or null (then *out = absent_value); -1 when it is of another kind. */
int nq_json_int(const cJSON *obj, const char *field, int64_t lo, int64_t hi,
                int64_t absent_value, int64_t *out);

/* Reads a span object {start_byte, end_byte, start_token, end_token} (an absent or null
 * offset is -1) with the checks of eval_utils.Span: both ends of a pair null or neither, and
 * start < end. Returns 0, or -1 with what is wrong written to msg (cap bytes). */
int nq_json_span(const cJSON *js, NqSpan *out, char *msg, size_t cap);

#endif
