#ifndef OIDC_TEST_KEYS_H
#define OIDC_TEST_KEYS_H
/* Keys made in the test with OpenSSL, their JWKs, and tokens signed with
 * them: an encoder written here, independent of the plugin's decoder. */
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *test_b64url(const unsigned char *in, size_t len)
{
    char *out = malloc(len / 3 * 4 + 8);
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return out;
}

static inline char *test_b64url_str(const char *s)
{
    return test_b64url((const unsigned char *)s, strlen(s));
}

static inline EVP_PKEY *test_rsa_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
}

static inline EVP_PKEY *test_ec_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static inline char *test_bn_b64(EVP_PKEY *k, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    unsigned char buf[1024];
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    return test_b64url(buf, (size_t)n);
}

/* The public JWK of k as JSON (free it); kid NULL leaves it out. */
static inline char *test_jwk(EVP_PKEY *k, const char *kid)
{
    char *out = malloc(2048), kidpart[300] = "";
    if (kid)
        snprintf(kidpart, sizeof kidpart, "\"kid\":\"%s\",", kid);
    if (EVP_PKEY_is_a(k, "RSA")) {
        char *n = test_bn_b64(k, OSSL_PKEY_PARAM_RSA_N, 0), *e = test_bn_b64(k, OSSL_PKEY_PARAM_RSA_E, 0);
        snprintf(out, 2048, "{%s\"kty\":\"RSA\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"}", kidpart, n, e);
        free(n);
        free(e);
    } else {
        char *x = test_bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, 32), *y = test_bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
        snprintf(out, 2048, "{%s\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", kidpart, x, y);
        free(x);
        free(y);
    }
    return out;
}

/* {"keys":[jwk...]} of up to 4 JWKs (free it). */
static inline char *test_jwks(const char *a, const char *b)
{
    char *out = malloc(8192);
    snprintf(out, 8192, "{\"keys\":[%s%s%s]}", a, b ? "," : "", b ? b : "");
    return out;
}

/* A compact JWS of header and payload (JSON texts) signed with k: RS256
 * for an RSA key, ES256 (raw r||s) for an EC key. */
static inline char *test_sign(EVP_PKEY *k, const char *header, const char *payload)
{
    char *h = test_b64url_str(header), *p = test_b64url_str(payload);
    size_t inlen = strlen(h) + strlen(p) + 1;
    char *input = malloc(inlen + 1);
    snprintf(input, inlen + 1, "%s.%s", h, p);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t siglen = sizeof sig;
    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k);
    EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, inlen);
    EVP_MD_CTX_free(md);
    if (EVP_PKEY_is_a(k, "EC")) {
        const unsigned char *p8 = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p8, (long)siglen);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
        siglen = 64;
        ECDSA_SIG_free(es);
    }
    char *s = test_b64url(sig, siglen);
    char *out = malloc(inlen + strlen(s) + 2);
    sprintf(out, "%s.%s", input, s);
    free(h);
    free(p);
    free(input);
    free(s);
    return out;
}
#endif
