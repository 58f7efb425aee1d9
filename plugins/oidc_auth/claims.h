#ifndef OIDC_CLAIMS_H
#define OIDC_CLAIMS_H
/* The checks of a verified token's claims (RFC 7519 4.1, OpenID Connect
 * Core 3.1.3.7): iss, aud, exp, nbf, iat with the configured leeway, and
 * the site's required claims. */
#include <yajl/yajl_tree.h>

#include "config.h"

/* 0 when the claims hold at now (Unix seconds); *exp gets exp. -1 with the
 * reason in err, which names the claim but never its value. */
int oidc_claims_check(const struct oidc_config *c, yajl_val claims, long long now, long long *exp, char *err,
                      size_t errcap);
#endif
