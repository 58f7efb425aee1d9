/* The Redis client (proxy/redis.c, proxy/redis_script.c) against a real
 * redis-server in a temporary directory, started afresh for each test:
 * replies and error kinds, pipelining, AUTH and SELECT, timeouts, the
 * in-flight bound, reconnection and its hook, dropping a stalled server,
 * pub/sub across a restart, and EVALSHA after the script cache is lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proxy/redis.h"
#include "proxy/redis_script.h"

static char dir[64], sock[128], unix_address[160], logfile[128];
static pid_t server;
static const char *const *server_extra;
static int server_port; /* 0: unix socket only */

static void start_server(void)
{
    unlink(sock);
    char port[16];
    snprintf(port, sizeof port, "%d", server_port);
    const char *argv[64] = {"redis-server", "--port", port, "--bind", "127.0.0.1", "--unixsocket", sock,
                            "--save", "", "--appendonly", "no", "--logfile", logfile, "--enable-debug-command",
                            "yes"};
    int n = 15;
    for (int i = 0; server_extra && server_extra[i] && n < 63; i++)
        argv[n++] = server_extra[i];
    argv[n] = NULL;
    server = fork();
    assert_true(server >= 0);
    if (server == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a crashed test */
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 250; i++) {
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

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || getsockname(fd, (struct sockaddr *)&sa, &len))
        return -1;
    close(fd);
    return ntohs(sa.sin_port);
}

static int setup_with(const char *const *extra, bool tcp)
{
    /* As in phiguard serve: a write to a dead peer is an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    strcpy(dir, "/tmp/pg-redis-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    snprintf(logfile, sizeof logfile, "%s/redis.log", dir);
    snprintf(unix_address, sizeof unix_address, "unix:%s", sock);
    server_extra = extra;
    server_port = tcp ? free_port() : 0;
    start_server();
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(NULL, false);
}

static const char *const acl_args[] = {"--user", "default", "off", "--user", "phi", "on", ">s3cret-pass",
                                       "~*",     "&*",      "+@all", NULL};

static int setup_acl(void **state)
{
    (void)state;
    return setup_with(acl_args, false);
}

static int setup_tcp(void **state)
{
    (void)state;
    return setup_with(NULL, true);
}

static int teardown(void **state)
{
    (void)state;
    stop_server();
    unlink(sock);
    unlink(logfile);
    rmdir(dir);
    return 0;
}

struct ctx {
    struct event_base *base;
    int connects;
    int answers, oks, error_replies, timeouts, disconnects;
    long long last_int;
    char last_str[64];
    size_t last_len;
    struct pg_redis *retry_from_callback; /* sends again when told of a disconnection */
    enum pg_redis_status retry_status;
    int ready, lost, messages;
    char message[64];
    size_t message_len;
};

static void on_connect(void *arg)
{
    ((struct ctx *)arg)->connects++;
}

static void on_answer(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct ctx *c = arg;
    c->answers++;
    switch (st) {
    case PG_REDIS_OK:
        c->oks++;
        c->last_str[0] = '\0';
        if (reply->type == REDIS_REPLY_INTEGER) {
            c->last_int = reply->integer;
        } else if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) {
            c->last_len = reply->len < sizeof c->last_str ? reply->len : sizeof c->last_str - 1;
            memcpy(c->last_str, reply->str, c->last_len);
            c->last_str[c->last_len] = '\0';
        } else if (reply->type == REDIS_REPLY_NIL) {
            strcpy(c->last_str, "(nil)");
        }
        break;
    case PG_REDIS_ERR_REPLY:
        c->error_replies++;
        snprintf(c->last_str, sizeof c->last_str, "%s", reply->str);
        break;
    case PG_REDIS_TIMEOUT:
        assert_null(reply);
        c->timeouts++;
        break;
    default:
        assert_int_equal(st, PG_REDIS_DISCONNECTED);
        assert_null(reply);
        c->disconnects++;
        if (c->retry_from_callback) {
            const char *argv[] = {"PING"};
            c->retry_status = pg_redis_command_argv(c->retry_from_callback, on_answer, c, 1, argv, NULL);
        }
        break;
    }
}

static void on_sub(enum pg_redis_sub_event ev, const char *payload, size_t len, void *arg)
{
    struct ctx *c = arg;
    if (ev == PG_REDIS_SUB_READY) {
        c->ready++;
    } else if (ev == PG_REDIS_SUB_LOST) {
        c->lost++;
    } else {
        c->messages++;
        c->message_len = len < sizeof c->message ? len : sizeof c->message;
        memcpy(c->message, payload, c->message_len);
    }
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Runs the loop until cond holds, failing after 10 s. */
#define RUN_UNTIL(c, cond)                                                                                            \
    do {                                                                                                               \
        struct timespec t0_;                                                                                           \
        clock_gettime(CLOCK_MONOTONIC, &t0_);                                                                          \
        while (!(cond)) {                                                                                              \
            event_base_loop((c)->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);                                                 \
            usleep(1000);                                                                                              \
            if (elapsed(&t0_) > 10)                                                                                    \
                fail_msg("timed out waiting for %s", #cond);                                                           \
        }                                                                                                              \
    } while (0)

/* Runs the loop for the given time. */
static void run_for(struct ctx *c, double seconds)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed(&t0) < seconds) {
        event_base_loop(c->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
}

static enum pg_redis_status cmd(struct pg_redis *r, struct ctx *c, const char *a0, const char *a1, const char *a2)
{
    const char *argv[] = {a0, a1, a2};
    int argc = a2 ? 3 : a1 ? 2 : 1;
    return pg_redis_command_argv(r, on_answer, c, argc, argv, NULL);
}

static struct pg_redis *client_with(struct ctx *c, const struct pg_redis_config *cfg)
{
    struct pg_redis *r = pg_redis_new(c->base, cfg, on_connect, c);
    assert_non_null(r);
    int before = c->connects;
    RUN_UNTIL(c, c->connects > before);
    return r;
}

static struct pg_redis *client(struct ctx *c, int max_inflight, uint32_t timeout_ms)
{
    struct pg_redis_config cfg = {.address = unix_address, .command_timeout_ms = timeout_ms,
                                  .max_inflight = max_inflight};
    return client_with(c, &cfg);
}

static void test_address_validation(void **state)
{
    (void)state;
    const char *good[] = {"unix:/run/redis.sock", "127.0.0.1:6379", "[::1]:6379", "redis.phi.svc:6379",
                          "localhost:1"};
    const char *bad[] = {"",           "unix:",           "unix:relative", "127.0.0.1",  "127.0.0.1:0",
                         "host:65536", "host:6379x",      "::1:6379",      "[::1]6379",  ":6379",
                         "[host]:1",   "bad host:6379",   "host:-1",       "host:",      "a\"b:1"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(pg_redis_address_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (pg_redis_address_valid(bad[i]))
            fail_msg("accepted %s", bad[i]);
    }
    assert_false(pg_redis_address_valid(NULL));
    struct event_base *base = event_base_new();
    struct pg_redis_config cfg = {.address = "nonsense"};
    assert_null(pg_redis_new(base, &cfg, NULL, NULL));
    event_base_free(base);
}

static void test_commands_and_pipelining(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis *r = client(&c, 10000, 2000);
    assert_true(pg_redis_connected(r));
    /* Binary-safe both ways. */
    assert_int_equal(pg_redis_command(r, on_answer, &c, "SET %s %b", "k", "v\0w", (size_t)3), PG_REDIS_OK);
    assert_int_equal(cmd(r, &c, "GET", "k", NULL), PG_REDIS_OK);
    assert_int_equal(c.answers, 0); /* never answered from inside the call */
    RUN_UNTIL(&c, c.answers == 2);
    assert_int_equal(c.last_len, 3);
    assert_memory_equal(c.last_str, "v\0w", 3);
    assert_int_equal(cmd(r, &c, "GET", "missing", NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 3);
    assert_string_equal(c.last_str, "(nil)");
    /* A server error is its own kind, with Redis's message. */
    assert_int_equal(cmd(r, &c, "INCR", "k", NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 4);
    assert_int_equal(c.error_replies, 1);
    assert_non_null(strstr(c.last_str, "not an integer"));
    for (int i = 0; i < 2000; i++)
        assert_int_equal(cmd(r, &c, "INCR", "n", NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 2004);
    assert_int_equal(c.last_int, 2000);
    assert_int_equal(pg_redis_inflight(r), 0);
    struct pg_redis_stats st;
    pg_redis_get_stats(r, &st);
    assert_int_equal(st.sent, 2004);
    assert_int_equal(st.replies, 2004);
    assert_int_equal(st.error_replies, 1);
    assert_int_equal(st.timeouts + st.disconnected + st.refused_overloaded + st.refused_disconnected, 0);
    assert_int_equal(st.connects, 1);
    assert_true(st.connected);
    assert_int_equal(c.connects, 1);
    pg_redis_free(r);
    event_base_free(c.base);
}

static void test_health_ping(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis_config cfg = {.address = unix_address, .health_interval_ms = 20};
    struct pg_redis *r = client_with(&c, &cfg);
    struct pg_redis_stats st;
    RUN_UNTIL(&c, (pg_redis_get_stats(r, &st), st.last_ping_us >= 0));
    assert_true(st.healthy);
    assert_true(pg_redis_healthy(r));
    assert_int_equal(st.sent, 0); /* health checks are not the caller's commands */
    assert_int_equal(st.inflight, 0);
    pg_redis_free(r);
    event_base_free(c.base);
}

static void test_auth_and_select(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    /* A wrong password never reaches on_connect, and commands are refused. */
    struct pg_redis_config wrong = {.address = unix_address, .username = "phi", .password = "wrong-pass"};
    struct pg_redis *r = pg_redis_new(c.base, &wrong, on_connect, &c);
    assert_non_null(r);
    struct pg_redis_stats st;
    RUN_UNTIL(&c, (pg_redis_get_stats(r, &st), st.connect_failures >= 2));
    assert_int_equal(c.connects, 0);
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), PG_REDIS_DISCONNECTED);
    pg_redis_free(r);
    /* No credentials: the default user is off. */
    struct pg_redis_config none = {.address = unix_address};
    r = pg_redis_new(c.base, &none, on_connect, &c);
    RUN_UNTIL(&c, (pg_redis_get_stats(r, &st), st.connect_failures >= 1));
    assert_int_equal(c.connects, 0);
    pg_redis_free(r);

    struct pg_redis_config db3 = {.address = unix_address, .username = "phi", .password = "s3cret-pass", .db = 3};
    struct pg_redis_config db0 = {.address = unix_address, .username = "phi", .password = "s3cret-pass"};
    struct pg_redis *r3 = client_with(&c, &db3);
    struct pg_redis *r0 = client_with(&c, &db0);
    assert_int_equal(cmd(r3, &c, "SET", "where", "three"), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 1);
    assert_int_equal(cmd(r0, &c, "GET", "where", NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 2);
    assert_string_equal(c.last_str, "(nil)");
    assert_int_equal(cmd(r3, &c, "GET", "where", NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 3);
    assert_string_equal(c.last_str, "three");
    assert_int_equal(cmd(r0, &c, "ACL", "WHOAMI", NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 4);
    assert_string_equal(c.last_str, "phi");
    pg_redis_free(r3);
    pg_redis_free(r0);
    /* A username without a password is a configuration error. */
    struct pg_redis_config half = {.address = unix_address, .username = "phi"};
    assert_null(pg_redis_new(c.base, &half, NULL, NULL));
    event_base_free(c.base);
}

static void test_timeout_and_inflight_bound(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis *r = client(&c, 2, 200);
    assert_int_equal(cmd(r, &c, "DEBUG", "SLEEP", "1"), PG_REDIS_OK);
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), PG_REDIS_OK);
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), PG_REDIS_OVERLOADED); /* the bound: refused at once */
    RUN_UNTIL(&c, c.timeouts == 2);
    assert_int_equal(c.oks, 0);
    /* The slots stay taken until Redis answers: memory stays bounded. */
    assert_int_equal(pg_redis_inflight(r), 2);
    /* The late answers are dropped, exactly once each, and the slots free. */
    RUN_UNTIL(&c, pg_redis_inflight(r) == 0);
    run_for(&c, 0.05);
    assert_int_equal(c.answers, 2);
    struct pg_redis_stats st;
    pg_redis_get_stats(r, &st);
    assert_int_equal(st.timeouts, 2);
    assert_int_equal(st.late_replies, 2);
    assert_int_equal(st.refused_overloaded, 1);
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.oks == 1);
    assert_string_equal(c.last_str, "PONG");
    pg_redis_free(r);
    event_base_free(c.base);
}

static void test_reconnect_after_server_death(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis *r = client(&c, 100, 2000);
    assert_int_equal(cmd(r, &c, "DEBUG", "SLEEP", "0.3"), PG_REDIS_OK);
    c.retry_from_callback = r;
    c.retry_status = PG_REDIS_OK;
    stop_server();
    RUN_UNTIL(&c, c.disconnects == 1); /* the pending command learns it */
    assert_int_equal(c.retry_status, PG_REDIS_DISCONNECTED); /* and cannot send on the dying connection */
    c.retry_from_callback = NULL;
    RUN_UNTIL(&c, !pg_redis_connected(r));
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), PG_REDIS_DISCONNECTED); /* fails fast while down */
    run_for(&c, 0.4);
    struct pg_redis_stats st;
    pg_redis_get_stats(r, &st);
    /* Backoff: a few attempts, not a busy loop. */
    assert_true(st.connect_failures >= 1);
    assert_true(st.connect_failures <= 8);
    assert_int_equal(st.disconnects, 1);
    assert_int_equal(st.refused_disconnected, 2);
    assert_false(st.healthy);
    start_server();
    RUN_UNTIL(&c, c.connects == 2); /* the hook runs again */
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.oks == 1);
    pg_redis_free(r);
    event_base_free(c.base);
}

static void test_stalled_server_dropped(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis_config cfg = {.address = unix_address, .command_timeout_ms = 100, .health_interval_ms = 50,
                                  .connect_timeout_ms = 300};
    struct pg_redis *r = client_with(&c, &cfg);
    assert_int_equal(cmd(r, &c, "DEBUG", "SLEEP", "1.5"), PG_REDIS_OK);
    struct pg_redis_stats st;
    RUN_UNTIL(&c, (pg_redis_get_stats(r, &st), st.disconnects >= 1));
    assert_false(st.healthy);
    assert_int_equal(c.timeouts, 1);
    RUN_UNTIL(&c, c.connects == 2); /* back once the server answers again */
    assert_true(pg_redis_healthy(r));
    assert_int_equal(c.answers, 1);
    pg_redis_free(r);
    event_base_free(c.base);
}

static void test_pubsub_and_resubscribe(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()}, sub = {.base = c.base};
    struct pg_redis *r = client(&c, 100, 2000);
    assert_int_equal(pg_redis_subscribe(r, "pg:revoke", on_sub, &sub), 0);
    assert_int_equal(pg_redis_subscribe(r, "pg:revoke", on_sub, &sub), -1);
    RUN_UNTIL(&c, sub.ready == 1);
    assert_int_equal(pg_redis_command(r, on_answer, &c, "PUBLISH pg:revoke %b", "s\0-1", (size_t)4), PG_REDIS_OK);
    RUN_UNTIL(&c, sub.messages == 1);
    assert_int_equal(sub.message_len, 4);
    assert_memory_equal(sub.message, "s\0-1", 4);
    RUN_UNTIL(&c, c.answers == 1);
    assert_int_equal(c.last_int, 1); /* one subscriber: ours */

    stop_server();
    RUN_UNTIL(&c, sub.lost == 1);
    start_server();
    RUN_UNTIL(&c, sub.ready == 2 && c.connects == 2);
    assert_int_equal(cmd(r, &c, "PUBLISH", "pg:revoke", "s-2"), PG_REDIS_OK);
    RUN_UNTIL(&c, sub.messages == 2);
    assert_int_equal(sub.message_len, 3);
    assert_memory_equal(sub.message, "s-2", 3);
    /* A channel subscribed while connected is sent at once. */
    struct ctx other = {.base = c.base};
    assert_int_equal(pg_redis_subscribe(r, "pg:other", on_sub, &other), 0);
    RUN_UNTIL(&c, other.ready == 1);
    assert_int_equal(cmd(r, &c, "PUBLISH", "pg:other", "x"), PG_REDIS_OK);
    RUN_UNTIL(&c, other.messages == 1);
    assert_int_equal(sub.messages, 2);
    struct pg_redis_stats st;
    pg_redis_get_stats(r, &st);
    assert_int_equal(st.messages, 3);
    pg_redis_free(r);
    assert_int_equal(sub.lost, 1); /* freeing is not a loss to report */
    event_base_free(c.base);
}

static void test_evalsha_loads_on_noscript(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis *r = client(&c, 100, 2000);
    struct pg_redis_script *s = pg_redis_script_new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    assert_non_null(s);
    assert_int_equal(strlen(pg_redis_script_sha(s)), 40);
    const char *argv[] = {"counter", "5"};
    assert_int_equal(pg_redis_script_run(r, s, on_answer, &c, 1, 2, argv, NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 1);
    assert_int_equal(c.oks, 1);
    assert_int_equal(c.last_int, 5);
    /* Redis names the script by the same SHA-1. */
    assert_int_equal(cmd(r, &c, "SCRIPT", "LOAD", "return redis.call('INCRBY', KEYS[1], ARGV[1])"), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 2);
    assert_string_equal(c.last_str, pg_redis_script_sha(s));
    /* Cached now: one EVALSHA. Then the cache is lost and it loads again. */
    assert_int_equal(pg_redis_script_run(r, s, on_answer, &c, 1, 2, argv, NULL), PG_REDIS_OK);
    assert_int_equal(cmd(r, &c, "SCRIPT", "FLUSH", NULL), PG_REDIS_OK);
    assert_int_equal(pg_redis_script_run(r, s, on_answer, &c, 1, 2, argv, NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 5);
    assert_int_equal(c.last_int, 15);
    assert_int_equal(c.error_replies, 0);
    /* A script's own error is passed on, not retried. */
    struct pg_redis_script *bad = pg_redis_script_new("return redis.call('INCR', KEYS[1])");
    const char *text[] = {"text"};
    assert_int_equal(cmd(r, &c, "SET", "text", "abc"), PG_REDIS_OK);
    assert_int_equal(pg_redis_script_run(r, bad, on_answer, &c, 1, 1, text, NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 7);
    assert_int_equal(c.error_replies, 1);
    assert_non_null(strstr(c.last_str, "not an integer"));
    assert_int_equal(pg_redis_script_run(r, s, on_answer, &c, 3, 2, argv, NULL), PG_REDIS_ERR_REPLY);

    /* Arguments given in the protocol: the same answers, the same reload
     * after the cache is lost, binary bytes kept. */
    char args[128], *end = pg_redis_resp_bulk(args, "counter", 7);
    end = pg_redis_resp_bulk(end, "10", 2);
    assert_int_equal(cmd(r, &c, "SCRIPT", "FLUSH", NULL), PG_REDIS_OK);
    assert_int_equal(pg_redis_script_run_resp(r, s, on_answer, &c, 1, 2, args, (size_t)(end - args)), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 9);
    assert_int_equal(c.last_int, 25);
    assert_int_equal(c.error_replies, 1);
    assert_int_equal(pg_redis_script_run_resp(r, s, on_answer, &c, 2, 1, args, 0), PG_REDIS_ERR_REPLY);
    struct pg_redis_script *echo = pg_redis_script_new("return ARGV[1]");
    static const char binary[] = "a\r\nb\0c$3\r\n";
    end = pg_redis_resp_bulk(args, binary, sizeof binary - 1);
    assert_int_equal(pg_redis_script_run_resp(r, echo, on_answer, &c, 0, 1, args, (size_t)(end - args)), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 10);
    assert_int_equal(c.last_len, sizeof binary - 1);
    assert_memory_equal(c.last_str, binary, sizeof binary - 1);
    char whole[64];
    end = pg_redis_resp_array(whole, 2);
    end = pg_redis_resp_bulk(end, "GET", 3);
    end = pg_redis_resp_bulk(end, "counter", 7);
    assert_int_equal(pg_redis_command_resp(r, on_answer, &c, whole, (size_t)(end - whole)), PG_REDIS_OK);
    RUN_UNTIL(&c, c.answers == 11);
    assert_string_equal(c.last_str, "25");
    pg_redis_script_free(echo);
    pg_redis_free(r);
    pg_redis_script_free(s);
    pg_redis_script_free(bad);
    event_base_free(c.base);
}

static void test_free_answers_pending(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    struct pg_redis *r = client(&c, 100, 2000);
    assert_int_equal(cmd(r, &c, "DEBUG", "SLEEP", "0.2"), PG_REDIS_OK);
    assert_int_equal(pg_redis_subscribe(r, "pg:revoke", on_sub, &c), 0);
    pg_redis_free(r);
    assert_int_equal(c.disconnects, 1);
    assert_int_equal(c.lost, 0);
    event_base_free(c.base);
}

static void test_unreachable_server(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    char missing[200];
    snprintf(missing, sizeof missing, "unix:%s/nothing-here.sock", dir);
    struct pg_redis_config cfg = {.address = missing};
    struct pg_redis *r = pg_redis_new(c.base, &cfg, on_connect, &c);
    assert_non_null(r);
    assert_int_equal(cmd(r, &c, "PING", NULL, NULL), PG_REDIS_DISCONNECTED);
    run_for(&c, 0.3);
    struct pg_redis_stats st;
    pg_redis_get_stats(r, &st);
    assert_true(st.connect_failures >= 1 && st.connect_failures <= 8);
    assert_false(st.connected);
    pg_redis_free(r);
    event_base_free(c.base);
}

static void test_tcp_by_number_and_by_name(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    char numeric[64], named[64];
    snprintf(numeric, sizeof numeric, "127.0.0.1:%d", server_port);
    snprintf(named, sizeof named, "localhost:%d", server_port);
    struct pg_redis_config a = {.address = numeric}, b = {.address = named};
    struct pg_redis *ra = client_with(&c, &a);
    struct pg_redis *rb = client_with(&c, &b);
    assert_int_equal(cmd(ra, &c, "PING", NULL, NULL), PG_REDIS_OK);
    assert_int_equal(cmd(rb, &c, "PING", NULL, NULL), PG_REDIS_OK);
    RUN_UNTIL(&c, c.oks == 2);
    pg_redis_free(ra);
    pg_redis_free(rb);
    event_base_free(c.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_validation),
        cmocka_unit_test_setup_teardown(test_commands_and_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_and_select, setup_acl, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_and_inflight_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_server_death, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_server_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pubsub_and_resubscribe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evalsha_loads_on_noscript, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_answers_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_by_number_and_by_name, setup_tcp, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
