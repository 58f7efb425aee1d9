/* Unreachable routes. A route can never decide when, for every request it
 * matches, routes tried before it (docs/policy.md, "Precedence") match
 * too and decide: enforcing routes whose paths include all of its paths,
 * whose conditions are a subset of its own, and whose methods together
 * cover all of its methods. Such a route is a mistake (a rule the admin
 * believes in does nothing), so the policy is refused. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/compile.h"

enum seg_kind { K_END, K_LIT, K_PARAM, K_STAR, K_GLOB }; /* in the order a lookup tries them */

struct segs {
    int n;
    enum seg_kind kind[PG_POLICY_MAX_PATTERN_SEGMENTS + 1];
    const char *s[PG_POLICY_MAX_PATTERN_SEGMENTS + 1];
    size_t len[PG_POLICY_MAX_PATTERN_SEGMENTS + 1];
};

static void split(const char *pattern, struct segs *out)
{
    out->n = 0;
    for (const char *s = pattern + 1; *s && out->n <= PG_POLICY_MAX_PATTERN_SEGMENTS;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        int i = out->n++;
        out->s[i] = s;
        out->len[i] = n;
        out->kind[i] = n == 2 && !memcmp(s, "**", 2) ? K_GLOB
                       : n == 1 && s[0] == '*'      ? K_STAR
                       : s[0] == '{'                ? K_PARAM
                                                    : K_LIT;
        if (!e)
            break;
        s = e + 1;
    }
}

static enum seg_kind kind_at(const struct segs *p, int i)
{
    return i < p->n ? p->kind[i] : K_END;
}

/* Every path r matches, e matches too. */
static bool covers(const struct segs *e, const struct segs *r)
{
    for (int i = 0;; i++) {
        enum seg_kind ek = kind_at(e, i), rk = kind_at(r, i);
        if (ek == K_GLOB)
            return true;
        if (ek == K_END || rk == K_END)
            return ek == rk;
        if (rk == K_GLOB)
            return false;
        if (ek == K_LIT && (rk != K_LIT || e->len[i] != r->len[i] || memcmp(e->s[i], r->s[i], e->len[i])))
            return false;
    }
}

/* For a path both match, e is tried before r: the first segment where
 * their kinds differ decides (literal, {param}, *, then **; a path that
 * ends at a node takes that node's rules before its **), and file order
 * when the shapes are the same. */
static bool tried_first(const struct segs *e, int ei, const struct segs *r, int ri)
{
    for (int i = 0;; i++) {
        enum seg_kind ek = kind_at(e, i), rk = kind_at(r, i);
        if (ek != rk)
            return ek < rk;
        if (ek == K_END)
            return ei < ri;
    }
}

static bool conditions_included(const struct pg_route *e, const struct pg_route *r)
{
    for (int i = 0; i < e->ncond_query; i++) {
        bool found = false;
        for (int k = 0; k < r->ncond_query && !found; k++)
            found = !strcmp(e->cond_query_keys[i], r->cond_query_keys[k]) &&
                    !strcmp(e->cond_query_vals[i], r->cond_query_vals[k]);
        if (!found)
            return false;
    }
    for (int i = 0; i < e->ncond_header; i++) {
        bool found = false;
        for (int k = 0; k < r->ncond_header && !found; k++)
            found = !strcasecmp(e->cond_header_keys[i], r->cond_header_keys[k]) &&
                    !strcmp(e->cond_header_vals[i], r->cond_header_vals[k]);
        if (!found)
            return false;
    }
    return true;
}

static bool first_segments_differ(const struct segs *a, const struct segs *b)
{
    return a->n && b->n && a->kind[0] == K_LIT && b->kind[0] == K_LIT &&
           (a->len[0] != b->len[0] || memcmp(a->s[0], b->s[0], a->len[0]));
}

void pg_policy_check_reachable(const struct pg_policy *p, struct pg_policy_errors *errs)
{
    for (int i = 0; i < p->nroutes; i++) {
        const struct pg_route *r = &p->routes[i];
        if (!r->pattern)
            continue;
        struct segs rs;
        split(r->pattern, &rs);
        unsigned taken = 0;
        int lines[8], nlines = 0, alone = -1;
        for (int j = 0; j < p->nroutes && (r->methods & ~taken); j++) {
            const struct pg_route *e = &p->routes[j];
            if (j == i || !e->pattern || e->mode != PG_MODE_ENFORCE || !(e->methods & r->methods & ~taken))
                continue;
            struct segs es;
            split(e->pattern, &es);
            if (first_segments_differ(&es, &rs) || !covers(&es, &rs) || !tried_first(&es, j, &rs, i) ||
                !conditions_included(e, r))
                continue;
            if ((r->methods & ~e->methods) == 0 && alone < 0)
                alone = j;
            taken |= e->methods & r->methods;
            if (nlines < 8)
                lines[nlines++] = e->line;
        }
        if (r->methods & ~taken)
            continue;
        if (alone >= 0) {
            pg_policy_errors_add(errs,
                                 "%s:%d:%d: routes[%d]: unreachable: the route at line %d (%s) matches every request "
                                 "this one does and is tried first",
                                 p->file, r->line, r->col, i, p->routes[alone].line, p->routes[alone].pattern);
        } else {
            char list[120] = "";
            size_t used = 0;
            for (int k = 0; k < nlines && used < sizeof list; k++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", k ? ", " : "", lines[k]);
            pg_policy_errors_add(errs,
                                 "%s:%d:%d: routes[%d]: unreachable: the routes at lines %s together match every "
                                 "request this one does and are tried first",
                                 p->file, r->line, r->col, i, list);
        }
    }
}
