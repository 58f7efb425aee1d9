/* syslog_queue.c: the bounds hold, drops are counted, one overflow episode
 * per outage, order kept, stop wakes the sender. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "syslog_queue.h"

static void push_n(struct syslog_queue *q, int n, uint64_t first_seq, int *queued, int *dropped, int *episodes)
{
    for (int i = 0; i < n; i++) {
        switch (syslog_queue_push(q, "pod-0/w0", first_seq + (uint64_t)i, "0123456789", 10)) {
        case SYSLOG_PUSH_QUEUED: (*queued)++; break;
        case SYSLOG_PUSH_OVERFLOW_STARTS: (*episodes)++; /* fall through */
        case SYSLOG_PUSH_DROPPED: (*dropped)++; break;
        case SYSLOG_PUSH_NO_MEMORY: fail(); break;
        }
    }
}

static void record_bound_holds_and_drops_are_counted_once_per_episode(void **unused)
{
    (void)unused;
    struct syslog_queue q;
    assert_int_equal(syslog_queue_init(&q, 4, 1 << 20), 0);
    int queued = 0, dropped = 0, episodes = 0;
    push_n(&q, 10, 1, &queued, &dropped, &episodes);
    assert_int_equal(queued, 4);
    assert_int_equal(dropped, 6);
    assert_int_equal(episodes, 1);
    struct syslog_queue_stats st;
    syslog_queue_stats(&q, &st);
    assert_int_equal(st.records, 4);
    assert_int_equal(st.dropped_total, 6);
    assert_int_equal(st.queued_total, 4);

    /* Kept in order, oldest first: the drops were the newest. */
    struct syslog_item *it = syslog_queue_peek(&q, 0);
    assert_non_null(it);
    assert_int_equal(it->seq, 1);
    assert_string_equal(it->chain, "pod-0/w0");
    assert_int_equal(it->len, 10);
    assert_memory_equal(it->data, "0123456789", 11);
    assert_int_equal(syslog_queue_pop(&q), 0); /* 3 left: above half of 4 */
    /* Room for one again, but the episode goes on: no second alert. */
    push_n(&q, 2, 100, &queued, &dropped, &episodes);
    assert_int_equal(queued, 5);
    assert_int_equal(dropped, 7);
    assert_int_equal(episodes, 1);
    assert_int_equal(syslog_queue_pop(&q), 0); /* 3 left */
    assert_int_equal(syslog_queue_pop(&q), 7); /* 2 left: half, the episode ends with its count */
    assert_int_equal(syslog_queue_peek(&q, 0)->seq, 4);
    assert_int_equal(syslog_queue_pop(&q), 0);
    assert_int_equal(syslog_queue_peek(&q, 0)->seq, 100);
    /* Full again: a new episode. */
    push_n(&q, 5, 200, &queued, &dropped, &episodes);
    assert_int_equal(episodes, 2);
    syslog_queue_destroy(&q); /* frees what is queued (ASan checks) */
}

static void byte_bound_holds(void **unused)
{
    (void)unused;
    struct syslog_queue q;
    /* Each item costs 10 + strlen("pod-0/w0") = 18 bytes. */
    assert_int_equal(syslog_queue_init(&q, 1000, 40), 0);
    int queued = 0, dropped = 0, episodes = 0;
    push_n(&q, 3, 1, &queued, &dropped, &episodes);
    assert_int_equal(queued, 2);
    assert_int_equal(dropped, 1);
    struct syslog_queue_stats st;
    syslog_queue_stats(&q, &st);
    assert_int_equal(st.bytes, 36);
    /* A record bigger than the whole bound is dropped too. */
    char big[64];
    memset(big, 'x', sizeof big);
    assert_int_not_equal(syslog_queue_push(&q, "c", 9, big, sizeof big), SYSLOG_PUSH_QUEUED);
    syslog_queue_stats(&q, &st);
    assert_int_equal(st.dropped_total, 2);
    syslog_queue_pop(&q);
    syslog_queue_pop(&q);
    syslog_queue_stats(&q, &st);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.records, 0);
    syslog_queue_destroy(&q);
}

static void peek_times_out_when_empty_and_stop_wakes_it(void **unused)
{
    (void)unused;
    struct syslog_queue q;
    assert_int_equal(syslog_queue_init(&q, 4, 1024), 0);
    assert_null(syslog_queue_peek(&q, 10));
    syslog_queue_stop(&q);
    assert_null(syslog_queue_peek(&q, -1)); /* would wait forever without stop */
    /* After stop, what is queued is still handed out (the flush). */
    assert_int_equal(syslog_queue_push(&q, "c", 1, "{}", 2), SYSLOG_PUSH_QUEUED);
    assert_non_null(syslog_queue_peek(&q, -1));
    syslog_queue_destroy(&q);
}

static void *producer(void *arg)
{
    struct syslog_queue *q = arg;
    for (uint64_t i = 1; i <= 2000; i++)
        syslog_queue_push(q, "c", i, "{}", 2);
    return NULL;
}

static void one_consumer_sees_a_producers_records_in_order(void **unused)
{
    (void)unused;
    struct syslog_queue q;
    assert_int_equal(syslog_queue_init(&q, 100000, 1 << 24), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &q), 0);
    uint64_t want = 1;
    while (want <= 2000) {
        struct syslog_item *it = syslog_queue_peek(&q, 5000);
        assert_non_null(it);
        assert_int_equal(it->seq, want);
        syslog_queue_pop(&q);
        want++;
    }
    pthread_join(t, NULL);
    syslog_queue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(record_bound_holds_and_drops_are_counted_once_per_episode),
        cmocka_unit_test(byte_bound_holds),
        cmocka_unit_test(peek_times_out_when_empty_and_stop_wakes_it),
        cmocka_unit_test(one_consumer_sees_a_producers_records_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
