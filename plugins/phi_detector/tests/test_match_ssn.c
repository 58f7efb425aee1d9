/* SSNs (match_ssn.c): the dashed form, nine bare digits where allowed,
 * numbers the SSA never issues, and the boundaries of longer numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "found.h"

static void test_dashed(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_SSN);
    assert_string_equal(found(&p, "123-45-6789"), "ssn:123-45-6789");
    assert_string_equal(found(&p, "SSN: 078-05-1120, verified"), "ssn:078-05-1120");
    assert_string_equal(found(&p, "(123-45-6789)"), "ssn:123-45-6789");
    assert_string_equal(found(&p, "ssn 123-45-6789. next 234-56-7890"), "ssn:123-45-6789|ssn:234-56-7890");
    assert_string_equal(found(&p, "12-45-6789 123-4-6789 123-45-678 123 45 6789 123/45/6789 123.45.6789"), "");
}

static void test_never_issued(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_SSN);
    assert_string_equal(found(&p, "000-12-3456 666-12-3456 900-12-3456 999-94-5397"), "");
    assert_string_equal(found(&p, "123-00-4567 123-45-0000"), "");
    assert_string_equal(found(&p, "665-12-3456 899-99-9999 001-01-0001"),
                        "ssn:665-12-3456|ssn:899-99-9999|ssn:001-01-0001");
    p.ssn_area_9xx = true; /* ITINs, Synthea's test SSNs */
    assert_string_equal(found(&p, "999-94-5397 900-12-3456"), "ssn:999-94-5397|ssn:900-12-3456");
    assert_string_equal(found(&p, "000-12-3456 666-12-3456"), "");
}

static void test_inside_longer_numbers(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_SSN);
    assert_string_equal(found(&p, "1123-45-6789 123-45-67890 12-123-45-6789 123-45-6789-1 123-45-6789.5"), "");
    assert_string_equal(found(&p, "a123-45-6789 123-45-6789b _123-45-6789"), "");
    assert_string_equal(found(&p, "v.123-45-6789 end."), "ssn:123-45-6789");
    assert_string_equal(found(&p, "123-45-6789-a"), "ssn:123-45-6789");
}

static void test_bare_digits(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_SSN);
    assert_string_equal(found(&p, "identifier: 738472983 (USUAL)"), "");
    p.ssn_bare_digits = true;
    assert_string_equal(found(&p, "identifier: 738472983 (USUAL)"), "ssn:738472983");
    assert_string_equal(found(&p, "7384729831 73847298 0738472983 000472983 738002983 738470000"), "");
    assert_string_equal(found(&p, "123-45-6789 and 234567890"), "ssn:123-45-6789|ssn:234567890");
}

static void test_utf8_around(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_SSN);
    /* é, a no-break space, a full-width colon: not word bytes. */
    assert_string_equal(found(&p, "\xc3\xa9" "123-45-6789" "\xc3\xa9"), "ssn:123-45-6789");
    assert_string_equal(found(&p, "SSN\xc2\xa0" "123-45-6789"), "ssn:123-45-6789");
    assert_string_equal(found(&p, "SSN\xef\xbc\x9a" "123-45-6789"), "ssn:123-45-6789");
    /* Full-width digits are not ASCII digits: not taken (documented). */
    assert_string_equal(found(&p, "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93-45-6789"), "");
}

static void test_anchor_api(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_SSN);
    const char *t = "x 123-45-6789";
    struct pd_match m;
    assert_false(pd_match_ssn(&p, t, strlen(t), 0, &m));
    assert_false(pd_match_ssn(&p, t, strlen(t), 3, &m)); /* inside it */
    assert_true(pd_match_ssn(&p, t, strlen(t), 2, &m));
    assert_int_equal(m.start, 2);
    assert_int_equal(m.end, 13);
    assert_int_equal(m.kind, PD_SSN);
    /* A text that ends inside the pattern is read no further than its end. */
    assert_false(pd_match_ssn(&p, t, 10, 2, &m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dashed),       cmocka_unit_test(test_never_issued), cmocka_unit_test(test_inside_longer_numbers),
        cmocka_unit_test(test_bare_digits),  cmocka_unit_test(test_utf8_around),  cmocka_unit_test(test_anchor_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
