/* AES-256-GCM over AES-NI (policy/gcm_aesni.c): the GCM specification's
 * AES-256 test cases, then random keys, nonces, associated data and
 * lengths against OpenSSL's EVP AES-256-GCM both ways, a changed byte or
 * tag refused, and one context reused for many messages. Where the CPU
 * lacks AES-NI, the module must say so and give no context. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/gcm_aesni.h"

static size_t unhex(const char *h, unsigned char *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

static bool skip_without_aesni(void)
{
    if (pg_gcm_aesni_available())
        return false;
    unsigned char key[32] = {0};
    assert_null(pg_gcm_aesni_new(key));
    return true;
}

/* "The Galois/Counter Mode of Operation", McGrew and Viega, test cases 13
 * to 16 (256-bit keys). */
static void test_specification_vectors(void **state)
{
    (void)state;
    if (skip_without_aesni())
        return;
    static const struct {
        const char *key, *iv, *pt, *aad, *ct, *tag;
    } tc[] = {
        {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "",
         "530f8afbc74536b9a963b4f1c4cb738b"},
        {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
         "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
         "d0d1c8a799996bf0265b98b5d48ab919"},
        {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de6"
         "57ba637b391aafd255",
         "",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
         "bcc9f662898015ad",
         "b094dac5d93471bdec1a502270e3cc6c"},
        {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de6"
         "57ba637b39",
         "feedfacedeadbeeffeedfacedeadbeefabaddad2",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
         "bcc9f662",
         "76fc6ece0f4e1768cddf8853bb2d551b"},
    };
    for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
        unsigned char key[32], iv[12], pt[64], aad[32], ct[64], tag[16], out[64], got[16];
        unhex(tc[i].key, key);
        unhex(tc[i].iv, iv);
        size_t n = unhex(tc[i].pt, pt), an = unhex(tc[i].aad, aad);
        assert_int_equal(unhex(tc[i].ct, ct), n);
        unhex(tc[i].tag, tag);
        struct pg_gcm_aesni *g = pg_gcm_aesni_new(key);
        assert_non_null(g);
        assert_int_equal(pg_gcm_aesni_seal(g, iv, aad, an, pt, n, out, got), 0);
        assert_memory_equal(out, ct, n);
        assert_memory_equal(got, tag, 16);
        assert_int_equal(pg_gcm_aesni_open(g, iv, aad, an, ct, n, out, tag), 0);
        assert_memory_equal(out, pt, n);
        pg_gcm_aesni_free(g);
    }
}

static void evp_gcm(int enc, const unsigned char *key, const unsigned char *iv, const unsigned char *aad, size_t an,
                    const unsigned char *in, size_t n, unsigned char *out, unsigned char *tag, int *ok)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    assert_int_equal(EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc), 1);
    if (!enc)
        assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag), 1);
    assert_int_equal(EVP_CipherUpdate(c, NULL, &l, aad, (int)an), 1);
    if (n)
        assert_int_equal(EVP_CipherUpdate(c, out, &l, in, (int)n), 1);
    *ok = EVP_CipherFinal_ex(c, out + (n ? l : 0), &l) == 1;
    if (enc)
        assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag), 1);
    EVP_CIPHER_CTX_free(c);
}

/* One context, many messages: each equal to EVP's, both ways. */
static void test_against_evp(void **state)
{
    (void)state;
    if (skip_without_aesni())
        return;
    unsigned char key[32];
    assert_int_equal(RAND_bytes(key, sizeof key), 1);
    struct pg_gcm_aesni *g = pg_gcm_aesni_new(key);
    assert_non_null(g);
    for (int m = 0; m < 300; m++) {
        unsigned char iv[12], aad[80], pt[200], ct[200], want[200], tag[16], want_tag[16], back[200];
        size_t n = (size_t)m % 150, an = (size_t)(m * 7) % 80;
        assert_int_equal(RAND_bytes(iv, sizeof iv), 1);
        assert_int_equal(RAND_bytes(aad, sizeof aad), 1);
        assert_int_equal(RAND_bytes(pt, sizeof pt), 1);
        int ok;
        evp_gcm(1, key, iv, aad, an, pt, n, want, want_tag, &ok);
        assert_true(ok);
        assert_int_equal(pg_gcm_aesni_seal(g, iv, aad, an, pt, n, ct, tag), 0);
        assert_memory_equal(ct, want, n);
        assert_memory_equal(tag, want_tag, 16);
        /* EVP opens ours; ours opens EVP's. */
        evp_gcm(0, key, iv, aad, an, ct, n, back, tag, &ok);
        assert_true(ok);
        assert_memory_equal(back, pt, n);
        assert_int_equal(pg_gcm_aesni_open(g, iv, aad, an, want, n, back, want_tag), 0);
        assert_memory_equal(back, pt, n);
        /* A changed byte of the ciphertext, the associated data, the tag
         * or the nonce: refused. */
        unsigned char *parts[] = {ct, aad, tag, iv};
        size_t lens[] = {n, an, 16, 12};
        for (int p = 0; p < 4; p++) {
            if (!lens[p])
                continue;
            size_t at = (size_t)m % lens[p];
            parts[p][at] ^= 0x20;
            assert_int_equal(pg_gcm_aesni_open(g, iv, aad, an, ct, n, back, tag), -1);
            parts[p][at] ^= 0x20;
        }
    }
    pg_gcm_aesni_free(g);
    pg_gcm_aesni_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specification_vectors),
        cmocka_unit_test(test_against_evp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
