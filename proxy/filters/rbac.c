/* Authorization phase: the compiled policy decides every request. Nothing
 * unmatched passes; a shadow rule's would-be decision is logged, never
 * enforced; a denial is answered here and never reaches the upstream. */
#include <string.h>

#include <http_parser.h>

#include "policy/credentials.h"
#include "proxy/auth_store.h"
#include "proxy/filters/auth_internal.h"
#include "proxy/filters/break_glass.h"
#include "proxy/filters/filters.h"
#include "proxy/log.h"
#include "proxy/policy_store.h"
#include "proxy/request.h"

static const char *query_lookup(void *ctx, const char *name, size_t *len)
{
    return pg_http_query_value(ctx, name, len);
}

static const char *header_lookup(void *ctx, const char *name, size_t *len)
{
    struct pg_header *hd = pg_http_find(ctx, name);
    if (!hd)
        return NULL;
    *len = hd->value_len;
    return hd->value;
}

/* A browser without a session goes to the sign-in page, and back here
 * after it. Only a plain path is carried: anything else starts at /. */
static void redirect_to_login(struct pg_request *req)
{
    char loc[600] = "/auth/login";
    const struct pg_http_head *h = &req->head;
    if (h->path_len < 500) {
        char next[512];
        memcpy(next, h->target, h->path_len);
        next[h->path_len] = '\0';
        if (pg_login_next_safe(next) && !strpbrk(next, "&#?%"))
            snprintf(loc, sizeof loc, "/auth/login?next=%s", next);
    }
    pg_auth_redirect(req, loc);
}

static enum pg_filter_result rbac_run(struct pg_request *req)
{
    if (!pg_policy_store_configured())
        return PG_NEXT; /* no policy configured: the proxy core alone (warned at start) */
    if (!req->policy)
        req->policy = pg_policy_store_get();
    if (!req->policy) {
        /* Configured but not loaded: cannot enforce, so refuse. */
        pg_request_respond_error(req, 503, "policy_unavailable");
        return PG_RESPOND;
    }
    struct pg_http_head *h = &req->head;
    struct pg_request_view rq = {.method = h->method_name, .path = h->target, .path_len = h->path_len,
                                 .query = query_lookup, .header = header_lookup, .ctx = h};
    /* Role names to indices in this request's policy snapshot; a name the
     * policy does not define grants nothing. */
    req->nroles = 0;
    for (int i = 0; i < req->nrole_names && req->nroles < (int)(sizeof req->roles / sizeof req->roles[0]); i++) {
        int idx = pg_policy_role_index(req->policy, req->role_names[i]);
        if (idx >= 0)
            req->roles[req->nroles++] = idx;
    }
    struct pg_decision d;
    pg_policy_decide(req->policy, req->roles, req->nroles, &rq, &d);
    pg_request_set_decision(req, &d);
    if (d.shadow)
        pg_log(PG_LOG_INFO, "policy_shadow",
               "\"request_id\":\"%s\",\"rule_line\":%d,\"rule\":\"%s\",\"would\":\"%s\",\"enforced\":\"%s\"", req->id,
               d.shadow->line, d.shadow->name ? d.shadow->name : "", d.shadow_verdict == PG_ALLOW ? "allow" : "deny",
               d.verdict == PG_ALLOW ? "allow" : "deny");
    if (d.verdict == PG_ALLOW)
        return PG_NEXT;
    if (req->authenticated && pg_http_find(h, req->policy->params.break_glass_header))
        return pg_break_glass(req, &rq, &d);
    pg_log(PG_LOG_INFO, "policy_deny", "\"request_id\":\"%s\",\"rule_line\":%d,\"reason\":\"%s\"", req->id,
           d.route ? d.route->line : 0, d.reason);
    if (!req->authenticated && pg_auth_enabled() && pg_auth_wants_html(req) &&
        (h->method == HTTP_GET || h->method == HTTP_HEAD))
        redirect_to_login(req);
    else if (!req->authenticated)
        pg_request_respond_error(req, 401, "unauthenticated");
    else
        pg_request_respond_error(req, 403, "forbidden");
    return PG_RESPOND;
}

const struct pg_filter pg_filter_rbac = {
    .name = "rbac",
    .phase = PG_PHASE_AUTHZ,
    .run = rbac_run,
};
