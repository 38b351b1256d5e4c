/* sweep/spec_json.h: the field tables of sweep/spec.h applied to a parsed cJSON object, for
 * sweep/grid.c, which parses grid.json once and hands its sub-objects over without printing
 * and parsing them again. Only spec.c and grid.c include this (cJSON stays inside them). */
#ifndef QAPRUNE_SPEC_JSON_H
#define QAPRUNE_SPEC_JSON_H

#include <cjson/cJSON.h>

#include "sweep/spec.h"

/* As spec_apply_json, on the object obj (borrowed). */
int spec_apply_object(const cJSON *obj, const char *file, const char *path,
                      const SpecField *fields, int n, void *dst);

#endif
