#ifndef PHIGUARD_METRICS_H
#define PHIGUARD_METRICS_H
/* Counters and histograms for /metrics (Prometheus text format, on the
 * admin listener). Each worker owns its set and alone writes it; the admin
 * loop reads every worker's set and sums them, as the audit status does:
 * a figure a moment old is good enough, and no lock or atomic is on the
 * request path. Rare events that other threads may count (alerts raised
 * from the main loop) go through atomic increments. */
#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdint.h>

#define PG_HISTOGRAM_BUCKETS 16 /* upper bounds in µs: 100 µs .. 10 s */
struct pg_histogram {
    uint64_t bucket[PG_HISTOGRAM_BUCKETS]; /* not cumulative: the writer bumps one */
    uint64_t count, sum_us;
};
void pg_histogram_observe(struct pg_histogram *h, uint64_t us);

#define PG_METRIC_ROUTES 256 /* distinct route names counted per worker; the rest go to "other" */
#define PG_METRIC_LABELS 64  /* distinct (name, kind) pairs of rare events per worker */

struct pg_route_counter {
    char name[64]; /* "" while free */
    uint64_t by_class[5]; /* 1xx .. 5xx */
};

struct pg_event_counter {
    char name[48], kind[24]; /* e.g. rule and severity, or type and outcome */
    _Atomic uint64_t n;
};

struct pg_event_table {
    struct pg_event_counter items[PG_METRIC_LABELS];
    _Atomic int used;
    _Atomic uint64_t overflow;
};

struct pg_worker_metrics {
    struct pg_route_counter routes[PG_METRIC_ROUTES];
    uint64_t other_by_class[5];
    struct pg_histogram overhead;     /* phiguard's own time: the request's duration minus the upstream's */
    struct pg_histogram upstream;     /* upstream start to its response head */
    uint64_t tls_handshakes, tls_failures;
    uint64_t password_verifications; /* Argon2id runs, the dummy for unknown users included */
    uint64_t blocked_requests;       /* answered 403 blocked (detection rules) */
    struct pg_event_table alerts;     /* rule, severity */
    struct pg_event_table events;     /* security event type, outcome */
};

struct pg_request;
struct pg_worker;

/* Log phase: the request's status class, route and timings. */
void pg_metrics_request(struct pg_request *req);
void pg_metrics_tls(struct pg_worker *w, int ok);
void pg_metrics_event(struct pg_event_table *t, const char *name, const char *kind);

/* Appends the Prometheus text of all workers' sets (and what the server
 * adds through the other writers) to out. */
void pg_metrics_render_workers(struct evbuffer *out, struct pg_worker *workers, int n);
/* Helpers for the server's own figures. */
void pg_metrics_header(struct evbuffer *out, const char *name, const char *type, const char *help);
void pg_metrics_label_value(struct evbuffer *out, const char *v);

#endif
