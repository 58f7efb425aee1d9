#ifndef OIDC_JWT_VERIFY_H
#define OIDC_JWT_VERIFY_H
/* JWS compact serialisation (RFC 7515 section 7.1) with RS256 and ES256
 * only, verified with OpenSSL. libjwt (a project dependency) is not used
 * here: its decoder takes the algorithm from the token's header and one
 * key from the caller, and has no JWKS, kid or kty/crv binding, so the
 * checks that matter (the key decides the algorithm, never the token)
 * would have to be done around it anyway; with OpenSSL they are the only
 * path. */
#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "jwks.h"

#define OIDC_TOKEN_MAX 16384

struct oidc_jwt {
    yajl_val header;
    yajl_val claims;
    const char *signing_input; /* header.payload, inside the caller's token */
    size_t signing_len;
    unsigned char sig[1024];
    size_t sig_len;
};

/* Splits and decodes token[0..len). 0 when it is a JWS compact token
 * (three base64url segments, header and payload JSON objects, a string
 * alg); -1 when it is not one, which is no error: the credential is
 * someone else's. The jwt borrows token; oidc_jwt_free releases it. */
int oidc_jwt_parse(const char *token, size_t len, struct oidc_jwt *jwt);
void oidc_jwt_free(struct oidc_jwt *jwt);

/* Checks the header (alg RS256 or ES256 and the one of the key its kid
 * names, no crit) and the signature under that key: 0, or -1 with the
 * reason in err (no part of the token in it but the kid and alg). */
int oidc_jwt_verify(const struct oidc_jwt *jwt, const struct oidc_keyset *ks, char *err, size_t errcap);
#endif
