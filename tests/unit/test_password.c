/* Argon2id passwords (policy/password.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <argon2.h>
#include <string.h>

#include "policy/password.h"

/* RFC 9106 §5.3: Argon2id, t=3, m=32 KiB, p=4, with secret and associated
 * data. Checks that the library phiguard links computes Argon2id v1.3. */
static void test_rfc9106_vector(void **state)
{
    (void)state;
    uint8_t pwd[32], salt[16], secret[8], ad[12], out[32];
    memset(pwd, 1, sizeof pwd);
    memset(salt, 2, sizeof salt);
    memset(secret, 3, sizeof secret);
    memset(ad, 4, sizeof ad);
    argon2_context ctx = {
        .out = out, .outlen = sizeof out, .pwd = pwd, .pwdlen = sizeof pwd, .salt = salt, .saltlen = sizeof salt,
        .secret = secret, .secretlen = sizeof secret, .ad = ad, .adlen = sizeof ad, .t_cost = 3, .m_cost = 32,
        .lanes = 4, .threads = 4, .version = ARGON2_VERSION_13,
    };
    assert_int_equal(argon2_ctx(&ctx, Argon2_id), ARGON2_OK);
    static const uint8_t tag[32] = {0x0d, 0x64, 0x0d, 0xf5, 0x8d, 0x78, 0x76, 0x6c, 0x08, 0xc0, 0x37,
                                    0xa3, 0x4a, 0x8b, 0x53, 0xc9, 0xd0, 0x1e, 0xf0, 0x45, 0x2d, 0x75,
                                    0xb6, 0x5e, 0xb5, 0x25, 0x20, 0xe9, 0x6b, 0x01, 0xe6, 0x59};
    assert_memory_equal(out, tag, sizeof tag);
}

static void test_hash_and_verify(void **state)
{
    (void)state;
    char phc[256], why[200];
    const char *pw = "correct horse battery staple";
    assert_int_equal(pg_password_hash(pw, strlen(pw), &pg_argon2_defaults, phc, sizeof phc, why, sizeof why), 0);
    assert_non_null(strstr(phc, "$argon2id$v=19$m=65536,t=3,p=1$"));
    assert_int_equal(pg_password_verify(phc, pw, strlen(pw)), 1);
    assert_int_equal(pg_password_verify(phc, "correct horse battery stapl", 27), 0);
    struct pg_argon2_params p;
    assert_int_equal(pg_password_phc_params(phc, &p), 0);
    assert_int_equal(p.memory_kib, 65536);
    assert_int_equal(pg_password_verify_dummy(pw, strlen(pw), &pg_argon2_defaults), 0);
}

static void test_weak_or_malformed_hashes_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "plaintext", "$argon2i$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo",
        "$argon2id$v=16$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo",
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo", /* below the floor */
        "$argon2id$v=19$m=65536,t=3,p=1$$aGFzaGhhc2hoYXNo",
        "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$",
        "$argon2id$v=19$m=65536,t=3,p=1$c2Fs*HNhbHRzYWx0$aGFzaGhhc2hoYXNo",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pg_password_verify(bad[i], "x", 1) != -1)
            fail_msg("accepted: %s", bad[i]);
    char phc[256], why[200];
    struct pg_argon2_params weak = {.memory_kib = 4096, .passes = 1, .lanes = 1};
    assert_int_equal(pg_password_hash("long enough password", 20, &weak, phc, sizeof phc, why, sizeof why), -1);
    assert_non_null(strstr(why, "at least m=65536"));
}

static void test_password_rules(void **state)
{
    (void)state;
    char why[200];
    assert_int_equal(pg_password_acceptable("short", 5, 12, why, sizeof why), -1);
    assert_non_null(strstr(why, "at least 12 characters (this one has 5)"));
    /* The floor holds even when a smaller minimum is asked for. */
    assert_int_equal(pg_password_acceptable("elevenchars", 11, 8, why, sizeof why), -1);
    assert_int_equal(pg_password_acceptable("twelve chars", 12, 12, why, sizeof why), 0);
    /* Characters, not bytes: 12 accented letters pass. */
    const char *accented = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    assert_int_equal(pg_password_acceptable(accented, strlen(accented), 12, why, sizeof why), 0);
    assert_int_equal(pg_password_acceptable("bad utf8 \xff\xfe here", 18, 12, why, sizeof why), -1);
    assert_int_equal(pg_password_acceptable("nul\0inside the password", 23, 12, why, sizeof why), -1);
    assert_int_equal(pg_password_acceptable("longer than needed", 18, 20, why, sizeof why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9106_vector),
        cmocka_unit_test(test_hash_and_verify),
        cmocka_unit_test(test_weak_or_malformed_hashes_refused),
        cmocka_unit_test(test_password_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
