#ifndef PHIGUARD_POLICY_PERMDIFF_H
#define PHIGUARD_POLICY_PERMDIFF_H
/* Which roles gained or lost which permissions between two policies (the
 * seed's "audit trail for all permission changes"), for the record of a
 * policy reload. */
#include <stddef.h>

#include "policy/policy.h"

/* JSON array [{"role":..,"gained":[..],"lost":[..]}], roles whose effective
 * permissions changed, in the new policy's order, then removed roles (all
 * lost) and added roles (all gained). Cut at len with a last element
 * {"truncated":true}. Returns the length written. */
size_t pg_policy_perm_changes(const struct pg_policy *old_p, const struct pg_policy *new_p, char *buf, size_t len);

#endif
