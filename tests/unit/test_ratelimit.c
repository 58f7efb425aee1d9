/* Rate-limit decisions (proxy/ratelimit.c) without Redis: key shapes that
 * cannot collide, long values bounded, local decisions and their counters
 * per limit name (with the overflow bucket), a global batch that falls
 * back to the local table when there is no Redis (decided at once,
 * counted, the outage flagged), and the 429 headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/conn.h"
#include "proxy/ratelimit.h"
#include "proxy/request.h"
#include "proxy/worker.h"

static struct pg_worker worker;

static int setup(void **state)
{
    (void)state;
    memset(&worker, 0, sizeof worker);
    if (pg_ratelimit_start(4096) != 0 || pg_ratelimit_worker_init(&worker) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pg_ratelimit_worker_free(&worker);
    pg_ratelimit_stop();
    return 0;
}

static void key_of(struct pg_rl_check *c, const char *name, const char *parts[][2], int n, bool global)
{
    assert_int_equal(pg_rl_check_init(c, name, 10, 2, global), 0);
    for (int i = 0; i < n; i++)
        pg_rl_check_part(c, parts[i][0][0], parts[i][1], strlen(parts[i][1]));
    pg_rl_check_end(c);
}

static void test_keys(void **state)
{
    (void)state;
    struct pg_rl_check c, d;
    const char *ip[][2] = {{"i", "127.0.0.1"}};
    key_of(&c, "per-ip", ip, 1, false);
    assert_string_equal(c.key, "rl:{per-ip:i9=127.0.0.1}");
    assert_int_equal(c.key_len, strlen(c.key));
    /* A user whose id looks like two parts is not the pair of parts. */
    const char *tricky[][2] = {{"u", "a:r1=x"}};
    const char *pair[][2] = {{"u", "a"}, {"r", "x"}};
    key_of(&c, "l", tricky, 1, false);
    key_of(&d, "l", pair, 2, false);
    assert_string_equal(c.key, "rl:{l:u6=a:r1=x}");
    assert_string_equal(d.key, "rl:{l:u1=a:r1=x}");
    /* Nor is a user id equal to an address the address. */
    const char *as_user[][2] = {{"u", "127.0.0.1"}};
    key_of(&c, "l", as_user, 1, false);
    key_of(&d, "l", ip, 1, false);
    assert_string_not_equal(c.key, d.key);
    /* A long value goes in as its SHA-256: the key stays bounded. */
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *bigp[][2] = {{"u", big}, {"s", big}, {"n", big}, {"r", big}};
    char name[PG_RATE_NAME_MAX + 1];
    memset(name, 'n', PG_RATE_NAME_MAX);
    name[PG_RATE_NAME_MAX] = '\0';
    key_of(&c, name, bigp, 4, true);
    assert_true(c.key_len < PG_RL_KEY_MAX);
    assert_non_null(strstr(c.key, ":u#"));
    /* Out-of-range limits are refused, not clamped. */
    assert_int_equal(pg_rl_check_init(&c, "x", 0, 1, false), -1);
    assert_int_equal(pg_rl_check_init(&c, "x", 1, 0, false), -1);
    char toolong[PG_RATE_NAME_MAX + 2];
    memset(toolong, 'a', sizeof toolong - 1);
    toolong[sizeof toolong - 1] = '\0';
    assert_int_equal(pg_rl_check_init(&c, toolong, 1, 1, false), -1);
}

static void test_local_decisions_are_counted(void **state)
{
    (void)state;
    struct pg_rl_check c;
    const char *ip[][2] = {{"i", "10.0.0.1"}};
    key_of(&c, "counted", ip, 1, false);
    int passed = 0;
    for (int i = 0; i < 5; i++) {
        struct pg_gcra_result r;
        assert_int_equal(pg_ratelimit_local(&worker, &c, &r), 0);
        passed += r.allowed;
    }
    assert_int_equal(passed, 2);
    struct pg_ratelimit_rule_stats rules[4];
    struct pg_ratelimit_totals t;
    int n = pg_ratelimit_stats(&worker, rules, 4, &t);
    assert_true(n >= 1);
    int k = -1;
    for (int i = 0; i < n && i < 4; i++)
        if (!strcmp(rules[i].name, "counted"))
            k = i;
    assert_true(k >= 0);
    assert_int_equal(rules[k].allowed, 2);
    assert_int_equal(rules[k].limited, 3);
    assert_int_equal(rules[k].fallback, 0);
    assert_true(t.allowed >= 2 && t.limited >= 3);
    assert_true(t.local_keys >= 1 && t.local_max_keys == 4096);
    assert_false(t.fallback_active);
}

static void test_names_beyond_the_table_go_to_other(void **state)
{
    (void)state;
    struct pg_rl_check c;
    const char *ip[][2] = {{"i", "10.0.0.2"}};
    for (int i = 0; i < PG_RL_STATS_NAMES + 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%d", i);
        key_of(&c, name, ip, 1, false);
        struct pg_gcra_result r;
        pg_ratelimit_local(&worker, &c, &r);
    }
    struct pg_ratelimit_rule_stats *rules = calloc(PG_RL_STATS_NAMES + 1, sizeof *rules);
    int n = pg_ratelimit_stats(&worker, rules, PG_RL_STATS_NAMES + 1, NULL);
    assert_int_equal(n, PG_RL_STATS_NAMES + 1);
    assert_string_equal(rules[n - 1].name, "other");
    assert_true(rules[n - 1].allowed >= 10);
    free(rules);
}

static struct pg_request *fake_request(void)
{
    static struct pg_conn conn;
    memset(&conn, 0, sizeof conn);
    conn.worker = &worker;
    struct pg_request *req = calloc(1, sizeof *req);
    req->conn = &conn;
    req->worker = &worker;
    snprintf(req->id, sizeof req->id, "test-request");
    return req;
}

static void never(struct pg_request *req, const struct pg_rl_verdict *v)
{
    (void)req;
    (void)v;
    fail_msg("decided at once: no callback expected");
}

/* No Redis client (worker.redis NULL): a global limit is decided by the
 * local table at once, counted as a fallback, and the outage flagged. */
static void test_global_without_redis_falls_back(void **state)
{
    (void)state;
    struct pg_request *req = fake_request();
    struct pg_rl_check g1, g2;
    const char *ip[][2] = {{"i", "10.0.0.3"}};
    key_of(&g1, "global-a", ip, 1, true);
    key_of(&g2, "global-b", ip, 1, true);
    int limited = 0;
    struct pg_rl_verdict v;
    for (int i = 0; i < 4; i++) {
        struct pg_rl_batch *b = NULL;
        assert_int_equal(pg_rl_batch_add(&b, &g1), 0);
        assert_int_equal(pg_rl_batch_add(&b, &g2), 0);
        assert_int_equal(pg_rl_batch_run(req, b, never, &v), 1);
        assert_null(req->ticket);
        limited += v.limited;
    }
    assert_int_equal(limited, 2); /* burst 2 */
    assert_string_equal(v.name, "global-a"); /* the first that refused, in order */
    assert_int_equal(v.burst, 2);
    assert_true(v.res.retry_after_us > 0 && v.res.retry_after_us <= 100000);
    struct pg_ratelimit_rule_stats rules[PG_RL_STATS_NAMES + 1];
    struct pg_ratelimit_totals t;
    int n = pg_ratelimit_stats(&worker, rules, PG_RL_STATS_NAMES + 1, &t);
    assert_true(t.fallback_active);
    uint64_t fb = 0;
    for (int i = 0; i < n; i++)
        fb += rules[i].fallback;
    assert_int_equal(fb, 8); /* every global decision, both limits */
    assert_int_equal(t.redis_decisions, 0);

    /* The answer's headers. */
    assert_int_equal(pg_ratelimit_add_headers(req, &v), 0);
    size_t len = evbuffer_get_length(req->local_headers);
    char *h = calloc(1, len + 1);
    evbuffer_copyout(req->local_headers, h, len);
    assert_string_equal(h, "Retry-After: 1\r\n"
                           "RateLimit-Policy: \"global-a\";q=10;w=1;phiguard-burst=2\r\n"
                           "RateLimit: \"global-a\";r=0;t=1\r\n");
    assert_string_equal(req->rate_limit, "global-a");
    free(h);
    evbuffer_free(req->local_headers);
    free(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_local_decisions_are_counted),
        cmocka_unit_test(test_names_beyond_the_table_go_to_other),
        cmocka_unit_test(test_global_without_redis_falls_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
