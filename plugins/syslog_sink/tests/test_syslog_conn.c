/* syslog_conn.c against a real loopback socket: connect, write, a refused
 * connect, a peer that closes, a peer that never reads, unload's stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loopback_listener.h"
#include "syslog_conn.h"

struct fixture {
    int lfd, port;
    struct syslog_config cfg;
    struct syslog_waker w;
    struct syslog_conn c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->lfd = loopback_listen(&f->port);
    assert_true(f->lfd >= 0);
    f->cfg.host = "127.0.0.1";
    f->cfg.port = f->port;
    f->cfg.connect_timeout_ms = 5000;
    assert_int_equal(syslog_waker_init(&f->w), 0);
    syslog_conn_init(&f->c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    syslog_conn_close(&f->c);
    syslog_waker_destroy(&f->w);
    close(f->lfd);
    free(f);
    return 0;
}

static void connects_and_writes(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_int_equal(syslog_conn_open(&f->c, &f->cfg, NULL, &f->w, err, sizeof err), SYSLOG_IO_OK);
    int peer = accept(f->lfd, NULL, NULL);
    assert_true(peer >= 0);
    assert_false(syslog_conn_closed_by_peer(&f->c));
    assert_int_equal(syslog_conn_write(&f->c, "5 hello", 7, 5000, &f->w, err, sizeof err), SYSLOG_IO_OK);
    char buf[16] = "";
    size_t got = 0;
    while (got < 7) {
        ssize_t n = recv(peer, buf + got, sizeof buf - 1 - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_string_equal(buf, "5 hello");
    /* What a receiver sends is read and ignored; the connection stays. */
    assert_int_equal(send(peer, "x", 1, 0), 1);
    struct pollfd p = {.fd = f->c.fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_false(syslog_conn_closed_by_peer(&f->c));
    close(peer);
    /* The FIN arrives: the next check sees it (bounded wait for it). */
    assert_int_equal(poll(&p, 1, 5000), 1);
    assert_true(syslog_conn_closed_by_peer(&f->c));
}

static void refused_connect_says_why(void **state)
{
    struct fixture *f = *state;
    f->cfg.port = loopback_closed_port();
    char err[256] = "";
    assert_int_equal(syslog_conn_open(&f->c, &f->cfg, NULL, &f->w, err, sizeof err), SYSLOG_IO_FAILED);
    assert_non_null(strstr(err, "refused"));
    assert_int_equal(f->c.fd, -1);
}

static void peer_that_never_reads_times_the_write_out(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_int_equal(syslog_conn_open(&f->c, &f->cfg, NULL, &f->w, err, sizeof err), SYSLOG_IO_OK);
    int peer = accept(f->lfd, NULL, NULL);
    assert_true(peer >= 0);
    /* More than both sockets' buffers can hold. */
    size_t len = 256u << 20;
    char *big = calloc(1, len);
    assert_int_equal(syslog_conn_write(&f->c, big, len, 100, &f->w, err, sizeof err), SYSLOG_IO_FAILED);
    assert_non_null(strstr(err, "timed out"));
    /* Unload's deadline ends a write at once, whatever its own timeout. */
    syslog_waker_stop(&f->w, syslog_now_ms());
    assert_int_equal(syslog_conn_write(&f->c, big, len, 3600000, &f->w, err, sizeof err), SYSLOG_IO_STOPPED);
    free(big);
    close(peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(connects_and_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_connect_says_why, setup, teardown),
        cmocka_unit_test_setup_teardown(peer_that_never_reads_times_the_write_out, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
