/* syslog_wait.c: a wait ends when the fd is ready, at its deadline, or at
 * unload's stop deadline, whichever comes first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "syslog_wait.h"

static void ready_timeout_and_stop(void **unused)
{
    (void)unused;
    struct syslog_waker w;
    assert_int_equal(syslog_waker_init(&w), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(syslog_wait(&w, fds[0], POLLIN, syslog_now_ms() + 10), SYSLOG_WAIT_TIMEOUT);
    assert_int_equal(syslog_wait(&w, -1, 0, syslog_now_ms() + 10), SYSLOG_WAIT_TIMEOUT);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(syslog_wait(&w, fds[0], POLLIN, SYSLOG_NEVER), SYSLOG_WAIT_READY);
    /* A deadline already passed: no wait at all. */
    assert_int_equal(syslog_wait(&w, fds[0], POLLIN, syslog_now_ms() - 1), SYSLOG_WAIT_TIMEOUT);
    syslog_waker_stop(&w, syslog_now_ms());
    assert_int_equal(syslog_wait(&w, fds[0], POLLIN, SYSLOG_NEVER), SYSLOG_WAIT_STOPPED);
    close(fds[0]);
    close(fds[1]);
    syslog_waker_destroy(&w);
}

static void *stop_soon(void *arg)
{
    poll(NULL, 0, 20);
    syslog_waker_stop(arg, syslog_now_ms());
    return NULL;
}

static void stop_from_another_thread_ends_an_endless_wait(void **unused)
{
    (void)unused;
    struct syslog_waker w;
    assert_int_equal(syslog_waker_init(&w), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_soon, &w), 0);
    /* Nothing will ever be written to fds[0]: only the stop ends this. */
    assert_int_equal(syslog_wait(&w, fds[0], POLLIN, SYSLOG_NEVER), SYSLOG_WAIT_STOPPED);
    assert_int_equal(syslog_wait(&w, -1, 0, SYSLOG_NEVER), SYSLOG_WAIT_STOPPED);
    pthread_join(t, NULL);
    close(fds[0]);
    close(fds[1]);
    syslog_waker_destroy(&w);
}

static void a_later_stop_deadline_still_lets_ready_fds_through(void **unused)
{
    (void)unused;
    struct syslog_waker w;
    assert_int_equal(syslog_waker_init(&w), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    /* Unload asked, with time left to flush: a ready socket is served. */
    syslog_waker_stop(&w, syslog_now_ms() + 60000);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(syslog_wait(&w, fds[0], POLLIN, SYSLOG_NEVER), SYSLOG_WAIT_READY);
    assert_int_equal(syslog_wait(&w, -1, 0, syslog_now_ms() + 10), SYSLOG_WAIT_TIMEOUT);
    close(fds[0]);
    close(fds[1]);
    syslog_waker_destroy(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ready_timeout_and_stop),
        cmocka_unit_test(stop_from_another_thread_ends_an_endless_wait),
        cmocka_unit_test(a_later_stop_deadline_still_lets_ready_fds_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
