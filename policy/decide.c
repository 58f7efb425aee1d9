/* Deciding a request: find the route by walking the trie segment by
 * segment (literal before {param} before * before **, backtracking when a
 * more specific branch has no rule for the method), then compare the
 * route's required permissions with the roles'. No allocation. */
#include <string.h>
#include <strings.h>

#include "policy/compile.h"
#include "policy/policy.h"

bool pg_permset_has(const pg_permset *s, int perm)
{
    return perm >= 0 && perm < PG_POLICY_MAX_PERMS && (s->w[perm / 64] >> (perm % 64)) & 1;
}

void pg_policy_role_perms(const struct pg_policy *p, const int *roles, int nroles, pg_permset *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < nroles; i++) {
        if (roles[i] < 0 || roles[i] >= p->nroles)
            continue;
        for (int w = 0; w < PG_POLICY_MAX_PERMS / 64; w++)
            out->w[w] |= p->roles[roles[i]].effective.w[w];
    }
}

struct walk {
    const struct pg_policy *p;
    const struct pg_request_view *rq;
    unsigned method;
    struct pg_decision *out;
    const struct pg_route *found;
};

static bool conditions_hold(const struct pg_route *r, const struct pg_request_view *rq)
{
    for (int i = 0; i < r->ncond_query; i++) {
        size_t n = 0;
        const char *v = rq->query ? rq->query(rq->ctx, r->cond_query_keys[i], &n) : NULL;
        if (!v || n != strlen(r->cond_query_vals[i]) || memcmp(v, r->cond_query_vals[i], n) != 0)
            return false;
    }
    for (int i = 0; i < r->ncond_header; i++) {
        size_t n = 0;
        const char *v = rq->header ? rq->header(rq->ctx, r->cond_header_keys[i], &n) : NULL;
        if (!v || n != strlen(r->cond_header_vals[i]) || memcmp(v, r->cond_header_vals[i], n) != 0)
            return false;
    }
    return true;
}

/* Picks the rule at node t for the request, if any: shadow rules that
 * match before it are noted, the first enforcing one decides. */
static bool pick(struct walk *w, const struct pg_trie *t)
{
    for (int i = 0; i < t->nrules; i++) {
        const struct pg_route *r = &w->p->routes[t->rules[i]];
        if (!(r->methods & w->method) || !conditions_hold(r, w->rq))
            continue;
        if (r->mode == PG_MODE_SHADOW) {
            if (!w->out->shadow)
                w->out->shadow = r;
            continue;
        }
        w->found = r;
        return true;
    }
    return false;
}

static const struct pg_trie *find_lit(const struct pg_trie *t, const char *seg, size_t n)
{
    int lo = 0, hi = t->nlit - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const char *s = t->lit[mid]->seg;
        int c = strncmp(s, seg, n);
        if (c == 0)
            c = s[n] ? 1 : 0;
        if (c == 0)
            return t->lit[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static bool walk(struct walk *w, const struct pg_trie *t, const char *s, const char *end)
{
    if (s >= end)
        return pick(w, t) || (t->globstar && pick(w, t->globstar));
    const char *e = memchr(s, '/', (size_t)(end - s));
    if (!e)
        e = end;
    size_t n = (size_t)(e - s);
    const char *next = e < end ? e + 1 : end;
    if (e < end && next == end)
        next = end + 1; /* a trailing slash: one more, empty, segment */
    const struct pg_trie *c = find_lit(t, s, n);
    if (c && walk(w, c, next, end))
        return true;
    if (t->param && n > 0) {
        int k = w->out->nparams;
        if (k < 4) {
            w->out->param_name[k] = t->param->param_name;
            w->out->param_value[k] = s;
            w->out->param_len[k] = n;
            w->out->nparams++;
        }
        if (walk(w, t->param, next, end))
            return true;
        w->out->nparams = k;
    }
    if (t->star && n > 0 && walk(w, t->star, next, end))
        return true;
    return t->globstar && pick(w, t->globstar);
}

void pg_policy_decide(const struct pg_policy *p, const int *roles, int nroles, const struct pg_request_view *rq,
                      struct pg_decision *out)
{
    memset(out, 0, sizeof *out);
    out->verdict = PG_DENY;
    unsigned method = pg_method_bit(rq->method, strlen(rq->method));
    if (method == 0 || rq->path_len == 0 || rq->path[0] != '/') {
        out->reason = "no route matches (default deny)";
        return;
    }
    struct walk w = {.p = p, .rq = rq, .method = method, .out = out};
    const char *end = rq->path + rq->path_len;
    walk(&w, p->trie, rq->path + 1, end);
    pg_permset have;
    pg_policy_role_perms(p, roles, nroles, &have);
    if (out->shadow) {
        bool ok = out->shadow->public_;
        if (!ok) {
            ok = true;
            for (int i = 0; i < PG_POLICY_MAX_PERMS / 64; i++)
                ok &= (out->shadow->required.w[i] & ~have.w[i]) == 0;
        }
        out->shadow_verdict = ok ? PG_ALLOW : PG_DENY;
    }
    out->route = w.found;
    if (!w.found) {
        out->reason = "no route matches (default deny)";
        return;
    }
    if (w.found->public_) {
        out->verdict = PG_ALLOW;
        out->reason = "public route";
        return;
    }
    bool missing = false;
    for (int i = 0; i < PG_POLICY_MAX_PERMS / 64; i++) {
        out->missing.w[i] = w.found->required.w[i] & ~have.w[i];
        missing |= out->missing.w[i] != 0;
    }
    out->verdict = missing ? PG_DENY : PG_ALLOW;
    out->reason = missing ? "missing permission" : "permissions held";
}
