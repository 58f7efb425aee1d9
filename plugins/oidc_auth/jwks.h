#ifndef OIDC_JWKS_H
#define OIDC_JWKS_H
/* A JWK Set (RFC 7517) read into OpenSSL public keys: the verification
 * keys of one IdP at one moment. A key set is immutable once parsed and
 * refcounted, so that a request verifying with it keeps it alive while the
 * reload thread publishes the next one. */
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stddef.h>

/* The only algorithms this plugin verifies (RFC 7518 section 3.1). Each
 * key is pinned to one, derived from its kty/crv, never from a token. */
enum oidc_alg { OIDC_ALG_RS256, OIDC_ALG_ES256 };

#define OIDC_JWKS_MAX_KEYS 64
#define OIDC_RSA_MIN_BITS 2048

struct oidc_key {
    char *kid; /* NULL when the JWK has none */
    enum oidc_alg alg;
    EVP_PKEY *pkey;
};

struct oidc_keyset {
    atomic_int refs;
    int nkeys;
    int skipped; /* JWKs of other types or uses (e.g. enc keys, RS384), left out */
    struct oidc_key keys[OIDC_JWKS_MAX_KEYS];
};

/* Parses a JWKS document. Keys of kty RSA (n, e; at least 2048 bits) and
 * EC on P-256 (x, y: up to 32 bytes each, on the curve) with no "use" or use
 * "sig" and no "alg" or the matching one are kept; JWKs of other kinds
 * are skipped and counted. A malformed key of a kind it keeps, two keys
 * with one kid, or no usable key at all is an error. Returns the set with
 * one reference, or NULL with why in err. */
struct oidc_keyset *oidc_jwks_parse(const char *text, size_t len, char *err, size_t errcap);

struct oidc_keyset *oidc_keyset_ref(struct oidc_keyset *ks);
void oidc_keyset_unref(struct oidc_keyset *ks);

/* The key a token's kid names; with no kid, the set's key only when it
 * holds exactly one (an IdP with one key often omits kid; with several,
 * guessing would let a token pick its key). NULL when none fits. */
const struct oidc_key *oidc_keyset_find(const struct oidc_keyset *ks, const char *kid);

const char *oidc_alg_name(enum oidc_alg alg);
#endif
