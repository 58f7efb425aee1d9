/* TOTP (policy/totp.c): RFC 6238 Appendix B, cross-checked against
 * Debian's oathtool; the ±1 step window; single use; enrollment strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "policy/totp.h"

static const uint8_t rfc_secret[] = "12345678901234567890";

static const struct {
    time_t t;
    const char *code;
} rfc6238_sha1[] = {
    {59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
    {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
};

static void test_rfc6238_vectors_and_oathtool(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc6238_sha1 / sizeof rfc6238_sha1[0]; i++) {
        char code[9];
        assert_int_equal(pg_totp_generate(rfc_secret, 20, rfc6238_sha1[i].t, 8, code), 0);
        assert_string_equal(code, rfc6238_sha1[i].code);
        /* The same from an independent implementation. */
        char cmd[200], out[32] = "";
        snprintf(cmd, sizeof cmd, "oathtool --totp -d 8 -s 30 -N @%lld 3132333435363738393031323334353637383930",
                 (long long)rfc6238_sha1[i].t);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        if (!fgets(out, sizeof out, p))
            out[0] = '\0';
        int rc = pclose(p);
        assert_int_equal(rc, 0);
        out[strcspn(out, "\n")] = '\0';
        assert_string_equal(out, rfc6238_sha1[i].code);
    }
}

static void test_window_and_single_use(void **state)
{
    (void)state;
    time_t now = 1700000000;
    char prev[9], cur[9], next[9], far[9];
    pg_totp_generate(rfc_secret, 20, now - 30, 6, prev);
    pg_totp_generate(rfc_secret, 20, now, 6, cur);
    pg_totp_generate(rfc_secret, 20, now + 30, 6, next);
    pg_totp_generate(rfc_secret, 20, now + 90, 6, far);
    uint64_t step = 0, last = 0;
    assert_int_equal(pg_totp_check(rfc_secret, 20, cur, now, last, &step), PG_TOTP_OK);
    assert_int_equal(step, (uint64_t)(now / 30));
    last = step;
    /* The same code again, and an older one, are refused as replays. */
    assert_int_equal(pg_totp_check(rfc_secret, 20, cur, now, last, &step), PG_TOTP_REPLAY);
    assert_int_equal(pg_totp_check(rfc_secret, 20, prev, now, last, &step), PG_TOTP_REPLAY);
    /* One step ahead is within the window; three are not. */
    assert_int_equal(pg_totp_check(rfc_secret, 20, next, now, last, &step), PG_TOTP_OK);
    assert_int_equal(pg_totp_check(rfc_secret, 20, far, now, 0, &step), PG_TOTP_BAD);
    /* Malformed codes. */
    assert_int_equal(pg_totp_check(rfc_secret, 20, "12345", now, 0, &step), PG_TOTP_BAD);
    assert_int_equal(pg_totp_check(rfc_secret, 20, "12a456", now, 0, &step), PG_TOTP_BAD);
    assert_int_equal(pg_totp_check(rfc_secret, 20, "1234567", now, 0, &step), PG_TOTP_BAD);
}

static void test_enrollment_strings(void **state)
{
    (void)state;
    char b32[64], uri[512];
    assert_int_equal(pg_totp_base32(rfc_secret, 20, b32, sizeof b32), 0);
    assert_string_equal(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_int_equal(pg_totp_uri("Clinic EHR", "jane.doe@example.org", b32, uri, sizeof uri), 0);
    assert_string_equal(uri, "otpauth://totp/Clinic%20EHR:jane.doe%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
                             "&issuer=Clinic%20EHR&algorithm=SHA1&digits=6&period=30");
    uint8_t a[PG_TOTP_SECRET_LEN], b[PG_TOTP_SECRET_LEN];
    assert_int_equal(pg_totp_new_secret(a), 0);
    assert_int_equal(pg_totp_new_secret(b), 0);
    assert_memory_not_equal(a, b, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6238_vectors_and_oathtool),
        cmocka_unit_test(test_window_and_single_use),
        cmocka_unit_test(test_enrollment_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
