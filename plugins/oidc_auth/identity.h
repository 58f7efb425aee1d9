#ifndef OIDC_IDENTITY_H
#define OIDC_IDENTITY_H
/* A verified token's claims as a phiguard identity: who (user_claim, or
 * iss|sub), a name for logs (username_claim, or preferred_username, else
 * email), and roles (the values at roles_claim through role_map, plus
 * default_roles). */
#include <yajl/yajl_tree.h>

#include "config.h"
#include "phiguard_plugin.h"

/* Buffer sizes: 256 bytes of text, the most phiguard takes for a user id
 * or a name (longer is refused here, with the reason, not by the host). */
#define OIDC_USER_ID_MAX 257
#define OIDC_USERNAME_MAX 257

/* The strings an identity points into: the caller's, live until the host
 * has copied the identity. */
struct oidc_identity_buf {
    char user_id[OIDC_USER_ID_MAX];
    char username[OIDC_USERNAME_MAX];
    int unmapped; /* IdP role values role_map does not name */
};

/* Fills id (roles point into c). expires_at is exp plus the leeway: the
 * moment the plugin itself stops accepting the token, so that phiguard's
 * own check of expires_at agrees with the leeway. 0, or -1 with why in err
 * (no claim value in it). */
int oidc_identity_map(const struct oidc_config *c, yajl_val claims, long long exp, struct phg_identity *id,
                      struct oidc_identity_buf *buf, char *err, size_t errcap);
#endif
