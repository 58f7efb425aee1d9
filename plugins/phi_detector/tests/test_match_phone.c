/* NANP phone numbers (match_phone.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "found.h"

static void test_forms(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_PHONE);
    assert_string_equal(found(&p, "call 555-810-7203 now"), "phone:555-810-7203");
    assert_string_equal(found(&p, "(555) 810-7203"), "phone:(555) 810-7203");
    assert_string_equal(found(&p, "(555)810-7203"), "phone:(555)810-7203");
    assert_string_equal(found(&p, "555.810.7203"), "phone:555.810.7203");
    assert_string_equal(found(&p, "555 810 7203"), "phone:555 810 7203");
    assert_string_equal(found(&p, "+1 555 810 7203"), "phone:+1 555 810 7203");
    assert_string_equal(found(&p, "+1-555-810-7203"), "phone:+1-555-810-7203");
    assert_string_equal(found(&p, "+1 (555) 810-7203"), "phone:+1 (555) 810-7203");
    assert_string_equal(found(&p, "+1(555)810-7203"), "phone:+1(555)810-7203");
    assert_string_equal(found(&p, "+15558107203"), "phone:+15558107203");
    assert_string_equal(found(&p, "1-800-555-0199"), "phone:1-800-555-0199");
    assert_string_equal(found(&p, "tel:555-810-7203;"), "phone:555-810-7203");
}

static void test_not_phones(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_PHONE);
    /* Mixed separators, NANP's first digits, bare ten digits, too short or long. */
    assert_string_equal(found(&p, "555-810.7203 555.810-7203 555-810 7203"), "");
    assert_string_equal(found(&p, "155-810-7203 555-110-7203 (055) 810-7203"), "");
    assert_string_equal(found(&p, "5558107203 55-810-7203 555-810-720 +155581072031"), "");
    /* After another country's code the national part still reads as NANP:
     * taken (a foreign number masked is no loss). */
    assert_string_equal(found(&p, "+44 555 810 7203"), "phone:555 810 7203");
    assert_string_equal(found(&p, "1555-810-7203 555-810-72031 x555-810-7203 555-810-7203x"), "");
    assert_string_equal(found(&p, "12-555-810-7203 555-810-7203-4"), "");
    assert_string_equal(found(&p, "(555 810-7203 555) 810-7203 (555)  810-7203"), "");
}

static void test_utf8_and_anchor(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_PHONE);
    assert_string_equal(found(&p, "\xe2\x98\x8e" "555-810-7203" "\xe2\x80\x94"), "phone:555-810-7203");
    const char *t = "(555) 810-7203";
    struct pd_match m;
    for (size_t cut = 0; cut < strlen(t); cut++)
        assert_false(pd_match_phone(t, cut, 0, &m)); /* nothing read past the end */
    assert_true(pd_match_phone(t, strlen(t), 0, &m));
    assert_int_equal(m.end, strlen(t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_not_phones),
        cmocka_unit_test(test_utf8_and_anchor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
