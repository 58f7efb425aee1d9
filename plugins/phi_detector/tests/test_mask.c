/* Masks (mask.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "mask.h"

static const char *masked(enum pd_kind k, enum pd_mask_style s, const char *value)
{
    static char buf[64];
    struct pd_out o;
    pd_out_init(&o, buf, sizeof buf - 1);
    pd_mask_write(&o, k, s, value, strlen(value));
    buf[o.len] = 0;
    return buf;
}

static void test_styles(void **state)
{
    (void)state;
    assert_string_equal(masked(PD_SSN, PD_MASK_LAST4, "123-45-6789"), "***-**-6789");
    assert_string_equal(masked(PD_SSN, PD_MASK_LAST4, "123456789"), "***-**-6789");
    assert_string_equal(masked(PD_PHONE, PD_MASK_LAST4, "+1 (555) 810-7203"), "***-***-7203");
    assert_string_equal(masked(PD_MRN, PD_MASK_LAST4, "0001234567"), "***4567");
    assert_string_equal(masked(PD_SSN, PD_MASK_STARS, "123-45-6789"), "***");
    assert_string_equal(masked(PD_EMAIL, PD_MASK_LAST4, "a1234@example.com"), "***");
    /* Fewer than four digits (not a value this plugin sealed): nothing kept. */
    assert_string_equal(masked(PD_SSN, PD_MASK_LAST4, "12-3"), "***");
}

static void test_names_and_fit(void **state)
{
    (void)state;
    assert_int_equal(pd_mask_style_from_name("stars"), PD_MASK_STARS);
    assert_int_equal(pd_mask_style_from_name("last4"), PD_MASK_LAST4);
    assert_int_equal(pd_mask_style_from_name("last5"), -1);
    assert_false(pd_mask_style_fits(PD_EMAIL, PD_MASK_LAST4));
    assert_true(pd_mask_style_fits(PD_EMAIL, PD_MASK_STARS));
    assert_true(pd_mask_style_fits(PD_SSN, PD_MASK_LAST4));
}

static void test_bounded(void **state)
{
    (void)state;
    char buf[5];
    struct pd_out o;
    pd_out_init(&o, buf, sizeof buf);
    pd_mask_write(&o, PD_SSN, PD_MASK_LAST4, "123-45-6789", 11);
    assert_true(o.full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_styles),
        cmocka_unit_test(test_names_and_fit),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
