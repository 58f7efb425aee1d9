#ifndef OIDC_IDENTITY_H
#define OIDC_IDENTITY_H
/* A verified token's claims as a phiguard identity: who (user_claim, or
 * iss|sub), a name for logs (username_claim, or preferred_username, else
 * email), and roles (the values at roles_claim through role_map, plus
 * default_roles). */
#include <yajl/yajl_tree.h>

#include "config.h"
#include "phiguard_plugin.h"

#define OIDC_USER_ID_MAX 512
#define OIDC_USERNAME_MAX 256

/* The strings an identity points into: the caller's, live until the host
 * has copied the identity. */
struct oidc_identity_buf {
    char user_id[OIDC_USER_ID_MAX];
    char username[OIDC_USERNAME_MAX];
    int unmapped; /* IdP role values role_map does not name */
};

/* Fills id (roles point into c). 0, or -1 with why in err (no claim value
 * in it). */
int oidc_identity_map(const struct oidc_config *c, yajl_val claims, long long exp, struct phg_identity *id,
                      struct oidc_identity_buf *buf, char *err, size_t errcap);
#endif
