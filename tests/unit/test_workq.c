/* The work queue (proxy/workq.c): work runs off the loop, done runs on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdbool.h>

#include "proxy/workq.h"

struct job {
    pthread_t loop_thread;
    pthread_t work_thread;
    int work_ran, done_ran;
    bool done_on_loop;
    struct event_base *base;
    int *remaining;
};

static void work(void *arg)
{
    struct job *j = arg;
    j->work_thread = pthread_self();
    j->work_ran++;
}

static void done(void *arg)
{
    struct job *j = arg;
    j->done_ran++;
    j->done_on_loop = pthread_equal(pthread_self(), j->loop_thread);
    if (--*j->remaining == 0)
        event_base_loopexit(j->base, NULL);
}

static void test_jobs_run_off_loop_and_finish_on_it(void **state)
{
    (void)state;
    evthread_use_pthreads();
    struct event_base *base = event_base_new();
    assert_int_equal(pg_workq_start(PG_POOL_IO, 2, 0), 0);
    enum { N = 50 };
    static struct job jobs[N];
    int remaining = N;
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){.loop_thread = pthread_self(), .base = base, .remaining = &remaining};
        assert_int_equal(pg_workq_submit(PG_POOL_IO, base, work, done, &jobs[i]), 0);
    }
    struct timeval limit = {10, 0};
    event_base_loopexit(base, &limit); /* a bound, should the test fail */
    event_base_dispatch(base);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].work_ran, 1);
        assert_int_equal(jobs[i].done_ran, 1);
        assert_true(jobs[i].done_on_loop);
        assert_false(pthread_equal(jobs[i].work_thread, pthread_self()));
    }
    pg_workq_stop(PG_POOL_IO);
    event_base_free(base);
}

static void test_submit_after_stop_fails(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct job j = {0};
    assert_int_equal(pg_workq_submit(PG_POOL_IO, base, work, NULL, &j), -1);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_run_off_loop_and_finish_on_it),
        cmocka_unit_test(test_submit_after_stop_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
