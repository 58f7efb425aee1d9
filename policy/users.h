#ifndef PHIGUARD_POLICY_USERS_H
#define PHIGUARD_POLICY_USERS_H
/* The users file admins keep: who may log in, with which roles. Mutable
 * state (failed logins, sessions, MFA secrets) lives elsewhere; this file
 * is read whole, validated, and swapped whole on reload. */
#include <stdatomic.h>
#include <stdbool.h>

#include "policy/policy.h"

struct pg_user {
    char *id;           /* unique, stable: what audit records name */
    char *username;     /* unique, what the user types */
    char *display_name;
    char **roles;
    int nroles;
    char *password;     /* Argon2id PHC string */
    bool mfa_required;
    bool disabled;
    int line;
};

struct pg_users {
    _Atomic int refs;
    struct pg_user *users;
    int count;
};

/* Every error as FILE:LINE:COL: key: what was expected. */
struct pg_users *pg_users_load(const char *file, struct pg_policy_errors *errs);
struct pg_users *pg_users_load_buffer(const char *name, const char *data, size_t len, struct pg_policy_errors *errs);
const struct pg_user *pg_users_by_name(const struct pg_users *u, const char *username);
const struct pg_user *pg_users_by_id(const struct pg_users *u, const char *id);
struct pg_users *pg_users_ref(struct pg_users *u);
void pg_users_unref(struct pg_users *u);

#endif
