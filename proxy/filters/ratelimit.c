/* Limits phase: the policy's rate_limits. Runs after authorization, so
 * only requests the policy allows are counted; a denied one was answered
 * already. Every limit that applies to the request is decided: local ones
 * at once, in policy order, the first refusal answering 429; then the
 * global ones together, in one Redis round trip. A limit that passed has
 * counted the request even when a later one refuses it. */
#include <stdio.h>
#include <string.h>

#include "proxy/conn.h"
#include "proxy/filters/filters.h"
#include "proxy/ratelimit.h"
#include "proxy/request.h"
#include "proxy/session.h"
#include "proxy/worker.h"

static bool applies(const struct pg_rate_rule *r, const struct pg_request *req)
{
    if (r->route_index >= 0 && (!req->route || req->route->index != r->route_index))
        return false;
    if (r->nroles == 0)
        return true;
    for (int i = 0; i < r->nroles; i++)
        for (int k = 0; k < req->nroles; k++)
            if (r->roles[i] == req->roles[k])
                return true;
    return false;
}

/* The key parts the rule names, from the request. A part the request does
 * not have falls back to a coarser one that it always has: no session
 * (a client certificate) counts by user, no user (an anonymous request on
 * a public route) by client IP. A limit meant to hold per user thus still
 * holds for anonymous clients, per address, instead of letting them all
 * share one budget or pass uncounted. */
static void build_key(struct pg_rl_check *c, const struct pg_rate_rule *r, const struct pg_request *req)
{
    unsigned bits = r->key;
    const char *user = req->authenticated ? req->user : NULL;
    const char *sid = req->session ? req->session->s.sid : NULL;
    if ((bits & PG_RK_SESSION) && !sid)
        bits = (bits & ~(unsigned)PG_RK_SESSION) | PG_RK_USER;
    if ((bits & PG_RK_USER) && !user)
        bits = (bits & ~(unsigned)PG_RK_USER) | PG_RK_IP;
    const char *ip = req->conn->client_ip;
    if (bits & PG_RK_IP)
        pg_rl_check_part(c, 'i', ip, strlen(ip));
    if (bits & PG_RK_USER)
        pg_rl_check_part(c, 'u', user, strlen(user));
    if (bits & PG_RK_SESSION)
        pg_rl_check_part(c, 's', sid, strlen(sid));
    if (bits & PG_RK_ROUTE) {
        /* By name, so a reload that reorders routes keeps the counts; a
         * route without a name by its place in the file. */
        char idx[24];
        const char *name = req->route ? req->route->name : NULL;
        if (!name) {
            snprintf(idx, sizeof idx, "#%d", req->route ? req->route->index : -1);
            name = idx;
        }
        pg_rl_check_part(c, 'r', name, strlen(name));
    }
    pg_rl_check_end(c);
}

static void decided(struct pg_request *req, const struct pg_rl_verdict *v)
{
    if (v->limited) {
        pg_ratelimit_refuse(req, v);
        return;
    }
    pg_request_resume(req, PG_NEXT);
}

static enum pg_filter_result ratelimit_run(struct pg_request *req)
{
    const struct pg_policy *p = req->policy;
    if (!p || !p->nrate_rules)
        return PG_NEXT;
    struct pg_rl_batch *batch = NULL;
    struct pg_rl_check c;
    for (int i = 0; i < p->nrate_rules; i++) {
        const struct pg_rate_rule *r = &p->rate_rules[i];
        if (!applies(r, req))
            continue;
        if (pg_rl_check_init(&c, r->name, r->rate_per_sec, r->burst, r->scope == PG_SCOPE_GLOBAL) != 0) {
            pg_rl_batch_free(batch);
            return PG_ERROR; /* the loader let through what the limiter cannot keep */
        }
        build_key(&c, r, req);
        if (c.global) {
            if (pg_rl_batch_add(&batch, &c) != 0) {
                pg_rl_batch_free(batch);
                return PG_ERROR;
            }
            continue;
        }
        struct pg_gcra_result res;
        if (pg_ratelimit_local(req->worker, &c, &res) != 0) {
            pg_rl_batch_free(batch);
            return PG_ERROR;
        }
        if (!res.allowed) {
            pg_rl_batch_free(batch); /* refused already: the global limits are not charged */
            struct pg_rl_verdict v;
            pg_rl_verdict_set(&v, &c, &res);
            pg_ratelimit_refuse(req, &v);
            return PG_RESPOND;
        }
    }
    if (!batch)
        return PG_NEXT;
    struct pg_rl_verdict v;
    switch (pg_rl_batch_run(req, batch, decided, &v)) {
    case 0:
        return PG_SUSPEND;
    case 1:
        if (!v.limited)
            return PG_NEXT;
        pg_ratelimit_refuse(req, &v);
        return PG_RESPOND;
    default:
        return PG_ERROR;
    }
}

const struct pg_filter pg_filter_ratelimit = {
    .name = "ratelimit",
    .phase = PG_PHASE_LIMITS,
    .run = ratelimit_run,
};
