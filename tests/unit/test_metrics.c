/* Metrics (proxy/metrics.c): histogram buckets, the event table's labels
 * summed across workers, and Prometheus text with escaped labels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/metrics.h"
#include "proxy/worker.h"

static void test_histogram(void **state)
{
    (void)state;
    struct pg_histogram h = {0};
    pg_histogram_observe(&h, 0);        /* the first bucket: <= 100 µs */
    pg_histogram_observe(&h, 100);      /* still the first: bounds are inclusive */
    pg_histogram_observe(&h, 101);      /* the second */
    pg_histogram_observe(&h, 99000000); /* above every bound: counted, no bucket */
    assert_int_equal(h.bucket[0], 2);
    assert_int_equal(h.bucket[1], 1);
    assert_int_equal(h.count, 4);
    assert_int_equal(h.sum_us, 99000201);
}

static char *render(struct pg_worker *ws, int n)
{
    struct evbuffer *out = evbuffer_new();
    pg_metrics_render_workers(out, ws, n);
    size_t len = evbuffer_get_length(out);
    char *s = malloc(len + 1);
    evbuffer_remove(out, s, len);
    s[len] = '\0';
    evbuffer_free(out);
    return s;
}

static void test_events_summed_and_escaped(void **state)
{
    (void)state;
    struct pg_worker ws[2] = {{0}};
    ws[0].metrics = calloc(1, sizeof *ws[0].metrics);
    ws[1].metrics = calloc(1, sizeof *ws[1].metrics);
    pg_metrics_event(&ws[0].metrics->alerts, "rule\"x", "high");
    pg_metrics_event(&ws[0].metrics->alerts, "rule\"x", "high");
    pg_metrics_event(&ws[1].metrics->alerts, "rule\"x", "high");
    pg_metrics_event(&ws[1].metrics->alerts, "other", "low");
    pg_metrics_event(&ws[0].metrics->events, "login", "success");
    ws[1].metrics->tls_handshakes = 7;
    char *s = render(ws, 2);
    assert_non_null(strstr(s, "phiguard_alerts_total{rule=\"rule\\\"x\",severity=\"high\"} 3\n"));
    assert_non_null(strstr(s, "phiguard_alerts_total{rule=\"other\",severity=\"low\"} 1\n"));
    assert_non_null(strstr(s, "phiguard_logins_total{outcome=\"success\"} 1\n"));
    assert_non_null(strstr(s, "phiguard_tls_handshakes_total{result=\"ok\"} 7\n"));
    /* Each label pair once, however many workers saw it. */
    char *first = strstr(s, "rule=\"rule\\\"x\"");
    assert_null(strstr(first + 1, "rule=\"rule\\\"x\""));
    free(s);
    free(ws[0].metrics);
    free(ws[1].metrics);
}

static void test_event_table_overflow(void **state)
{
    (void)state;
    struct pg_event_table *t = calloc(1, sizeof *t);
    char name[16];
    for (int i = 0; i < PG_METRIC_LABELS + 5; i++) {
        snprintf(name, sizeof name, "r%d", i);
        pg_metrics_event(t, name, "k");
    }
    assert_int_equal(atomic_load(&t->used), PG_METRIC_LABELS);
    assert_int_equal(atomic_load(&t->overflow), 5);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_events_summed_and_escaped),
        cmocka_unit_test(test_event_table_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
