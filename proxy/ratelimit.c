#include "proxy/ratelimit.h"

#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"
#include "proxy/ratelimit_table.h"
#include "proxy/redis_script.h"
#include "proxy/request.h"
#include "proxy/worker.h"

_Static_assert(sizeof(((struct pg_request *)0)->rate_limit) == PG_RATE_NAME_MAX + 1, "request's rate_limit size");

/* KEYS[1]: the key. ARGV: T and τ in µs. Returns {1, TAT − now} when the
 * request passes (TAT as it is after it), {0, TAT − now} when refused.
 * Redis's clock, so that every replica decides on the same time; the key
 * expires when its state runs out, so idle clients leave nothing behind.
 * '%.0f': Lua 5.1's tostring keeps 14 digits, and a time in µs has 16. */
static const char gcra_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
    "if tat < now then tat = now end\n"
    "local ahead = tat - now\n"
    "if ahead > tonumber(ARGV[2]) then return {0, ahead} end\n"
    "ahead = ahead + tonumber(ARGV[1])\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', now + ahead), 'PX', math.ceil(ahead / 1000))\n"
    "return {1, ahead}\n";

static struct pg_redis_script *gcra_script;
static struct pg_rl_table *local_table;

int pg_ratelimit_start(size_t max_local_keys)
{
    if (!local_table)
        local_table = pg_rl_table_new(max_local_keys);
    if (!gcra_script)
        gcra_script = pg_redis_script_new(gcra_lua);
    return local_table && gcra_script ? 0 : -1;
}

void pg_ratelimit_stop(void)
{
    pg_rl_table_free(local_table);
    local_table = NULL;
    pg_redis_script_free(gcra_script);
    gcra_script = NULL;
}

/* ---- counters: written by the worker's thread only, read from any ---- */

struct name_counter {
    char name[PG_RATE_NAME_MAX + 1];
    _Atomic uint64_t allowed, limited, fallback;
};

struct pg_rl_worker {
    _Atomic int nnames; /* published after the name is written */
    struct name_counter names[PG_RL_STATS_NAMES + 1]; /* the last: "other" */
    _Atomic uint64_t redis_decisions;
    _Atomic bool fallback_active;
    uint64_t outage_fallbacks; /* since the outage began, for its end line */
};

int pg_ratelimit_worker_init(struct pg_worker *w)
{
    w->ratelimit = calloc(1, sizeof *w->ratelimit);
    if (!w->ratelimit)
        return -1;
    snprintf(w->ratelimit->names[PG_RL_STATS_NAMES].name, sizeof w->ratelimit->names[0].name, "other");
    return 0;
}

void pg_ratelimit_worker_free(struct pg_worker *w)
{
    free(w->ratelimit);
    w->ratelimit = NULL;
}

static struct name_counter *counter(struct pg_rl_worker *s, const char *name)
{
    int n = atomic_load_explicit(&s->nnames, memory_order_relaxed);
    for (int i = 0; i < n; i++)
        if (!strcmp(s->names[i].name, name))
            return &s->names[i];
    if (n == PG_RL_STATS_NAMES)
        return &s->names[PG_RL_STATS_NAMES];
    snprintf(s->names[n].name, sizeof s->names[n].name, "%s", name);
    atomic_store_explicit(&s->nnames, n + 1, memory_order_release);
    return &s->names[n];
}

static void count(struct pg_worker *w, const char *name, bool allowed, bool fallback)
{
    if (!w->ratelimit)
        return;
    struct name_counter *c = counter(w->ratelimit, name);
    atomic_fetch_add_explicit(allowed ? &c->allowed : &c->limited, 1, memory_order_relaxed);
    if (fallback)
        atomic_fetch_add_explicit(&c->fallback, 1, memory_order_relaxed);
}

int pg_ratelimit_stats(const struct pg_worker *w, struct pg_ratelimit_rule_stats *rules, int cap,
                       struct pg_ratelimit_totals *totals)
{
    struct pg_rl_worker *s = w->ratelimit;
    if (totals)
        memset(totals, 0, sizeof *totals);
    if (!s)
        return 0;
    int n = atomic_load_explicit(&s->nnames, memory_order_acquire);
    int out = 0;
    for (int i = 0; i <= PG_RL_STATS_NAMES; i++) {
        if (i >= n && i < PG_RL_STATS_NAMES)
            continue;
        struct name_counter *c = &s->names[i];
        uint64_t a = atomic_load_explicit(&c->allowed, memory_order_relaxed);
        uint64_t l = atomic_load_explicit(&c->limited, memory_order_relaxed);
        uint64_t f = atomic_load_explicit(&c->fallback, memory_order_relaxed);
        if (i == PG_RL_STATS_NAMES && !a && !l)
            continue; /* "other" only once it counted something */
        if (totals) {
            totals->allowed += a;
            totals->limited += l;
            totals->fallback += f;
        }
        if (out < cap) {
            memcpy(rules[out].name, c->name, sizeof rules[out].name);
            rules[out].allowed = a;
            rules[out].limited = l;
            rules[out].fallback = f;
        }
        out++;
    }
    if (totals) {
        totals->redis_decisions = atomic_load_explicit(&s->redis_decisions, memory_order_relaxed);
        totals->fallback_active = atomic_load_explicit(&s->fallback_active, memory_order_relaxed);
        if (local_table) {
            struct pg_rl_table_stats ts;
            pg_rl_table_get_stats(local_table, &ts);
            totals->local_keys = ts.keys;
            totals->local_max_keys = ts.max_keys;
            totals->local_expired = ts.expired;
            totals->local_evicted_live = ts.evicted_live;
        }
    }
    return out;
}

/* ---- keys ---- */

int pg_rl_check_init(struct pg_rl_check *c, const char *name, double rate_per_sec, int burst, bool global)
{
    size_t n = strlen(name);
    if (n > PG_RATE_NAME_MAX || pg_gcra_init(&c->g, rate_per_sec, burst) != 0)
        return -1;
    memcpy(c->name, name, n + 1);
    c->rate_per_sec = rate_per_sec;
    c->global = global;
    /* The hash tag covers the whole identity: keys spread over a cluster's
     * slots, and each script touches one key. */
    memcpy(c->key, "rl:{", 4);
    memcpy(c->key + 4, name, n);
    c->key_len = 4 + n;
    return 0;
}

/* ":<tag><length>=<value>": a value cannot end early and pass for two
 * parts, whatever bytes it holds. Longer values go in as their SHA-256,
 * which keeps the key bounded. */
void pg_rl_check_part(struct pg_rl_check *c, char tag, const char *value, size_t len)
{
    char *p = c->key + c->key_len;
    if (len > 128) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)value, len, md);
        p += sprintf(p, ":%c#", tag);
        for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
            p += sprintf(p, "%02x", md[i]);
    } else {
        p += sprintf(p, ":%c%zu=", tag, len);
        memcpy(p, value, len);
        p += len;
    }
    c->key_len = (size_t)(p - c->key);
}

void pg_rl_check_end(struct pg_rl_check *c)
{
    c->key[c->key_len++] = '}';
    c->key[c->key_len] = '\0';
}

/* ---- deciding ---- */

void pg_rl_verdict_set(struct pg_rl_verdict *v, const struct pg_rl_check *c, const struct pg_gcra_result *r)
{
    v->limited = !r->allowed;
    memcpy(v->name, c->name, sizeof v->name);
    v->rate_per_sec = c->rate_per_sec;
    v->burst = c->g.burst;
    v->res = *r;
}

static int decide_local(struct pg_worker *w, const struct pg_rl_check *c, struct pg_gcra_result *out, bool fallback)
{
    if (!local_table || pg_rl_table_decide(local_table, c->key, c->key_len, &c->g, (int64_t)pg_now_us(), out) != 0)
        return -1;
    count(w, c->name, out->allowed, fallback);
    return 0;
}

int pg_ratelimit_local(struct pg_worker *w, const struct pg_rl_check *c, struct pg_gcra_result *out)
{
    return decide_local(w, c, out, false);
}

struct item {
    struct pg_rl_batch *b;
    struct pg_rl_check c;
    struct pg_gcra_result res;
    bool failed; /* no memory even for the local fallback: fail closed */
};

struct pg_rl_batch {
    struct pg_worker *w;
    struct pg_ticket *ticket;
    pg_rl_done_fn done;
    int n, cap, pending;
    struct item *items;
};

int pg_rl_batch_add(struct pg_rl_batch **bp, const struct pg_rl_check *c)
{
    struct pg_rl_batch *b = *bp;
    if (!b && !(b = *bp = calloc(1, sizeof *b)))
        return -1;
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 2;
        struct item *items = realloc(b->items, (size_t)cap * sizeof *items);
        if (!items)
            return -1;
        b->items = items;
        b->cap = cap;
    }
    b->items[b->n++] = (struct item){.c = *c};
    return 0;
}

void pg_rl_batch_free(struct pg_rl_batch *b)
{
    if (!b)
        return;
    free(b->items);
    free(b);
}

/* Redis could not decide it: the same rule, locally. */
static void fall_back(struct pg_worker *w, struct item *it, const char *why)
{
    struct pg_rl_worker *s = w->ratelimit;
    if (s && !atomic_load_explicit(&s->fallback_active, memory_order_relaxed)) {
        atomic_store_explicit(&s->fallback_active, true, memory_order_relaxed);
        s->outage_fallbacks = 0;
        pg_log(PG_LOG_WARN, "ratelimit_fallback",
               "\"worker\":%d,\"limit\":\"%s\",\"redis\":\"%s\",\"detail\":\"global limits are decided by each "
               "replica alone until Redis answers again\"",
               w->index, it->c.name, why);
    }
    if (s)
        s->outage_fallbacks++;
    it->failed = decide_local(w, &it->c, &it->res, true) != 0;
}

static void redis_decided(struct pg_worker *w, struct item *it, bool allowed, long long ahead)
{
    struct pg_rl_worker *s = w->ratelimit;
    if (s) {
        atomic_fetch_add_explicit(&s->redis_decisions, 1, memory_order_relaxed);
        if (atomic_load_explicit(&s->fallback_active, memory_order_relaxed)) {
            atomic_store_explicit(&s->fallback_active, false, memory_order_relaxed);
            pg_log(PG_LOG_INFO, "ratelimit_fallback_ended", "\"worker\":%d,\"fallback_decisions\":%llu", w->index,
                   (unsigned long long)s->outage_fallbacks);
        }
    }
    pg_gcra_result_of(&it->c.g, allowed, (int64_t)ahead, &it->res);
    count(w, it->c.name, allowed, false);
}

/* The verdict of a decided batch: the first check (in policy order) that
 * refused. -1 when one could not be decided at all. */
static int verdict_of(const struct pg_rl_batch *b, struct pg_rl_verdict *v)
{
    memset(v, 0, sizeof *v);
    for (int i = 0; i < b->n; i++) {
        if (b->items[i].failed)
            return -1;
        if (!b->items[i].res.allowed && !v->limited)
            pg_rl_verdict_set(v, &b->items[i].c, &b->items[i].res);
    }
    return 0;
}

static void on_reply(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct item *it = arg;
    struct pg_rl_batch *b = it->b;
    if (st == PG_REDIS_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[1]->type == REDIS_REPLY_INTEGER)
        redis_decided(b->w, it, reply->element[0]->integer == 1, reply->element[1]->integer);
    else
        fall_back(b->w, it, st == PG_REDIS_OK ? "unexpected_reply" : pg_redis_status_name(st));
    if (--b->pending > 0)
        return;
    struct pg_request *req = pg_ticket_redeem(b->ticket);
    if (req) {
        struct pg_rl_verdict v;
        if (verdict_of(b, &v) != 0) {
            pg_rl_batch_free(b);
            pg_request_resume(req, PG_ERROR);
            return;
        }
        pg_rl_done_fn done = b->done;
        pg_rl_batch_free(b);
        done(req, &v);
        return;
    }
    pg_rl_batch_free(b); /* the client left; the decisions stand */
}

int pg_rl_batch_run(struct pg_request *req, struct pg_rl_batch *b, pg_rl_done_fn done, struct pg_rl_verdict *v)
{
    struct pg_worker *w = req->worker;
    b->w = w;
    b->done = done;
    b->ticket = pg_request_suspend(req);
    if (!b->ticket) {
        pg_rl_batch_free(b);
        return -1;
    }
    /* Counted up front: no reply can come before this loop ends (replies
     * are delivered by the loop, never from inside a send). */
    b->pending = 0;
    for (int i = 0; i < b->n; i++) {
        struct item *it = &b->items[i];
        it->b = b;
        enum pg_redis_status st = PG_REDIS_DISCONNECTED;
        const char *why = !w->redis ? "not_configured" : "disconnected";
        /* A Redis that stopped answering its health PINGs is not asked:
         * each request would wait out the command timeout first. */
        if (w->redis && pg_redis_connected(w->redis) && !pg_redis_healthy(w->redis))
            why = "unhealthy";
        else if (w->redis && gcra_script) {
            char t[24], tau[24];
            snprintf(t, sizeof t, "%lld", (long long)it->c.g.interval_us);
            snprintf(tau, sizeof tau, "%lld", (long long)it->c.g.tolerance_us);
            const char *argv[] = {it->c.key, t, tau};
            size_t lens[] = {it->c.key_len, strlen(t), strlen(tau)};
            st = pg_redis_script_run(w->redis, gcra_script, on_reply, it, 1, 3, argv, lens);
            why = pg_redis_status_name(st);
        }
        if (st == PG_REDIS_OK)
            b->pending++;
        else
            fall_back(w, it, why);
    }
    if (b->pending > 0)
        return 0;
    pg_ticket_redeem(b->ticket);
    int rc = verdict_of(b, v);
    pg_rl_batch_free(b);
    return rc == 0 ? 1 : -1;
}

/* ---- the answer ---- */

int pg_ratelimit_add_headers(struct pg_request *req, const struct pg_rl_verdict *v)
{
    if (!req->local_headers && !(req->local_headers = evbuffer_new()))
        return -1;
    snprintf(req->rate_limit, sizeof req->rate_limit, "%s", v->name);
    int64_t quota, window;
    pg_gcra_quota(v->rate_per_sec, &quota, &window);
    /* The reset point of RateLimit is the Retry-After one, as the draft
     * asks; a refused request leaves nothing remaining. */
    long long retry = (long long)pg_gcra_seconds(v->res.retry_after_us);
    if (retry < 1)
        retry = 1;
    evbuffer_add_printf(req->local_headers,
                        "Retry-After: %lld\r\n"
                        "RateLimit-Policy: \"%s\";q=%lld;w=%lld;phiguard-burst=%d\r\n"
                        "RateLimit: \"%s\";r=0;t=%lld\r\n",
                        retry, v->name, (long long)quota, (long long)window, v->burst, v->name, retry);
    return 0;
}

void pg_ratelimit_refuse(struct pg_request *req, const struct pg_rl_verdict *v)
{
    if (pg_ratelimit_add_headers(req, v) != 0) {
        pg_request_respond_error(req, 500, "internal_error");
        return;
    }
    pg_log(PG_LOG_DEBUG, "rate_limited", "\"request_id\":\"%s\",\"limit\":\"%s\",\"retry_after_ms\":%lld", req->id,
           v->name, (long long)(v->res.retry_after_us / 1000));
    pg_request_respond_error(req, 429, "rate_limited");
}
