/* Number boundaries (boundary.c) and pattern names (kind.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "boundary.h"
#include "match.h"

static void test_starts(void **state)
{
    (void)state;
    assert_true(pd_number_starts("123", 0));
    assert_true(pd_number_starts(" 123", 1));
    assert_true(pd_number_starts("x-123", 2));  /* a dash after a letter */
    assert_true(pd_number_starts("\xc3\xa9" "1", 2));
    assert_false(pd_number_starts("a123", 1));
    assert_false(pd_number_starts("_123", 1));
    assert_false(pd_number_starts("9123", 1));
    assert_false(pd_number_starts("9-123", 2)); /* joined to the digit before */
    assert_false(pd_number_starts("9.123", 2));
}

static void test_ends(void **state)
{
    (void)state;
    assert_true(pd_number_ends("123", 3, 3));
    assert_true(pd_number_ends("123.", 4, 3)); /* the end of a sentence */
    assert_true(pd_number_ends("123-a", 5, 3));
    assert_true(pd_number_ends("123-", 4, 3));
    assert_false(pd_number_ends("123a", 4, 3));
    assert_false(pd_number_ends("1234", 4, 3));
    assert_false(pd_number_ends("123-4", 5, 3));
    assert_false(pd_number_ends("123.4", 5, 3));
}

static void test_digits_and_kinds(void **state)
{
    (void)state;
    assert_int_equal(pd_digits("12345x", 6, 0, 10), 5);
    assert_int_equal(pd_digits("12345x", 6, 0, 3), 3);
    assert_int_equal(pd_digits("12345", 3, 1, 10), 2);
    for (int k = 0; k < PD_KINDS; k++)
        assert_int_equal(pd_kind_from_name(pd_kind_name(k), strlen(pd_kind_name(k))), k);
    assert_int_equal(pd_kind_from_name("ss", 2), -1);
    assert_int_equal(pd_kind_from_name("ssnx", 4), -1);
    assert_string_equal(pd_kind_name(PD_KINDS), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts),
        cmocka_unit_test(test_ends),
        cmocka_unit_test(test_digits_and_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
