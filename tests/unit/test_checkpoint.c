/* Signed checkpoints (policy/checkpoint.c): sign, verify with the public
 * key only, and refuse every change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

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
    char note[1024];
    assert_int_equal(pg_checkpoint_sign(priv, "phiguard-audit", &sample, note, sizeof note), 0);
    assert_non_null(strstr(note, "ehr-phiguard-0/w0\n1234\n"));
    assert_non_null(strstr(note, "\n\n\u2014 phiguard-audit "));
    struct pg_checkpoint got;
    assert_int_equal(pg_checkpoint_verify(pub, "phiguard-audit", note, &got), 0);
    assert_string_equal(got.origin, sample.origin);
    assert_int_equal(got.count, sample.count);
    assert_string_equal(got.head, sample.head);
    assert_int_equal(got.time_us, sample.time_us);

    /* Any change to what was signed is refused: the count, the head, the time. */
    static const struct {
        const char *from, *to;
    } edits[] = {{"\n1234\n", "\n1235\n"}, {"AkP4", "AkP5"}, {"time 1795", "time 1796"}};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char bad[1024];
        strcpy(bad, note);
        char *at = strstr(bad, edits[i].from);
        assert_non_null(at);
        memcpy(at, edits[i].to, strlen(edits[i].to));
        if (pg_checkpoint_verify(pub, "phiguard-audit", bad, &got) == 0)
            fail_msg("edit %zu verified", i);
    }
    /* Another key, or another key name, cannot vouch for it. */
    EVP_PKEY *other = pg_checkpoint_keygen();
    EVP_PKEY *other_pub = public_only(other);
    assert_int_equal(pg_checkpoint_verify(other_pub, "phiguard-audit", note, &got), -1);
    assert_int_equal(pg_checkpoint_verify(pub, "someone-else", note, &got), -1);
    /* A chain rebuilt and re-signed with another key fails against ours. */
    char forged[1024];
    assert_int_equal(pg_checkpoint_sign(other, "phiguard-audit", &sample, forged, sizeof forged), 0);
    assert_int_equal(pg_checkpoint_verify(pub, "phiguard-audit", forged, &got), -1);
    assert_int_equal(pg_checkpoint_verify(pub, "phiguard-audit", "garbage", &got), -1);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(other);
    EVP_PKEY_free(other_pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_and_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
