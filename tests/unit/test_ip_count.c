/* Connections per client address (proxy/ip_count.c): the limit holds per
 * address, addresses are counted apart (also when they share a bucket),
 * and an address leaves the table with its last connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "proxy/ip_count.h"

static void test_limit_per_address(void **state)
{
    (void)state;
    struct pg_ip_count *t = pg_ip_count_new();
    assert_non_null(t);
    for (int i = 0; i < 3; i++)
        assert_true(pg_ip_count_acquire(t, "192.0.2.1", 3));
    assert_false(pg_ip_count_acquire(t, "192.0.2.1", 3));
    assert_int_equal(pg_ip_count_get(t, "192.0.2.1"), 3);
    /* Another address is not affected. */
    assert_true(pg_ip_count_acquire(t, "2001:db8::1", 3));
    assert_int_equal(pg_ip_count_get(t, "2001:db8::1"), 1);
    /* A connection ends: room for one more. */
    pg_ip_count_release(t, "192.0.2.1");
    assert_true(pg_ip_count_acquire(t, "192.0.2.1", 3));
    assert_false(pg_ip_count_acquire(t, "192.0.2.1", 3));
    pg_ip_count_free(t);
}

static void test_many_addresses_and_release_to_empty(void **state)
{
    (void)state;
    struct pg_ip_count *t = pg_ip_count_new();
    char ip[64];
    /* More addresses than buckets: chains are walked by the whole string. */
    for (int i = 0; i < 5000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
        assert_true(pg_ip_count_acquire(t, ip, 1));
        assert_false(pg_ip_count_acquire(t, ip, 1));
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
        assert_int_equal(pg_ip_count_get(t, ip), 1);
        pg_ip_count_release(t, ip);
        assert_int_equal(pg_ip_count_get(t, ip), 0);
    }
    /* Releasing an address with no connection changes nothing. */
    pg_ip_count_release(t, "192.0.2.9");
    assert_int_equal(pg_ip_count_get(t, "192.0.2.9"), 0);
    /* A limit below one admits nobody. */
    assert_false(pg_ip_count_acquire(t, "192.0.2.9", 0));
    pg_ip_count_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_per_address),
        cmocka_unit_test(test_many_addresses_and_release_to_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
