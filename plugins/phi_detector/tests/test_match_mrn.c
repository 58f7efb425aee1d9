/* Medical record numbers (match_mrn.c): labels, separators, digit counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "found.h"

static void test_labels_and_separators(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_MRN);
    assert_string_equal(found(&p, "MRN 1234567"), "mrn:1234567");
    assert_string_equal(found(&p, "mrn:1234567, MRN#7654321 and Mrn # 123456"), "mrn:1234567|mrn:7654321|mrn:123456");
    assert_string_equal(found(&p, "MRN1234567"), "mrn:1234567");
    assert_string_equal(found(&p, "(MRN: 0001234567)"), "mrn:0001234567");
}

static void test_not_mrns(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_MRN);
    assert_string_equal(found(&p, "MRN 12345 MRN 12345678901 MRNs 1234567 XMRN 1234567"), "");
    assert_string_equal(found(&p, "MRN    1234567 MRN-1234567 MRN 1234567a MRN 1234567-8"), "");
    assert_string_equal(found(&p, "1234567"), "");
}

static void test_configured(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_MRN);
    strcpy(p.mrn_prefixes[0], "Med Rec No.");
    strcpy(p.mrn_prefixes[1], "PT2");
    p.mrn_nprefixes = 2;
    p.mrn_min_digits = 4;
    p.mrn_max_digits = 5;
    assert_string_equal(found(&p, "med rec no. 1234 and pt2:98765"), "mrn:1234|mrn:98765");
    /* A label ending in a digit needs a separator: PT212345 is one number. */
    assert_string_equal(found(&p, "PT212345 MRN 1234"), "");
}

static void test_utf8_around(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_MRN);
    assert_string_equal(found(&p, "\xc2\xab" "MRN 1234567" "\xc2\xbb"), "mrn:1234567");
    assert_string_equal(found(&p, "MRN\xc2\xa0" "1234567"), ""); /* a no-break space is not a separator */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_and_separators),
        cmocka_unit_test(test_not_mrns),
        cmocka_unit_test(test_configured),
        cmocka_unit_test(test_utf8_around),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
