#include "jwt_verify.h"

#include <openssl/ecdsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "json_tree.h"

static yajl_val decode_object(const char *seg, size_t len)
{
    size_t cap = oidc_b64url_decoded_max(len);
    unsigned char *buf = malloc(cap);
    if (!buf)
        return NULL;
    long n = oidc_b64url_decode(seg, len, buf, cap);
    char err[160];
    yajl_val v = n > 0 ? oidc_json_parse_object((const char *)buf, (size_t)n, err, sizeof err) : NULL;
    free(buf);
    return v;
}

int oidc_jwt_parse(const char *token, size_t len, struct oidc_jwt *jwt)
{
    memset(jwt, 0, sizeof *jwt);
    if (len == 0 || len > OIDC_TOKEN_MAX)
        return -1;
    const char *end = token + len;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)))
        return -1; /* not three segments: JWE has five, an opaque token one */
    size_t hl = (size_t)(d1 - token), pl = (size_t)(d2 - d1 - 1), sl = (size_t)(end - d2 - 1);
    if (!hl || !pl || !sl || !oidc_b64url_is_alphabet(token, hl) || !oidc_b64url_is_alphabet(d1 + 1, pl) ||
        !oidc_b64url_is_alphabet(d2 + 1, sl))
        return -1;
    long n = oidc_b64url_decode(d2 + 1, sl, jwt->sig, sizeof jwt->sig);
    if (n <= 0)
        return -1;
    jwt->sig_len = (size_t)n;
    jwt->header = decode_object(token, hl);
    jwt->claims = jwt->header ? decode_object(d1 + 1, pl) : NULL;
    if (!jwt->claims || !oidc_json_string(jwt->header, "alg")) {
        oidc_jwt_free(jwt);
        return -1;
    }
    jwt->signing_input = token;
    jwt->signing_len = (size_t)(d2 - token);
    return 0;
}

void oidc_jwt_free(struct oidc_jwt *jwt)
{
    yajl_tree_free(jwt->header);
    yajl_tree_free(jwt->claims);
    jwt->header = jwt->claims = NULL;
}

/* JWS carries an ES256 signature as the two 32-byte integers r || s
 * (RFC 7518 3.4); OpenSSL verifies the DER ECDSA-Sig-Value. */
static unsigned char *es256_der(const unsigned char *raw, size_t len, int *der_len)
{
    if (len != 64)
        return NULL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    unsigned char *der = NULL;
    if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL; /* owned by sig now */
        *der_len = i2d_ECDSA_SIG(sig, &der);
        if (*der_len <= 0)
            der = NULL;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return der;
}

static int signature_ok(const struct oidc_jwt *jwt, const struct oidc_key *key)
{
    const unsigned char *sig = jwt->sig;
    size_t sig_len = jwt->sig_len;
    unsigned char *der = NULL;
    if (key->alg == OIDC_ALG_ES256) {
        int der_len = 0;
        der = es256_der(jwt->sig, jwt->sig_len, &der_len);
        if (!der)
            return 0;
        sig = der;
        sig_len = (size_t)der_len;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    /* For an RSA key the default padding is PKCS #1 v1.5, RS256's. */
    int ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
             EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt->signing_input, jwt->signing_len) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return ok;
}

int oidc_jwt_verify(const struct oidc_jwt *jwt, const struct oidc_keyset *ks, char *err, size_t errcap)
{
    const char *alg = oidc_json_string(jwt->header, "alg");
    enum oidc_alg a;
    if (strcmp(alg, "RS256") == 0)
        a = OIDC_ALG_RS256;
    else if (strcmp(alg, "ES256") == 0)
        a = OIDC_ALG_ES256;
    else {
        /* none, HS256 (which would take the public key as an HMAC secret),
         * and everything else. The name is printed only when short and
         * plain, so that a crafted header cannot fill the log. */
        int plain = strlen(alg) <= 16 && oidc_b64url_is_alphabet(alg, strlen(alg));
        snprintf(err, errcap, "alg %s is not allowed (RS256, ES256)", plain ? alg : "(unprintable)");
        return -1;
    }
    if (oidc_json_member(jwt->header, "crit")) {
        snprintf(err, errcap, "a crit header: no extension is understood");
        return -1;
    }
    yajl_val kidv = oidc_json_member(jwt->header, "kid");
    if (kidv && !YAJL_IS_STRING(kidv)) {
        snprintf(err, errcap, "kid is not a string");
        return -1;
    }
    const char *kid = kidv ? OIDC_STR(kidv) : NULL;
    int kid_plain = kid && strlen(kid) <= 64 && strspn(kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                             "0123456789-_.:=+/") == strlen(kid);
    const char *kid_shown = !kid ? "(none)" : kid_plain ? kid : "(unprintable)";
    const struct oidc_key *key = oidc_keyset_find(ks, kid);
    if (!key) {
        if (kid)
            snprintf(err, errcap, "kid %s is not in the JWKS", kid_shown);
        else
            snprintf(err, errcap, "no kid, and the JWKS has %d keys", ks->nkeys);
        return -1;
    }
    if (key->alg != a) {
        snprintf(err, errcap, "alg %s does not match key %s (%s)", alg, kid_shown, oidc_alg_name(key->alg));
        return -1;
    }
    if (!signature_ok(jwt, key)) {
        snprintf(err, errcap, "the %s signature does not verify under key %s", alg, kid_shown);
        return -1;
    }
    return 0;
}
