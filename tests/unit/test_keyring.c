/* The PHI keyring text (policy/keyring.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "policy/keyring.h"

#define K1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K2 "HxoeHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE="

static int parse(const char *text, struct pg_keyring *r, struct pg_policy_errors *e)
{
    return pg_keyring_parse("ring", text, strlen(text), r, e);
}

static void test_valid(void **state)
{
    (void)state;
    struct pg_keyring r;
    struct pg_policy_errors e = {0};
    assert_int_equal(parse("# a comment\n\nactive k2\nk1 " K1 "\r\nk2 " K2, &r, &e), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.keys[r.active].kid, "k2");
    /* Every key opens what it sealed; the ring opens both. */
    char env[256], out[64], t;
    size_t n;
    long len = pg_envelope_seal(&r.keys[0], 'r', "f", 's', "x", 1, env, sizeof env);
    assert_int_equal(pg_envelope_open(r.keys, (size_t)r.n, "f", env, (size_t)len, &t, out, sizeof out, &n),
                     PG_ENVELOPE_OK);
    pg_keyring_wipe(&r);
    pg_policy_errors_free(&e);
}

static void test_errors(void **state)
{
    (void)state;
    struct {
        const char *text, *error;
    } cases[] = {
        {"k1 " K1 "\n", "ring: no \"active ID\" line"},
        {"active k9\nk1 " K1 "\n", "ring:1: the active key 'k9' is not listed"},
        {"active k1\nk1 " K1 "\nk1 " K2 "\n", "ring:3: key id 'k1': given twice"},
        {"active k1\nk1 short\n", "ring:2: key k1: expected 32 bytes in base64"},
        {"active k1\nk1 " K1 " extra\n", "ring:2: expected \"active ID\" or \"ID BASE64-KEY\""},
        {"active k1\nactive k1\nk1 " K1 "\n", "ring:2: a second active line"},
        {"active b:ad\nb:ad " K1 "\n", "ring:2: key id 'b:ad': expected 1 to 32 of A-Z a-z 0-9 - _"},
        {"active k1\nk1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A\n", "ring:2: key k1: expected 32 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pg_keyring r;
        struct pg_policy_errors e = {0};
        assert_int_equal(parse(cases[i].text, &r, &e), -1);
        bool found = false;
        for (int k = 0; k < e.count; k++)
            found |= strstr(e.items[k], cases[i].error) != NULL;
        if (!found)
            fail_msg("case %zu: no \"%s\" in %d errors (first: %s)", i, cases[i].error, e.count,
                     e.count ? e.items[0] : "");
        assert_int_equal(r.n, 0); /* nothing half-loaded */
        pg_policy_errors_free(&e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_valid), cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
