/* Sliding-window counts for detection rules (policy/window.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/window.h"

#define S 1000000LL

static void test_exact_within_one_window(void **state)
{
    (void)state;
    struct pg_window w = {0};
    for (int i = 1; i <= 5; i++)
        assert_true(pg_window_add(&w, 100 * S + i * S, 60 * S, 1) == (double)i);
}

static void test_older_events_fade(void **state)
{
    (void)state;
    struct pg_window w = {0};
    pg_window_add(&w, 0 + 1, 60 * S, 10); /* 10 at the start of the first window */
    /* Half-way through the next window half of them still count. */
    double e = pg_window_add(&w, 1 + 90 * S, 60 * S, 1);
    assert_true(e > 5.9 && e < 6.1);
    /* Two windows later nothing old remains. */
    assert_true(pg_window_add(&w, 1 + 200 * S, 60 * S, 1) == 1.0);
    assert_false(pg_window_idle(&w, 1 + 200 * S, 60 * S));
    assert_true(pg_window_idle(&w, 1 + 321 * S, 60 * S));
}

static void test_clock_back_and_saturation(void **state)
{
    (void)state;
    struct pg_window w = {0};
    pg_window_add(&w, 50 * S, 10 * S, 1);
    assert_true(pg_window_add(&w, 40 * S, 10 * S, 1) == 2.0); /* counted as now */
    assert_true(pg_window_add(&w, 41 * S, 10 * S, UINT32_MAX) == (double)UINT32_MAX);
    struct pg_window z = {0};
    assert_true(pg_window_add(&z, 5, 0, 1) == 1.0); /* a zero window is one microsecond */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_within_one_window),
        cmocka_unit_test(test_older_events_fade),
        cmocka_unit_test(test_clock_back_and_saturation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
