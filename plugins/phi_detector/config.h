#ifndef PHI_DETECTOR_CONFIG_H
#define PHI_DETECTOR_CONFIG_H
/* The plugin's configuration, from the JSON text phiguard hands the entry
 * point (the plugin's `config:` block):
 *
 *   {"fields": [{"selector": "$.note[*].text", "name": "Observation.note.text"}],
 *    "patterns": {"ssn": {"bare_digits": false, "area_9xx": false, "mask": "last4"},
 *                 "mrn": {"prefixes": ["MRN"], "min_digits": 6, "max_digits": 10},
 *                 "phone": {}, "email": {}},
 *    "action": "encrypt",
 *    "read_permission": "phi:read:notes"}
 *
 * Every key is checked: an unknown one, a wrong type or a value out of
 * range is an error naming the key, so a typo never leaves a pattern off
 * unnoticed. */
#include <stddef.h>

#include "mask.h"
#include "match.h"

#define PD_FIELDS_MAX 64
#define PD_FIELD_NAME_MAX 200

enum pd_action { PD_ENCRYPT, PD_MASK };

struct pd_config {
    struct pd_patterns patterns;
    enum pd_mask_style mask[PD_KINDS];
    enum pd_action action;
    char *read_permission; /* NULL: no one reads matches in clear */
    int nfields;
    char **selectors; /* nfields each, as the plugin ABI's body_fields wants them */
    char **names;
};

/* 0, or -1 with the reason in err (and nothing to free). */
int pd_config_parse(const char *json, struct pd_config *c, char *err, size_t errcap);
void pd_config_free(struct pd_config *c);

#endif
