/* The routes section: methods, path patterns, conditions, permissions,
 * public and shadow rules. The PHI fields of a route are in load_phi.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/load_yaml.h"

static const struct {
    const char *name;
    unsigned bit;
} methods[PG_M_COUNT] = {{"GET", PG_M_GET},     {"HEAD", PG_M_HEAD},     {"POST", PG_M_POST},      {"PUT", PG_M_PUT},
                         {"PATCH", PG_M_PATCH}, {"DELETE", PG_M_DELETE}, {"OPTIONS", PG_M_OPTIONS}};

unsigned pg_method_bit(const char *name, size_t len)
{
    for (size_t i = 0; i < PG_M_COUNT; i++)
        if (strlen(methods[i].name) == len && memcmp(methods[i].name, name, len) == 0)
            return methods[i].bit;
    return 0;
}

const char *pg_method_name(unsigned bit)
{
    for (size_t i = 0; i < PG_M_COUNT; i++)
        if (methods[i].bit == bit)
            return methods[i].name;
    return NULL;
}

/* A pattern is /seg/seg...: literal, {param}, * (one segment) or ** (the
 * rest, last only). "/" alone is the root. */
static int check_pattern(const char *pat, char *why, size_t whylen)
{
    if (pat[0] != '/') {
        snprintf(why, whylen, "expected a path starting with /");
        return -1;
    }
    if (!pat[1])
        return 0;
    int nseg = 0;
    for (const char *s = pat + 1;;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (++nseg > PG_POLICY_MAX_PATTERN_SEGMENTS) {
            snprintf(why, whylen, "too many segments (at most %d)", PG_POLICY_MAX_PATTERN_SEGMENTS);
            return -1;
        }
        if (n == 0) {
            snprintf(why, whylen, e ? "empty path segment" : "no trailing / (a trailing slash is the same path)");
            return -1;
        }
        if (n > PG_POLICY_MAX_SEGMENT) {
            snprintf(why, whylen, "a segment is longer than %d bytes", PG_POLICY_MAX_SEGMENT);
            return -1;
        }
        if (n == 2 && memcmp(s, "**", 2) == 0) {
            if (e) {
                snprintf(why, whylen, "** may only be the last segment");
                return -1;
            }
        } else if (s[0] == '{') {
            if (s[n - 1] != '}' || n < 3) {
                snprintf(why, whylen, "a parameter segment is written {name}");
                return -1;
            }
            for (size_t i = 1; i < n - 1; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '_') {
                    snprintf(why, whylen, "a parameter name has letters, digits and _ only");
                    return -1;
                }
        } else if (!(n == 1 && s[0] == '*')) {
            for (size_t i = 0; i < n; i++)
                if (strchr("{}*?#%\\ ", s[i]) || (unsigned char)s[i] < 0x21 || (unsigned char)s[i] >= 0x7f) {
                    if (s[i] == '*')
                        snprintf(why, whylen, "* stands for a whole segment: /a/*/b, not /a/b*");
                    else if ((unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
                        snprintf(why, whylen, "'%c' is not allowed in a literal segment", s[i]);
                    else
                        snprintf(why, whylen, "a literal segment has printable ASCII only (write it decoded)");
                    return -1;
                }
        }
        if (!e)
            break;
        s = e + 1;
    }
    return 0;
}

static char **pattern_params(const char *pat, int *n)
{
    int count = 0;
    for (const char *s = pat; (s = strchr(s, '{')); s++)
        count++;
    *n = 0;
    if (!count)
        return NULL;
    char **names = calloc((size_t)count, sizeof *names);
    for (const char *s = pat; names && (s = strchr(s, '{')); s++) {
        const char *e = strchr(s, '}');
        names[(*n)++] = strndup(s + 1, (size_t)(e - s - 1));
    }
    return names;
}

static void load_conditions(struct ld *L, yaml_node_t *map, const char *where, bool header, char ***keys,
                            char ***vals, int *n)
{
    if (map->type != YAML_MAPPING_NODE) {
        ld_err(L, map, where, "expected a mapping of names to required values");
        return;
    }
    int count = (int)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    *keys = calloc((size_t)count + 1, sizeof **keys);
    *vals = calloc((size_t)count + 1, sizeof **vals);
    if (!*keys || !*vals)
        return;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *kn = ld_node(L, a->key), *vn = ld_node(L, a->value);
        const char *k = ld_scalar(kn), *v = ld_scalar(vn);
        if (!k || !*k) {
            ld_err(L, kn, where, "expected a %s name", header ? "header" : "query parameter");
            continue;
        }
        char path[200];
        snprintf(path, sizeof path, "%s.%s", where, k);
        if (!v) {
            ld_err(L, vn, path, "expected the value it must equal");
            continue;
        }
        bool twice = false;
        for (int i = 0; i < *n; i++)
            twice |= header ? !strcasecmp((*keys)[i], k) : !strcmp((*keys)[i], k);
        if (twice) {
            ld_err(L, kn, path, "duplicate key%s", header ? " (header names ignore case)" : "");
            continue;
        }
        (*keys)[*n] = strdup(k);
        (*vals)[*n] = strdup(v);
        (*n)++;
    }
}

static void load_methods(struct ld *L, yaml_node_t *m, struct pg_route *r, const char *where)
{
    yaml_node_t *mn = ld_get(L, m, "methods");
    char path[96];
    snprintf(path, sizeof path, "%s.methods", where);
    if (!mn) {
        ld_err(L, m, path, "missing (required): a list such as [GET, HEAD], or \"*\" for every method");
        return;
    }
    if (ld_scalar(mn) && strcmp(ld_scalar(mn), "*") == 0) {
        r->methods = PG_M_ALL;
        return;
    }
    struct ld_list l;
    ld_names(L, mn, path, &l);
    for (int i = 0; i < l.count; i++) {
        unsigned bit = pg_method_bit(l.names[i], strlen(l.names[i]));
        if (!bit)
            ld_err(L, l.nodes[i], path, "unknown method '%s' (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, or \"*\")",
                   l.names[i]);
        else if (r->methods & bit)
            ld_err(L, l.nodes[i], path, "'%s' is listed twice", l.names[i]);
        r->methods |= bit;
    }
    if (mn->type == YAML_SEQUENCE_NODE && l.count == 0 && mn->data.sequence.items.top == mn->data.sequence.items.start)
        ld_err(L, mn, path, "an empty list matches nothing: name the methods, or \"*\"");
    ld_list_free(&l);
}

static const char *const route_keys[] = {"name", "methods", "path", "permissions", "public", "mode",
                                         "when", "phi", "entity", "track_changes", NULL};

static void load_route(struct ld *L, yaml_node_t *m, struct pg_route *r, int index)
{
    char where[64], path[96];
    snprintf(where, sizeof where, "routes[%d]", index);
    r->index = index;
    r->line = (int)m->start_mark.line + 1;
    r->col = (int)m->start_mark.column + 1;
    if (!ld_check_keys(L, m, where, route_keys))
        return;
    r->name = ld_string(L, m, "name", where, false);
    r->entity_type = ld_string(L, m, "entity", where, false);
    r->pattern = ld_string(L, m, "path", where, true);
    char why[160];
    if (r->pattern && check_pattern(r->pattern, why, sizeof why) != 0) {
        snprintf(path, sizeof path, "%s.path", where);
        ld_err(L, ld_get(L, m, "path"), path, "%s", why);
        free(r->pattern);
        r->pattern = NULL;
    }
    if (r->pattern)
        r->param_names = pattern_params(r->pattern, &r->nparam_names);
    for (int i = 0; i < r->nparam_names; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(r->param_names[i], r->param_names[j])) {
                snprintf(path, sizeof path, "%s.path", where);
                ld_err(L, ld_get(L, m, "path"), path, "parameter {%s} is named twice", r->param_names[i]);
            }
    load_methods(L, m, r, where);
    yaml_node_t *pub = ld_get(L, m, "public");
    bool public_ok = !pub || (ld_scalar(pub) && (!strcmp(ld_scalar(pub), "true") || !strcmp(ld_scalar(pub), "false")));
    r->public_ = ld_bool(L, m, "public", where, false);
    static const char *const modes[] = {"enforce", "shadow", NULL};
    r->mode = ld_choice(L, m, "mode", where, modes, 0) == 1 ? PG_MODE_SHADOW : PG_MODE_ENFORCE;
    yaml_node_t *pn = ld_get(L, m, "permissions");
    snprintf(path, sizeof path, "%s.permissions", where);
    ld_perm_list(L, pn, path, &r->required, &r->required_list, &r->nrequired);
    if (r->public_ && pn)
        ld_err(L, pn, path, "a public route takes no permissions");
    else if (!r->public_ && !pn && public_ok)
        ld_err(L, m, path, "missing: a route needs permissions, or public: true");
    else if (pn && pn->type == YAML_SEQUENCE_NODE && pn->data.sequence.items.top == pn->data.sequence.items.start)
        ld_err(L, pn, path, "an empty list would let any signed-in user through; name a permission");
    yaml_node_t *when = ld_get(L, m, "when");
    if (when) {
        static const char *const when_keys[] = {"query", "headers", NULL};
        snprintf(path, sizeof path, "%s.when", where);
        if (ld_check_keys(L, when, path, when_keys)) {
            yaml_node_t *q = ld_get(L, when, "query"), *h = ld_get(L, when, "headers");
            char sub[120];
            snprintf(sub, sizeof sub, "%s.query", path);
            if (q)
                load_conditions(L, q, sub, false, &r->cond_query_keys, &r->cond_query_vals, &r->ncond_query);
            snprintf(sub, sizeof sub, "%s.headers", path);
            if (h)
                load_conditions(L, h, sub, true, &r->cond_header_keys, &r->cond_header_vals, &r->ncond_header);
        }
    }
    yaml_node_t *phi = ld_get(L, m, "phi");
    if (phi) {
        snprintf(path, sizeof path, "%s.phi", where);
        ld_phi(L, r, phi, path);
    }
    r->track_changes = ld_bool(L, m, "track_changes", where, false);
    yaml_node_t *track = ld_get(L, m, "track_changes");
    snprintf(path, sizeof path, "%s.track_changes", where);
    /* The resource before a change is fetched with a GET of the same path:
     * the route must name one resource and change it. */
    if (r->track_changes && (!r->entity_type || r->nparam_names == 0))
        ld_err(L, track, path, "needs the route's entity and a {param} naming the resource (e.g. /fhir/Patient/{id})");
    else if (r->track_changes && !(r->methods & (PG_M_PUT | PG_M_PATCH | PG_M_DELETE)))
        ld_err(L, track, path, "applies to PUT, PATCH and DELETE; the route allows none of them");
}

void ld_routes(struct ld *L, yaml_node_t *list)
{
    if (list->type != YAML_SEQUENCE_NODE) {
        ld_err(L, list, "routes", "expected a list of routes");
        return;
    }
    int count = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (count > PG_POLICY_MAX_ROUTES) {
        ld_err(L, list, "routes", "%d routes; at most %d", count, PG_POLICY_MAX_ROUTES);
        return;
    }
    L->p->routes = calloc((size_t)count + 1, sizeof *L->p->routes);
    if (!L->p->routes)
        return;
    for (int i = 0; i < count; i++)
        load_route(L, ld_node(L, list->data.sequence.items.start[i]), &L->p->routes[i], i);
    L->p->nroutes = count;
    /* Route names are unique: rate limits and tests refer to them. */
    for (int i = 0; i < count; i++)
        for (int j = 0; j < i && L->p->routes[i].name; j++)
            if (L->p->routes[j].name && !strcmp(L->p->routes[i].name, L->p->routes[j].name)) {
                char where[64];
                snprintf(where, sizeof where, "routes[%d].name", i);
                ld_err(L, ld_get(L, ld_node(L, list->data.sequence.items.start[i]), "name"), where,
                       "'%s' is already the name of the route at line %d", L->p->routes[i].name, L->p->routes[j].line);
                break;
            }
}
