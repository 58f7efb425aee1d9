#include "proxy/redis.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "proxy/log.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 5000
/* A connection that leaves this many health PINGs in a row unanswered is
 * treated as dead (a peer that vanished without a reset would otherwise
 * hold every command until TCP gives up). */
#define PING_MISSES_BEFORE_DROP 3

enum link_state {
    LINK_DOWN,       /* no usable connection; a retry may be armed */
    LINK_RESOLVING,  /* waiting for evdns */
    LINK_CONNECTING, /* hiredis connecting */
    LINK_HANDSHAKE,  /* AUTH / SELECT / PING sent */
    LINK_READY,
    LINK_DROPPING, /* we decided to close it; drop_event does so outside hiredis's callbacks */
};

/* One connection (the command link or the pub/sub link) and its lifecycle. */
struct link {
    struct pg_redis *r;
    const char *name;
    bool subscriber;
    redisAsyncContext *ac;
    enum link_state state;
    struct event *retry_timer, *connect_timer, *drop_event;
    struct evdns_getaddrinfo_request *dns_req;
    uint32_t backoff_ms;
    int handshake_pending;
    bool handshake_failed;
    bool established; /* this connection became ready: losing it is a disconnect */
    bool started;
};

/* One command's bookkeeping; freed when hiredis hands its privdata back
 * (a reply, or NULL when the connection goes), which happens exactly once. */
struct cmd {
    TAILQ_ENTRY(cmd) entry;
    struct pg_redis *r;
    pg_redis_cb cb;
    void *arg;
    uint64_t sent_us, deadline_us;
    bool answered; /* cb already ran (timeout) */
    bool counted;  /* a caller's command, held against max_inflight */
};
TAILQ_HEAD(cmd_list, cmd);

struct sub {
    struct sub *next;
    struct pg_redis *r;
    char *channel;
    pg_redis_sub_cb cb;
    void *arg;
    bool active; /* confirmed on the current connection */
};

struct address {
    bool is_unix;
    char host[256]; /* path for unix */
    int port;
    bool numeric;
};

struct pg_redis {
    struct event_base *base;
    struct pg_redis_config cfg;
    char *address, *username, *password;
    struct address addr;
    struct evdns_base *dns;
    struct link cmd_link, sub_link;
    void (*on_connect)(void *);
    void *arg;
    bool freeing;

    /* Commands in the order sent, which is the order Redis answers. Those
     * already timed out form a prefix; timeout_cursor is the first one not
     * answered yet, whose deadline the single timeout_timer waits for. */
    struct cmd_list cmds;
    struct cmd *timeout_cursor;
    struct event *timeout_timer;
    int inflight;

    struct event *health_timer;
    struct cmd *ping_cmd; /* the health PING hiredis still holds, answered or not */
    bool ping_ok;
    int ping_misses;

    struct sub *subs;
    uint64_t rng;
    struct pg_redis_stats stats;
};

static const char *const status_names[] = {"ok", "error_reply", "disconnected", "timeout", "overloaded"};

const char *pg_redis_status_name(enum pg_redis_status st)
{
    return (unsigned)st < sizeof status_names / sizeof *status_names ? status_names[st] : "?";
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void arm_us(struct event *ev, uint64_t us)
{
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000u), .tv_usec = (suseconds_t)(us % 1000000u)};
    evtimer_add(ev, &tv);
}

static void arm_ms(struct event *ev, uint32_t ms)
{
    arm_us(ev, (uint64_t)ms * 1000u);
}

static void log_link(enum pg_log_level level, const struct link *l, const char *msg, const char *error)
{
    char addr[512], err[512];
    pg_json_escape(l->r->address, strlen(l->r->address), addr, sizeof addr);
    if (error) {
        pg_json_escape(error, strlen(error), err, sizeof err);
        pg_log(level, msg, "\"address\":\"%s\",\"link\":\"%s\",\"error\":\"%s\"", addr, l->name, err);
    } else {
        pg_log(level, msg, "\"address\":\"%s\",\"link\":\"%s\"", addr, l->name);
    }
}

/* ---- addresses ---- */

static bool parse_address(const char *s, struct address *a)
{
    memset(a, 0, sizeof *a);
    if (!s)
        return false;
    if (strncmp(s, "unix:", 5) == 0) {
        size_t n = strlen(s + 5);
        if (n == 0 || s[5] != '/' || n >= sizeof a->host)
            return false;
        a->is_unix = true;
        memcpy(a->host, s + 5, n + 1);
        return true;
    }
    const char *host = s, *colon;
    size_t n;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return false;
        host = s + 1;
        n = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
            return false; /* a bare IPv6 address needs brackets */
        n = (size_t)(colon - s);
    }
    if (n == 0 || n >= sizeof a->host)
        return false;
    memcpy(a->host, host, n);
    a->host[n] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || port < 1 || port > 65535)
        return false;
    a->port = (int)port;
    unsigned char buf[16];
    a->numeric = inet_pton(AF_INET, a->host, buf) == 1 || inet_pton(AF_INET6, a->host, buf) == 1;
    if (*s == '[' && !inet_pton(AF_INET6, a->host, buf))
        return false;
    if (!a->numeric)
        for (const char *p = a->host; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                  *p == '.' || *p == '_'))
                return false;
    return true;
}

bool pg_redis_address_valid(const char *address)
{
    struct address a;
    return parse_address(address, &a);
}

/* ---- connection lifecycle ---- */

static void link_connect(struct link *l);
static void link_ready(struct link *l);
static void subscribe_send(struct sub *s);

static void schedule_retry(struct link *l)
{
    struct pg_redis *r = l->r;
    l->state = LINK_DOWN;
    evtimer_del(l->connect_timer);
    if (r->freeing)
        return;
    /* xorshift64: jitter needs no quality, only to differ between workers */
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    uint32_t jitter = l->backoff_ms ? (uint32_t)(r->rng % (l->backoff_ms / 2 + 1)) : 0;
    arm_ms(l->retry_timer, l->backoff_ms + jitter);
    l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (l->backoff_ms > BACKOFF_MAX_MS)
        l->backoff_ms = BACKOFF_MAX_MS;
}

/* Closes the link's connection now. Must not run inside a hiredis callback:
 * link_drop defers it to drop_event for that. */
static void link_close(struct link *l)
{
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    l->state = LINK_DOWN;
    if (l->established)
        l->r->stats.disconnects++;
    l->established = false;
    if (ac)
        redisAsyncFree(ac); /* outstanding callbacks get NULL; on_disconnected ignores it (ac != l->ac) */
    schedule_retry(l);
}

static void link_drop(struct link *l, const char *why)
{
    if (l->state == LINK_DROPPING || !l->ac)
        return;
    log_link(PG_LOG_WARN, l, "redis_connection_dropped", why);
    l->state = LINK_DROPPING;
    event_active(l->drop_event, 0, 0);
}

static void drop_now(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct link *l = arg;
    if (l->state == LINK_DROPPING && l->ac)
        link_close(l);
}

static void connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct link *l = arg;
    if (l->state == LINK_RESOLVING) {
        log_link(PG_LOG_WARN, l, "redis_connect_failed", "name resolution timed out");
        l->r->stats.connect_failures++;
        struct evdns_getaddrinfo_request *req = l->dns_req;
        l->dns_req = NULL;
        if (req)
            evdns_getaddrinfo_cancel(req);
        schedule_retry(l);
    } else if (l->state == LINK_CONNECTING || l->state == LINK_HANDSHAKE) {
        log_link(PG_LOG_WARN, l, "redis_connect_failed", l->state == LINK_CONNECTING ? "connect timed out"
                                                                                     : "handshake timed out");
        l->r->stats.connect_failures++;
        link_close(l);
    }
}

static void on_connected(const redisAsyncContext *cac, int status);
static void on_disconnected(const redisAsyncContext *cac, int status);

static void connect_to(struct link *l, const char *host, int port)
{
    redisAsyncContext *ac = l->r->addr.is_unix ? redisAsyncConnectUnix(l->r->addr.host) : redisAsyncConnect(host, port);
    if (!ac || ac->err) {
        log_link(PG_LOG_WARN, l, "redis_connect_failed", ac ? ac->errstr : "out of memory");
        l->r->stats.connect_failures++;
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(l);
        return;
    }
    ac->data = l;
    l->ac = ac;
    l->state = LINK_CONNECTING;
    if (redisLibeventAttach(ac, l->r->base) != REDIS_OK || redisAsyncSetConnectCallback(ac, on_connected) != REDIS_OK ||
        redisAsyncSetDisconnectCallback(ac, on_disconnected) != REDIS_OK) {
        l->r->stats.connect_failures++;
        link_close(l);
    }
}

static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
    struct link *l = arg;
    if (result == EVUTIL_EAI_CANCEL)
        return;
    l->dns_req = NULL;
    char ip[INET6_ADDRSTRLEN] = "";
    if (result == 0 && res) {
        const void *in = res->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                                                    : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
        evutil_inet_ntop(res->ai_family, in, ip, sizeof ip);
    }
    if (res)
        evutil_freeaddrinfo(res);
    if (l->state != LINK_RESOLVING)
        return;
    if (!ip[0]) {
        log_link(PG_LOG_WARN, l, "redis_connect_failed", result ? evutil_gai_strerror(result) : "no address");
        l->r->stats.connect_failures++;
        schedule_retry(l);
        return;
    }
    connect_to(l, ip, l->r->addr.port);
}

static void link_connect(struct link *l)
{
    struct pg_redis *r = l->r;
    l->started = true;
    l->handshake_failed = false;
    arm_ms(l->connect_timer, r->cfg.connect_timeout_ms);
    if (r->addr.is_unix || r->addr.numeric) {
        connect_to(l, r->addr.host, r->addr.port);
        return;
    }
    if (!r->dns) {
        /* Reads /etc/resolv.conf and /etc/hosts once; the lookups themselves
         * are asynchronous. */
        r->dns = evdns_base_new(r->base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!r->dns) {
            log_link(PG_LOG_WARN, l, "redis_connect_failed", "no resolver");
            r->stats.connect_failures++;
            schedule_retry(l);
            return;
        }
    }
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    l->state = LINK_RESOLVING;
    /* The callback may run before this returns (hosts file); then no request is returned. */
    struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(r->dns, r->addr.host, NULL, &hints, on_resolved, l);
    if (req && l->state == LINK_RESOLVING)
        l->dns_req = req;
}

static void retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    link_connect(arg);
}

static void on_handshake_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct link *l = privdata;
    const redisReply *rep = reply;
    if (ac != l->ac || !rep || l->state != LINK_HANDSHAKE)
        return; /* the connection is going; on_disconnected or link_close handles it */
    if (rep->type == REDIS_REPLY_ERROR && !l->handshake_failed) {
        l->handshake_failed = true;
        log_link(PG_LOG_ERROR, l, "redis_handshake_failed", rep->str); /* AUTH errors never echo the password */
    }
    if (--l->handshake_pending > 0)
        return;
    if (l->handshake_failed) {
        l->r->stats.connect_failures++;
        link_drop(l, "handshake refused");
    } else {
        link_ready(l);
    }
}

static void handshake_send(struct link *l, int argc, const char **argv)
{
    if (redisAsyncCommandArgv(l->ac, on_handshake_reply, l, argc, argv, NULL) == REDIS_OK)
        l->handshake_pending++;
    else
        l->handshake_failed = true;
}

/* A peer that vanishes without a reset (a node lost, a partition) is noticed
 * by the health PINGs on the command link; on the pub/sub link, which sends
 * nothing, only by keepalive probes. Best effort: hiredis's own helper would
 * mark the connection failed where an option is unsupported. */
static void keepalive(int fd)
{
    int on = 1, idle = 15, interval = 5, count = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

static void on_connected(const redisAsyncContext *cac, int status)
{
    struct link *l = cac->data;
    if (cac != l->ac)
        return;
    if (status != REDIS_OK) {
        log_link(PG_LOG_WARN, l, "redis_connect_failed", cac->errstr && cac->errstr[0] ? cac->errstr : "?");
        l->r->stats.connect_failures++;
        l->ac = NULL; /* hiredis frees the context after this callback */
        schedule_retry(l);
        return;
    }
    struct pg_redis *r = l->r;
    l->state = LINK_HANDSHAKE;
    l->handshake_pending = 0;
    if (!r->addr.is_unix)
        keepalive(l->ac->c.fd);
    if (r->password) {
        const char *auth_user[] = {"AUTH", r->username, r->password};
        const char *auth[] = {"AUTH", r->password};
        if (r->username)
            handshake_send(l, 3, auth_user);
        else
            handshake_send(l, 2, auth);
    }
    char db[16];
    if (!l->subscriber && r->cfg.db > 0) {
        snprintf(db, sizeof db, "%d", r->cfg.db);
        const char *select[] = {"SELECT", db};
        handshake_send(l, 2, select);
    }
    /* Proves the server answers before anyone is told it is there. */
    const char *ping[] = {"PING"};
    handshake_send(l, 1, ping);
    if (l->handshake_pending == 0)
        link_drop(l, "handshake could not be sent");
}

static void on_disconnected(const redisAsyncContext *cac, int status)
{
    struct link *l = cac->data;
    if (cac != l->ac)
        return; /* we closed it ourselves */
    l->ac = NULL;
    if (l->established)
        l->r->stats.disconnects++;
    l->established = false;
    if (!l->r->freeing)
        log_link(PG_LOG_WARN, l, "redis_disconnected",
                 status == REDIS_OK ? "closed" : (cac->errstr && cac->errstr[0] ? cac->errstr : "?"));
    schedule_retry(l);
}

/* ---- commands ---- */

static void timeout_rearm(struct pg_redis *r)
{
    if (!r->timeout_cursor) {
        evtimer_del(r->timeout_timer);
        return;
    }
    uint64_t now = now_us(), deadline = r->timeout_cursor->deadline_us;
    arm_us(r->timeout_timer, deadline > now ? deadline - now : 0);
}

static void timeouts_expire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_redis *r = arg;
    uint64_t now = now_us();
    while (r->timeout_cursor && r->timeout_cursor->deadline_us <= now) {
        struct cmd *c = r->timeout_cursor;
        r->timeout_cursor = TAILQ_NEXT(c, entry);
        c->answered = true;
        if (c->counted)
            r->stats.timeouts++;
        c->cb(PG_REDIS_TIMEOUT, NULL, c->arg); /* may send more: they join at the tail */
    }
    timeout_rearm(r);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct cmd *c = privdata;
    struct pg_redis *r = c->r;
    const redisReply *rep = reply;
    if (r->timeout_cursor == c)
        r->timeout_cursor = TAILQ_NEXT(c, entry);
    TAILQ_REMOVE(&r->cmds, c, entry);
    if (c->counted)
        r->inflight--;
    if (c == r->ping_cmd)
        r->ping_cmd = NULL;
    if (!rep && r->cmd_link.state == LINK_READY)
        r->cmd_link.state = LINK_DOWN; /* hiredis is tearing the connection down: refuse new commands */
    if (c->answered) {
        if (rep && c->counted)
            r->stats.late_replies++;
    } else {
        enum pg_redis_status st = !rep ? PG_REDIS_DISCONNECTED
                                  : rep->type == REDIS_REPLY_ERROR ? PG_REDIS_ERR_REPLY
                                                                   : PG_REDIS_OK;
        if (c->counted) {
            if (rep) {
                r->stats.replies++;
                uint64_t now = now_us();
                pg_histogram_observe(&r->stats.latency, now > c->sent_us ? now - c->sent_us : 0);
            }
            if (st == PG_REDIS_ERR_REPLY)
                r->stats.error_replies++;
            if (st == PG_REDIS_DISCONNECTED)
                r->stats.disconnected++;
        }
        c->cb(st, rep, c->arg);
    }
    free(c);
}

static struct cmd *cmd_new(struct pg_redis *r, pg_redis_cb cb, void *arg, bool counted)
{
    struct cmd *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->r = r;
    c->cb = cb;
    c->arg = arg;
    c->counted = counted;
    c->sent_us = now_us();
    c->deadline_us = c->sent_us + (uint64_t)r->cfg.command_timeout_ms * 1000u;
    return c;
}

/* Records a command hiredis accepted. Every deadline is sent_us plus the same
 * timeout, so the list stays sorted by deadline. */
static void cmd_track(struct pg_redis *r, struct cmd *c)
{
    TAILQ_INSERT_TAIL(&r->cmds, c, entry);
    if (c->counted) {
        r->inflight++;
        r->stats.sent++;
    }
    if (!r->timeout_cursor) {
        r->timeout_cursor = c;
        timeout_rearm(r);
    }
}

static enum pg_redis_status admit(struct pg_redis *r)
{
    if (r->freeing || r->cmd_link.state != LINK_READY || !r->cmd_link.ac) {
        r->stats.refused_disconnected++;
        return PG_REDIS_DISCONNECTED;
    }
    if (r->inflight >= r->cfg.max_inflight) {
        r->stats.refused_overloaded++;
        return PG_REDIS_OVERLOADED;
    }
    return PG_REDIS_OK;
}

enum pg_redis_status pg_redis_command_argv(struct pg_redis *r, pg_redis_cb cb, void *arg, int argc,
                                           const char **argv, const size_t *argvlen)
{
    enum pg_redis_status st = admit(r);
    if (st != PG_REDIS_OK)
        return st;
    struct cmd *c = cmd_new(r, cb, arg, true);
    if (!c)
        return PG_REDIS_OVERLOADED;
    if (redisAsyncCommandArgv(r->cmd_link.ac, on_reply, c, argc, argv, argvlen) != REDIS_OK) {
        free(c);
        r->stats.refused_disconnected++;
        return PG_REDIS_DISCONNECTED;
    }
    cmd_track(r, c);
    return PG_REDIS_OK;
}

static char *resp_head(char *p, char kind, size_t n)
{
    char digits[20];
    int k = 0;
    do {
        digits[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    *p++ = kind;
    while (k)
        *p++ = digits[--k];
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

char *pg_redis_resp_array(char *p, size_t count)
{
    return resp_head(p, '*', count);
}

char *pg_redis_resp_bulk(char *p, const void *data, size_t n)
{
    p = resp_head(p, '$', n);
    memcpy(p, data, n);
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

enum pg_redis_status pg_redis_command_resp(struct pg_redis *r, pg_redis_cb cb, void *arg, const char *cmd, size_t len)
{
    enum pg_redis_status st = admit(r);
    if (st != PG_REDIS_OK)
        return st;
    struct cmd *c = cmd_new(r, cb, arg, true);
    if (!c)
        return PG_REDIS_OVERLOADED;
    if (redisAsyncFormattedCommand(r->cmd_link.ac, on_reply, c, cmd, len) != REDIS_OK) {
        free(c);
        r->stats.refused_disconnected++;
        return PG_REDIS_DISCONNECTED;
    }
    cmd_track(r, c);
    return PG_REDIS_OK;
}

enum pg_redis_status pg_redis_command(struct pg_redis *r, pg_redis_cb cb, void *arg, const char *fmt, ...)
{
    enum pg_redis_status st = admit(r);
    if (st != PG_REDIS_OK)
        return st;
    struct cmd *c = cmd_new(r, cb, arg, true);
    if (!c)
        return PG_REDIS_OVERLOADED;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->cmd_link.ac, on_reply, c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(c);
        r->stats.refused_disconnected++;
        return PG_REDIS_DISCONNECTED;
    }
    cmd_track(r, c);
    return PG_REDIS_OK;
}

/* ---- health ---- */

static void on_ping(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    (void)reply;
    struct cmd *c = arg; /* the ping's own bookkeeping: see health_tick */
    struct pg_redis *r = c->r;
    if (st == PG_REDIS_TIMEOUT) {
        /* Said once per stall: a hung Redis (connected, answering nothing)
         * shows in the log at its first missed PING, before the link drops. */
        if (r->ping_ok)
            log_link(PG_LOG_WARN, &r->cmd_link, "redis_unhealthy", "health check unanswered");
        r->ping_ok = false;
        if (++r->ping_misses >= PING_MISSES_BEFORE_DROP)
            link_drop(&r->cmd_link, "health checks unanswered");
        return;
    }
    if (st == PG_REDIS_OK) {
        r->stats.last_ping_us = (int64_t)(now_us() - c->sent_us);
        if (!r->ping_ok)
            log_link(PG_LOG_INFO, &r->cmd_link, "redis_healthy", NULL);
        r->ping_ok = true;
        r->ping_misses = 0;
    }
}

static void health_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_redis *r = arg;
    if (r->cmd_link.state != LINK_READY)
        return; /* link_ready restarts the ticks */
    arm_ms(r->health_timer, r->cfg.health_interval_ms);
    if (r->ping_cmd) {
        /* A timed-out PING stays outstanding until Redis answers it; one more
         * interval without that answer counts as another miss. */
        if (!r->ping_ok && ++r->ping_misses >= PING_MISSES_BEFORE_DROP)
            link_drop(&r->cmd_link, "health checks unanswered");
        return;
    }
    struct cmd *c = cmd_new(r, on_ping, NULL, false);
    if (!c)
        return;
    c->arg = c;
    const char *argv[] = {"PING"};
    if (redisAsyncCommandArgv(r->cmd_link.ac, on_reply, c, 1, argv, NULL) != REDIS_OK) {
        free(c);
        return;
    }
    cmd_track(r, c);
    r->ping_cmd = c;
}

/* ---- pub/sub ---- */

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct sub *s = privdata;
    struct pg_redis *r = s->r;
    const redisReply *rep = reply;
    if (!rep) {
        if (r->sub_link.state == LINK_READY)
            r->sub_link.state = LINK_DOWN;
        if (s->active && !r->freeing) {
            s->active = false;
            s->cb(PG_REDIS_SUB_LOST, NULL, 0, s->arg);
        }
        s->active = false;
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        log_link(PG_LOG_ERROR, &r->sub_link, "redis_subscribe_failed", rep->str);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 || rep->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = rep->element[0]->str;
    if (strcmp(kind, "subscribe") == 0 && !s->active) {
        s->active = true;
        s->cb(PG_REDIS_SUB_READY, NULL, 0, s->arg);
    } else if (strcmp(kind, "message") == 0 && rep->element[2]->type == REDIS_REPLY_STRING) {
        r->stats.messages++;
        s->cb(PG_REDIS_SUB_MESSAGE, rep->element[2]->str, rep->element[2]->len, s->arg);
    }
}

static void subscribe_send(struct sub *s)
{
    struct link *l = &s->r->sub_link;
    const char *argv[] = {"SUBSCRIBE", s->channel};
    if (redisAsyncCommandArgv(l->ac, on_sub_reply, s, 2, argv, NULL) != REDIS_OK)
        link_drop(l, "subscribe could not be sent");
}

int pg_redis_subscribe(struct pg_redis *r, const char *channel, pg_redis_sub_cb cb, void *arg)
{
    for (struct sub *s = r->subs; s; s = s->next)
        if (strcmp(s->channel, channel) == 0)
            return -1;
    struct sub *s = calloc(1, sizeof *s);
    if (!s || !(s->channel = strdup(channel))) {
        free(s);
        return -1;
    }
    s->r = r;
    s->cb = cb;
    s->arg = arg;
    s->next = r->subs;
    r->subs = s;
    if (r->sub_link.state == LINK_READY)
        subscribe_send(s);
    else if (!r->sub_link.started)
        link_connect(&r->sub_link);
    return 0;
}

/* ---- readiness ---- */

static void link_ready(struct link *l)
{
    struct pg_redis *r = l->r;
    l->state = LINK_READY;
    l->established = true;
    l->backoff_ms = 0;
    evtimer_del(l->connect_timer);
    r->stats.connects++;
    log_link(PG_LOG_INFO, l, "redis_connected", NULL);
    if (l->subscriber) {
        for (struct sub *s = r->subs; s && l->state == LINK_READY; s = s->next)
            subscribe_send(s);
        return;
    }
    r->ping_cmd = NULL;
    r->ping_ok = true;
    r->ping_misses = 0;
    arm_ms(r->health_timer, r->cfg.health_interval_ms);
    if (r->on_connect)
        r->on_connect(r->arg);
}

/* ---- lifetime ---- */

static bool link_init(struct pg_redis *r, struct link *l, const char *name, bool subscriber)
{
    l->r = r;
    l->name = name;
    l->subscriber = subscriber;
    l->retry_timer = evtimer_new(r->base, retry, l);
    l->connect_timer = evtimer_new(r->base, connect_timeout, l);
    l->drop_event = event_new(r->base, -1, 0, drop_now, l);
    return l->retry_timer && l->connect_timer && l->drop_event;
}

static void link_free(struct link *l)
{
    if (l->dns_req) {
        struct evdns_getaddrinfo_request *req = l->dns_req;
        l->dns_req = NULL;
        evdns_getaddrinfo_cancel(req);
    }
    if (l->ac) {
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        redisAsyncFree(ac);
    }
    if (l->retry_timer)
        event_free(l->retry_timer);
    if (l->connect_timer)
        event_free(l->connect_timer);
    if (l->drop_event)
        event_free(l->drop_event);
}

static char *dup_or_null(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

struct pg_redis *pg_redis_new(struct event_base *base, const struct pg_redis_config *cfg, void (*on_connect)(void *),
                              void *arg)
{
    struct address addr;
    if (!parse_address(cfg->address, &addr)) {
        char esc[512];
        const char *a = cfg->address ? cfg->address : "";
        pg_json_escape(a, strlen(a), esc, sizeof esc);
        pg_log(PG_LOG_ERROR, "redis_bad_address", "\"address\":\"%s\"", esc);
        return NULL;
    }
    if (cfg->username && !cfg->password) {
        pg_log(PG_LOG_ERROR, "redis_bad_config", "\"error\":\"a username needs a password\"");
        return NULL;
    }
    struct pg_redis *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->base = base;
    r->cfg = *cfg;
    if (!r->cfg.connect_timeout_ms)
        r->cfg.connect_timeout_ms = 2000;
    if (!r->cfg.command_timeout_ms)
        r->cfg.command_timeout_ms = 1000;
    if (r->cfg.max_inflight <= 0)
        r->cfg.max_inflight = 10000;
    if (!r->cfg.health_interval_ms)
        r->cfg.health_interval_ms = 1000;
    r->addr = addr;
    bool ok = true;
    r->address = dup_or_null(cfg->address, &ok);
    r->username = dup_or_null(cfg->username, &ok);
    r->password = dup_or_null(cfg->password, &ok);
    r->cfg.address = r->cfg.username = r->cfg.password = NULL; /* only the copies above are kept */
    r->on_connect = on_connect;
    r->arg = arg;
    r->rng = (uint64_t)(uintptr_t)r ^ now_us() ^ 0x9e3779b97f4a7c15u;
    r->stats.last_ping_us = -1;
    TAILQ_INIT(&r->cmds);
    r->timeout_timer = evtimer_new(base, timeouts_expire, r);
    r->health_timer = evtimer_new(base, health_tick, r);
    ok = ok && r->timeout_timer && r->health_timer;
    ok = link_init(r, &r->cmd_link, "commands", false) && ok;
    ok = link_init(r, &r->sub_link, "pubsub", true) && ok;
    if (!ok) {
        pg_redis_free(r);
        return NULL;
    }
    link_connect(&r->cmd_link);
    return r;
}

void pg_redis_get_stats(const struct pg_redis *r, struct pg_redis_stats *out)
{
    *out = r->stats;
    out->inflight = r->inflight;
    out->connected = pg_redis_connected(r);
    out->healthy = pg_redis_healthy(r);
}

void pg_redis_flush(struct pg_redis *r)
{
    redisAsyncContext *ac = r->cmd_link.ac;
    /* Inside one of hiredis's callbacks a failed write would free the
     * context under it: then the loop's write event does it, as always. */
    if (r->freeing || r->cmd_link.state != LINK_READY || !ac || (ac->c.flags & REDIS_IN_CALLBACK))
        return;
    redisAsyncHandleWrite(ac);
}

bool pg_redis_connected(const struct pg_redis *r)
{
    return r->cmd_link.state == LINK_READY;
}

bool pg_redis_healthy(const struct pg_redis *r)
{
    return r->cmd_link.state == LINK_READY && r->ping_ok;
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
    link_free(&r->cmd_link); /* outstanding commands are answered DISCONNECTED here */
    link_free(&r->sub_link);
    /* Every command hiredis accepted came back through on_reply above. */
    struct cmd *c;
    while ((c = TAILQ_FIRST(&r->cmds))) {
        TAILQ_REMOVE(&r->cmds, c, entry);
        free(c);
    }
    if (r->timeout_timer)
        event_free(r->timeout_timer);
    if (r->health_timer)
        event_free(r->health_timer);
    if (r->dns)
        evdns_base_free(r->dns, 0);
    while (r->subs) {
        struct sub *s = r->subs;
        r->subs = s->next;
        free(s->channel);
        free(s);
    }
    free(r->address);
    free(r->username);
    if (r->password) {
        explicit_bzero(r->password, strlen(r->password));
        free(r->password);
    }
    free(r);
}

void pg_redis_discard(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    (void)st;
    (void)reply;
    (void)arg;
}
