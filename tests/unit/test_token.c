/* Session JWTs (policy/token.c): round trip and every tampering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "policy/token.h"

static struct pg_token_key key = {.len = 32, .issuer = "phiguard.example"};

static void b64url(const unsigned char *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    for (int i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
}

/* Builds a token by hand: any header, any claims, signed with HMAC md (or
 * unsigned when md is NULL). */
static void forge(const char *header, const char *claims, const EVP_MD *md, char *out)
{
    char h[512], c[1024], sig[128] = "";
    b64url((const unsigned char *)header, strlen(header), h);
    b64url((const unsigned char *)claims, strlen(claims), c);
    char signing[1600];
    snprintf(signing, sizeof signing, "%s.%s", h, c);
    if (md) {
        unsigned char mac[64];
        unsigned maclen = 0;
        HMAC(md, key.key, (int)key.len, (unsigned char *)signing, strlen(signing), mac, &maclen);
        b64url(mac, maclen, sig);
    }
    sprintf(out, "%s.%s", signing, sig);
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < key.len; i++)
        key.key[i] = (unsigned char)(i * 7 + 1);
    return 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct pg_token_claims c = {.sid = "s-123", .sub = "u-phys-1", .iat = 1000, .exp = 2000}, got;
    char tok[1024];
    assert_int_equal(pg_token_sign(&key, &c, tok, sizeof tok), 0);
    assert_int_equal(pg_token_verify(&key, tok, 1500, &got), PG_TOKEN_OK);
    assert_string_equal(got.sid, "s-123");
    assert_string_equal(got.sub, "u-phys-1");
    assert_int_equal(pg_token_verify(&key, tok, 2000, &got), PG_TOKEN_EXPIRED);
    /* A different key: bad signature. */
    struct pg_token_key other = key;
    other.key[0] ^= 1;
    assert_int_equal(pg_token_verify(&other, tok, 1500, &got), PG_TOKEN_BAD_SIGNATURE);
    /* Another deployment's token. */
    strcpy(other.issuer, "someone.else");
    other.key[0] ^= 1;
    assert_int_equal(pg_token_verify(&other, tok, 1500, &got), PG_TOKEN_WRONG_ISSUER);
    /* A short key is refused for signing. */
    struct pg_token_key weak = key;
    weak.len = 16;
    assert_int_equal(pg_token_sign(&weak, &c, tok, sizeof tok), -1);
}

static void test_tampering(void **state)
{
    (void)state;
    struct pg_token_claims c = {.sid = "s-1", .sub = "u-1", .iat = 1000, .exp = 2000}, got;
    char tok[1024], forged[2048];
    pg_token_sign(&key, &c, tok, sizeof tok);
    /* A flipped signature byte. */
    char *last = tok + strlen(tok) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    assert_int_equal(pg_token_verify(&key, tok, 1500, &got), PG_TOKEN_BAD_SIGNATURE);
    const char *claims = "{\"sid\":\"s-1\",\"sub\":\"u-9\",\"iss\":\"phiguard.example\",\"aud\":\"phiguard.example\","
                         "\"iat\":1000,\"exp\":2000}";
    /* alg none, unsigned. */
    forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL, forged);
    assert_int_equal(pg_token_verify(&key, forged, 1500, &got), PG_TOKEN_WRONG_ALG);
    /* Another HMAC, correctly computed with the right key: still refused. */
    forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims, EVP_sha512(), forged);
    assert_int_equal(pg_token_verify(&key, forged, 1500, &got), PG_TOKEN_WRONG_ALG);
    /* RS256 claimed, HMAC'd with the secret as if it were a public key. */
    forge("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims, EVP_sha256(), forged);
    assert_int_equal(pg_token_verify(&key, forged, 1500, &got), PG_TOKEN_WRONG_ALG);
    /* Two alg members. */
    forge("{\"alg\":\"HS256\",\"alg\":\"none\"}", claims, EVP_sha256(), forged);
    assert_int_equal(pg_token_verify(&key, forged, 1500, &got), PG_TOKEN_MALFORMED);
    /* A hand-made HS256 token with the right key is accepted... */
    forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, EVP_sha256(), forged);
    assert_int_equal(pg_token_verify(&key, forged, 1500, &got), PG_TOKEN_OK);
    /* ...but not without a session id, or without expiry. */
    forge("{\"alg\":\"HS256\"}", "{\"sub\":\"u\",\"iss\":\"phiguard.example\",\"aud\":\"phiguard.example\",\"iat\":1,\"exp\":2000}",
          EVP_sha256(), forged);
    assert_int_equal(pg_token_verify(&key, forged, 1500, &got), PG_TOKEN_MALFORMED);
    forge("{\"alg\":\"HS256\"}", "{\"sid\":\"s\",\"sub\":\"u\",\"iss\":\"phiguard.example\",\"aud\":\"phiguard.example\",\"iat\":1}",
          EVP_sha256(), forged);
    assert_int_equal(pg_token_verify(&key, forged, 1500, &got), PG_TOKEN_MALFORMED);
    /* Garbage. */
    assert_int_equal(pg_token_verify(&key, "not.a.jwt", 1500, &got), PG_TOKEN_MALFORMED);
    assert_int_equal(pg_token_verify(&key, "", 1500, &got), PG_TOKEN_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tampering),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
