/* The local rate-limit table (proxy/ratelimit_table.c): keys share state
 * exactly, keys of any length, bounded size with expired keys forgotten
 * first and live ones only when a shard is full, and exact counts when
 * threads decide the same key at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "proxy/ratelimit_table.h"

static int decide(struct pg_rl_table *t, const char *key, const struct pg_gcra *g, int64_t now)
{
    struct pg_gcra_result r;
    assert_int_equal(pg_rl_table_decide(t, key, strlen(key), g, now, &r), 0);
    return r.allowed;
}

static void test_keys_are_separate_and_exact(void **state)
{
    (void)state;
    struct pg_rl_table *t = pg_rl_table_new(1000);
    assert_non_null(t);
    struct pg_gcra g;
    pg_gcra_init(&g, 1, 3);
    int a = 0, b = 0;
    for (int i = 0; i < 10; i++) {
        a += decide(t, "rl:{x:i9=127.0.0.1}", &g, 1000);
        b += decide(t, "rl:{x:i9=127.0.0.2}", &g, 1000);
    }
    assert_int_equal(a, 3);
    assert_int_equal(b, 3);
    /* A key that differs only past the inline length, and one far longer. */
    char k1[300], k2[300];
    memset(k1, 'k', sizeof k1 - 1);
    k1[sizeof k1 - 1] = '\0';
    memcpy(k2, k1, sizeof k2);
    k2[200] = 'j';
    int c = 0, d = 0;
    for (int i = 0; i < 5; i++) {
        c += decide(t, k1, &g, 1000);
        d += decide(t, k2, &g, 1000);
    }
    assert_int_equal(c, 3);
    assert_int_equal(d, 3);
    /* Time brings the budget back. */
    assert_true(decide(t, "rl:{x:i9=127.0.0.1}", &g, 1000 + 1000000));
    struct pg_rl_table_stats st;
    pg_rl_table_get_stats(t, &st);
    assert_int_equal(st.keys, 4);
    assert_int_equal(st.evicted_live, 0);
    pg_rl_table_free(t);
}

/* Many client addresses: the table never holds more than its bound. Keys
 * whose state ran out go first, and cost nothing. */
static void test_bounded(void **state)
{
    (void)state;
    struct pg_rl_table *t = pg_rl_table_new(64 * 8);
    assert_non_null(t);
    struct pg_gcra g;
    pg_gcra_init(&g, 10, 1); /* each key's state runs out 100 ms after its request */
    char key[64];
    /* One key every 10 ms: at most ~10 alive at any time. */
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "rl:{ip:i%d}", i);
        decide(t, key, &g, (int64_t)i * 10000);
    }
    struct pg_rl_table_stats st;
    pg_rl_table_get_stats(t, &st);
    assert_true(st.keys <= 64 * 8);
    assert_int_equal(st.max_keys, 64 * 8);
    assert_true(st.expired > 0);
    assert_int_equal(st.evicted_live, 0);
    /* All at the same instant: every key alive, so live ones must go. */
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "rl:{ip:j%d}", i);
        decide(t, key, &g, 500000000);
    }
    pg_rl_table_get_stats(t, &st);
    assert_true(st.keys <= 64 * 8);
    assert_true(st.evicted_live > 0);
    /* A key that was just used survives the flood better than an old one:
     * what goes is the state nearest to running out. */
    struct pg_gcra hourly;
    pg_gcra_init(&hourly, 1.0 / 3600, 1);
    assert_true(decide(t, "rl:{ip:keep}", &hourly, 500000001));
    for (int i = 0; i < 5000; i++) { /* every shard overflows many times over */
        snprintf(key, sizeof key, "rl:{ip:k%d}", i);
        decide(t, key, &g, 500000002);
    }
    assert_false(decide(t, "rl:{ip:keep}", &hourly, 500000003)); /* remembered: still refused */
    pg_rl_table_free(t);
}

struct hammer {
    struct pg_rl_table *t;
    const struct pg_gcra *g;
    int allowed;
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 20000; i++) {
        struct pg_gcra_result r;
        if (pg_rl_table_decide(h->t, "rl:{shared:r1=x}", 16, h->g, 42, &r) == 0 && r.allowed)
            h->allowed++;
    }
    return NULL;
}

static void test_threads_share_one_budget(void **state)
{
    (void)state;
    struct pg_rl_table *t = pg_rl_table_new(1000);
    struct pg_gcra g;
    pg_gcra_init(&g, 1, 1000);
    struct hammer h[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){.t = t, .g = &g};
        assert_int_equal(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += h[i].allowed;
    }
    assert_int_equal(total, 1000); /* the burst, exactly, whoever took it */
    pg_rl_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_are_separate_and_exact),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_threads_share_one_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
