#include "proxy/auth_worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/units.h"
#include "proxy/auth_store.h"
#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/request.h"
#include "proxy/worker.h"

#define BUCKETS 1024
#define MAX_ENTRIES 65536       /* beyond it the cache starts again empty */
#define TUNNEL_CHECK_MS 5000    /* idle expiry has no message: look */

struct entry {
    struct entry *next;
    uint64_t checked_us;
    struct pg_session_ref *ref;
};

#define TOKEN_SLOTS 4096        /* direct-mapped: a collision replaces */
#define TOKEN_MAX 1024

struct token_slot {
    size_t len; /* 0: empty */
    char token[TOKEN_MAX];
    struct pg_token_claims claims;
};

struct pg_auth_worker {
    struct pg_redis *redis; /* the worker's */
    struct token_slot *tokens; /* TOKEN_SLOTS */
    struct entry *buckets[BUCKETS];
    int count;
    bool subscribed;
    struct event *tunnel_check;
};

static unsigned bucket_of(const char *sid)
{
    return pg_fnv1a(sid, strlen(sid)) % BUCKETS;
}

static unsigned token_slot_of(const char *token, size_t len)
{
    /* The signature ends the token: its last bytes are already uniform. */
    size_t from = len > 16 ? len - 16 : 0;
    return pg_fnv1a(token + from, len - from) % TOKEN_SLOTS;
}

bool pg_auth_token_known(struct pg_worker *w, const char *token, size_t len, time_t now, struct pg_token_claims *out)
{
    struct pg_auth_worker *a = w->auth;
    if (!a || !a->tokens || len == 0 || len > TOKEN_MAX)
        return false;
    const struct token_slot *s = &a->tokens[token_slot_of(token, len)];
    if (s->len != len || memcmp(s->token, token, len) != 0 || s->claims.exp <= now)
        return false;
    *out = s->claims;
    return true;
}

void pg_auth_token_remember(struct pg_worker *w, const char *token, size_t len, const struct pg_token_claims *c)
{
    struct pg_auth_worker *a = w->auth;
    if (!a || !a->tokens || len == 0 || len > TOKEN_MAX)
        return;
    struct token_slot *s = &a->tokens[token_slot_of(token, len)];
    memcpy(s->token, token, len);
    s->len = len;
    s->claims = *c;
}

static void cache_clear(struct pg_auth_worker *a)
{
    for (int i = 0; i < BUCKETS; i++) {
        for (struct entry *e = a->buckets[i], *n; e; e = n) {
            n = e->next;
            pg_session_ref_release(e->ref);
            free(e);
        }
        a->buckets[i] = NULL;
    }
    a->count = 0;
}

struct pg_session_ref *pg_auth_cache_get(struct pg_worker *w, const char *sid, uint64_t max_age_us)
{
    struct pg_auth_worker *a = w->auth;
    if (!a || !a->subscribed || !max_age_us)
        return NULL;
    uint64_t now = pg_now_us();
    for (struct entry *e = a->buckets[bucket_of(sid)]; e; e = e->next)
        if (!strcmp(e->ref->s.sid, sid))
            return now - e->checked_us <= max_age_us ? e->ref : NULL;
    return NULL;
}

struct pg_session_ref *pg_auth_cache_put(struct pg_worker *w, const struct pg_session *s)
{
    struct pg_auth_worker *a = w->auth;
    struct pg_session_ref *ref = a ? pg_session_ref_new(s) : NULL;
    if (!ref)
        return NULL;
    if (!ref->s.headers_len)
        pg_session_render_headers(&ref->s, &w->cfg->auth);
    unsigned b = bucket_of(s->sid);
    struct entry *e = a->buckets[b];
    while (e && strcmp(e->ref->s.sid, s->sid))
        e = e->next;
    if (!e) {
        if (a->count >= MAX_ENTRIES)
            cache_clear(a);
        if (!(e = malloc(sizeof *e))) {
            pg_session_ref_release(ref);
            return NULL;
        }
        e->next = a->buckets[b];
        a->buckets[b] = e;
        a->count++;
    } else {
        pg_session_ref_release(e->ref); /* requests holding it keep their copy */
    }
    e->ref = ref;
    e->checked_us = pg_now_us();
    return ref;
}

static void cache_drop(struct pg_auth_worker *a, const char *uid, const char *sid)
{
    bool all = !strcmp(sid, "*");
    for (int i = all ? 0 : (int)bucket_of(sid); i < (all ? BUCKETS : (int)bucket_of(sid) + 1); i++) {
        for (struct entry **pp = &a->buckets[i]; *pp;) {
            struct entry *e = *pp;
            if (!strcmp(e->ref->s.uid, uid) && (all || !strcmp(e->ref->s.sid, sid))) {
                *pp = e->next;
                pg_session_ref_release(e->ref);
                free(e);
                a->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

void pg_auth_session_ended(struct pg_worker *w, const char *uid, const char *sid)
{
    if (!w->auth)
        return;
    cache_drop(w->auth, uid, sid);
    bool all = !strcmp(sid, "*");
    for (struct pg_conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        struct pg_request *req = c->req;
        if (c->state != PG_CONN_TUNNEL || !req || !req->session)
            continue;
        const struct pg_session *s = &req->session->s;
        if (!strcmp(s->uid, uid) && (all || !strcmp(s->sid, sid))) {
            pg_log(PG_LOG_INFO, "tunnel_closed", "\"request_id\":\"%s\",\"reason\":\"session ended\"", req->id);
            pg_conn_abort(c);
        }
    }
}

static void on_ended(enum pg_redis_sub_event ev, const char *payload, size_t len, void *arg)
{
    struct pg_worker *w = arg;
    struct pg_auth_worker *a = w->auth;
    if (ev == PG_REDIS_SUB_READY) {
        a->subscribed = true;
        return;
    }
    if (ev == PG_REDIS_SUB_LOST) {
        /* Messages may be missed until we are back: trust nothing cached. */
        a->subscribed = false;
        cache_clear(a);
        return;
    }
    char msg[256];
    if (len >= sizeof msg)
        return;
    memcpy(msg, payload, len);
    msg[len] = '\0';
    char *sp = strchr(msg, ' ');
    if (!sp)
        return;
    *sp = '\0';
    pg_auth_session_ended(w, msg, sp + 1);
}

struct tunnel_probe {
    struct pg_ticket *ticket;
};

static void probe_done(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req || st != PG_REDIS_OK || !reply || reply->type != REDIS_REPLY_INTEGER || reply->integer != 0)
        return; /* gone, alive, or Redis unsure: the next probe decides */
    pg_log(PG_LOG_INFO, "tunnel_closed", "\"request_id\":\"%s\",\"reason\":\"session expired\"", req->id);
    pg_conn_abort(req->conn);
}

static void tunnel_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_worker *w = arg;
    for (struct pg_conn *c = w->conns; c; c = c->next) {
        struct pg_request *req = c->req;
        if (c->state != PG_CONN_TUNNEL || !req || !req->session || req->ticket)
            continue;
        struct pg_ticket *t = pg_request_suspend(req);
        if (!t)
            continue;
        const struct pg_session *s = &req->session->s;
        if (pg_redis_command(w->auth->redis, probe_done, t, "EXISTS {u:%s}:s:%s", s->uid, s->sid) != PG_REDIS_OK)
            pg_ticket_redeem(t);
    }
}

int pg_auth_worker_init(struct pg_worker *w)
{
    if (!pg_auth_enabled())
        return 0;
    struct pg_auth_worker *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    w->auth = a;
    a->tokens = calloc(TOKEN_SLOTS, sizeof *a->tokens);
    a->redis = w->redis;
    a->tunnel_check = event_new(w->base, -1, EV_PERSIST, tunnel_check, w);
    if (!a->tokens || !a->redis || !a->tunnel_check || pg_redis_subscribe(a->redis, PG_SESSION_CHANNEL, on_ended, w) != 0) {
        pg_auth_worker_free(w);
        return -1;
    }
    struct timeval tv = {TUNNEL_CHECK_MS / 1000, 0};
    event_add(a->tunnel_check, &tv);
    return 0;
}

void pg_auth_worker_free(struct pg_worker *w)
{
    struct pg_auth_worker *a = w->auth;
    if (!a)
        return;
    if (a->tunnel_check)
        event_free(a->tunnel_check);
    cache_clear(a);
    free(a->tokens);
    free(a);
    w->auth = NULL;
}

struct pg_redis *pg_auth_redis(struct pg_worker *w)
{
    return w->redis;
}
