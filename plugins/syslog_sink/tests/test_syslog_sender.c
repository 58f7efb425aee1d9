/* syslog_sender.c: the backoff's bounds, and the thread against a real
 * loopback receiver: frames in order, a receiver that goes away and comes
 * back gets every record after it, a flush at stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loopback_listener.h"
#include "syslog_sender.h"

static void backoff_doubles_within_bounds(void **unused)
{
    (void)unused;
    assert_int_equal(syslog_backoff_next(100, 100, 1000), 200);
    assert_int_equal(syslog_backoff_next(400, 100, 1000), 800);
    assert_int_equal(syslog_backoff_next(800, 100, 1000), 1000);
    assert_int_equal(syslog_backoff_next(1000, 100, 1000), 1000);
    assert_int_equal(syslog_backoff_next(5, 100, 1000), 100);
    assert_int_equal(syslog_backoff_next(3000000000u, 1, 4000000000u), 4000000000u); /* no overflow */
}

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 16];

static void fake_log(phg_plugin_handle *p, enum phg_log_level level, const char *fmt, ...)
{
    (void)p;
    (void)level;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_mu);
    size_t used = strlen(log_text);
    vsnprintf(log_text + used, sizeof log_text - used - 1, fmt, ap);
    strcat(log_text, "\n");
    pthread_mutex_unlock(&log_mu);
    va_end(ap);
}

static bool logged(const char *what)
{
    pthread_mutex_lock(&log_mu);
    bool found = strstr(log_text, what) != NULL;
    pthread_mutex_unlock(&log_mu);
    return found;
}

static const struct phg_host fake_host = {.abi = PHG_ABI_CURRENT, .size = sizeof(struct phg_host), .log = fake_log};

/* Reads one octet-counted frame from fd (waits up to 10 s); returns the
 * MSG, malloc'd, or NULL when the connection ended. */
static char *read_frame(int fd)
{
    char num[16];
    size_t n = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        char ch;
        ssize_t r = recv(fd, &ch, 1, 0);
        if (r <= 0)
            return NULL;
        if (ch == ' ')
            break;
        assert_true(ch >= '0' && ch <= '9' && n < sizeof num - 1);
        num[n++] = ch;
    }
    num[n] = '\0';
    size_t len = strtoul(num, NULL, 10), got = 0;
    char *msg = malloc(len + 1);
    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        ssize_t r = recv(fd, msg + got, len - got, 0);
        if (r <= 0) {
            free(msg);
            return NULL;
        }
        got += (size_t)r;
    }
    msg[len] = '\0';
    return msg;
}

static int accept_within(int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 10000), 1);
    return accept(lfd, NULL, NULL);
}

static void push(struct syslog_queue *q, uint64_t seq)
{
    char rec[64];
    snprintf(rec, sizeof rec, "{\"seq\":%" PRIu64 ",\"type\":\"rest\",\"action\":\"R\"}", seq);
    assert_int_equal(syslog_queue_push(q, "pod-0/w0", seq, rec, strlen(rec)), SYSLOG_PUSH_QUEUED);
}

static void expect_seq(int fd, uint64_t seq)
{
    char *msg = read_frame(fd);
    assert_non_null(msg);
    char want[64];
    snprintf(want, sizeof want, "seq=\"%" PRIu64 "\"] {\"seq\":%" PRIu64 ",", seq, seq);
    if (!strstr(msg, want))
        fail_msg("frame %s is not seq %" PRIu64, msg, seq);
    assert_true(strncmp(msg, "<86>1 - gw pg 1 rest [phiguard@32473 chain=\"pod-0/w0\"", 52) == 0);
    free(msg);
}

/* A sender for cfg over a fresh queue q, its thread started. */
static void start_sender(struct syslog_sender *s, const struct syslog_config *cfg, struct syslog_queue *q)
{
    assert_int_equal(syslog_queue_init(q, 1000, 1 << 20), 0);
    *s = (struct syslog_sender){.cfg = cfg, .queue = q, .host = &fake_host,
                                .origin = {.facility = 10, .hostname = "gw", .app_name = "pg", .procid = "1"}};
    char err[256];
    assert_int_equal(syslog_sender_start(s, err, sizeof err), 0);
}

static void sends_in_order_survives_a_receiver_restart_and_flushes_at_stop(void **unused)
{
    (void)unused;
    int port = 0;
    int lfd = loopback_listen(&port);
    assert_true(lfd >= 0);
    struct syslog_config cfg = {.host = "127.0.0.1", .port = port, .reconnect_min_ms = 10,
                                .reconnect_max_ms = 50, .connect_timeout_ms = 5000, .write_timeout_ms = 5000,
                                .flush_timeout_ms = 10000};
    struct syslog_queue q;
    struct syslog_sender s;
    start_sender(&s, &cfg, &q);

    for (uint64_t i = 1; i <= 3; i++)
        push(&q, i);
    int peer = accept_within(lfd);
    for (uint64_t i = 1; i <= 3; i++)
        expect_seq(peer, i);

    /* The receiver goes away; records queue meanwhile; it comes back on
     * the same port and gets all of them, in order. */
    close(peer);
    close(lfd);
    for (uint64_t i = 4; i <= 6; i++)
        push(&q, i);
    while (!logged("cannot reach")) /* our end closed too: the port can be bound again */
        poll(NULL, 0, 10);
    int lfd2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd2, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd2, 8), 0);
    peer = accept_within(lfd2);
    for (uint64_t i = 4; i <= 6; i++)
        expect_seq(peer, i);

    /* Queued right before stop: still sent (the flush). */
    for (uint64_t i = 7; i <= 9; i++)
        push(&q, i);
    syslog_sender_stop(&s);
    for (uint64_t i = 7; i <= 9; i++)
        expect_seq(peer, i);
    assert_null(read_frame(peer)); /* and the connection closed */
    assert_int_equal(s.sent, 9);
    struct syslog_queue_stats st;
    syslog_queue_stats(&q, &st);
    assert_int_equal(st.records, 0);
    close(peer);
    close(lfd2);
    syslog_queue_destroy(&q);
}

static void stop_is_bounded_when_the_receiver_is_gone(void **unused)
{
    (void)unused;
    struct syslog_config cfg = {.host = "127.0.0.1", .port = loopback_closed_port(), .reconnect_min_ms = 10,
                                .reconnect_max_ms = 3600000, .connect_timeout_ms = 3600000,
                                .write_timeout_ms = 3600000, .flush_timeout_ms = 50};
    struct syslog_queue q;
    struct syslog_sender s;
    start_sender(&s, &cfg, &q);
    push(&q, 1);
    while (!logged("cannot reach syslog receiver"))
        poll(NULL, 0, 10);
    /* The backoff has grown far past the flush time: stop still ends (the
     * test would hang otherwise), with the record left unsent. */
    syslog_sender_stop(&s);
    struct syslog_queue_stats st;
    syslog_queue_stats(&q, &st);
    assert_int_equal(st.records, 1);
    assert_int_equal(s.sent, 0);
    syslog_queue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_doubles_within_bounds),
        cmocka_unit_test(sends_in_order_survives_a_receiver_restart_and_flushes_at_stop),
        cmocka_unit_test(stop_is_bounded_when_the_receiver_is_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
