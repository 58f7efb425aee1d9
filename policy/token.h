#ifndef PHIGUARD_POLICY_TOKEN_H
#define PHIGUARD_POLICY_TOKEN_H
/* Session tokens: JWTs (libjwt) that name a server-side session, signed
 * with HS256 under a key of at least 32 bytes from a file (a Kubernetes
 * Secret in production). The algorithm is pinned: a token that says
 * anything else ("none", HS512, RS256...) is refused whatever its
 * signature. A token proves only which session it names; the session
 * record decides whether it is still alive. */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PG_TOKEN_KEY_MIN 32

struct pg_token_claims {
    char sid[64];  /* session id */
    char sub[128]; /* user id */
    int64_t iat, exp;
};

struct pg_token_key {
    unsigned char key[256];
    size_t len;
    char issuer[128];   /* iss and aud both name this phiguard deployment */
};

/* Signs claims into a compact JWT; 0 or -1. */
int pg_token_sign(const struct pg_token_key *k, const struct pg_token_claims *c, char *out, size_t outlen);

enum pg_token_result {
    PG_TOKEN_OK = 0,
    PG_TOKEN_MALFORMED,   /* not a JWT, or claims missing */
    PG_TOKEN_WRONG_ALG,   /* alg other than HS256, "none" included */
    PG_TOKEN_BAD_SIGNATURE,
    PG_TOKEN_EXPIRED,
    PG_TOKEN_WRONG_ISSUER,
};

/* Verifies token at time now (seconds); on success fills c. */
enum pg_token_result pg_token_verify(const struct pg_token_key *k, const char *token, time_t now,
                                     struct pg_token_claims *c);
const char *pg_token_result_name(enum pg_token_result r);

/* The identity assertion phiguard adds to a proxied request, so that a
 * backend can check who is asking with phiguard's public key (ES256; a
 * shared HMAC key would let the backend forge them). Claims: iss, aud
 * ("upstream"), sub (user id), preferred_username, roles, rid (request
 * id), iat, exp (now + ttl_s). pem: an EC P-256 private key. 0 or -1. */
int pg_assertion_sign(const char *pem, size_t pem_len, const char *issuer, const char *uid, const char *username,
                      const char *const *roles, int nroles, const char *request_id, time_t now, int ttl_s,
                      char *out, size_t outlen);

#endif
