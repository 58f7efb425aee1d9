#include "policy/compile.h"

#include <stdlib.h>
#include <string.h>

#include "policy/selector.h"

static struct pg_trie *trie_new(void)
{
    return calloc(1, sizeof(struct pg_trie));
}

static int lit_cmp(const void *a, const void *b)
{
    return strcmp((*(struct pg_trie *const *)a)->seg, (*(struct pg_trie *const *)b)->seg);
}

static struct pg_trie *child_lit(struct pg_trie *t, const char *seg, size_t n)
{
    for (int i = 0; i < t->nlit; i++)
        if (strlen(t->lit[i]->seg) == n && memcmp(t->lit[i]->seg, seg, n) == 0)
            return t->lit[i];
    struct pg_trie **g = realloc(t->lit, (size_t)(t->nlit + 1) * sizeof *g);
    if (!g)
        return NULL;
    t->lit = g;
    struct pg_trie *c = trie_new();
    c->seg = strndup(seg, n);
    t->lit[t->nlit++] = c;
    qsort(t->lit, (size_t)t->nlit, sizeof *t->lit, lit_cmp);
    return c;
}

static void trie_insert(struct pg_trie *root, const struct pg_route *r, int index)
{
    struct pg_trie *t = root;
    const char *s = r->pattern + 1;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && !memcmp(s, "**", 2)) {
            t = t->globstar ? t->globstar : (t->globstar = trie_new());
        } else if (n == 1 && s[0] == '*') {
            t = t->star ? t->star : (t->star = trie_new());
        } else if (s[0] == '{') {
            if (!t->param) {
                t->param = trie_new();
                t->param->param_name = strndup(s + 1, n - 2);
            }
            t = t->param;
        } else {
            t = child_lit(t, s, n);
        }
        if (!e)
            break;
        s = e + 1;
    }
    int *g = realloc(t->rules, (size_t)(t->nrules + 1) * sizeof *g);
    if (!g)
        return;
    t->rules = g;
    t->rules[t->nrules++] = index;
}

void pg_trie_free(struct pg_trie *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->nlit; i++)
        pg_trie_free(t->lit[i]);
    free(t->lit);
    pg_trie_free(t->param);
    pg_trie_free(t->star);
    pg_trie_free(t->globstar);
    free(t->seg);
    free(t->param_name);
    free(t->rules);
    free(t);
}

/* 0 unvisited, 1 on the current path, 2 done */
static bool resolve(struct pg_policy *p, int i, char *state, struct pg_policy_errors *errs)
{
    struct pg_role *r = &p->roles[i];
    if (state[i] == 2)
        return true;
    if (state[i] == 1) {
        pg_policy_errors_add(errs, "%s:%d:%d: roles.%s: inheritance cycle (the role inherits itself)", p->file,
                             r->line, r->col, r->name);
        return false;
    }
    state[i] = 1;
    r->effective = r->direct;
    for (int k = 0; k < r->ninherits; k++) {
        int j = r->inherits[k];
        if (!resolve(p, j, state, errs)) {
            state[i] = 2;
            return false;
        }
        for (int w = 0; w < PG_POLICY_MAX_PERMS / 64; w++)
            r->effective.w[w] |= p->roles[j].effective.w[w];
        r->emergency |= false; /* emergency access is never inherited: it is granted by name */
    }
    state[i] = 2;
    return true;
}

static bool same_conditions(const struct pg_route *a, const struct pg_route *b)
{
    if (a->ncond_query != b->ncond_query || a->ncond_header != b->ncond_header)
        return false;
    for (int i = 0; i < a->ncond_query; i++)
        if (strcmp(a->cond_query_keys[i], b->cond_query_keys[i]) || strcmp(a->cond_query_vals[i], b->cond_query_vals[i]))
            return false;
    for (int i = 0; i < a->ncond_header; i++)
        if (strcasecmp(a->cond_header_keys[i], b->cond_header_keys[i]) ||
            strcmp(a->cond_header_vals[i], b->cond_header_vals[i]))
            return false;
    return true;
}

/* Patterns equal but for parameter names. */
static bool same_shape(const char *a, const char *b)
{
    while (*a && *b) {
        if (*a == '{' && *b == '{') {
            a = strchr(a, '}');
            b = strchr(b, '}');
            if (!a || !b)
                return false;
        } else if (*a != *b) {
            return false;
        }
        a++;
        b++;
    }
    return *a == *b;
}

void pg_policy_compile(struct pg_policy *p, struct pg_policy_errors *errs)
{
    char state[PG_POLICY_MAX_ROLES] = {0};
    for (int i = 0; i < p->nroles; i++)
        resolve(p, i, state, errs);
    /* A route is unreachable when an earlier enforcing route of the same
     * shape takes every method it names under the same conditions (or
     * none): the earlier one always decides first. */
    for (int i = 0; i < p->nroutes; i++) {
        const struct pg_route *r = &p->routes[i];
        for (int j = 0; j < i && r->pattern; j++) {
            const struct pg_route *e = &p->routes[j];
            if (!e->pattern || e->mode != PG_MODE_ENFORCE || !same_shape(e->pattern, r->pattern))
                continue;
            bool covers = (r->methods & ~e->methods) == 0;
            bool uncond = e->ncond_query == 0 && e->ncond_header == 0;
            if (covers && (uncond || same_conditions(e, r))) {
                pg_policy_errors_add(errs,
                                     "%s:%d:%d: routes[%d]: unreachable: the route at line %d (%s) matches every "
                                     "request this one does and comes first",
                                     p->file, r->line, r->col, i, e->line, e->pattern);
                break;
            }
        }
    }
    p->trie = trie_new();
    for (int i = 0; i < p->nroutes; i++)
        if (p->routes[i].pattern)
            trie_insert(p->trie, &p->routes[i], i);
}

static void free_phi(struct pg_phi_field *f, int n)
{
    for (int i = 0; i < n; i++) {
        free(f[i].selector);
        pg_selector_free(f[i].steps, f[i].nsteps);
        free(f[i].logical_path);
    }
    free(f);
}

static void free_strings(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

struct pg_policy *pg_policy_ref(struct pg_policy *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void pg_policy_unref(struct pg_policy *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    for (int i = 0; i < p->nperms; i++)
        free(p->perm_names[i]);
    free(p->perm_names);
    for (int i = 0; i < p->nroles; i++) {
        free(p->roles[i].name);
        free(p->roles[i].description);
        free(p->roles[i].inherits);
    }
    free(p->roles);
    for (int i = 0; i < p->nroutes; i++) {
        struct pg_route *r = &p->routes[i];
        free(r->name);
        free(r->pattern);
        free(r->required_list);
        free(r->entity_type);
        free_strings(r->cond_query_keys, r->ncond_query);
        free_strings(r->cond_query_vals, r->ncond_query);
        free_strings(r->cond_header_keys, r->ncond_header);
        free_strings(r->cond_header_vals, r->ncond_header);
        free_phi(r->phi_request, r->nphi_request);
        free_phi(r->phi_response, r->nphi_response);
    }
    free(p->routes);
    for (int i = 0; i < p->nrate_rules; i++) {
        free(p->rate_rules[i].name);
        free(p->rate_rules[i].route);
    }
    free(p->rate_rules);
    free(p->params.break_glass_header);
    pg_trie_free(p->trie);
    free(p->file);
    free(p);
}
