#ifndef PHIGUARD_PLUGIN_BODY_H
#define PHIGUARD_PLUGIN_BODY_H
/* A plugin's body_fields, compiled with the policy's selector compiler at
 * load, so a selector the policy would refuse stops start-up, and shaped as
 * PHI fields so the streaming rewriter can take them beside a route's. */
#include <stdbool.h>
#include <stddef.h>

#include "plugins/phiguard_plugin.h"
#include "policy/policy.h"
#include "policy/rewrite.h"

struct pg_plugin_fields {
    struct pg_phi_field *fields; /* selector, steps, logical_path = the plugin's field name */
    int n;
};

/* NULL with why (the selector and what is wrong with it). */
struct pg_plugin_fields *pg_plugin_fields_compile(const struct phg_plugin *p, char *why, size_t whylen);
void pg_plugin_fields_free(struct pg_plugin_fields *f);

/* ---- one body's pass through the plugins' body hooks ----
 *
 * The rewriter reads one selector set: the route's PHI fields of that
 * direction first (so a PHI value is always the policy's to seal, open or
 * mask), then every plugin's fields. A value goes to each plugin whose
 * selector picks it, in the order of the configuration:
 *  - request: the plugins first, then the PHI function seals what they
 *    leave (the plugins see plaintext before it is sealed);
 *  - response: the PHI function first (opened, masked or removed), then
 *    the plugins; an envelope still there after them is masked as a stray,
 *    unless a plugin's hook made it or passed it on with REPLACE. */
struct pg_request;
struct pg_body_xform;
struct pg_plugin_body;

/* Any plugin with a hook for values of this direction. */
bool pg_plugins_body_wanted(bool response);
/* core: the PHI value function for route_fields and stray envelopes (field
 * -1), or NULL when the body has neither. NULL on allocation failure, or
 * when the fields together pass the selector set's size. */
struct pg_plugin_body *pg_plugin_body_new(struct pg_request *req, bool response, const struct pg_phi_field *route_fields,
                                          int nroute, pg_rw_value_fn core, void *core_arg,
                                          const struct pg_rw_options *opt);
const struct pg_sel_set *pg_plugin_body_set(const struct pg_plugin_body *b);
/* For a body of req about to be rewritten: when plugins want this
 * direction's values, *set, *fn and *arg (the route's selector set, and
 * the PHI function for its fields and strays, or NULL) become a pass's,
 * kept with the request, and opt (the rewriter's options, max_value_bytes
 * set) gets the body hooks' room; otherwise they all stay. 0, or -1 on
 * allocation failure. Once the rewriter exists, pg_plugin_body_xform tells the pass
 * where its hooks' failures go. */
int pg_plugin_body_wrap(struct pg_request *req, bool response, const struct pg_phi_field *fields, int nfields,
                        const struct pg_sel_set **set, pg_rw_value_fn *fn, void **arg, struct pg_rw_options *opt);
void pg_plugin_body_xform(struct pg_request *req, bool response, struct pg_body_xform *x);
/* The rewriter's value function; arg is the pg_plugin_body. */
enum pg_rw_action pg_plugin_body_value(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out);
void pg_plugin_body_free(struct pg_plugin_body *b);

#endif
