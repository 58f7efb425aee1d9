/* GCRA (policy/gcra.c): bursts, the exact boundaries, burst 1, long idle
 * keys, the results a Redis decision is turned into, header seconds and
 * the quota a rate is advertised as; arithmetic near the ends of int64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/gcra.h"

static void test_init_checks(void **state)
{
    (void)state;
    struct pg_gcra g;
    assert_int_equal(pg_gcra_init(&g, 0, 1), -1);
    assert_int_equal(pg_gcra_init(&g, -5, 1), -1);
    assert_int_equal(pg_gcra_init(&g, 10, 0), -1);
    assert_int_equal(pg_gcra_init(&g, PG_GCRA_MAX_RATE * 2, 1), -1);
    assert_int_equal(pg_gcra_init(&g, 50, 100), 0);
    assert_int_equal(g.interval_us, 20000);
    assert_int_equal(g.tolerance_us, 20000 * 99);
    assert_int_equal(pg_gcra_init(&g, 3, 1), 0);
    assert_int_equal(g.interval_us, 333333); /* rounded to the microsecond */
    assert_int_equal(g.tolerance_us, 0);
    assert_int_equal(pg_gcra_init(&g, 1.0 / 3600, 1000000), 0); /* 1/h, the largest burst */
    assert_int_equal(g.interval_us, 3600000000LL);
    assert_true(g.tolerance_us == 3600000000LL * 999999);
    assert_int_equal(pg_gcra_init(&g, PG_GCRA_MAX_RATE, 1), 0);
    assert_int_equal(g.interval_us, 10);
}

/* A fresh key lets exactly `burst` through at once, then one per T. */
static void test_burst_then_rate(void **state)
{
    (void)state;
    struct pg_gcra g;
    pg_gcra_init(&g, 10, 5); /* T = 100 ms */
    int64_t tat = 0, now = 1000000000;
    struct pg_gcra_result r;
    for (int i = 0; i < 5; i++) {
        pg_gcra_decide(&g, now, &tat, &r);
        assert_true(r.allowed);
        assert_int_equal(r.remaining, 4 - i);
        assert_int_equal(r.retry_after_us, 0);
        assert_int_equal(r.reset_us, (int64_t)(i + 1) * 100000);
    }
    int64_t before = tat;
    pg_gcra_decide(&g, now, &tat, &r);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retry_after_us, 100000);
    assert_int_equal(r.reset_us, 500000);
    assert_true(tat == before); /* a refusal costs nothing */
    /* 1 µs early is still refused; exactly on time passes. */
    pg_gcra_decide(&g, now + 99999, &tat, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_us, 1);
    pg_gcra_decide(&g, now + 100000, &tat, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    pg_gcra_decide(&g, now + 100000, &tat, &r);
    assert_false(r.allowed);
}

/* Over a long run the passed count is rate × time + burst, whatever the
 * arrival pattern. */
static void test_long_run_count(void **state)
{
    (void)state;
    struct pg_gcra g;
    pg_gcra_init(&g, 50, 20);
    int64_t tat = 0, start = 5000000;
    int passed = 0;
    /* 1000 requests/s offered from start to start + 4 s, both ends included. */
    for (int64_t t = start; t <= start + 4000000; t += 1000) {
        struct pg_gcra_result r;
        pg_gcra_decide(&g, t, &tat, &r);
        passed += r.allowed;
    }
    assert_int_equal(passed, 50 * 4 + 20);
}

static void test_burst_one(void **state)
{
    (void)state;
    struct pg_gcra g;
    pg_gcra_init(&g, 2, 1); /* T = 500 ms, no tolerance */
    int64_t tat = 0;
    struct pg_gcra_result r;
    pg_gcra_decide(&g, 1000, &tat, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 0);
    pg_gcra_decide(&g, 1000, &tat, &r);
    assert_false(r.allowed);
    assert_int_equal(r.retry_after_us, 500000);
    pg_gcra_decide(&g, 500999, &tat, &r);
    assert_false(r.allowed);
    pg_gcra_decide(&g, 501000, &tat, &r);
    assert_true(r.allowed);
}

/* An idle key earns back at most one full burst, however long it slept. */
static void test_idle_key(void **state)
{
    (void)state;
    struct pg_gcra g;
    pg_gcra_init(&g, 1, 3);
    int64_t tat = 0;
    struct pg_gcra_result r;
    for (int i = 0; i < 3; i++)
        pg_gcra_decide(&g, 10, &tat, &r);
    int64_t later = 10 + 86400LL * 1000000 * 365;
    int passed = 0;
    for (int i = 0; i < 10; i++) {
        pg_gcra_decide(&g, later, &tat, &r);
        passed += r.allowed;
    }
    assert_int_equal(passed, 3);
    /* Partly recovered: two intervals later, two pass. */
    pg_gcra_decide(&g, later + 2000000, &tat, &r);
    assert_true(r.allowed);
    assert_int_equal(r.remaining, 1);
}

/* The Redis script reports (allowed, TAT − now); the result must be the
 * one a local decision gives. */
static void test_result_of_matches_decide(void **state)
{
    (void)state;
    struct pg_gcra g;
    pg_gcra_init(&g, 7, 4);
    int64_t tat = 0;
    for (int64_t now = 100; now < 3000000; now += 37000) {
        struct pg_gcra_result a, b;
        int64_t before = tat;
        pg_gcra_decide(&g, now, &tat, &a);
        int64_t ahead = a.allowed ? tat - now : (before > now ? before - now : 0);
        pg_gcra_result_of(&g, a.allowed, ahead, &b);
        assert_int_equal(a.allowed, b.allowed);
        assert_int_equal(a.remaining, b.remaining);
        assert_true(a.retry_after_us == b.retry_after_us);
        assert_true(a.reset_us == b.reset_us);
    }
    /* A reply out of range (a corrupt key) gives a sane result. */
    struct pg_gcra_result r;
    pg_gcra_result_of(&g, true, -5, &r);
    assert_int_equal(r.remaining, 3);
    assert_true(r.reset_us == 0);
}

static void test_saturation(void **state)
{
    (void)state;
    struct pg_gcra g;
    pg_gcra_init(&g, 1.0 / 3600, 1000000);
    int64_t tat = INT64_MAX - 5, now = INT64_MAX - 10;
    struct pg_gcra_result r;
    pg_gcra_decide(&g, now, &tat, &r);
    assert_true(r.allowed);
    assert_true(tat == INT64_MAX); /* held, not wrapped into the past */
    pg_gcra_decide(&g, now, &tat, &r);
    assert_true(tat == INT64_MAX);
    assert_true(r.reset_us == 10);
    /* A state far ahead is refused with the full wait, not a negative one. */
    pg_gcra_init(&g, 1, 1);
    tat = INT64_MAX;
    pg_gcra_decide(&g, 0, &tat, &r);
    assert_false(r.allowed);
    assert_true(r.retry_after_us == INT64_MAX);
    assert_int_equal(r.remaining, 0);
}

static void test_seconds(void **state)
{
    (void)state;
    assert_int_equal(pg_gcra_seconds(0), 0);
    assert_int_equal(pg_gcra_seconds(-3), 0);
    assert_int_equal(pg_gcra_seconds(1), 1);
    assert_int_equal(pg_gcra_seconds(999999), 1);
    assert_int_equal(pg_gcra_seconds(1000000), 1);
    assert_int_equal(pg_gcra_seconds(1000001), 2);
    assert_true(pg_gcra_seconds(INT64_MAX) == INT64_MAX / 1000000 + 1);
}

static void test_quota(void **state)
{
    (void)state;
    int64_t q, w;
    pg_gcra_quota(50, &q, &w);
    assert_true(q == 50 && w == 1);
    pg_gcra_quota(30.0 / 60, &q, &w);
    assert_true(q == 30 && w == 60);
    pg_gcra_quota(7.0 / 60, &q, &w);
    assert_true(q == 7 && w == 60);
    pg_gcra_quota(10.0 / 3600, &q, &w);
    assert_true(q == 10 && w == 3600);
    pg_gcra_quota(120.0 / 60, &q, &w); /* 120/m is 2/s */
    assert_true(q == 2 && w == 1);
    pg_gcra_quota(1e-9, &q, &w);
    assert_true(q == 1 && w == 86400);
    pg_gcra_quota(-1, &q, &w); /* out of range: never a zero or negative quota */
    assert_true(q == 1 && w == 86400);
    pg_gcra_quota(1e300, &q, &w);
    assert_true(q == (int64_t)PG_GCRA_MAX_RATE && w == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_checks),        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_long_run_count),     cmocka_unit_test(test_burst_one),
        cmocka_unit_test(test_idle_key),           cmocka_unit_test(test_result_of_matches_decide),
        cmocka_unit_test(test_saturation),         cmocka_unit_test(test_seconds),
        cmocka_unit_test(test_quota),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
