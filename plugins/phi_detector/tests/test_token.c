/* Embedded envelopes (token.c): finding them unambiguously in free text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "token.h"

static void test_well_formed(void **state)
{
    (void)state;
    const char *t = "see [ssn:phi:v1:k2:r:AbC-_9]--more [email:phi:v1:k1:d:Zz]";
    struct pd_token k;
    assert_true(pd_token_next(t, strlen(t), 0, &k));
    assert_int_equal(k.kind, PD_SSN);
    assert_int_equal(k.start, 4);
    assert_int_equal(k.env_start, 9);
    assert_memory_equal(t + k.env_start, "phi:v1:k2:r:AbC-_9", k.env_end - k.env_start);
    assert_int_equal(t[k.end], '-');
    assert_true(pd_token_next(t, strlen(t), k.end, &k));
    assert_int_equal(k.kind, PD_EMAIL);
    assert_int_equal(k.end, strlen(t));
    assert_false(pd_token_next(t, strlen(t), k.end, &k));
}

static void test_malformed_are_stray(void **state)
{
    (void)state;
    struct pd_token k;
    const char *cases[] = {"phi:v1:k1:r:AA", "[ssn:phi:v1:k1:r:AA", "[ssn:phi:v1:]", "[fax:phi:v1:k:r:A]",
                           "ssn:phi:v1:k:r:A]", "[ssn phi:v1:k:r:A]", "[ssn:phi:v1:k:r:A ]"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_true(pd_token_next(cases[i], strlen(cases[i]), 0, &k));
        assert_int_equal(k.kind, -1);
    }
    /* A label is only taken whole: "[xssn:" is no "[ssn:". */
    const char *t = "[xssn:phi:v1:k:r:A]";
    assert_true(pd_token_next(t, strlen(t), 0, &k));
    assert_int_equal(k.kind, -1);
    assert_int_equal(k.start, 6);
}

static void test_any_and_split_prefix(void **state)
{
    (void)state;
    assert_true(pd_token_any("x phi:v1:", 9));
    assert_false(pd_token_any("x phi:v1", 8));
    assert_false(pd_token_any("phi:v2:k1:r:AA", 14));
    struct pd_token k;
    assert_false(pd_token_next("", 0, 0, &k));
    assert_false(pd_token_next("abc", 3, 5, &k));
}

static void test_written_form(void **state)
{
    (void)state;
    char buf[16];
    struct pd_out o;
    pd_out_init(&o, buf, sizeof buf);
    pd_token_write_head(&o, PD_PHONE);
    pd_out_str(&o, "phi:v1:x");
    pd_token_write_tail(&o);
    assert_int_equal(o.len, 16);
    assert_memory_equal(buf, "[phone:phi:v1:x]", 16);
    struct pd_token k;
    assert_true(pd_token_next(buf, o.len, 0, &k));
    assert_int_equal(k.kind, PD_PHONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed),
        cmocka_unit_test(test_malformed_are_stray),
        cmocka_unit_test(test_any_and_split_prefix),
        cmocka_unit_test(test_written_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
