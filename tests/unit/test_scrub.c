/* Stray envelopes masked in place (policy/scrub.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "policy/scrub.h"

static const char IN[] = "{\"note\":\"phi:v1:k1:r:AbC-_9\",\"x\":\"pphi:v1:k2:d:zz\",\"y\":\"phi:v2:no\",\"z\":\"phi:v1\"}";
static const char OUT[] = "{\"note\":\"phi:v1:***********\",\"x\":\"pphi:v1:*******\",\"y\":\"phi:v2:no\",\"z\":\"phi:v1\"}";

static void test_whole(void **state)
{
    (void)state;
    char buf[sizeof IN];
    memcpy(buf, IN, sizeof IN);
    struct pg_scrub s;
    pg_scrub_init(&s);
    assert_int_equal(pg_scrub(&s, buf, sizeof IN - 1), 2);
    assert_string_equal(buf, OUT);
    assert_int_equal(s.found, 2);
}

static void test_every_split(void **state)
{
    (void)state;
    for (size_t cut = 0; cut < sizeof IN - 1; cut++)
        for (size_t cut2 = cut; cut2 < sizeof IN - 1; cut2 += 3) {
            char buf[sizeof IN];
            memcpy(buf, IN, sizeof IN);
            struct pg_scrub s;
            pg_scrub_init(&s);
            uint32_t n = pg_scrub(&s, buf, cut) + pg_scrub(&s, buf + cut, cut2 - cut) +
                         pg_scrub(&s, buf + cut2, sizeof IN - 1 - cut2);
            assert_int_equal(n, 2);
            assert_string_equal(buf, OUT);
        }
}

static void test_nothing_to_do(void **state)
{
    (void)state;
    char buf[] = "plain text with p and ph and phi: but no envelope";
    char copy[sizeof buf];
    memcpy(copy, buf, sizeof buf);
    struct pg_scrub s;
    pg_scrub_init(&s);
    assert_int_equal(pg_scrub(&s, buf, sizeof buf - 1), 0);
    assert_string_equal(buf, copy);
    assert_int_equal(pg_scrub(&s, buf, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_nothing_to_do),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
