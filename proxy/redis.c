#include "proxy/redis.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 5000

struct pg_redis {
    struct event_base *base;
    struct pg_redis_config cfg;
    char *address, *password;
    redisAsyncContext *ac;
    bool connected;
    struct event *retry_timer, *connect_timer;
    uint32_t backoff_ms;
    int inflight;
    void (*on_connect)(void *);
    void *arg;
    bool freeing;
};

/* One command's bookkeeping; freed when hiredis hands back its privdata
 * (reply or disconnect), which always happens exactly once. */
struct cmd {
    struct pg_redis *r;
    pg_redis_cb cb;
    void *arg;
    struct event *timer;
    bool answered; /* cb already ran (timeout) */
};

static void connect_now(struct pg_redis *r);

static void arm(struct event *ev, uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

static void schedule_retry(struct pg_redis *r)
{
    if (r->freeing)
        return;
    uint32_t jitter = r->backoff_ms ? (uint32_t)(random() % (r->backoff_ms / 2 + 1)) : 0;
    arm(r->retry_timer, r->backoff_ms + jitter);
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (r->backoff_ms > BACKOFF_MAX_MS)
        r->backoff_ms = BACKOFF_MAX_MS;
}

static void on_connected(const redisAsyncContext *ac, int status)
{
    struct pg_redis *r = ac->data;
    evtimer_del(r->connect_timer);
    if (status != REDIS_OK) {
        pg_log(PG_LOG_WARN, "redis_connect_failed", "\"address\":\"%s\",\"error\":\"%s\"", r->address,
               ac->errstr[0] ? ac->errstr : "?");
        r->ac = NULL; /* hiredis frees the context after this callback */
        schedule_retry(r);
        return;
    }
    r->connected = true;
    r->backoff_ms = 0;
    pg_log(PG_LOG_INFO, "redis_connected", "\"address\":\"%s\"", r->address);
    if (r->password) {
        const char *argv[] = {"AUTH", r->password};
        redisAsyncCommandArgv(r->ac, NULL, NULL, 2, argv, NULL);
    }
    if (r->on_connect)
        r->on_connect(r->arg);
}

static void on_disconnected(const redisAsyncContext *ac, int status)
{
    struct pg_redis *r = ac->data;
    r->connected = false;
    r->ac = NULL;
    if (!r->freeing) {
        pg_log(PG_LOG_WARN, "redis_disconnected", "\"address\":\"%s\",\"error\":\"%s\"", r->address,
               status == REDIS_OK ? "closed" : (ac->errstr[0] ? ac->errstr : "?"));
        schedule_retry(r);
    }
}

static void connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_redis *r = arg;
    if (r->connected || !r->ac)
        return;
    pg_log(PG_LOG_WARN, "redis_connect_failed", "\"address\":\"%s\",\"error\":\"timeout\"", r->address);
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    redisAsyncFree(ac); /* not connected: no callbacks run */
    schedule_retry(r);
}

static void retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    connect_now(arg);
}

static void connect_now(struct pg_redis *r)
{
    redisAsyncContext *ac;
    if (strncmp(r->address, "unix:", 5) == 0) {
        ac = redisAsyncConnectUnix(r->address + 5);
    } else {
        char host[128];
        const char *colon = strrchr(r->address, ':');
        size_t n = colon ? (size_t)(colon - r->address) : 0;
        if (!colon || n >= sizeof host) {
            schedule_retry(r);
            return;
        }
        memcpy(host, r->address, n);
        host[n] = '\0';
        ac = redisAsyncConnect(host, atoi(colon + 1));
    }
    if (!ac || ac->err) {
        pg_log(PG_LOG_WARN, "redis_connect_failed", "\"address\":\"%s\",\"error\":\"%s\"", r->address,
               ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    ac->data = r;
    r->ac = ac;
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, on_connected);
    redisAsyncSetDisconnectCallback(ac, on_disconnected);
    arm(r->connect_timer, r->cfg.connect_timeout_ms);
}

struct pg_redis *pg_redis_new(struct event_base *base, const struct pg_redis_config *cfg, void (*on_connect)(void *),
                              void *arg)
{
    struct pg_redis *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->base = base;
    r->cfg = *cfg;
    r->address = strdup(cfg->address);
    r->password = cfg->password ? strdup(cfg->password) : NULL;
    r->on_connect = on_connect;
    r->arg = arg;
    r->retry_timer = evtimer_new(base, retry, r);
    r->connect_timer = evtimer_new(base, connect_timeout, r);
    if (!r->address || !r->retry_timer || !r->connect_timer) {
        pg_redis_free(r);
        return NULL;
    }
    connect_now(r);
    return r;
}

static void command_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cmd *c = arg;
    c->answered = true;
    c->cb(PG_REDIS_TIMEOUT, NULL, c->arg);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct cmd *c = privdata;
    c->r->inflight--;
    evtimer_del(c->timer);
    if (!c->answered)
        c->cb(reply ? PG_REDIS_OK : PG_REDIS_DISCONNECTED, reply, c->arg);
    event_free(c->timer);
    free(c);
}

int pg_redis_command(struct pg_redis *r, pg_redis_cb cb, void *arg, int argc, const char **argv, const size_t *argvlen)
{
    if (!r->connected || !r->ac || r->inflight >= r->cfg.max_inflight)
        return -1;
    struct cmd *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->r = r;
    c->cb = cb;
    c->arg = arg;
    c->timer = evtimer_new(r->base, command_timeout, c);
    if (!c->timer || redisAsyncCommandArgv(r->ac, on_reply, c, argc, argv, argvlen) != REDIS_OK) {
        if (c->timer)
            event_free(c->timer);
        free(c);
        return -1;
    }
    r->inflight++;
    arm(c->timer, r->cfg.command_timeout_ms);
    return 0;
}

bool pg_redis_connected(const struct pg_redis *r)
{
    return r->connected;
}

int pg_redis_inflight(const struct pg_redis *r)
{
    return r->inflight;
}

void pg_redis_free(struct pg_redis *r)
{
    if (!r)
        return;
    r->freeing = true;
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        redisAsyncFree(ac); /* pending commands are answered with NULL: DISCONNECTED */
    }
    if (r->retry_timer)
        event_free(r->retry_timer);
    if (r->connect_timer)
        event_free(r->connect_timer);
    free(r->address);
    free(r->password);
    free(r);
}
