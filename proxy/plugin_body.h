#ifndef PHIGUARD_PLUGIN_BODY_H
#define PHIGUARD_PLUGIN_BODY_H
/* A plugin's body_fields, compiled with the policy's selector compiler at
 * load, so a selector the policy would refuse stops start-up, and shaped as
 * PHI fields so the streaming rewriter can take them beside a route's. */
#include <stddef.h>

#include "plugins/phiguard_plugin.h"
#include "policy/policy.h"

struct pg_plugin_fields {
    struct pg_phi_field *fields; /* selector, steps, logical_path = the plugin's field name */
    int n;
};

/* NULL with why (the selector and what is wrong with it). */
struct pg_plugin_fields *pg_plugin_fields_compile(const struct phg_plugin *p, char *why, size_t whylen);
void pg_plugin_fields_free(struct pg_plugin_fields *f);

#endif
