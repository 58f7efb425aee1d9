#include "policy/compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/selector.h"

static struct pg_trie *trie_new(void)
{
    return calloc(1, sizeof(struct pg_trie));
}

static int lit_cmp(const void *a, const void *b)
{
    const struct pg_trie *x = *(struct pg_trie *const *)a, *y = *(struct pg_trie *const *)b;
    size_t n = x->seg_len < y->seg_len ? x->seg_len : y->seg_len;
    int c = memcmp(x->seg, y->seg, n);
    return c ? c : (x->seg_len > y->seg_len) - (x->seg_len < y->seg_len);
}

static struct pg_trie *child_lit(struct pg_trie *t, const char *seg, size_t n)
{
    for (int i = 0; i < t->nlit; i++)
        if (t->lit[i]->seg_len == n && memcmp(t->lit[i]->seg, seg, n) == 0)
            return t->lit[i];
    struct pg_trie **g = realloc(t->lit, (size_t)(t->nlit + 1) * sizeof *g);
    if (!g)
        return NULL;
    t->lit = g;
    struct pg_trie *c = trie_new();
    if (!c)
        return NULL;
    c->seg = strndup(seg, n);
    c->seg_len = n;
    if (!c->seg) {
        free(c);
        return NULL;
    }
    t->lit[t->nlit++] = c;
    qsort(t->lit, (size_t)t->nlit, sizeof *t->lit, lit_cmp);
    return c;
}

static struct pg_trie **slot(struct pg_trie **s)
{
    if (!*s)
        *s = trie_new();
    return s;
}

static bool trie_insert(struct pg_trie *root, const struct pg_route *r, int index)
{
    struct pg_trie *t = root;
    const char *s = r->pattern + 1;
    while (*s && t) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && !memcmp(s, "**", 2))
            t = *slot(&t->globstar);
        else if (n == 1 && s[0] == '*')
            t = *slot(&t->star);
        else if (s[0] == '{')
            t = *slot(&t->param);
        else
            t = child_lit(t, s, n);
        if (!e)
            break;
        s = e + 1;
    }
    if (!t)
        return false;
    int *g = realloc(t->rules, (size_t)(t->nrules + 1) * sizeof *g);
    if (!g)
        return false;
    t->rules = g;
    t->rules[t->nrules++] = index;
    return true;
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
    free(t->rules);
    free(t);
}

struct resolver {
    struct pg_policy *p;
    struct pg_policy_errors *errs;
    char state[PG_POLICY_MAX_ROLES]; /* 0 unvisited, 1 on the current path, 2 done */
    int path[PG_POLICY_MAX_ROLES];
    int depth;
};

/* Depth-first; a role met again on the current path closes a cycle, which
 * is reported once, at the role where it starts, with the whole loop. */
static bool resolve(struct resolver *rs, int i)
{
    struct pg_policy *p = rs->p;
    struct pg_role *r = &p->roles[i];
    if (rs->state[i] == 2)
        return true;
    if (rs->state[i] == 1) {
        char loop[1024] = "";
        size_t used = 0;
        int from = 0;
        while (from < rs->depth && rs->path[from] != i)
            from++;
        for (int k = from; k < rs->depth && used < sizeof loop; k++)
            used += (size_t)snprintf(loop + used, sizeof loop - used, "%s -> ", p->roles[rs->path[k]].name);
        pg_policy_errors_add(rs->errs, "%s:%d:%d: roles.%s: inheritance cycle: %s%s", p->file, r->line, r->col,
                             r->name, loop, r->name);
        return false;
    }
    rs->state[i] = 1;
    rs->path[rs->depth++] = i;
    r->effective = r->direct;
    bool ok = true;
    for (int k = 0; ok && k < r->ninherits; k++) {
        int j = r->inherits[k];
        ok = resolve(rs, j);
        for (int w = 0; w < PG_POLICY_MAX_PERMS / 64; w++)
            r->effective.w[w] |= p->roles[j].effective.w[w];
        /* Holding a privileged role's permissions needs its MFA too; but
         * break-glass is granted by name only, where a reviewer sees it. */
        r->mfa_required |= p->roles[j].mfa_required;
    }
    rs->depth--;
    rs->state[i] = 2;
    return ok;
}

void pg_policy_compile(struct pg_policy *p, struct pg_policy_errors *errs)
{
    int before = pg_policy_errors_total(errs);
    struct resolver rs = {.p = p, .errs = errs};
    for (int i = 0; i < p->nroles; i++)
        resolve(&rs, i);
    pg_policy_check_reachable(p, errs);
    if (pg_policy_errors_total(errs) != before)
        return;
    p->trie = trie_new();
    bool ok = p->trie != NULL;
    for (int i = 0; ok && i < p->nroutes; i++) {
        struct pg_route *r = &p->routes[i];
        bool failed_rq = false, failed_rs = false;
        ok = trie_insert(p->trie, r, i);
        r->sel_request = pg_sel_set_new(r->phi_request, r->nphi_request, &failed_rq);
        r->sel_response = pg_sel_set_new(r->phi_response, r->nphi_response, &failed_rs);
        r->plugin_sel = malloc(2 * sizeof *r->plugin_sel);
        if (r->plugin_sel)
            for (int d = 0; d < 2; d++)
                atomic_init(&r->plugin_sel[d], NULL);
        ok = ok && !failed_rq && !failed_rs && r->plugin_sel;
    }
    if (!ok)
        pg_policy_errors_add(errs, "%s:1:1: out of memory while compiling the policy", p->file);
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
    for (int i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void free_route(struct pg_route *r)
{
    free(r->name);
    free(r->pattern);
    free(r->required_list);
    free(r->entity_type);
    free_strings(r->cond_query_keys, r->ncond_query);
    free_strings(r->cond_query_vals, r->ncond_query);
    free_strings(r->cond_header_keys, r->ncond_header);
    free_strings(r->cond_header_vals, r->ncond_header);
    pg_sel_set_free(r->sel_request);
    pg_sel_set_free(r->sel_response);
    for (int d = 0; r->plugin_sel && d < 2; d++)
        pg_sel_set_free(atomic_load(&r->plugin_sel[d]));
    free(r->plugin_sel);
    free_phi(r->phi_request, r->nphi_request);
    free_phi(r->phi_response, r->nphi_response);
    for (int i = 0; i < r->nphi_query; i++) {
        free(r->phi_query[i].param);
        free(r->phi_query[i].field);
    }
    free(r->phi_query);
    for (int i = 0; i < r->nphi_path; i++) {
        free(r->phi_path[i].param);
        free(r->phi_path[i].field);
    }
    free(r->phi_path);
    free_strings(r->param_names, r->nparam_names);
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
    for (int i = 0; p->perm_names && i < p->nperms; i++)
        free(p->perm_names[i]);
    free(p->perm_names);
    for (int i = 0; p->roles && i < p->nroles; i++) {
        free(p->roles[i].name);
        free(p->roles[i].description);
        free(p->roles[i].inherits);
    }
    free(p->roles);
    for (int i = 0; p->routes && i < p->nroutes; i++)
        free_route(&p->routes[i]);
    free(p->routes);
    for (int i = 0; p->rate_rules && i < p->nrate_rules; i++) {
        free(p->rate_rules[i].name);
        free(p->rate_rules[i].route);
        free(p->rate_rules[i].roles);
    }
    free(p->rate_rules);
    free(p->params.break_glass_header);
    free(p->params.break_glass_roles);
    pg_trie_free(p->trie);
    free(p->revision);
    free(p->file);
    free(p);
}
