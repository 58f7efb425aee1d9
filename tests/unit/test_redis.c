/* The Redis client (proxy/redis.c) against a real redis-server on a unix
 * socket in a temporary directory: replies, pipelining, timeouts, the
 * in-flight bound, and reconnection after the server dies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proxy/redis.h"

extern char **environ;

static char dir[64], sock[128], address[160];
static pid_t server;

static void start_server(void)
{
    unlink(sock);
    char *argv[] = {"redis-server", "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no",
                    "--loglevel", "warning", "--enable-debug-command", "yes", NULL};
    assert_int_equal(posix_spawnp(&server, "redis-server", NULL, NULL, argv, environ), 0);
    for (int i = 0; i < 200; i++) {
        struct stat st;
        if (stat(sock, &st) == 0)
            return;
        usleep(20000);
    }
    fail_msg("redis-server did not start");
}

static void stop_server(void)
{
    if (server > 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        server = 0;
    }
}

static int setup(void **state)
{
    (void)state;
    /* As in phiguard serve: a write to a dead peer is an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    strcpy(dir, "/tmp/pg-redis-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    snprintf(address, sizeof address, "unix:%s", sock);
    start_server();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop_server();
    unlink(sock);
    rmdir(dir);
    return 0;
}

struct ctx {
    struct event_base *base;
    int connects;
    int answers, oks, timeouts, disconnects;
    long long last_int;
    char last_str[64];
};

static void on_connect(void *arg)
{
    ((struct ctx *)arg)->connects++;
}

static void on_answer(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct ctx *c = arg;
    c->answers++;
    if (st == PG_REDIS_OK) {
        c->oks++;
        if (reply->type == REDIS_REPLY_INTEGER)
            c->last_int = reply->integer;
        else if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS)
            snprintf(c->last_str, sizeof c->last_str, "%s", reply->str);
    } else if (st == PG_REDIS_TIMEOUT) {
        c->timeouts++;
    } else {
        c->disconnects++;
    }
}

/* Runs the loop until *counter reaches want or 5 s pass. */
static void run_until(struct ctx *c, const int *counter, int want)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (*counter < want) {
        event_base_loop(c->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 5)
            fail_msg("timed out waiting (%d of %d)", *counter, want);
    }
}

static int cmd(struct pg_redis *r, struct ctx *c, const char *a0, const char *a1, const char *a2)
{
    const char *argv[] = {a0, a1, a2};
    int argc = a2 ? 3 : a1 ? 2 : 1;
    return pg_redis_command(r, on_answer, c, argc, argv, NULL);
}

static struct pg_redis *client(struct ctx *c, int max_inflight, uint32_t timeout_ms)
{
    struct pg_redis_config cfg = {.address = address, .connect_timeout_ms = 1000, .command_timeout_ms = timeout_ms,
                                  .max_inflight = max_inflight};
    struct pg_redis *r = pg_redis_new(c->base, &cfg, on_connect, c);
    assert_non_null(r);
    run_until(c, &c->connects, 1);
    return r;
}

static void test_commands_and_pipelining(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis *r = client(&c, 10000, 2000);
    assert_int_equal(cmd(r, &c, "SET", "k", "v"), 0);
    assert_int_equal(cmd(r, &c, "GET", "k", NULL), 0);
    run_until(&c, &c.answers, 2);
    assert_string_equal(c.last_str, "v");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(cmd(r, &c, "INCR", "n", NULL), 0);
    run_until(&c, &c.answers, 1002);
    assert_int_equal(c.last_int, 1000);
    assert_int_equal(pg_redis_inflight(r), 0);
    pg_redis_free(r);
    event_base_free(c.base);
}

static void test_timeout_and_inflight_bound(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis *r = client(&c, 2, 200);
    assert_int_equal(cmd(r, &c, "DEBUG", "SLEEP", "0.6"), 0);
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), 0);
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), -1); /* the bound: refused at once */
    run_until(&c, &c.timeouts, 2);
    assert_int_equal(c.oks, 0);
    /* The late answers are dropped, exactly once each, and the slots free. */
    struct timespec ts = {0, 800 * 1000 * 1000};
    nanosleep(&ts, NULL);
    for (int i = 0; i < 50; i++)
        event_base_loop(c.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(c.answers, 2);
    assert_int_equal(pg_redis_inflight(r), 0);
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), 0);
    run_until(&c, &c.oks, 1);
    assert_string_equal(c.last_str, "PONG");
    pg_redis_free(r);
    event_base_free(c.base);
}

static void test_reconnect_after_server_death(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis *r = client(&c, 100, 2000);
    assert_int_equal(cmd(r, &c, "DEBUG", "SLEEP", "0.3"), 0);
    stop_server();
    run_until(&c, &c.disconnects, 1); /* the pending command learns it */
    for (int i = 0; i < 20 && pg_redis_connected(r); i++)
        event_base_loop(c.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_false(pg_redis_connected(r));
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), -1); /* fails fast while down */
    start_server();
    run_until(&c, &c.connects, 2);
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), 0);
    run_until(&c, &c.oks, 1);
    pg_redis_free(r);
    event_base_free(c.base);
}

static void test_free_answers_pending(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis *r = client(&c, 100, 2000);
    assert_int_equal(cmd(r, &c, "DEBUG", "SLEEP", "0.2"), 0);
    pg_redis_free(r);
    assert_int_equal(c.disconnects, 1);
    event_base_free(c.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_and_pipelining),
        cmocka_unit_test(test_timeout_and_inflight_bound),
        cmocka_unit_test(test_reconnect_after_server_death),
        cmocka_unit_test(test_free_answers_pending),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
