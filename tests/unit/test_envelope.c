/* The PHI envelope (policy/envelope.c): both modes, types restored, the
 * field binding, determinism, tampering, unknown keys, malformed input,
 * and an independent check of mode r with OpenSSL's GCM directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "policy/envelope.h"

static struct pg_phi_key key(const char *kid, unsigned char fill)
{
    unsigned char secret[32];
    memset(secret, fill, sizeof secret);
    struct pg_phi_key k;
    assert_int_equal(pg_phi_key_init(&k, kid, secret), 0);
    return k;
}

static void roundtrip(char mode, char type, const char *value)
{
    struct pg_phi_key k = key("k1", 7);
    char env[1024], out[512], t = 0;
    size_t n = 0;
    long len = pg_envelope_seal(&k, mode, "Patient.birthDate", type, value, strlen(value), env, sizeof env);
    assert_true(len > 0);
    assert_int_equal((size_t)len, strlen(env));
    assert_true(pg_envelope_is(env, (size_t)len));
    assert_int_equal(strncmp(env, mode == 'r' ? "phi:v1:k1:r:" : "phi:v1:k1:d:", 12), 0);
    assert_null(strstr(env, value[0] ? value : "\x01")); /* nothing of the value shows */
    assert_int_equal(pg_envelope_open(&k, 1, "Patient.birthDate", env, (size_t)len, &t, out, sizeof out, &n),
                     PG_ENVELOPE_OK);
    assert_int_equal(t, type);
    assert_int_equal(n, strlen(value));
    assert_string_equal(out, value);
}

static void test_roundtrips(void **state)
{
    (void)state;
    roundtrip('r', 's', "1970-01-01");
    roundtrip('d', 's', "1970-01-01");
    roundtrip('r', 'n', "123456789");
    roundtrip('d', 'b', "true");
    roundtrip('d', 's', ""); /* SIV never sees an empty plaintext: the type byte leads */
    roundtrip('r', 's', "");
}

static void test_determinism(void **state)
{
    (void)state;
    struct pg_phi_key k = key("k1", 7);
    char a[256], b[256];
    long la = pg_envelope_seal(&k, 'd', "Patient.identifier.value", 's', "999-99-9999", 11, a, sizeof a);
    long lb = pg_envelope_seal(&k, 'd', "Patient.identifier.value", 's', "999-99-9999", 11, b, sizeof b);
    assert_int_equal(la, lb);
    assert_string_equal(a, b); /* equal values match on the backend */
    pg_envelope_seal(&k, 'd', "Patient.telecom.value", 's', "999-99-9999", 11, b, sizeof b);
    assert_string_not_equal(a, b); /* another field, another key */
    pg_envelope_seal(&k, 'r', "Patient.identifier.value", 's', "999-99-9999", 11, a, sizeof a);
    pg_envelope_seal(&k, 'r', "Patient.identifier.value", 's', "999-99-9999", 11, b, sizeof b);
    assert_string_not_equal(a, b); /* random nonces */
}

static void test_refusals(void **state)
{
    (void)state;
    struct pg_phi_key k = key("k1", 7), other = key("k2", 9), imposter = key("k1", 8);
    char env[256], out[64], t;
    size_t n;
    for (int m = 0; m < 2; m++) {
        char mode = m ? 'd' : 'r';
        long len = pg_envelope_seal(&k, mode, "Patient.name.family", 's', "Doe", 3, env, sizeof env);
        /* Moved to another field. */
        assert_int_equal(pg_envelope_open(&k, 1, "Patient.birthDate", env, (size_t)len, &t, out, sizeof out, &n),
                         PG_ENVELOPE_BAD_TAG);
        /* A key ring without its kid, and a different key under the same kid. */
        assert_int_equal(pg_envelope_open(&other, 1, "Patient.name.family", env, (size_t)len, &t, out, sizeof out, &n),
                         PG_ENVELOPE_UNKNOWN_KEY);
        assert_int_equal(
            pg_envelope_open(&imposter, 1, "Patient.name.family", env, (size_t)len, &t, out, sizeof out, &n),
            PG_ENVELOPE_BAD_TAG);
        /* Every changed character of the payload is caught. */
        size_t start = strlen("phi:v1:k1:r:");
        for (size_t i = start; i < (size_t)len; i++) {
            char copy[256];
            memcpy(copy, env, (size_t)len + 1);
            copy[i] = copy[i] == 'A' ? 'B' : 'A';
            enum pg_envelope_result r =
                pg_envelope_open(&k, 1, "Patient.name.family", copy, (size_t)len, &t, out, sizeof out, &n);
            assert_true(r == PG_ENVELOPE_BAD_TAG || r == PG_ENVELOPE_MALFORMED);
        }
        /* Cut short, and a mode letter swapped. */
        assert_int_not_equal(
            pg_envelope_open(&k, 1, "Patient.name.family", env, (size_t)len - 3, &t, out, sizeof out, &n),
            PG_ENVELOPE_OK);
        char swapped[256];
        memcpy(swapped, env, (size_t)len + 1);
        swapped[10] = mode == 'r' ? 'd' : 'r';
        assert_int_not_equal(
            pg_envelope_open(&k, 1, "Patient.name.family", swapped, (size_t)len, &t, out, sizeof out, &n),
            PG_ENVELOPE_OK);
        /* Too small a buffer. */
        assert_int_equal(pg_envelope_open(&k, 1, "Patient.name.family", env, (size_t)len, &t, out, 2, &n),
                         PG_ENVELOPE_TOO_SMALL);
    }
    const char *bad[] = {"phi:v1:", "phi:v1:k1", "phi:v1:k1:x:AAAA", "phi:v1::r:AAAA", "phi:v1:k1:r:!!!!",
                         "phi:v1:k1:r:A", "phi:v1:k1:r:AAAAAAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(pg_envelope_open(&k, 1, "f", bad[i], strlen(bad[i]), &t, out, sizeof out, &n),
                             PG_ENVELOPE_OK);
    assert_int_equal(pg_envelope_open(&k, 1, "f", "plain text", 10, &t, out, sizeof out, &n), PG_ENVELOPE_NOT_ONE);
    /* Sealing refuses what it cannot represent. */
    assert_int_equal(pg_envelope_seal(&k, 'x', "f", 's', "a", 1, env, sizeof env), -1);
    assert_int_equal(pg_envelope_seal(&k, 'r', "f", 'o', "a", 1, env, sizeof env), -1);
    assert_int_equal(pg_envelope_seal(&k, 'r', "f", 's', "a", 1, env, 20), -1);
    struct pg_phi_key bad_kid;
    unsigned char secret[32] = {0};
    assert_int_equal(pg_phi_key_init(&bad_kid, "has:colon", secret), -1);
    assert_int_equal(pg_phi_key_init(&bad_kid, "", secret), -1);
}

/* Mode r checked with OpenSSL's AES-256-GCM directly: the nonce is the
 * first 12 bytes, the tag the last 16, the AAD "v1|kid|r|field". Several
 * messages in a row, both ways: the thread's cached contexts take a new
 * nonce for each (a context that kept an old one would still open what it
 * sealed itself, so only an independent check shows it). */
static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_decode_slow(const char *b64, size_t n, unsigned char *blob)
{
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        v = v << 6 | (unsigned)(strchr(alphabet, b64[i]) - alphabet);
        if ((bits += 6) >= 8)
            blob[o++] = (unsigned char)(v >> (bits -= 8));
    }
    return o;
}

static void open_directly(const struct pg_phi_key *k, const char *env, long len, unsigned char nonce[12])
{
    const char *b64 = env + strlen("phi:v1:kx:r:");
    unsigned char blob[128];
    assert_int_equal(b64url_decode_slow(b64, (size_t)(env + len - b64), blob), 12 + 3 + 16);
    memcpy(nonce, blob, 12);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char pt[8];
    int l1 = 0, l2 = 0;
    const char aad[] = "v1|kx|r|Obs.value";
    assert_int_equal(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->gcm, blob), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, blob + 15), 1);
    assert_int_equal(EVP_DecryptUpdate(ctx, NULL, &l1, (const unsigned char *)aad, (int)strlen(aad)), 1);
    assert_int_equal(EVP_DecryptUpdate(ctx, pt, &l1, blob + 12, 3), 1);
    assert_int_equal(EVP_DecryptFinal_ex(ctx, pt + l1, &l2), 1);
    EVP_CIPHER_CTX_free(ctx);
    assert_memory_equal(pt, "n42", 3);
}

/* An envelope made by OpenSSL directly, with the given nonce. */
static long seal_directly(const struct pg_phi_key *k, const unsigned char nonce[12], char *env, size_t cap)
{
    unsigned char blob[12 + 3 + 16];
    memcpy(blob, nonce, 12);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int l = 0;
    const char aad[] = "v1|kx|r|Obs.value";
    assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->gcm, nonce), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &l, (const unsigned char *)aad, (int)strlen(aad)), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, blob + 12, &l, (const unsigned char *)"n42", 3), 1);
    assert_int_equal(EVP_EncryptFinal_ex(ctx, blob + 15, &l), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, blob + 15), 1);
    EVP_CIPHER_CTX_free(ctx);
    size_t n = (size_t)snprintf(env, cap, "phi:v1:kx:r:");
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof blob; i++) {
        v = v << 8 | blob[i];
        for (bits += 8; bits >= 6; bits -= 6)
            env[n++] = alphabet[(v >> (bits - 6)) & 63];
    }
    if (bits)
        env[n++] = alphabet[(v << (6 - bits)) & 63];
    env[n] = '\0';
    return (long)n;
}

static void test_gcm_layout(void **state)
{
    (void)state;
    struct pg_phi_key k = key("kx", 3);
    unsigned char nonces[3][12];
    for (int m = 0; m < 3; m++) {
        char env[256];
        long len = pg_envelope_seal(&k, 'r', "Obs.value", 'n', "42", 2, env, sizeof env);
        assert_true(len > 0);
        open_directly(&k, env, len, nonces[m]);
        for (int e = 0; e < m; e++)
            assert_memory_not_equal(nonces[m], nonces[e], 12);
        /* And the other way: OpenSSL seals with its own nonce, phiguard opens. */
        unsigned char nonce[12] = {(unsigned char)m, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, (unsigned char)(0xf0 + m)};
        len = seal_directly(&k, nonce, env, sizeof env);
        char t = 0, out[16];
        size_t n = 0;
        assert_int_equal(pg_envelope_open(&k, 1, "Obs.value", env, (size_t)len, &t, out, sizeof out, &n),
                         PG_ENVELOPE_OK);
        assert_int_equal(t, 'n');
        assert_int_equal(n, 2);
        assert_memory_equal(out, "42", 2);
    }
}

/* Worker threads share one keyring: each thread keeps its own contexts
 * and per-field SIV keys. More fields than a thread caches, two keys and
 * several threads at once must still give exactly the single-threaded
 * envelopes. */
#define THREAD_FIELDS 40
static struct pg_phi_key shared[2];
static char expected[2][THREAD_FIELDS][128];

static void field_name(int f, char *out, size_t cap)
{
    snprintf(out, cap, "Patient.field%d.value", f);
}

static void *seal_all(void *arg)
{
    (void)arg;
    long bad = 0;
    for (int round = 0; round < 20; round++)
        for (int f = 0; f < THREAD_FIELDS; f++) {
            int k = (f + round) % 2;
            char field[64], env[128], out[32], t;
            size_t n;
            field_name(f, field, sizeof field);
            pg_envelope_seal(&shared[k], 'd', field, 's', "123456789", 9, env, sizeof env);
            bad += strcmp(env, expected[k][f]) != 0;
            bad += pg_envelope_open(&shared[k], 1, field, env, strlen(env), &t, out, sizeof out, &n) != PG_ENVELOPE_OK;
            bad += pg_envelope_open(&shared[!k], 1, field, env, strlen(env), &t, out, sizeof out, &n) != PG_ENVELOPE_BAD_TAG;
            /* Mode r: each thread's GCM contexts, keyed once per key. */
            pg_envelope_seal(&shared[k], 'r', field, 's', "123456789", 9, env, sizeof env);
            bad += pg_envelope_open(&shared[k], 1, field, env, strlen(env), &t, out, sizeof out, &n) != PG_ENVELOPE_OK;
            bad += strcmp(out, "123456789") != 0;
            bad += pg_envelope_open(&shared[!k], 1, field, env, strlen(env), &t, out, sizeof out, &n) != PG_ENVELOPE_BAD_TAG;
        }
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    shared[0] = key("k1", 1);
    shared[1] = key("k1", 2); /* the same kid, another secret */
    for (int k = 0; k < 2; k++)
        for (int f = 0; f < THREAD_FIELDS; f++) {
            char field[64];
            field_name(f, field, sizeof field);
            assert_true(pg_envelope_seal(&shared[k], 'd', field, 's', "123456789", 9, expected[k][f], 128) > 0);
        }
    assert_string_not_equal(expected[0][0], expected[1][0]);
    assert_string_not_equal(expected[0][0], expected[0][1]);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, seal_all, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        assert_int_equal((long)bad, 0);
    }
}

static int b64_value(char c)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = strchr(alphabet, c);
    return p && c ? (int)(p - alphabet) : -1;
}

/* base64url has one spelling: a last character with unused bits set, a
 * byte outside the alphabet anywhere (a whole group or the tail), padding,
 * are refused as malformed before anything is decrypted. */
static void test_spellings(void **state)
{
    (void)state;
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    struct pg_phi_key k = key("k1", 7);
    /* Values whose blob leaves 0, 1 and 2 bytes after the whole groups. */
    for (size_t vlen = 1; vlen <= 3; vlen++) {
        for (int m = 0; m < 2; m++) {
            char env[256], out[64], t;
            size_t n;
            long len = pg_envelope_seal(&k, m ? 'd' : 'r', "Patient.name.family", 's', "abc", vlen, env, sizeof env);
            assert_true(len > 0);
            assert_int_equal(pg_envelope_open(&k, 1, "Patient.name.family", env, (size_t)len, &t, out, sizeof out, &n),
                             PG_ENVELOPE_OK);
            assert_int_equal(n, vlen);
            size_t b64_len = (size_t)len - strlen("phi:v1:k1:r:");
            if (b64_len % 4) { /* a tail: its unused low bits must be zero */
                char copy[256];
                memcpy(copy, env, (size_t)len + 1);
                int v = b64_value(copy[len - 1]);
                assert_true(v >= 0 && (v & 1) == 0);
                copy[len - 1] = alphabet[v | 1];
                assert_int_equal(
                    pg_envelope_open(&k, 1, "Patient.name.family", copy, (size_t)len, &t, out, sizeof out, &n),
                    PG_ENVELOPE_MALFORMED);
            }
            const char strange[] = {'=', '+', '/', ' ', '\0', '\xff', '.'};
            size_t at[] = {strlen("phi:v1:k1:r:"), strlen("phi:v1:k1:r:") + 5, (size_t)len - 1};
            for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
                for (size_t c = 0; c < sizeof strange; c++) {
                    char copy[256];
                    memcpy(copy, env, (size_t)len + 1);
                    copy[at[i]] = strange[c];
                    assert_int_equal(
                        pg_envelope_open(&k, 1, "Patient.name.family", copy, (size_t)len, &t, out, sizeof out, &n),
                        PG_ENVELOPE_MALFORMED);
                }
        }
    }
}

/* More keys than a thread keeps keyed contexts for, in turn, and two keys
 * with one kid: each envelope opens with its own key only. */
static void test_many_keys(void **state)
{
    (void)state;
    enum { NKEYS = 20 };
    struct pg_phi_key keys[NKEYS];
    char env[NKEYS][256];
    long len[NKEYS];
    for (int i = 0; i < NKEYS; i++) {
        keys[i] = key(i % 2 ? "k1" : "k2", (unsigned char)(i + 1));
        len[i] = pg_envelope_seal(&keys[i], 'r', "Patient.birthDate", 's', "1970-01-01", 10, env[i], sizeof env[i]);
        assert_true(len[i] > 0);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < NKEYS; i++) {
            char out[64], t;
            size_t n;
            assert_int_equal(
                pg_envelope_open(&keys[i], 1, "Patient.birthDate", env[i], (size_t)len[i], &t, out, sizeof out, &n),
                PG_ENVELOPE_OK);
            assert_string_equal(out, "1970-01-01");
            int j = (i + 2) % NKEYS; /* the same kid, another secret */
            assert_int_equal(
                pg_envelope_open(&keys[j], 1, "Patient.birthDate", env[i], (size_t)len[i], &t, out, sizeof out, &n),
                PG_ENVELOPE_BAD_TAG);
        }
}

/* GCM runs over AES-NI where the CPU has it, else through EVP: the whole
 * group runs both ways (on a CPU without AES-NI, EVP twice). */
static int use_evp(void **state)
{
    (void)state;
    pg_envelope_gcm_use_evp(true);
    return 0;
}

static int use_default(void **state)
{
    (void)state;
    pg_envelope_gcm_use_evp(false);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrips),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_gcm_layout),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_spellings),
        cmocka_unit_test(test_many_keys),
    };
    int failed = cmocka_run_group_tests_name("envelope, default GCM", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("envelope, GCM through EVP", tests, use_evp, use_default);
    return failed;
}
