/* Signed checkpoints (policy/checkpoint.c): sign, verify with the public
 * key only, refuse every change, and move keys as PEM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>

#include "policy/checkpoint.h"

static const struct pg_checkpoint sample = {
    .origin = "ehr-phiguard-0/w0",
    .count = 1234,
    .head = "0243f86a6432e8453460c259cd9505c1c20ae597ee031f65d0f95dbc38d95c3b",
    .time_us = 1795411853796567,
};

static EVP_PKEY *public_only(EVP_PKEY *priv)
{
    unsigned char pub[32];
    size_t n = sizeof pub;
    EVP_PKEY_get_raw_public_key(priv, pub, &n);
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, n);
}

static void test_sign_and_verify(void **state)
{
    (void)state;
    EVP_PKEY *priv = pg_checkpoint_keygen();
    assert_non_null(priv);
    EVP_PKEY *pub = public_only(priv);
    struct pg_checkpoint_key trusted = {"phiguard-audit", pub};
    char note[1024];
    assert_int_equal(pg_checkpoint_sign(priv, "phiguard-audit", &sample, note, sizeof note), 0);
    /* The body exactly; the head is base64 of the raw hash (computed with
     * Python: base64.b64encode(bytes.fromhex(head))). */
    const char *want_body = "ehr-phiguard-0/w0\n1234\nAkP4amQy6EU0YMJZzZUFwcIK5ZfuAx9l0PldvDjZXDs=\n"
                            "time 1795411853796567\n\n\u2014 phiguard-audit ";
    assert_memory_equal(note, want_body, strlen(want_body));
    struct pg_checkpoint got;
    assert_int_equal(pg_checkpoint_verify(&trusted, 1, note, &got), PG_CHECKPOINT_OK);
    assert_string_equal(got.origin, sample.origin);
    assert_int_equal(got.count, sample.count);
    assert_string_equal(got.head, sample.head);
    assert_int_equal(got.time_us, sample.time_us);

    /* Any change to what was signed is refused: the origin, the count, the
     * head, the time; the claimed values are still reported. */
    static const struct {
        const char *from, *to;
    } edits[] = {{"w0\n", "w1\n"}, {"\n1234\n", "\n1235\n"}, {"AkP4", "AkP5"}, {"time 1795", "time 1796"}};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char bad[1024];
        strcpy(bad, note);
        char *at = strstr(bad, edits[i].from);
        assert_non_null(at);
        memcpy(at, edits[i].to, strlen(edits[i].to));
        if (pg_checkpoint_verify(&trusted, 1, bad, &got) != PG_CHECKPOINT_BAD_SIGNATURE)
            fail_msg("edit %zu was not refused as a bad signature", i);
    }
    memcpy(strstr(note, "\n1234\n"), "\n1235\n", 6);
    assert_int_equal(pg_checkpoint_verify(&trusted, 1, note, &got), PG_CHECKPOINT_BAD_SIGNATURE);
    assert_int_equal(got.count, 1235);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
}

static void test_other_keys_cannot_vouch(void **state)
{
    (void)state;
    EVP_PKEY *priv = pg_checkpoint_keygen(), *other = pg_checkpoint_keygen();
    EVP_PKEY *pub = public_only(priv), *other_pub = public_only(other);
    char note[1024], forged[1024];
    struct pg_checkpoint got;
    assert_int_equal(pg_checkpoint_sign(priv, "phiguard-audit", &sample, note, sizeof note), 0);
    struct pg_checkpoint_key wrong_key = {"phiguard-audit", other_pub}, wrong_name = {"someone-else", pub};
    assert_int_equal(pg_checkpoint_verify(&wrong_key, 1, note, &got), PG_CHECKPOINT_UNKNOWN_KEY);
    assert_int_equal(pg_checkpoint_verify(&wrong_name, 1, note, &got), PG_CHECKPOINT_UNKNOWN_KEY);
    /* A chain rebuilt and re-signed with another key under our key name. */
    assert_int_equal(pg_checkpoint_sign(other, "phiguard-audit", &sample, forged, sizeof forged), 0);
    struct pg_checkpoint_key ours = {"phiguard-audit", pub};
    assert_int_equal(pg_checkpoint_verify(&ours, 1, forged, &got), PG_CHECKPOINT_UNKNOWN_KEY);
    /* Either of two trusted keys (a rotation) verifies its own notes. */
    struct pg_checkpoint_key both[] = {{"phiguard-audit", other_pub}, {"phiguard-audit", pub}};
    assert_int_equal(pg_checkpoint_verify(both, 2, note, &got), PG_CHECKPOINT_OK);
    assert_int_equal(pg_checkpoint_verify(both, 2, forged, &got), PG_CHECKPOINT_OK);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(other);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(other_pub);
}

static void test_malformed_notes(void **state)
{
    (void)state;
    EVP_PKEY *priv = pg_checkpoint_keygen();
    struct pg_checkpoint_key trusted = {"k", priv};
    struct pg_checkpoint got;
    static const char *bad[] = {
        "",
        "garbage",
        "c\n1\nAkP4amQy6EU0YMJZzZUFwcIK5ZfuAx9l0PldvDjZXDs=\ntime 5\n\n",               /* no signature */
        "c\n-1\nAkP4amQy6EU0YMJZzZUFwcIK5ZfuAx9l0PldvDjZXDs=\ntime 5\n\n\u2014 k x\n",   /* signed count */
        "c\n01\nAkP4amQy6EU0YMJZzZUFwcIK5ZfuAx9l0PldvDjZXDs=\ntime 5\n\n\u2014 k x\n",   /* leading zero */
        "c\n1\nAkP4amQy6EU0YMJZzZUFwcIK5ZfuAx9l0PldvDjZXD=\ntime 5\n\n\u2014 k x\n",     /* short head */
        "c\n1\nAkP4amQy6EU0YMJZzZUFwcIK5ZfuAx9l0PldvDjZXDs=\ntime x\n\n\u2014 k x\n",   /* time */
        "c\n1\nAkP4amQy6EU0YMJZzZUFwcIK5ZfuAx9l0PldvDjZXDs=\n\n\u2014 k x\n",            /* no time */
        "c\n1\nAkP4amQy6EU0YMJZzZUFwcIK5ZfuAx9l0PldvDjZXDs=\ntime 5\nx\n\n\u2014 k x\n", /* extra line */
        "\n1\nAkP4amQy6EU0YMJZzZUFwcIK5ZfuAx9l0PldvDjZXDs=\ntime 5\n\n\u2014 k x\n",     /* no origin */
        "c\n18446744073709551616\nAkP4amQy6EU0YMJZzZUFwcIK5ZfuAx9l0PldvDjZXDs=\ntime 5\n\n\u2014 k x\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pg_checkpoint_verify(&trusted, 1, bad[i], &got) != PG_CHECKPOINT_MALFORMED)
            fail_msg("note %zu was not refused as malformed", i);
    /* Signing refuses what it could not write faithfully. */
    char note[1024];
    struct pg_checkpoint cp = sample;
    strcpy(cp.origin, "a\nb");
    assert_int_equal(pg_checkpoint_sign(priv, "k", &cp, note, sizeof note), -1);
    cp = sample;
    cp.head[0] = 'A';
    assert_int_equal(pg_checkpoint_sign(priv, "k", &cp, note, sizeof note), -1);
    assert_int_equal(pg_checkpoint_sign(priv, "bad name", &sample, note, sizeof note), -1);
    assert_int_equal(pg_checkpoint_sign(priv, "k", &sample, note, 40), -1);
    EVP_PKEY_free(priv);
}

static void test_pem_round_trip(void **state)
{
    (void)state;
    EVP_PKEY *priv = pg_checkpoint_keygen();
    char *priv_pem = pg_checkpoint_private_pem(priv), *pub_pem = pg_checkpoint_public_pem(priv);
    assert_non_null(strstr(priv_pem, "-----BEGIN PRIVATE KEY-----"));
    assert_non_null(strstr(pub_pem, "-----BEGIN PUBLIC KEY-----"));
    EVP_PKEY *priv2 = pg_checkpoint_private_from_pem(priv_pem, strlen(priv_pem));
    EVP_PKEY *pub2 = pg_checkpoint_public_from_pem(pub_pem, strlen(pub_pem));
    assert_non_null(priv2);
    assert_non_null(pub2);
    assert_null(pg_checkpoint_public_from_pem(priv_pem, strlen(priv_pem)));
    assert_null(pg_checkpoint_private_from_pem("nonsense", 8));
    char note[1024];
    struct pg_checkpoint got;
    assert_int_equal(pg_checkpoint_sign(priv2, "phiguard-audit", &sample, note, sizeof note), 0);
    struct pg_checkpoint_key trusted = {"phiguard-audit", pub2};
    assert_int_equal(pg_checkpoint_verify(&trusted, 1, note, &got), PG_CHECKPOINT_OK);
    /* Another algorithm is refused, not used. */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    char *ec_pem = pg_checkpoint_public_pem(ec);
    assert_null(pg_checkpoint_public_from_pem(ec_pem, strlen(ec_pem)));
    free(ec_pem);
    EVP_PKEY_free(ec);
    free(priv_pem);
    free(pub_pem);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(priv2);
    EVP_PKEY_free(pub2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_and_verify),
        cmocka_unit_test(test_other_keys_cannot_vouch),
        cmocka_unit_test(test_malformed_notes),
        cmocka_unit_test(test_pem_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
