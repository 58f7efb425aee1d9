#include "proxy/worker.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/audit_writer.h"
#include "proxy/metrics.h"
#include "proxy/auth_store.h"
#include "proxy/auth_worker.h"
#include "proxy/ratelimit.h"
#include "proxy/blocks.h"
#include "proxy/ip_count.h"
#include "proxy/redis.h"
#include "proxy/security_event.h"
#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/plugin_host.h"
#include "proxy/upstream.h"

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    pg_conn_accept(arg, fd, sa, salen);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    struct pg_worker *w = arg;
    int err = EVUTIL_SOCKET_ERROR();
    /* EMFILE and friends: libevent retries on the next readiness; say so
     * once per occurrence without stopping the worker. */
    pg_log(PG_LOG_WARN, "accept_failed", "\"worker\":%d,\"errno\":%d,\"error\":\"%s\"", w->index, err,
           evutil_socket_error_to_string(err));
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_worker *w = arg;
    if (w->draining)
        return;
    w->draining = true;
    if (w->listener) {
        evconnlistener_free(w->listener);
        w->listener = NULL;
    }
    pg_upstream_pool_clear(w);
    for (struct pg_conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        pg_conn_drain(c);
    }
    pg_worker_conn_closed(w);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_worker *w = arg;
    w->draining = true;
    if (w->listener) {
        evconnlistener_free(w->listener);
        w->listener = NULL;
    }
    if (w->nconns)
        pg_log(PG_LOG_WARN, "drain_timeout", "\"worker\":%d,\"connections_closed\":%d", w->index, w->nconns);
    while (w->conns)
        pg_conn_abort(w->conns);
    pg_upstream_pool_clear(w);
    event_base_loopexit(w->base, NULL);
}

void pg_worker_conn_closed(struct pg_worker *w)
{
    if (w->draining && w->nconns == 0)
        event_base_loopexit(w->base, NULL);
}

static void redis_connected(void *arg)
{
    pg_audit_writer_connected(arg);
}

int pg_worker_init(struct pg_worker *w, int index, const struct pg_config *cfg, struct event *exit_ev)
{
    memset(w, 0, sizeof *w);
    w->index = index;
    w->cfg = cfg;
    w->exit_ev = exit_ev;
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return -1;
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(w->request_prefix + 2 * i, 3, "%02x", rnd[i]);
    /* The changelist folds an add and a delete of the same event within one
     * loop pass into nothing: a write that completes at once then costs no
     * epoll_ctl. */
    struct event_config *ec = event_config_new();
    if (!ec)
        return -1;
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!w->base)
        return -1;
    w->stage = evbuffer_new();
    w->metrics = calloc(1, sizeof *w->metrics);
    w->drain_ev = event_new(w->base, -1, 0, drain_cb, w);
    w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
    /* Each worker has its own listening socket on the same port: the
     * kernel spreads new connections over them (SO_REUSEPORT). */
    w->listener = evconnlistener_new_bind(
        w->base, accept_cb, w, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC,
        1024, (const struct sockaddr *)&cfg->listen.ss, (int)cfg->listen.len);
    if (cfg->limits.max_connections_per_ip > 0)
        w->ip_conns = pg_ip_count_new();
    if (!w->stage || !w->metrics || !w->drain_ev || !w->stop_ev || !w->listener || pg_alert_inbox_init(w) != 0 ||
        (cfg->limits.max_connections_per_ip > 0 && !w->ip_conns)) {
        int err = errno;
        pg_log(PG_LOG_ERROR, "listen_failed", "\"worker\":%d,\"address\":\"%s\",\"error\":\"%s\"", index,
               cfg->listen.text, strerror(err));
        return -1;
    }
    evconnlistener_set_error_cb(w->listener, accept_error_cb);
    if (cfg->redis.address) {
        struct pg_redis_config rc = {.address = cfg->redis.address,
                                     .username = cfg->redis.username,
                                     .password = pg_auth_secrets()->redis_password,
                                     .db = cfg->redis.db,
                                     .connect_timeout_ms = cfg->redis.connect_timeout_ms,
                                     .command_timeout_ms = cfg->redis.command_timeout_ms};
        if (!(w->redis = pg_redis_new(w->base, &rc, redis_connected, w))) {
            pg_log(PG_LOG_ERROR, "startup_failed", "\"worker\":%d,\"error\":\"cannot set up the Redis client\"",
                   index);
            return -1;
        }
    }
    if (pg_ratelimit_worker_init(w) != 0)
        return -1;
    if (pg_auth_worker_init(w) != 0) {
        pg_log(PG_LOG_ERROR, "startup_failed", "\"worker\":%d,\"error\":\"cannot set up authentication\"", index);
        return -1;
    }
    if (pg_audit_writer_init(w) != 0)
        return -1; /* logged */
    if (pg_plugin_worker_attach(w) != 0) {
        pg_log(PG_LOG_ERROR, "startup_failed", "\"worker\":%d,\"error\":\"cannot set up the plugins' queue\"", index);
        return -1;
    }
    if (pg_blocks_subscribe(w) != 0) {
        pg_log(PG_LOG_ERROR, "startup_failed", "\"worker\":%d,\"error\":\"cannot subscribe to blocks\"", index);
        return -1;
    }
    return 0;
}

static void *worker_main(void *arg)
{
    struct pg_worker *w = arg;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    atomic_store(&w->finished, true);
    event_active(w->exit_ev, 0, 0);
    return NULL;
}

int pg_worker_start(struct pg_worker *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

void pg_worker_drain(struct pg_worker *w)
{
    event_active(w->drain_ev, 0, 0);
}

void pg_worker_stop(struct pg_worker *w)
{
    event_active(w->stop_ev, 0, 0);
}

void pg_worker_join_and_free(struct pg_worker *w)
{
    if (w->thread)
        pthread_join(w->thread, NULL);
    while (w->conns)
        pg_conn_abort(w->conns);
    pg_upstream_pool_clear(w);
    pg_plugin_worker_detach(w); /* every request is gone: a late resume only frees its ticket */
    pg_auth_worker_free(w);
    pg_audit_writer_stop(w); /* its Redis replies from here on are only counted */
    if (w->redis)
        pg_redis_free(w->redis); /* answers what is outstanding, with DISCONNECTED */
    pg_audit_writer_free(w);
    pg_ratelimit_worker_free(w); /* after the Redis client: its last answers may still count */
    if (w->listener)
        evconnlistener_free(w->listener);
    if (w->stage)
        evbuffer_free(w->stage);
    free(w->metrics);
    pg_alert_inbox_free(w);
    pg_ip_count_free(w->ip_conns); /* after the connections: each released its address */
    if (w->drain_ev)
        event_free(w->drain_ev);
    if (w->stop_ev)
        event_free(w->stop_ev);
    if (w->base)
        event_base_free(w->base);
    memset(w, 0, sizeof *w);
}

static struct pg_worker *registered;
static int nregistered;

void pg_workers_register(struct pg_worker *ws, int n)
{
    registered = ws;
    nregistered = n;
}

int pg_workers_all(struct pg_worker **ws)
{
    *ws = registered;
    return nregistered;
}
