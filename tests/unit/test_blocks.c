/* Active blocks (proxy/blocks.c): a subject refused until its time, the
 * later of two blocks winning, address and user kept apart, and a block
 * table shared by threads. No Redis: the worker has none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxy/blocks.h"
#include "proxy/worker.h"

static struct pg_worker worker; /* no Redis: blocks stay in the process */

static void test_block_and_expiry(void **state)
{
    (void)state;
    int64_t left = 0;
    assert_false(pg_blocks_check(PG_BLOCK_IP, "192.0.2.1", &left));
    pg_blocks_add(&worker, PG_BLOCK_IP, "192.0.2.1", 300, "test");
    assert_true(pg_blocks_check(PG_BLOCK_IP, "192.0.2.1", &left));
    assert_true(left > 0 && left <= 300);
    /* The same string as a user is another subject. */
    assert_false(pg_blocks_check(PG_BLOCK_USER, "192.0.2.1", NULL));
    /* A shorter block does not cut a longer one; a longer one extends it. */
    pg_blocks_add(&worker, PG_BLOCK_IP, "192.0.2.1", 10, "test");
    assert_true(pg_blocks_check(PG_BLOCK_IP, "192.0.2.1", &left) && left > 100);
    pg_blocks_add(&worker, PG_BLOCK_USER, "u-1", 100, "test");
    assert_true(pg_blocks_check(PG_BLOCK_USER, "u-1", NULL));
    assert_true(pg_blocks_active() >= 2);
    usleep(350 * 1000);
    assert_false(pg_blocks_check(PG_BLOCK_IP, "192.0.2.1", NULL));
    assert_false(pg_blocks_check(PG_BLOCK_USER, "u-1", NULL));
    assert_false(pg_blocks_check(PG_BLOCK_USER, NULL, NULL));
}

static void *adder(void *arg)
{
    int base = *(int *)arg;
    char ip[32];
    for (int i = 0; i < 500; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.%d", base, i / 250, i % 250);
        pg_blocks_add(&worker, PG_BLOCK_IP, ip, 60000, "test");
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    int base[4] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, adder, &base[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char ip[32];
    for (int b = 1; b <= 4; b++)
        for (int i = 0; i < 500; i++) {
            snprintf(ip, sizeof ip, "10.%d.%d.%d", b, i / 250, i % 250);
            assert_true(pg_blocks_check(PG_BLOCK_IP, ip, NULL));
        }
    assert_true(pg_blocks_active() >= 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_and_expiry),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
