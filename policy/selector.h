#ifndef PHIGUARD_POLICY_SELECTOR_H
#define PHIGUARD_POLICY_SELECTOR_H
/* PHI field selectors: a JSONPath subset ($.a.b, [*], ..name), compiled
 * into steps and matched against the path of the value a streaming JSON
 * reader is at (a stack of object keys and array positions). */
#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"

int pg_selector_compile(const char *text, struct pg_sel_step **steps, int *nsteps, char *why, size_t whylen);
void pg_selector_free(struct pg_sel_step *steps, int nsteps);
/* "Patient.identifier.value" for $.identifier[*].value on entity Patient;
 * "..name" becomes ".**.name". The envelope's associated data. */
char *pg_selector_logical_path(const char *entity, const struct pg_sel_step *steps, int nsteps);

/* One level of the reader's position: an object key, or an array index
 * (key NULL). */
struct pg_json_level {
    const char *key;
    size_t key_len;
};

/* True when the value at the position levels[0..depth) is selected. */
bool pg_selector_match(const struct pg_sel_step *steps, int nsteps, const struct pg_json_level *levels, int depth);

#endif
