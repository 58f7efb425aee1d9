/* The scan over every pattern (scan.c): order, overlaps, determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "found.h"

static void test_all_kinds_in_order(void **state)
{
    (void)state;
    struct pd_patterns p = every();
    assert_string_equal(found(&p, "Pt (MRN: 1234567) SSN 123-45-6789, call (555) 810-7203 or mail jo@example.com."),
                        "mrn:1234567|ssn:123-45-6789|phone:(555) 810-7203|email:jo@example.com");
    assert_string_equal(found(&p, "nothing here: 12 34 5.6 2024-01-02"), "");
    assert_string_equal(found(&p, ""), "");
}

static void test_overlaps(void **state)
{
    (void)state;
    struct pd_patterns p = every();
    /* The longer match wins: an address whose local part is an SSN. */
    assert_string_equal(found(&p, "123-45-6789@example.com"), "email:123-45-6789@example.com");
    /* Equal spans: the MRN reading of a labelled nine-digit number. */
    p.ssn_bare_digits = true;
    assert_string_equal(found(&p, "MRN 234567890"), "mrn:234567890");
    assert_string_equal(found(&p, "ID 234567890"), "ssn:234567890");
    /* A phone number whose line part could start an SSN is one phone number. */
    assert_string_equal(found(&p, "555-234-5678"), "phone:555-234-5678");
    /* Adjacent, not overlapping. */
    assert_string_equal(found(&p, "123-45-6789,555-810-7203"), "ssn:123-45-6789|phone:555-810-7203");
}

static void test_disabled_patterns(void **state)
{
    (void)state;
    struct pd_patterns p = every();
    p.enabled[PD_EMAIL] = false;
    assert_string_equal(found(&p, "jo@example.com 123-45-6789"), "ssn:123-45-6789");
    struct pd_patterns none = {0};
    assert_string_equal(found(&none, "jo@example.com 123-45-6789"), "");
}

static void test_every_prefix_is_safe(void **state)
{
    (void)state;
    struct pd_patterns p = every();
    p.ssn_bare_digits = true;
    const char *t = "MRN 1234567 +1 (555) 810-7203 jo@example.com 123-45-6789";
    char buf[128];
    /* Each prefix of the text, copied to a buffer of exactly its length (so
     * ASan sees a read past the end), scans without reading beyond it. */
    for (size_t n = 0; n <= strlen(t); n++) {
        memcpy(buf, t, n);
        char *exact = test_malloc(n ? n : 1);
        memcpy(exact, buf, n);
        size_t pos = 0;
        struct pd_match m;
        while (pd_scan_next(&p, exact, n, &pos, &m))
            assert_true(m.start < m.end && m.end <= n);
        assert_int_equal(pos, n);
        test_free(exact);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_kinds_in_order),
        cmocka_unit_test(test_overlaps),
        cmocka_unit_test(test_disabled_patterns),
        cmocka_unit_test(test_every_prefix_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
