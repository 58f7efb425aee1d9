/* The phi section of a route: which JSON fields of the request and the
 * response are PHI, who reads them in clear and what others get, and which
 * query parameters carry a searchable field. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/load_yaml.h"
#include "policy/selector.h"

static const char *const field_keys[] = {"path", "field", "read", "searchable", "normalize", "others", "mask", NULL};

/* Entity.name.name...: what a field is called wherever it appears. */
static bool valid_field_name(const char *s)
{
    int parts = 0;
    size_t run = 0;
    for (;; s++) {
        if (*s == '.' || !*s) {
            if (!run)
                return false;
            parts++;
            run = 0;
            if (!*s)
                return parts >= 2;
        } else if (isalnum((unsigned char)*s) || *s == '_' || *s == '-') {
            run++;
        } else {
            return false;
        }
    }
}

static void load_field(struct ld *L, struct pg_route *r, yaml_node_t *f, const char *where, struct pg_phi_field *pf)
{
    char path[200];
    pf->line = (int)f->start_mark.line + 1;
    pf->col = (int)f->start_mark.column + 1;
    pf->read_perm = -1;
    pf->selector = ld_string(L, f, "path", where, true);
    char why[160];
    snprintf(path, sizeof path, "%s.path", where);
    if (pf->selector && pg_selector_compile(pf->selector, &pf->steps, &pf->nsteps, why, sizeof why) != 0)
        ld_err(L, ld_get(L, f, "path"), path, "%s", why);
    pf->logical_path = ld_string(L, f, "field", where, false);
    if (pf->logical_path && !valid_field_name(pf->logical_path)) {
        snprintf(path, sizeof path, "%s.field", where);
        ld_err(L, ld_get(L, f, "field"), path, "'%s' is not a field name (Entity.key.key, e.g. Patient.identifier.value)",
               pf->logical_path);
    } else if (!pf->logical_path && pf->steps && r->entity_type) {
        pf->logical_path = pg_selector_logical_path(r->entity_type, pf->steps, pf->nsteps);
    }
    char *read = ld_string(L, f, "read", where, true);
    if (read) {
        pf->read_perm = pg_policy_perm_index(L->p, read);
        snprintf(path, sizeof path, "%s.read", where);
        if (pf->read_perm < 0)
            ld_err(L, ld_get(L, f, "read"), path, "undefined permission '%s'", read);
        free(read);
    }
    pf->searchable = ld_bool(L, f, "searchable", where, false);
    static const char *const norms[] = {"none", "digits", "lower", NULL};
    int norm = ld_choice(L, f, "normalize", where, norms, 0);
    pf->normalize = norm == 1 ? PG_NORM_DIGITS : norm == 2 ? PG_NORM_LOWER : PG_NORM_NONE;
    snprintf(path, sizeof path, "%s.normalize", where);
    if (pf->normalize != PG_NORM_NONE && !pf->searchable)
        ld_err(L, ld_get(L, f, "normalize"), path, "applies only to searchable fields (add searchable: true)");
    static const char *const actions[] = {"mask", "redact", "deny", NULL};
    int others = ld_choice(L, f, "others", where, actions, 0);
    pf->others = others == 1 ? PG_PHI_REDACT : others == 2 ? PG_PHI_DENY : PG_PHI_MASK;
    yaml_node_t *n = ld_get(L, f, "mask");
    if (n) {
        const char *v = ld_scalar(n);
        snprintf(path, sizeof path, "%s.mask", where);
        if (v && strcmp(v, "all") == 0)
            pf->mask_keep_last = 0;
        else if (v && strncmp(v, "last", 4) == 0 && v[4] >= '1' && v[4] <= '9' && !v[5])
            pf->mask_keep_last = v[4] - '0';
        else
            ld_err(L, n, path, "expected all or lastN (N from 1 to 9)");
        if (pf->others != PG_PHI_MASK)
            ld_err(L, n, path, "applies only when others is mask");
    }
}

static bool same_steps(const struct pg_phi_field *a, const struct pg_phi_field *b)
{
    if (a->nsteps != b->nsteps)
        return false;
    for (int i = 0; i < a->nsteps; i++)
        if (a->steps[i].kind != b->steps[i].kind ||
            (a->steps[i].key && strcmp(a->steps[i].key, b->steps[i].key)))
            return false;
    return true;
}

static void load_fields(struct ld *L, struct pg_route *r, yaml_node_t *list, const char *where,
                        struct pg_phi_field **out, int *nout)
{
    if (list->type != YAML_SEQUENCE_NODE) {
        ld_err(L, list, where, "expected a list of fields");
        return;
    }
    int count = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    *out = calloc((size_t)count + 1, sizeof **out);
    if (!*out)
        return;
    int states = 0;
    for (int i = 0; i < count; i++) {
        yaml_node_t *f = ld_node(L, list->data.sequence.items.start[i]);
        char sub[160];
        snprintf(sub, sizeof sub, "%s[%d]", where, i);
        if (!ld_check_keys(L, f, sub, field_keys))
            continue;
        struct pg_phi_field *pf = &(*out)[(*nout)++];
        load_field(L, r, f, sub, pf);
        states += pf->nsteps + 1;
        for (int j = 0; pf->steps && j < *nout - 1; j++)
            if ((*out)[j].steps && same_steps(&(*out)[j], pf)) {
                snprintf(sub, sizeof sub, "%s[%d].path", where, i);
                ld_err(L, ld_get(L, f, "path"), sub, "selects the same field as the one at line %d", (*out)[j].line);
                break;
            }
    }
    if (states > PG_SEL_MAX_STATES)
        ld_err(L, list, where, "too many fields: they need %d matcher states, at most %d per direction (a field takes "
               "one per step, plus one)", states, PG_SEL_MAX_STATES);
    else if (pg_sel_set_dfa_states(*out, *nout) < 0)
        ld_err(L, list, where, "these fields' selectors combine into more than %d matcher states (each '..' step "
               "multiplies them): use fewer '..' steps", PG_SEL_MAX_DFA);
}

static void load_query(struct ld *L, struct pg_route *r, yaml_node_t *list, const char *where, bool path_params)
{
    static const char *const query_keys[] = {"param", "field", NULL};
    if (list->type != YAML_SEQUENCE_NODE) {
        ld_err(L, list, where, "expected a list of {param, field}");
        return;
    }
    int count = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    struct pg_phi_query **items = path_params ? &r->phi_path : &r->phi_query;
    int *nitems = path_params ? &r->nphi_path : &r->nphi_query;
    *items = calloc((size_t)count + 1, sizeof **items);
    if (!*items)
        return;
    for (int i = 0; i < count; i++) {
        yaml_node_t *q = ld_node(L, list->data.sequence.items.start[i]);
        char sub[160];
        snprintf(sub, sizeof sub, "%s[%d]", where, i);
        if (!ld_check_keys(L, q, sub, query_keys))
            continue;
        struct pg_phi_query *pq = &(*items)[(*nitems)++];
        pq->line = (int)q->start_mark.line + 1;
        pq->col = (int)q->start_mark.column + 1;
        pq->param = ld_string(L, q, "param", sub, true);
        pq->field = ld_string(L, q, "field", sub, true);
        for (int j = 0; pq->param && j < *nitems - 1; j++)
            if ((*items)[j].param && !strcmp((*items)[j].param, pq->param)) {
                snprintf(sub, sizeof sub, "%s[%d].param", where, i);
                ld_err(L, ld_get(L, q, "param"), sub, "'%s' is already listed at line %d", pq->param,
                       (*items)[j].line);
            }
        if (path_params && pq->param) {
            bool known = false;
            for (int j = 0; j < r->nparam_names; j++)
                known = known || !strcmp(r->param_names[j], pq->param);
            if (!known) {
                snprintf(sub, sizeof sub, "%s[%d].param", where, i);
                ld_err(L, ld_get(L, q, "param"), sub, "'%s' is not a {param} of the route's path", pq->param);
            }
        }
    }
}

void ld_phi(struct ld *L, struct pg_route *r, yaml_node_t *phi, const char *where)
{
    static const char *const phi_keys[] = {"request", "response", "query", "path", NULL};
    if (!r->entity_type)
        ld_err(L, phi, where, "PHI fields need the route's entity (e.g. entity: Patient) to name them");
    if (!ld_check_keys(L, phi, where, phi_keys))
        return;
    yaml_node_t *rq = ld_get(L, phi, "request"), *rs = ld_get(L, phi, "response"), *qs = ld_get(L, phi, "query"),
                *ps = ld_get(L, phi, "path");
    char sub[120];
    snprintf(sub, sizeof sub, "%s.request", where);
    if (rq)
        load_fields(L, r, rq, sub, &r->phi_request, &r->nphi_request);
    snprintf(sub, sizeof sub, "%s.response", where);
    if (rs)
        load_fields(L, r, rs, sub, &r->phi_response, &r->nphi_response);
    snprintf(sub, sizeof sub, "%s.query", where);
    if (qs)
        load_query(L, r, qs, sub, false);
    snprintf(sub, sizeof sub, "%s.path", where);
    if (ps)
        load_query(L, r, ps, sub, true);
}

static const char *norm_name(enum pg_phi_normalize n)
{
    return n == PG_NORM_DIGITS ? "digits" : n == PG_NORM_LOWER ? "lower" : "none";
}

/* A field is one field wherever it is named: the same logical path must be
 * encrypted the same way on every route (or a search could never match),
 * and a query parameter must name a searchable field. */
void ld_phi_crosscheck(struct ld *L)
{
    struct pg_policy *p = L->p;
    for (int i = 0; i < p->nroutes; i++) {
        struct pg_route *r = &p->routes[i];
        for (int d = 0; d < 2; d++) {
            struct pg_phi_field *fs = d ? r->phi_response : r->phi_request;
            int n = d ? r->nphi_response : r->nphi_request;
            for (int k = 0; k < n; k++) {
                const struct pg_phi_field *f = &fs[k];
                const struct pg_phi_field *g = f->logical_path ? pg_policy_find_field(p, f->logical_path) : NULL;
                if (!g || g == f)
                    continue;
                if (g->searchable != f->searchable || g->normalize != f->normalize)
                    pg_policy_errors_add(L->errs,
                                         "%s:%d:%d: routes[%d].phi.%s[%d]: %s is searchable: %s, normalize: %s here "
                                         "but searchable: %s, normalize: %s at line %d; a field is encrypted one way "
                                         "everywhere",
                                         L->file, f->line, f->col, i, d ? "response" : "request", k, f->logical_path,
                                         f->searchable ? "true" : "false", norm_name(f->normalize),
                                         g->searchable ? "true" : "false", norm_name(g->normalize), g->line);
            }
        }
        for (int k = 0; k < r->nphi_query + r->nphi_path; k++) {
            bool in_path = k >= r->nphi_query;
            struct pg_phi_query *q = in_path ? &r->phi_path[k - r->nphi_query] : &r->phi_query[k];
            if (!q->field)
                continue;
            const struct pg_phi_field *g = pg_policy_find_field(p, q->field);
            if (!g || !g->searchable)
                pg_policy_errors_add(L->errs,
                                     "%s:%d:%d: routes[%d].phi.%s[%d].field: '%s' is not a searchable PHI field of "
                                     "any route (declare it with searchable: true)",
                                     L->file, q->line, q->col, i, in_path ? "path" : "query",
                                     in_path ? k - r->nphi_query : k, q->field);
            else
                q->normalize = g->normalize;
        }
    }
}
