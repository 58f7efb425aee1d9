/* AES-256-GCM secrets at rest and their key files (policy/secretbox.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/secretbox.h"

static const unsigned char key1[32] = "0123456789abcdef0123456789abcde";
static const unsigned char key2[32] = "0123456789abcdef0123456789abcdf";
static const char secret[] = "JBSWY3DPEHPK3PXP-totp-secret";
static const char alice[] = "user:alice", bob[] = "user:bob";

static int seal(const unsigned char *key, const char *aad, const void *pt, size_t len, unsigned char *out,
                size_t cap)
{
    return pg_secretbox_seal(key, aad, strlen(aad), pt, len, out, cap);
}

static int open_(const unsigned char *key, const char *aad, const unsigned char *blob, size_t len,
                 unsigned char *out, size_t cap)
{
    return pg_secretbox_open(key, aad, strlen(aad), blob, len, out, cap);
}

static void test_round_trip(void **state)
{
    (void)state;
    unsigned char blob[128], pt[128];
    int n = seal(key1, alice, secret, sizeof secret, blob, sizeof blob);
    assert_int_equal(n, sizeof secret + PG_SECRETBOX_OVERHEAD);
    assert_int_equal(blob[0], 0x01);
    assert_null(memmem(blob, (size_t)n, "JBSWY3DP", 8)); /* it is encrypted */
    assert_int_equal(open_(key1, alice, blob, (size_t)n, pt, sizeof pt), sizeof secret);
    assert_memory_equal(pt, secret, sizeof secret);
    /* Empty plaintext and empty aad work too, and the output fits exactly. */
    unsigned char small[PG_SECRETBOX_OVERHEAD];
    assert_int_equal(pg_secretbox_seal(key1, NULL, 0, NULL, 0, small, sizeof small), PG_SECRETBOX_OVERHEAD);
    assert_int_equal(pg_secretbox_open(key1, NULL, 0, small, sizeof small, pt, 0), 0);
    assert_int_equal(pg_secretbox_open(key1, "x", 1, small, sizeof small, pt, 0), -1);
}

static void test_wrong_key_or_aad(void **state)
{
    (void)state;
    unsigned char blob[128], pt[128];
    int n = seal(key1, alice, secret, sizeof secret, blob, sizeof blob);
    assert_true(n > 0);
    memset(pt, 0xAA, sizeof pt);
    assert_int_equal(open_(key2, alice, blob, (size_t)n, pt, sizeof pt), -1);
    assert_int_equal(open_(key1, bob, blob, (size_t)n, pt, sizeof pt), -1);
    assert_int_equal(open_(key1, "user:alic", blob, (size_t)n, pt, sizeof pt), -1);
    assert_int_equal(pg_secretbox_open(key1, NULL, 0, blob, (size_t)n, pt, sizeof pt), -1);
    /* Nothing of the unverified plaintext is left in out. */
    assert_null(memmem(pt, sizeof pt, "JBSWY3DP", 8));
}

static void test_every_bit_flip_refused(void **state)
{
    (void)state;
    unsigned char blob[128], pt[128];
    int n = seal(key1, alice, secret, sizeof secret, blob, sizeof blob);
    assert_true(n > 0);
    for (int i = 0; i < n * 8; i++) {
        blob[i / 8] ^= (unsigned char)(1u << (i % 8));
        if (open_(key1, alice, blob, (size_t)n, pt, sizeof pt) != -1)
            fail_msg("bit %d flipped and still opened", i);
        blob[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    assert_int_equal(open_(key1, alice, blob, (size_t)n, pt, sizeof pt), sizeof secret);
}

static void test_truncated_or_extended(void **state)
{
    (void)state;
    unsigned char blob[128], pt[128];
    int n = seal(key1, alice, secret, sizeof secret, blob, sizeof blob);
    assert_true(n > 0);
    for (int len = 0; len < n; len++)
        if (open_(key1, alice, blob, (size_t)len, pt, sizeof pt) != -1)
            fail_msg("a blob cut to %d bytes opened", len);
    /* Cut from the front: the version byte stays, the rest shifts. */
    unsigned char cut[128];
    cut[0] = 0x01;
    memcpy(cut + 1, blob + 2, (size_t)n - 2);
    assert_int_equal(open_(key1, alice, cut, (size_t)n - 1, pt, sizeof pt), -1);
    blob[n] = 0;
    assert_int_equal(open_(key1, alice, blob, (size_t)n + 1, pt, sizeof pt), -1);
    assert_int_equal(open_(key1, alice, blob, (size_t)n, pt, sizeof pt), sizeof secret);
}

static void test_capacity(void **state)
{
    (void)state;
    unsigned char blob[128], pt[128];
    size_t need = sizeof secret + PG_SECRETBOX_OVERHEAD;
    memset(blob, 0x5A, sizeof blob);
    assert_int_equal(seal(key1, alice, secret, sizeof secret, blob, need - 1), -1);
    assert_int_equal(blob[need - 1], 0x5A); /* nothing written past the cap */
    assert_int_equal(seal(key1, alice, secret, sizeof secret, blob, need), (int)need);
    assert_int_equal(open_(key1, alice, blob, need, pt, sizeof secret - 1), -1);
    assert_int_equal(open_(key1, alice, blob, need, pt, sizeof secret), sizeof secret);
}

static void test_unknown_version(void **state)
{
    (void)state;
    unsigned char blob[128], pt[128];
    int n = seal(key1, alice, secret, sizeof secret, blob, sizeof blob);
    assert_true(n > 0);
    blob[0] = 0x02;
    assert_int_equal(open_(key1, alice, blob, (size_t)n, pt, sizeof pt), -1);
}

static void test_seals_differ(void **state)
{
    (void)state;
    unsigned char a[128], b[128], pt[128];
    int na = seal(key1, alice, secret, sizeof secret, a, sizeof a);
    int nb = seal(key1, alice, secret, sizeof secret, b, sizeof b);
    assert_int_equal(na, nb);
    assert_memory_not_equal(a + 1, b + 1, 12);                        /* fresh nonce */
    assert_memory_not_equal(a + 13, b + 13, (size_t)na - 13);         /* so different ciphertext and tag */
    assert_int_equal(open_(key1, alice, b, (size_t)nb, pt, sizeof pt), sizeof secret);
}

/* The stored format, checked with OpenSSL directly rather than through the
 * code under test: blobs live on in Redis, so it must never drift. The
 * associated data is the version byte followed by the caller's aad. */
static int raw_gcm(int enc, const unsigned char *nonce, const unsigned char *ad, size_t adlen,
                   const unsigned char *in, size_t len, unsigned char *out, unsigned char tag[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n, ok = ctx && EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key1, nonce, enc, NULL) == 1 &&
                EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen) == 1 &&
                EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 &&
                (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1) &&
                EVP_CipherFinal_ex(ctx, out + len, &n) == 1 &&
                (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1);
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static void test_format(void **state)
{
    (void)state;
    unsigned char blob[128], pt[128], ad[64];
    int n = seal(key1, alice, secret, sizeof secret, blob, sizeof blob);
    assert_true(n > 0);
    ad[0] = 0x01;
    memcpy(ad + 1, alice, strlen(alice));
    unsigned char tag[16];
    memcpy(tag, blob + n - 16, 16);
    assert_true(raw_gcm(0, blob + 1, ad, 1 + strlen(alice), blob + 13, sizeof secret, pt, tag));
    assert_memory_equal(pt, secret, sizeof secret);
    /* And a blob made by hand opens; one whose aad lacks the version does not. */
    static const unsigned char nonce[12] = "fixed nonce";
    blob[0] = 0x01;
    memcpy(blob + 1, nonce, 12);
    assert_true(raw_gcm(1, nonce, ad, 1 + strlen(alice), (const unsigned char *)secret, sizeof secret, blob + 13,
                        blob + 13 + sizeof secret));
    assert_int_equal(open_(key1, alice, blob, sizeof secret + 29, pt, sizeof pt), sizeof secret);
    assert_true(raw_gcm(1, nonce, ad + 1, strlen(alice), (const unsigned char *)secret, sizeof secret, blob + 13,
                        blob + 13 + sizeof secret));
    assert_int_equal(open_(key1, alice, blob, sizeof secret + 29, pt, sizeof pt), -1);
}

/* ---- key files ---- */

static char *key_file(const void *content, size_t len, mode_t mode)
{
    char *path = strdup("/tmp/pg-secretbox-test-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static int load(const void *content, size_t len, mode_t mode, unsigned char key[32], char *why, size_t whylen)
{
    char *path = key_file(content, len, mode);
    int rc = pg_secretbox_key_load(path, key, why, whylen);
    unlink(path);
    free(path);
    return rc;
}

static void test_key_forms(void **state)
{
    (void)state;
    unsigned char raw[33], key[32];
    char why[256], text[100];
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)(i * 37 + 10); /* includes '\n' (10) as the first byte */
    raw[32] = '\n';
    for (int nl = 0; nl < 2; nl++) {
        memset(key, 0, sizeof key);
        assert_int_equal(load(raw, 32 + (size_t)nl, 0600, key, why, sizeof why), 0);
        assert_memory_equal(key, raw, 32);
        for (int i = 0; i < 32; i++)
            snprintf(text + 2 * i, 3, i % 2 ? "%02x" : "%02X", raw[i]);
        memcpy(text + 64, "\n", 2);
        memset(key, 0, sizeof key);
        assert_int_equal(load(text, 64 + (size_t)nl, 0400, key, why, sizeof why), 0);
        assert_memory_equal(key, raw, 32);
        assert_int_equal(EVP_EncodeBlock((unsigned char *)text, raw, 32), 44);
        memcpy(text + 44, "\n", 2);
        memset(key, 0, sizeof key);
        assert_int_equal(load(text, 44 + (size_t)nl, 0600, key, why, sizeof why), 0);
        assert_memory_equal(key, raw, 32);
    }
}

static void test_key_mode_refused(void **state)
{
    (void)state;
    unsigned char raw[32] = {1}, key[32];
    char why[256];
    static const mode_t bad[] = {0640, 0604, 0644, 0660, 0601, 0610};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = 0;
        if (load(raw, sizeof raw, bad[i], key, why, sizeof why) != -1)
            fail_msg("mode %o accepted", (unsigned)bad[i]);
        assert_non_null(strstr(why, "readable by group or others"));
    }
    assert_int_equal(pg_secretbox_key_load("/nonexistent/pg-key", key, why, sizeof why), -1);
    assert_non_null(strstr(why, "/nonexistent/pg-key"));
    assert_int_equal(pg_secretbox_key_load("/tmp", key, why, sizeof why), -1);
}

static void expect_bad_key(const char *content, size_t len, const char *reason)
{
    unsigned char key[32];
    char why[256] = "";
    if (load(content, len, 0600, key, why, sizeof why) != -1)
        fail_msg("accepted a %zu-byte key file", len);
    if (!strstr(why, reason))
        fail_msg("expected \"%s\" in \"%s\"", reason, why);
}

static void test_key_wrong_length_or_text(void **state)
{
    (void)state;
    char hex[80];
    memset(hex, 'a', sizeof hex);
    expect_bad_key(hex, 0, "has 0 bytes");
    expect_bad_key(hex, 31, "has 31 bytes");
    expect_bad_key(hex, 63, "has 63 bytes");
    expect_bad_key(hex, 66, "has more than 65 bytes");
    expect_bad_key(hex, 80, "has more than 65 bytes");
    memcpy(hex + 64, "\n\n", 2);
    expect_bad_key(hex, 66, "more than 65 bytes"); /* one newline only */
    memcpy(hex + 64, "\r\n", 2);
    expect_bad_key(hex, 66, "more than 65 bytes");
    memcpy(hex + 32, " \n", 2);
    expect_bad_key(hex, 33, "has 33 bytes"); /* 33 bytes must end in a newline */
    memset(hex, 'a', 64);
    hex[10] = 'g';
    expect_bad_key(hex, 64, "not valid hex");
    char b64[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    unsigned char key[32];
    char why[256];
    assert_int_equal(load(b64, 44, 0600, key, why, sizeof why), 0);
    assert_int_equal(key[31], 0x1f);
    b64[42] = '9'; /* non-zero trailing bits: not the canonical spelling */
    expect_bad_key(b64, 44, "not valid base64");
    b64[42] = '*';
    expect_bad_key(b64, 44, "not valid base64");
    b64[42] = '8';
    b64[43] = 'A';
    expect_bad_key(b64, 44, "not valid base64");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_wrong_key_or_aad),
        cmocka_unit_test(test_every_bit_flip_refused),
        cmocka_unit_test(test_truncated_or_extended),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_unknown_version),
        cmocka_unit_test(test_seals_differ),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_key_forms),
        cmocka_unit_test(test_key_mode_refused),
        cmocka_unit_test(test_key_wrong_length_or_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
