#ifndef PHIGUARD_BREAK_GLASS_H
#define PHIGUARD_BREAK_GLASS_H
/* Emergency access (docs/authentication.md, "Break-glass"): a user whose
 * role the policy marks for it may pass a denial by stating a reason in
 * the break-glass header. The request is allowed under the roles'
 * permissions plus break_glass.grants, recorded at the highest severity,
 * alerted, and the rest of the session is cut to break_glass.window. */
#include "policy/policy.h"
#include "proxy/filter.h"

struct pg_request;

enum pg_filter_result pg_break_glass(struct pg_request *req, const struct pg_request_view *rq,
                                     const struct pg_decision *denied);

#endif
