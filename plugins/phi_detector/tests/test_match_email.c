/* E-mail addresses (match_email.c), conservatively. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "found.h"

static void test_addresses(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_EMAIL);
    assert_string_equal(found(&p, "write to Irvin970.Emard19@example.com."), "email:Irvin970.Emard19@example.com");
    assert_string_equal(found(&p, "<a href=\"mailto:jo+tag@mail.example.org\">"), "email:jo+tag@mail.example.org");
    assert_string_equal(found(&p, "(a_b-c%d@sub-1.example.co.uk)"), "email:a_b-c%d@sub-1.example.co.uk");
    assert_string_equal(found(&p, "x@y.io, z@w.info"), "email:x@y.io|email:z@w.info");
}

static void test_not_addresses(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_EMAIL);
    assert_string_equal(found(&p, "a@b a@b.c a@localhost @example.com a@.com a@b..com"), "");
    assert_string_equal(found(&p, ".a@example.com a.@example.com a..b@example.com"), "");
    assert_string_equal(found(&p, "a@-b.com a@b-.com a@b.com2 a@b.c0m a@b.com_x a@b.com@c"), "");
    assert_string_equal(found(&p, "\"quoted\"@example.com"), "");           /* the quotes stop it */
    assert_string_equal(found(&p, "j\xc3\xb6rg@example.com"), "email:rg@example.com"); /* see the doc */
}

static void test_lengths(void **state)
{
    (void)state;
    struct pd_patterns p = only(PD_EMAIL);
    char text[400];
    memset(text, 'a', 64);
    strcpy(text + 64, "@example.com");
    char want[420];
    snprintf(want, sizeof want, "email:%s", text);
    assert_string_equal(found(&p, text), want);
    memset(text, 'a', 65);
    strcpy(text + 65, "@example.com");
    assert_string_equal(found(&p, text), "");
    strcpy(text, "a@");
    memset(text + 2, 'b', 64);
    strcpy(text + 66, ".com");
    assert_string_equal(found(&p, text), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_not_addresses),
        cmocka_unit_test(test_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
