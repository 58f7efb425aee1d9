/* Authorization phase: the compiled policy decides every request. Nothing
 * unmatched passes; a shadow rule's would-be decision is logged, never
 * enforced; a denial is answered here and never reaches the upstream. */
#include <string.h>

#include "proxy/filters/filters.h"
#include "proxy/log.h"
#include "proxy/policy_store.h"
#include "proxy/request.h"

static const char *query_lookup(void *ctx, const char *name, size_t *len)
{
    const struct pg_http_head *h = ctx;
    if (h->path_len >= h->target_len)
        return NULL;
    const char *s = h->target + h->path_len + 1, *end = h->target + h->target_len;
    size_t n = strlen(name);
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - s) > n && memcmp(s, name, n) == 0 && s[n] == '=') {
            *len = (size_t)(stop - s) - n - 1;
            return s + n + 1;
        }
        s = stop + 1;
    }
    return NULL;
}

static const char *header_lookup(void *ctx, const char *name, size_t *len)
{
    struct pg_header *hd = pg_http_find(ctx, name);
    if (!hd)
        return NULL;
    *len = hd->value_len;
    return hd->value;
}

static enum pg_filter_result rbac_run(struct pg_request *req)
{
    if (!pg_policy_store_configured())
        return PG_NEXT; /* no policy configured: the proxy core alone (warned at start) */
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
    req->route = d.route;
    if (d.shadow)
        pg_log(PG_LOG_INFO, "policy_shadow",
               "\"request_id\":\"%s\",\"rule_line\":%d,\"rule\":\"%s\",\"would\":\"%s\",\"enforced\":\"%s\"", req->id,
               d.shadow->line, d.shadow->name ? d.shadow->name : "", d.shadow_verdict == PG_ALLOW ? "allow" : "deny",
               d.verdict == PG_ALLOW ? "allow" : "deny");
    if (d.verdict == PG_ALLOW)
        return PG_NEXT;
    pg_log(PG_LOG_INFO, "policy_deny", "\"request_id\":\"%s\",\"rule_line\":%d,\"reason\":\"%s\"", req->id,
           d.route ? d.route->line : 0, d.reason);
    if (!req->authenticated)
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
