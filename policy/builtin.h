#ifndef PHIGUARD_POLICY_BUILTIN_H
#define PHIGUARD_POLICY_BUILTIN_H
#include <stdbool.h>

struct pg_builtin_role {
    const char *name;
    const char *description;
    bool emergency;    /* may use break-glass */
    bool mfa_required; /* privileged: MFA by default */
    const char *const *permissions;
};

extern const char *const pg_builtin_permissions[];    /* NULL-terminated */
extern const struct pg_builtin_role pg_builtin_roles[]; /* name NULL ends it */

#endif
