#include "jwks.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "json_tree.h"

const char *oidc_alg_name(enum oidc_alg alg)
{
    return alg == OIDC_ALG_RS256 ? "RS256" : "ES256";
}

/* A base64url member decoded into out: its length, or -1. Big-endian
 * integers (RFC 7518 6.3.1) must use the fewest octets: no leading zero. */
static long member_bytes(yajl_val jwk, const char *name, unsigned char *out, size_t cap, int minimal_integer)
{
    const char *s = oidc_json_string(jwk, name);
    if (!s)
        return -1;
    long n = oidc_b64url_decode(s, strlen(s), out, cap);
    if (n <= 0 || (minimal_integer && out[0] == 0))
        return -1;
    return n;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (!pkey)
        return NULL;
    /* fromdata takes the numbers as given; the check refuses a point off
     * the curve or an RSA key with an even exponent. */
    EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = check && EVP_PKEY_public_check(check) == 1;
    EVP_PKEY_CTX_free(check);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

static EVP_PKEY *rsa_key(yajl_val jwk, char *err, size_t errcap)
{
    unsigned char n[1024], e[16];
    long nl = member_bytes(jwk, "n", n, sizeof n, 1);
    long el = member_bytes(jwk, "e", e, sizeof e, 1);
    if (nl < 0 || el < 0 || el > 8) {
        snprintf(err, errcap, "RSA key without a valid n and e");
        return NULL;
    }
    if (nl * 8 < OIDC_RSA_MIN_BITS) {
        snprintf(err, errcap, "RSA key of %ld bits (at least %d)", nl * 8, OIDC_RSA_MIN_BITS);
        return NULL;
    }
    BIGNUM *bn_n = BN_bin2bn(n, (int)nl, NULL), *bn_e = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
        pkey = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    if (!pkey)
        snprintf(err, errcap, "RSA key that OpenSSL refuses");
    return pkey;
}

static EVP_PKEY *ec_key(yajl_val jwk, char *err, size_t errcap)
{
    unsigned char x[48], y[48], point[65] = {0x04}; /* uncompressed: 0x04 || x || y (SEC 1, 2.3.3) */
    long xl = member_bytes(jwk, "x", x, sizeof x, 0);
    long yl = member_bytes(jwk, "y", y, sizeof y, 0);
    /* RFC 7518 6.2.1.2 wants the full 32 bytes, but some JWK writers
     * (python3-jwt 2.6 among them) drop leading zero bytes: a shorter
     * coordinate is the same integer, left-padded here; the point is
     * checked on the curve either way. */
    if (xl < 1 || xl > 32 || yl < 1 || yl > 32) {
        snprintf(err, errcap, "EC key without x and y of up to 32 bytes");
        return NULL;
    }
    memcpy(point + 1 + (32 - xl), x, (size_t)xl);
    memcpy(point + 33 + (32 - yl), y, (size_t)yl);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point))
        pkey = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    if (!pkey)
        snprintf(err, errcap, "EC key whose point is not on P-256");
    return pkey;
}

/* 1 keep (ks gets the key), 0 skip, -1 error. */
static int add_key(struct oidc_keyset *ks, yajl_val jwk, char *err, size_t errcap)
{
    if (!YAJL_IS_OBJECT(jwk)) {
        snprintf(err, errcap, "not a JSON object");
        return -1;
    }
    const char *kty = oidc_json_string(jwk, "kty");
    if (!kty) {
        snprintf(err, errcap, "no kty");
        return -1;
    }
    yajl_val use = oidc_json_member(jwk, "use"), alg = oidc_json_member(jwk, "alg");
    yajl_val kidv = oidc_json_member(jwk, "kid"), crv = oidc_json_member(jwk, "crv");
    if ((use && !YAJL_IS_STRING(use)) || (alg && !YAJL_IS_STRING(alg)) || (kidv && !YAJL_IS_STRING(kidv)) ||
        (crv && !YAJL_IS_STRING(crv))) {
        snprintf(err, errcap, "use, alg, kid or crv is not a string");
        return -1;
    }
    const char *use_s = oidc_json_string(jwk, "use"), *alg_s = oidc_json_string(jwk, "alg");
    const char *kid = oidc_json_string(jwk, "kid"), *crv_s = oidc_json_string(jwk, "crv");
    if (use_s && strcmp(use_s, "sig") != 0)
        return 0;
    enum oidc_alg a;
    if (strcmp(kty, "RSA") == 0)
        a = OIDC_ALG_RS256;
    else if (strcmp(kty, "EC") == 0 && crv_s && strcmp(crv_s, "P-256") == 0)
        a = OIDC_ALG_ES256;
    else
        return 0; /* another curve, OKP, oct: not verified by this plugin */
    if (alg_s && strcmp(alg_s, oidc_alg_name(a)) != 0)
        return 0; /* e.g. an RSA key published for PS256 or RS512 only */
    if (kid && (kid[0] == '\0' || strlen(kid) > 256)) {
        snprintf(err, errcap, "a kid that is empty or longer than 256 bytes");
        return -1;
    }
    for (int i = 0; i < ks->nkeys; i++)
        if (kid && ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0) {
            snprintf(err, errcap, "kid \"%.64s\" appears twice", kid);
            return -1;
        }
    if (ks->nkeys == OIDC_JWKS_MAX_KEYS) {
        snprintf(err, errcap, "more than %d keys", OIDC_JWKS_MAX_KEYS);
        return -1;
    }
    EVP_PKEY *pkey = a == OIDC_ALG_RS256 ? rsa_key(jwk, err, errcap) : ec_key(jwk, err, errcap);
    if (!pkey)
        return -1;
    struct oidc_key *k = &ks->keys[ks->nkeys];
    k->kid = kid ? strdup(kid) : NULL;
    if (kid && !k->kid) {
        EVP_PKEY_free(pkey);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    k->alg = a;
    k->pkey = pkey;
    ks->nkeys++;
    return 1;
}

static void keyset_free(struct oidc_keyset *ks)
{
    for (int i = 0; i < ks->nkeys; i++) {
        free(ks->keys[i].kid);
        EVP_PKEY_free(ks->keys[i].pkey);
    }
    free(ks);
}

struct oidc_keyset *oidc_jwks_parse(const char *text, size_t len, char *err, size_t errcap)
{
    char why[200];
    yajl_val root = oidc_json_parse_object(text, len, why, sizeof why);
    if (!root) {
        snprintf(err, errcap, "JWKS: %s", why);
        return NULL;
    }
    struct oidc_keyset *ks = NULL;
    yajl_val keys = oidc_json_member(root, "keys");
    if (!YAJL_IS_ARRAY(keys)) {
        snprintf(err, errcap, "JWKS: no \"keys\" array");
        goto out;
    }
    ks = calloc(1, sizeof *ks);
    if (!ks) {
        snprintf(err, errcap, "JWKS: out of memory");
        goto out;
    }
    atomic_init(&ks->refs, 1);
    for (size_t i = 0; i < keys->u.array.len; i++) {
        int r = add_key(ks, keys->u.array.values[i], why, sizeof why);
        if (r < 0) {
            snprintf(err, errcap, "JWKS: key %zu: %s", i, why);
            keyset_free(ks);
            ks = NULL;
            goto out;
        }
        if (r == 0)
            ks->skipped++;
    }
    if (ks->nkeys == 0) {
        snprintf(err, errcap, "JWKS: no RS256 or ES256 signing key (%d other keys skipped)", ks->skipped);
        keyset_free(ks);
        ks = NULL;
    }
out:
    yajl_tree_free(root);
    return ks;
}

struct oidc_keyset *oidc_keyset_ref(struct oidc_keyset *ks)
{
    atomic_fetch_add(&ks->refs, 1);
    return ks;
}

void oidc_keyset_unref(struct oidc_keyset *ks)
{
    if (ks && atomic_fetch_sub(&ks->refs, 1) == 1)
        keyset_free(ks);
}

const struct oidc_key *oidc_keyset_find(const struct oidc_keyset *ks, const char *kid)
{
    if (!kid)
        return ks->nkeys == 1 ? &ks->keys[0] : NULL;
    for (int i = 0; i < ks->nkeys; i++)
        if (ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0)
            return &ks->keys[i];
    return NULL;
}
