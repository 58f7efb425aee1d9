#ifndef PHIGUARD_WORKER_H
#define PHIGUARD_WORKER_H
/* One worker thread: its own event_base, its own SO_REUSEPORT listener, its
 * own upstream pool. Nothing on its loop blocks. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "proxy/config.h"

struct pg_conn;
struct pg_upconn;
struct pg_auth_worker;
struct pg_audit_writer;
struct pg_redis;
struct pg_rl_worker;
struct pg_worker_metrics;
struct pg_alert_inbox;
struct pg_ip_count;

struct pg_worker {
    int index;
    const struct pg_config *cfg;
    struct event_base *base;
    struct evconnlistener *listener;
    pthread_t thread;
    struct event *drain_ev;  /* activated from the main thread on SIGTERM */
    struct event *stop_ev;   /* drain timeout: close whatever is left */
    struct event *exit_ev;   /* on the main base: this worker has finished */
    bool draining;
    _Atomic bool finished; /* its loop has ended (read by the main thread) */
    struct pg_conn *conns;   /* every client connection, for draining */
    int nconns;
    struct pg_upconn *idle_up; /* pooled upstream connections, most recent first */
    int nidle_up;
    struct evbuffer *stage; /* a response is assembled here, then handed to TLS at once */
    uint64_t request_seq;
    char request_prefix[17]; /* random per start: ids are unique across restarts */
    uint64_t stat_requests, stat_rejected_conns;
    uint64_t rejected_unlogged;  /* refused since the last connection_refused line */
    uint64_t reject_logged_us;   /* when that line was written */
    struct pg_ip_count *ip_conns; /* open connections per client address; NULL without the limit */
    struct pg_redis *redis;        /* NULL when no redis.address is configured */
    struct pg_auth_worker *auth;   /* NULL when password logins are off */
    struct pg_audit_writer *audit; /* NULL when the audit trail is off */
    struct pg_rl_worker *ratelimit; /* rate-limit counters (proxy/ratelimit.h) */
    struct pg_worker_metrics *metrics; /* this worker's counters for /metrics */
    struct pg_alert_inbox *alert_inbox; /* alerts posted from other threads (proxy/security_event.h) */
};

/* Creates the worker's loop and listener on the main thread (so a bind
 * error stops start-up), then runs it on its own thread. */
int pg_worker_init(struct pg_worker *w, int index, const struct pg_config *cfg, struct event *exit_ev);
int pg_worker_start(struct pg_worker *w);
void pg_worker_drain(struct pg_worker *w); /* thread-safe */
void pg_worker_stop(struct pg_worker *w);  /* thread-safe: force-close */
void pg_worker_join_and_free(struct pg_worker *w);

/* The server's workers, for figures one worker reports about all (the
 * security API's status): set once at start, before the loops run. */
void pg_workers_register(struct pg_worker *ws, int n);
int pg_workers_all(struct pg_worker **ws);

/* Called by conn.c when a connection ends; ends a draining worker's loop
 * when it was the last. */
void pg_worker_conn_closed(struct pg_worker *w);

#endif
