#ifndef PHIGUARD_ADMIN_H
#define PHIGUARD_ADMIN_H
/* The admin listener: plain HTTP, loopback by default, for probes and
 * operators (/healthz, /readyz, /metrics, /audit, /policy). It runs on the main thread's loop. */
#include <event2/event.h>
#include <stdbool.h>
#include "proxy/addr.h"

struct evbuffer;

struct pg_admin;

struct pg_admin_hooks {
    bool (*ready)(void *arg); /* false while starting or draining */
    /* JSON for /audit: each chain's counters. */
    void (*describe_audit)(char *buf, size_t len, void *arg);
    /* Prometheus text for /metrics. */
    void (*metrics)(struct evbuffer *out, void *arg);
    void *arg;
};

struct pg_admin *pg_admin_start(struct event_base *base, const struct pg_addr *addr,
                                const struct pg_admin_hooks *hooks);
void pg_admin_free(struct pg_admin *a);

#endif
