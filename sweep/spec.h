/* sweep/spec.h: typed settings read from JSON objects through a field table, so that every
 * settings struct is validated the same way: an unknown key, a wrong type or an out-of-range
 * value gets one line naming the file, the JSON path and what is allowed.
 * cJSON stays inside spec.c: callers pass JSON text or a file. */
#ifndef QAPRUNE_SPEC_H
#define QAPRUNE_SPEC_H

#include <stddef.h>

typedef enum { SPEC_INT, SPEC_DOUBLE, SPEC_STRING, SPEC_BOOL } SpecType;

typedef struct {
    const char *key;
    SpecType type;
    size_t offset;     /* into the destination struct: int, double, char[SPEC_STR] or int */
    double min, max;   /* numbers: inclusive range */
    const char *help;  /* one line, shown by settings tables and errors */
    /* For a setting added after identities were first recorded: the value (as JSON prints
     * it, e.g. "0" or "bert") that behaves as before it existed. spec_identity_json leaves the
     * key out at that value, so results and caches recorded before keep their identity.
     * NULL (the usual): always part of the identity. */
    const char *absent;
} SpecField;

#define SPEC_STR 256 /* size of string fields */

/* Applies the keys of the JSON object `json` (text) onto dst; keys absent keep their
 * values. file and path only label errors (path like "teacher" or "" for the top level). */
int spec_apply_json(const char *json, const char *file, const char *path,
                    const SpecField *fields, int n, void *dst);
/* Reads the file and applies its top-level object. */
int spec_apply_file(const char *file, const SpecField *fields, int n, void *dst);
/* Returns a new canonical JSON text of dst's fields in table order (free with free()). */
char *spec_to_json(const SpecField *fields, int n, const void *dst);
/* The same, less every field whose value is its `absent` one: what identities hash. */
char *spec_identity_json(const SpecField *fields, int n, const void *dst);
/* Prints "  key  value" lines of dst's fields to f (the effective settings). */
void spec_print(void *f, const char *title, const SpecField *fields, int n, const void *dst);

#endif
