#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "jwks.h"
#include "oidc_test_keys.h"

static EVP_PKEY *rsa, *ec;

static int setup(void **state)
{
    (void)state;
    rsa = test_rsa_key();
    ec = test_ec_key();
    return rsa && ec ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    return 0;
}

static struct oidc_keyset *parse(const char *json, char *err)
{
    return oidc_jwks_parse(json, strlen(json), err, 300);
}

static void rsa_and_ec_keys_are_read(void **state)
{
    (void)state;
    char *a = test_jwk(rsa, "r1"), *b = test_jwk(ec, "e1"), *set = test_jwks(a, b), err[300];
    struct oidc_keyset *ks = parse(set, err);
    assert_non_null(ks);
    assert_int_equal(ks->nkeys, 2);
    const struct oidc_key *k = oidc_keyset_find(ks, "r1");
    assert_non_null(k);
    assert_int_equal(k->alg, OIDC_ALG_RS256);
    assert_int_equal(EVP_PKEY_eq(k->pkey, rsa), 1); /* the same public key OpenSSL made */
    k = oidc_keyset_find(ks, "e1");
    assert_int_equal(k->alg, OIDC_ALG_ES256);
    assert_int_equal(EVP_PKEY_eq(k->pkey, ec), 1);
    assert_null(oidc_keyset_find(ks, "nope"));
    assert_null(oidc_keyset_find(ks, NULL)); /* two keys: no kid, no key */
    oidc_keyset_unref(oidc_keyset_ref(ks));
    oidc_keyset_unref(ks);
    free(a);
    free(b);
    free(set);
}

static void a_single_key_serves_a_token_without_kid(void **state)
{
    (void)state;
    char *a = test_jwk(ec, NULL), *set = test_jwks(a, NULL), err[300];
    struct oidc_keyset *ks = parse(set, err);
    assert_non_null(ks);
    assert_non_null(oidc_keyset_find(ks, NULL));
    assert_null(oidc_keyset_find(ks, "x"));
    oidc_keyset_unref(ks);
    free(a);
    free(set);
}

/* A JWK writer that drops the leading zero byte of a coordinate (as
 * python3-jwt 2.6 does) still gives the same key. */
static void a_coordinate_without_its_leading_zero_is_the_same_key(void **state)
{
    (void)state;
    EVP_PKEY *k = NULL;
    for (int i = 0; i < 20000; i++) {
        k = test_ec_key();
        BIGNUM *x = NULL;
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x);
        int short_x = BN_num_bytes(x) < 32;
        BN_free(x);
        if (short_x)
            break;
        EVP_PKEY_free(k);
        k = NULL;
    }
    assert_non_null(k); /* 1 key in 256 has one: 20000 tries never all miss */
    char *x = test_bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, 0), *y = test_bn_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    char set[1024], err[300];
    snprintf(set, sizeof set, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
    struct oidc_keyset *ks = parse(set, err);
    assert_non_null(ks);
    assert_int_equal(EVP_PKEY_eq(ks->keys[0].pkey, k), 1);
    oidc_keyset_unref(ks);
    free(x);
    free(y);
    EVP_PKEY_free(k);
}

static void other_kinds_are_skipped(void **state)
{
    (void)state;
    char *a = test_jwk(rsa, "r1"), err[300], set[4096];
    snprintf(set, sizeof set,
             "{\"keys\":[%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"},"
             "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AA\",\"e\":\"AQAB\"},"
             "{\"kty\":\"RSA\",\"alg\":\"PS256\",\"n\":\"AA\",\"e\":\"AQAB\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"},{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}",
             a);
    struct oidc_keyset *ks = parse(set, err);
    assert_non_null(ks);
    assert_int_equal(ks->nkeys, 1);
    assert_int_equal(ks->skipped, 5);
    oidc_keyset_unref(ks);
    free(a);
}

/* Replaces the first occurrence of from in s by to (s has room). */
static void replace(char *s, const char *from, const char *to)
{
    char *at = strstr(s, from);
    assert_non_null(at);
    memmove(at + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
    memcpy(at, to, strlen(to));
}

static void expect_error(const char *set, const char *fragment)
{
    char err[300] = "";
    struct oidc_keyset *ks = parse(set, err);
    assert_null(ks);
    if (!strstr(err, fragment))
        fail_msg("error \"%s\" does not say \"%s\"", err, fragment);
}

static void bad_keys_are_errors(void **state)
{
    (void)state;
    char set[8192];
    expect_error("not json", "not valid JSON");
    expect_error("{\"keys\":{}}", "no \"keys\" array");
    expect_error("{\"keys\":[]}", "no RS256 or ES256 signing key");
    expect_error("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}", "1 other keys skipped");
    expect_error("{\"keys\":[5]}", "key 0: not a JSON object");
    expect_error("{\"keys\":[{\"n\":\"AA\"}]}", "no kty");
    expect_error("{\"keys\":[{\"kty\":\"RSA\",\"kid\":5}]}", "not a string");
    /* a short RSA modulus */
    expect_error("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", "at least 2048");
    char *r = test_jwk(rsa, "r1");
    /* padding in n: strict base64url */
    snprintf(set, sizeof set, "{\"keys\":[%s]}", r);
    replace(set, "\",\"e\"", "==\",\"e\"");
    expect_error(set, "without a valid n and e");
    /* an even exponent */
    snprintf(set, sizeof set, "{\"keys\":[%s]}", r);
    replace(set, "\"e\":\"AQAB\"", "\"e\":\"AQAC\"");
    expect_error(set, "OpenSSL refuses");
    /* a leading zero octet in e */
    snprintf(set, sizeof set, "{\"keys\":[%s]}", r);
    replace(set, "\"e\":\"AQAB\"", "\"e\":\"AAEAAQ\"");
    expect_error(set, "without a valid n and e");
    /* one kid twice */
    snprintf(set, sizeof set, "{\"keys\":[%s,%s]}", r, r);
    expect_error(set, "kid \"r1\" appears twice");
    free(r);
    char *e = test_jwk(ec, "e1");
    /* a point off the curve: y changed */
    snprintf(set, sizeof set, "{\"keys\":[%s]}", e);
    char *y = strstr(set, "\"y\":\"") + 5;
    y[0] = y[0] == 'A' ? 'B' : 'A';
    expect_error(set, "not on P-256");
    /* a long x (33 bytes) */
    snprintf(set, sizeof set, "{\"keys\":[%s]}", e);
    replace(set, "\"x\":\"", "\"x\":\"AAAA");
    expect_error(set, "x and y of up to 32 bytes");
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rsa_and_ec_keys_are_read),
        cmocka_unit_test(a_single_key_serves_a_token_without_kid),
        cmocka_unit_test(a_coordinate_without_its_leading_zero_is_the_same_key),
        cmocka_unit_test(other_kinds_are_skipped),
        cmocka_unit_test(bad_keys_are_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
