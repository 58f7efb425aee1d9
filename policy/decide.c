/* Deciding a request: find the route by walking the trie segment by
 * segment (literal before {param} before * before **, backtracking when a
 * more specific branch has no rule for the method or its conditions fail),
 * then compare the route's required permissions with the caller's. No
 * allocation, no lock: the policy is immutable. */
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

bool pg_policy_break_glass_perms(const struct pg_policy *p, const int *roles, int nroles, pg_permset *out)
{
    pg_policy_role_perms(p, roles, nroles, out);
    bool eligible = false;
    for (int i = 0; i < nroles; i++) {
        if (roles[i] < 0 || roles[i] >= p->nroles)
            continue;
        eligible |= p->roles[roles[i]].emergency;
        for (int k = 0; k < p->params.nbreak_glass_roles; k++)
            eligible |= p->params.break_glass_roles[k] == roles[i];
    }
    if (eligible)
        for (int w = 0; w < PG_POLICY_MAX_PERMS / 64; w++)
            out->w[w] |= p->params.break_glass_grants.w[w];
    return eligible;
}

struct walk {
    const struct pg_policy *p;
    const struct pg_request_view *rq;
    unsigned method;
    const struct pg_route *found, *shadow;
    bool path_hit, method_hit;
    /* Values of the {param} segments on the branch being tried. */
    const char *pv[PG_POLICY_MAX_PATTERN_SEGMENTS];
    size_t pl[PG_POLICY_MAX_PATTERN_SEGMENTS];
    int np;
};

static bool value_is(pg_lookup_fn fn, void *ctx, const char *name, const char *want)
{
    size_t n = 0;
    const char *v = fn ? fn(ctx, name, &n) : NULL;
    return v && n == strlen(want) && memcmp(v, want, n) == 0;
}

static bool conditions_hold(const struct pg_route *r, const struct pg_request_view *rq)
{
    for (int i = 0; i < r->ncond_query; i++)
        if (!value_is(rq->query, rq->ctx, r->cond_query_keys[i], r->cond_query_vals[i]))
            return false;
    for (int i = 0; i < r->ncond_header; i++)
        if (!value_is(rq->header, rq->ctx, r->cond_header_keys[i], r->cond_header_vals[i]))
            return false;
    return true;
}

/* The rule at node t for the request, if any: shadow rules met before it
 * are noted (the first one is what enforcing it would decide), the first
 * enforcing one decides. */
static bool pick(struct walk *w, const struct pg_trie *t)
{
    for (int i = 0; i < t->nrules; i++) {
        const struct pg_route *r = &w->p->routes[t->rules[i]];
        w->path_hit = true;
        if (!(r->methods & w->method))
            continue;
        w->method_hit = true;
        if (!conditions_hold(r, w->rq))
            continue;
        if (r->mode == PG_MODE_SHADOW) {
            if (!w->shadow)
                w->shadow = r;
            continue;
        }
        w->found = r;
        return true;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* %XX escapes decoded, so that /fhir/P%61tient is the Patient literal the
 * backend will see, not a segment that slips past it to a wider rule. */
static size_t decode_segment(const char *s, size_t n, char *buf, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == cap)
            return cap + 1;
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            buf[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            buf[k++] = s[i];
        }
    }
    return k;
}

static const struct pg_trie *find_lit(const struct pg_trie *t, const char *seg, size_t n)
{
    int lo = 0, hi = t->nlit - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const struct pg_trie *c = t->lit[mid];
        size_t m = c->seg_len < n ? c->seg_len : n;
        int cmp = memcmp(c->seg, seg, m);
        if (cmp == 0)
            cmp = (c->seg_len > n) - (c->seg_len < n);
        if (cmp == 0)
            return c;
        if (cmp < 0)
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
        next = end + 1; /* a trailing slash: the same path without it */
    if (t->nlit) {
        const struct pg_trie *c;
        if (memchr(s, '%', n)) {
            char buf[PG_POLICY_MAX_SEGMENT];
            size_t m = decode_segment(s, n, buf, sizeof buf);
            c = m <= sizeof buf ? find_lit(t, buf, m) : NULL;
        } else {
            c = find_lit(t, s, n);
        }
        if (c && walk(w, c, next, end))
            return true;
    }
    if (t->param && n > 0 && w->np < PG_POLICY_MAX_PATTERN_SEGMENTS) {
        w->pv[w->np] = s;
        w->pl[w->np++] = n;
        if (walk(w, t->param, next, end))
            return true;
        w->np--;
    }
    if (t->star && n > 0 && walk(w, t->star, next, end))
        return true;
    return t->globstar && pick(w, t->globstar);
}

void pg_policy_decide_perms(const struct pg_policy *p, const pg_permset *have, const struct pg_request_view *rq,
                            struct pg_decision *out)
{
    memset(out, 0, sizeof *out);
    out->verdict = PG_DENY;
    unsigned method = rq->method ? pg_method_bit(rq->method, strlen(rq->method)) : 0;
    struct walk w = {.p = p, .rq = rq, .method = method};
    if (method && p->trie && rq->path && rq->path_len > 0 && rq->path[0] == '/')
        walk(&w, p->trie, rq->path + 1, rq->path + rq->path_len);
    if (w.shadow) {
        bool ok = w.shadow->public_;
        if (!ok) {
            ok = true;
            for (int i = 0; i < PG_POLICY_MAX_PERMS / 64; i++)
                ok &= (w.shadow->required.w[i] & ~have->w[i]) == 0;
        }
        out->shadow = w.shadow;
        out->shadow_verdict = ok ? PG_ALLOW : PG_DENY;
    }
    out->route = w.found;
    if (!w.found) {
        out->reason = w.method_hit ? "route conditions not met (default deny)"
                      : w.path_hit ? "no route for this method (default deny)"
                                   : "no route matches (default deny)";
        return;
    }
    for (int k = 0; k < w.np && k < w.found->nparam_names && k < PG_POLICY_MAX_PARAMS; k++) {
        out->param_name[k] = w.found->param_names[k];
        out->param_value[k] = w.pv[k];
        out->param_len[k] = w.pl[k];
        out->nparams++;
    }
    if (w.found->public_) {
        out->verdict = PG_ALLOW;
        out->reason = "public route";
        return;
    }
    bool missing = false;
    for (int i = 0; i < PG_POLICY_MAX_PERMS / 64; i++) {
        out->missing.w[i] = w.found->required.w[i] & ~have->w[i];
        missing |= out->missing.w[i] != 0;
    }
    out->verdict = missing ? PG_DENY : PG_ALLOW;
    out->reason = missing ? "missing permission" : "permissions held";
}

void pg_policy_decide(const struct pg_policy *p, const int *roles, int nroles, const struct pg_request_view *rq,
                      struct pg_decision *out)
{
    pg_permset have;
    pg_policy_role_perms(p, roles, nroles, &have);
    pg_policy_decide_perms(p, &have, rq, out);
}

int pg_policy_decide_names(const struct pg_policy *p, const char *const *roles, size_t nroles,
                           const struct pg_request_view *rq, struct pg_decision *out)
{
    int idx[PG_POLICY_MAX_ROLES];
    int n = 0, unknown = 0;
    for (size_t i = 0; i < nroles; i++) {
        int r = roles[i] ? pg_policy_role_index(p, roles[i]) : -1;
        if (r < 0)
            unknown++;
        else if (n < PG_POLICY_MAX_ROLES)
            idx[n++] = r;
    }
    pg_policy_decide(p, idx, n, rq, out);
    return unknown;
}
