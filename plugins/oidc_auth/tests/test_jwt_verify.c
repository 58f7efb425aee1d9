#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/hmac.h>
#include <string.h>

#include "jwt_verify.h"
#include "oidc_test_keys.h"

static EVP_PKEY *rsa, *ec, *other_rsa, *other_ec;
static struct oidc_keyset *ks;
static const char *PAYLOAD = "{\"iss\":\"https://idp.test\",\"sub\":\"u1\"}";

static int setup(void **state)
{
    (void)state;
    rsa = test_rsa_key();
    ec = test_ec_key();
    other_rsa = test_rsa_key();
    other_ec = test_ec_key();
    char *a = test_jwk(rsa, "r1"), *b = test_jwk(ec, "e1"), *set = test_jwks(a, b), err[300];
    ks = oidc_jwks_parse(set, strlen(set), err, sizeof err);
    free(a);
    free(b);
    free(set);
    return ks ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    oidc_keyset_unref(ks);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(other_rsa);
    EVP_PKEY_free(other_ec);
    return 0;
}

/* The result of verifying token against ks; err holds the reason. */
static int verify(const char *token, char *err)
{
    struct oidc_jwt jwt;
    if (oidc_jwt_parse(token, strlen(token), &jwt) != 0) {
        strcpy(err, "(not a JWS)");
        return -2;
    }
    int rc = oidc_jwt_verify(&jwt, ks, err, 300);
    oidc_jwt_free(&jwt);
    return rc;
}

static void expect_refused(const char *token, const char *fragment)
{
    char err[300] = "";
    assert_int_equal(verify(token, err), -1);
    if (!strstr(err, fragment))
        fail_msg("error \"%s\" does not say \"%s\"", err, fragment);
}

static void rs256_and_es256_verify(void **state)
{
    (void)state;
    char err[300];
    char *t = test_sign(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\",\"typ\":\"JWT\"}", PAYLOAD);
    assert_int_equal(verify(t, err), 0);
    free(t);
    t = test_sign(ec, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", PAYLOAD);
    assert_int_equal(verify(t, err), 0);
    free(t);
}

static void the_wrong_key_is_refused(void **state)
{
    (void)state;
    char *t = test_sign(other_rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", PAYLOAD);
    expect_refused(t, "signature does not verify under key r1");
    free(t);
    t = test_sign(other_ec, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", PAYLOAD);
    expect_refused(t, "signature does not verify");
    free(t);
    t = test_sign(rsa, "{\"alg\":\"RS256\",\"kid\":\"r9\"}", PAYLOAD);
    expect_refused(t, "kid r9 is not in the JWKS");
    free(t);
    t = test_sign(rsa, "{\"alg\":\"RS256\"}", PAYLOAD);
    expect_refused(t, "no kid, and the JWKS has 2 keys");
    free(t);
}

static void the_alg_must_be_the_keys(void **state)
{
    (void)state;
    /* An EC signature presented as RS256 under the EC key's kid, and the
     * reverse: the key decides the algorithm. */
    char *t = test_sign(ec, "{\"alg\":\"RS256\",\"kid\":\"e1\"}", PAYLOAD);
    expect_refused(t, "alg RS256 does not match key e1 (ES256)");
    free(t);
    t = test_sign(rsa, "{\"alg\":\"ES256\",\"kid\":\"r1\"}", PAYLOAD);
    expect_refused(t, "alg ES256 does not match key r1 (RS256)");
    free(t);
}

static char *unsigned_token(const char *header, const char *payload, const char *sig)
{
    char *h = test_b64url_str(header), *p = test_b64url_str(payload);
    char *out = malloc(strlen(h) + strlen(p) + strlen(sig) + 3);
    sprintf(out, "%s.%s.%s", h, p, sig);
    free(h);
    free(p);
    return out;
}

static void none_and_hmac_are_refused(void **state)
{
    (void)state;
    char *t = unsigned_token("{\"alg\":\"none\",\"kid\":\"r1\"}", PAYLOAD, "AA");
    expect_refused(t, "alg none is not allowed");
    free(t);
    /* HS256 keyed with the public key's JWK text: the classic confusion. */
    char *jwk = test_jwk(rsa, "r1");
    char *h = test_b64url_str("{\"alg\":\"HS256\",\"kid\":\"r1\"}"), *p = test_b64url_str(PAYLOAD);
    char input[2048];
    snprintf(input, sizeof input, "%s.%s", h, p);
    unsigned char mac[32];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), jwk, (int)strlen(jwk), (unsigned char *)input, strlen(input), mac, &maclen);
    char *m = test_b64url(mac, maclen);
    char tok[4096];
    snprintf(tok, sizeof tok, "%s.%s", input, m);
    expect_refused(tok, "alg HS256 is not allowed");
    free(jwk);
    free(h);
    free(p);
    free(m);
    t = unsigned_token("{\"alg\":\"PS256\",\"kid\":\"r1\"}", PAYLOAD, "AA");
    expect_refused(t, "alg PS256 is not allowed");
    free(t);
    t = unsigned_token("{\"alg\":\"RS256\\nxxxxxxxxxxxxxxxxxxxxx\",\"kid\":\"r1\"}", PAYLOAD, "AA");
    expect_refused(t, "(unprintable)");
    free(t);
}

static void crit_and_odd_kids_are_refused(void **state)
{
    (void)state;
    char *t = test_sign(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"exp\"],\"exp\":1}", PAYLOAD);
    expect_refused(t, "crit");
    free(t);
    t = test_sign(rsa, "{\"alg\":\"RS256\",\"kid\":7}", PAYLOAD);
    expect_refused(t, "kid is not a string");
    free(t);
}

static void tampering_is_refused(void **state)
{
    (void)state;
    char *t = test_sign(rsa, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", PAYLOAD);
    char *p = test_b64url_str("{\"iss\":\"https://idp.test\",\"sub\":\"admin\"}");
    char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.'), tok[4096];
    snprintf(tok, sizeof tok, "%.*s.%s%s", (int)(d1 - t), t, p, d2);
    expect_refused(tok, "signature does not verify");
    free(p);
    free(t);
    t = test_sign(ec, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", PAYLOAD);
    /* a signature of another length than r||s */
    char *sig = strrchr(t, '.') + 1;
    sig[84] = '\0'; /* 63 bytes, whole groups of 4 characters */
    expect_refused(t, "signature does not verify");
    free(t);
}

static void what_is_not_a_jws_is_told_apart(void **state)
{
    (void)state;
    char err[300];
    const char *not_jws[] = {"", "abc", "a.b", "a.b.c.d.e", "..", "a..c", "e30.e30.", "e30.e30.A=",
                             "e30.e30.AAAA" /* {} has no alg */, "W10.e30.AAAA" /* [] */};
    for (size_t i = 0; i < sizeof not_jws / sizeof not_jws[0]; i++)
        assert_int_equal(verify(not_jws[i], err), -2);
    char *t = unsigned_token("{\"alg\":\"RS256\"}", "not json", "AAAA");
    assert_int_equal(verify(t, err), -2);
    free(t);
    char big[OIDC_TOKEN_MAX + 10];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[10] = big[20] = '.';
    assert_int_equal(verify(big, err), -2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rs256_and_es256_verify),
        cmocka_unit_test(the_wrong_key_is_refused),
        cmocka_unit_test(the_alg_must_be_the_keys),
        cmocka_unit_test(none_and_hmac_are_refused),
        cmocka_unit_test(crit_and_odd_kids_are_refused),
        cmocka_unit_test(tampering_is_refused),
        cmocka_unit_test(what_is_not_a_jws_is_told_apart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
