/* Reading a policy file: YAML to the model of policy.h, checking every key
 * and collecting every error with its place. Compilation (the route trie,
 * effective permissions) is in compile.c. */
#include <ctype.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "policy/builtin.h"
#include "policy/compile.h"
#include "policy/policy.h"
#include "policy/selector.h"
#include "policy/units.h"

struct ld {
    const char *file;
    yaml_document_t *doc;
    struct pg_policy_errors *errs;
    struct pg_policy *p;
    int nerr0;
};

static void __attribute__((format(printf, 4, 5)))
err(struct ld *L, const yaml_node_t *at, const char *key, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pg_policy_errors_add(L->errs, "%s:%zu:%zu: %s%s%s", L->file, at ? at->start_mark.line + 1 : 1,
                         at ? at->start_mark.column + 1 : 1, key ? key : "", key ? ": " : "", msg);
}

static yaml_node_t *node(struct ld *L, int id)
{
    return yaml_document_get_node(L->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Checks a mapping's keys against the allowed ones: unknown and duplicate
 * keys are errors. */
static bool check_keys(struct ld *L, yaml_node_t *map, const char *where, const char *const *allowed)
{
    if (!map || map->type != YAML_MAPPING_NODE) {
        err(L, map, where, "expected a mapping");
        return false;
    }
    bool ok = true;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(L, a->key);
        const char *name = scalar(k);
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", where ? where : "", where && *where ? "." : "", name ? name : "?");
        if (!name) {
            err(L, k, where, "expected a key name");
            ok = false;
            continue;
        }
        bool known = false;
        for (int i = 0; allowed[i]; i++)
            known |= strcmp(allowed[i], name) == 0;
        if (!known) {
            char list[400] = "";
            size_t used = 0;
            for (int i = 0; allowed[i] && used < sizeof list; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
            err(L, k, path, "unknown key (expected one of: %s)", list);
            ok = false;
        }
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
            const char *other = scalar(node(L, b->key));
            if (other && strcmp(other, name) == 0) {
                err(L, k, path, "duplicate key (first at line %zu)", node(L, b->key)->start_mark.line + 1);
                ok = false;
                break;
            }
        }
    }
    return ok;
}

static yaml_node_t *get(struct ld *L, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        const char *name = scalar(node(L, a->key));
        if (name && strcmp(name, key) == 0)
            return node(L, a->value);
    }
    return NULL;
}

static char *get_string(struct ld *L, yaml_node_t *map, const char *key, const char *where, bool required)
{
    yaml_node_t *n = get(L, map, key);
    char path[256];
    snprintf(path, sizeof path, "%s.%s", where, key);
    if (!n) {
        if (required)
            err(L, map, path, "missing (required)");
        return NULL;
    }
    const char *v = scalar(n);
    if (!v || !*v) {
        err(L, n, path, "expected a non-empty string");
        return NULL;
    }
    return strdup(v);
}

static int get_bool(struct ld *L, yaml_node_t *map, const char *key, const char *where, bool def)
{
    yaml_node_t *n = get(L, map, key);
    if (!n)
        return def;
    const char *v = scalar(n);
    if (v && strcmp(v, "true") == 0)
        return true;
    if (v && strcmp(v, "false") == 0)
        return false;
    err(L, n, where, "%s: expected true or false", key);
    return def;
}

static uint32_t get_duration(struct ld *L, yaml_node_t *map, const char *key, const char *where, uint32_t def,
                             long long min_ms, long long max_ms)
{
    yaml_node_t *n = get(L, map, key);
    if (!n)
        return def;
    long long ms;
    const char *v = scalar(n);
    char path[256];
    snprintf(path, sizeof path, "%s.%s", where, key);
    if (!v || pg_parse_duration_ms(v, &ms) != 0) {
        err(L, n, path, "expected a duration such as 30s, 30m, 12h or 1d");
        return def;
    }
    if (ms < min_ms || ms > max_ms) {
        err(L, n, path, "%s is out of range (%lld ms to %lld ms)", v, min_ms, max_ms);
        return def;
    }
    return (uint32_t)ms;
}

static int get_int(struct ld *L, yaml_node_t *map, const char *key, const char *where, int def, int min, int max)
{
    yaml_node_t *n = get(L, map, key);
    if (!n)
        return def;
    const char *v = scalar(n);
    char *end;
    char path[256];
    snprintf(path, sizeof path, "%s.%s", where, key);
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno) {
        err(L, n, path, "expected a whole number");
        return def;
    }
    if (x < min || x > max) {
        err(L, n, path, "%ld is out of range (%d to %d)", x, min, max);
        return def;
    }
    return (int)x;
}

/* A list of scalars (or one scalar, read as a list of one). */
static int string_list(struct ld *L, yaml_node_t *n, const char *where, const char ***out)
{
    *out = NULL;
    if (!n)
        return 0;
    if (n->type == YAML_SCALAR_NODE) {
        *out = malloc(sizeof **out);
        (*out)[0] = scalar(n);
        return 1;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        err(L, n, where, "expected a list of names");
        return -1;
    }
    int count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    *out = calloc((size_t)count + 1, sizeof **out);
    int k = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = node(L, *it);
        const char *v = scalar(e);
        if (!v || !*v) {
            err(L, e, where, "expected a name");
            continue;
        }
        (*out)[k++] = v;
    }
    return k;
}

static bool valid_perm_name(const char *s)
{
    /* word:word[:word...] in lower case */
    int parts = 0;
    size_t run = 0;
    for (const char *c = s;; c++) {
        if (*c == ':' || *c == '\0') {
            if (run == 0)
                return false;
            parts++;
            run = 0;
            if (*c == '\0')
                break;
        } else if (islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_') {
            run++;
        } else {
            return false;
        }
    }
    return parts >= 2;
}

static bool valid_role_name(const char *s)
{
    if (!*s || !islower((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static int add_perm(struct pg_policy *p, const char *name)
{
    if (p->nperms >= PG_POLICY_MAX_PERMS)
        return -1;
    p->perm_names[p->nperms] = strdup(name);
    return p->nperms++;
}

/* ---- permissions and roles ---- */

static void load_permissions(struct ld *L, yaml_node_t *n)
{
    const char **names;
    int count = string_list(L, n, "permissions", &names);
    for (int i = 0; i < count; i++) {
        yaml_node_t *at = n->type == YAML_SEQUENCE_NODE ? node(L, n->data.sequence.items.start[i]) : n;
        if (!valid_perm_name(names[i]))
            err(L, at, "permissions", "'%s' is not a permission name (expected words joined by ':', e.g. export:bulk)",
                names[i]);
        else if (pg_policy_perm_index(L->p, names[i]) >= 0)
            err(L, at, "permissions", "'%s' is already defined", names[i]);
        else if (add_perm(L->p, names[i]) < 0)
            err(L, at, "permissions", "too many permissions (at most %d)", PG_POLICY_MAX_PERMS);
    }
    free(names);
}

static void set_perm(pg_permset *s, int i)
{
    s->w[i / 64] |= 1ULL << (i % 64);
}

static void add_builtins(struct pg_policy *p)
{
    for (int i = 0; pg_builtin_permissions[i]; i++)
        add_perm(p, pg_builtin_permissions[i]);
    for (int i = 0; pg_builtin_roles[i].name; i++) {
        const struct pg_builtin_role *b = &pg_builtin_roles[i];
        struct pg_role *r = &p->roles[p->nroles++];
        r->name = strdup(b->name);
        r->description = strdup(b->description);
        r->builtin = true;
        r->emergency = b->emergency;
        r->mfa_required = b->mfa_required;
        for (int k = 0; b->permissions[k]; k++)
            set_perm(&r->direct, pg_policy_perm_index(p, b->permissions[k]));
    }
}

static const char *const role_keys[] = {"inherits", "permissions", "description", "emergency", "mfa_required", NULL};

static void load_roles(struct ld *L, yaml_node_t *map)
{
    struct pg_policy *p = L->p;
    if (map->type != YAML_MAPPING_NODE) {
        err(L, map, "roles", "expected a mapping of role names to role definitions");
        return;
    }
    int first = p->nroles;
    /* Names first, so roles may inherit from roles defined further down. */
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = node(L, a->key);
        const char *name = scalar(k);
        char path[160];
        snprintf(path, sizeof path, "roles.%s", name ? name : "?");
        int existing = name ? pg_policy_role_index(p, name) : -1;
        if (!name || !valid_role_name(name)) {
            err(L, k, "roles", "'%s' is not a role name (lower case letters, digits, _)", name ? name : "?");
        } else if (existing >= 0 && p->roles[existing].builtin) {
            err(L, k, path, "built-in role cannot be redefined; define a new role that inherits it");
        } else if (existing >= 0) {
            err(L, k, path, "duplicate key (first at line %d)", p->roles[existing].line);
        } else if (p->nroles >= PG_POLICY_MAX_ROLES) {
            err(L, k, path, "too many roles (at most %d)", PG_POLICY_MAX_ROLES);
        } else {
            struct pg_role *r = &p->roles[p->nroles++];
            r->name = strdup(name);
            r->line = (int)k->start_mark.line + 1;
            r->col = (int)k->start_mark.column + 1;
        }
    }
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        const char *name = scalar(node(L, a->key));
        int idx = name ? pg_policy_role_index(p, name) : -1;
        if (idx < first)
            continue;
        struct pg_role *r = &p->roles[idx];
        yaml_node_t *def = node(L, a->value);
        char path[160];
        snprintf(path, sizeof path, "roles.%s", name);
        if (def->type == YAML_SCALAR_NODE && !*scalar(def)) {
            err(L, def, path, "expected a mapping with permissions and/or inherits");
            continue;
        }
        if (!check_keys(L, def, path, role_keys))
            continue;
        r->description = get_string(L, def, "description", path, false);
        r->emergency = get_bool(L, def, "emergency", path, false);
        r->mfa_required = get_bool(L, def, "mfa_required", path, false);
        char sub[200];
        snprintf(sub, sizeof sub, "%s.inherits", path);
        yaml_node_t *inh = get(L, def, "inherits");
        const char **names;
        int n = string_list(L, inh, sub, &names);
        r->inherits = n > 0 ? calloc((size_t)n, sizeof *r->inherits) : NULL;
        for (int i = 0; i < n; i++) {
            int j = pg_policy_role_index(p, names[i]);
            if (j < 0)
                err(L, inh, sub, "undefined role '%s'", names[i]);
            else
                r->inherits[r->ninherits++] = j;
        }
        free(names);
        snprintf(sub, sizeof sub, "%s.permissions", path);
        yaml_node_t *perms = get(L, def, "permissions");
        n = string_list(L, perms, sub, &names);
        for (int i = 0; i < n; i++) {
            int j = pg_policy_perm_index(p, names[i]);
            if (j < 0)
                err(L, perms, sub, "undefined permission '%s' (declare it under permissions:)", names[i]);
            else
                set_perm(&r->direct, j);
        }
        free(names);
        if (!perms && !inh)
            err(L, def, path, "a role needs permissions or inherits");
    }
}

/* ---- routes ---- */

static const char *const route_keys[] = {"name", "methods", "path", "permissions", "public", "mode",
                                         "when", "phi", "entity", NULL};
static const char *const phi_field_keys[] = {"path", "read", "searchable", "normalize", "others", "mask", NULL};

unsigned pg_method_bit(const char *name, size_t len)
{
    static const struct {
        const char *name;
        unsigned bit;
    } methods[] = {{"GET", PG_M_GET},     {"HEAD", PG_M_HEAD},     {"POST", PG_M_POST},       {"PUT", PG_M_PUT},
                   {"PATCH", PG_M_PATCH}, {"DELETE", PG_M_DELETE}, {"OPTIONS", PG_M_OPTIONS}};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strlen(methods[i].name) == len && memcmp(methods[i].name, name, len) == 0)
            return methods[i].bit;
    return 0;
}

static int check_pattern(const char *pat, char *why, size_t whylen)
{
    if (pat[0] != '/') {
        snprintf(why, whylen, "expected a path starting with /");
        return -1;
    }
    const char *s = pat + 1;
    while (*s || s == pat + 1) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 && (e || s != pat + 1)) {
            snprintf(why, whylen, "empty path segment");
            return -1;
        }
        if (n == 2 && memcmp(s, "**", 2) == 0) {
            if (e) {
                snprintf(why, whylen, "** may only be the last segment");
                return -1;
            }
        } else if (n >= 2 && s[0] == '{') {
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
                if (strchr("{}*?#%\\ ", s[i])) {
                    snprintf(why, whylen, "'%c' is not allowed in a literal segment", s[i]);
                    return -1;
                }
        }
        if (!e)
            break;
        s = e + 1;
    }
    return 0;
}

static void load_phi_fields(struct ld *L, struct pg_route *r, yaml_node_t *list, const char *where,
                            struct pg_phi_field **out, int *nout)
{
    if (list->type != YAML_SEQUENCE_NODE) {
        err(L, list, where, "expected a list of fields");
        return;
    }
    int count = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    *out = calloc((size_t)count + 1, sizeof **out);
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        yaml_node_t *f = node(L, *it);
        if (!check_keys(L, f, where, phi_field_keys))
            continue;
        struct pg_phi_field *pf = &(*out)[*nout];
        pf->line = (int)f->start_mark.line + 1;
        pf->col = (int)f->start_mark.column + 1;
        pf->selector = get_string(L, f, "path", where, true);
        char why[160];
        if (pf->selector && pg_selector_compile(pf->selector, &pf->steps, &pf->nsteps, why, sizeof why) != 0) {
            char path[200];
            snprintf(path, sizeof path, "%s.path", where);
            err(L, get(L, f, "path"), path, "%s", why);
        }
        pf->logical_path = pf->steps ? pg_selector_logical_path(r->entity_type, pf->steps, pf->nsteps) : NULL;
        char *read = get_string(L, f, "read", where, true);
        pf->read_perm = read ? pg_policy_perm_index(L->p, read) : -1;
        if (read && pf->read_perm < 0)
            err(L, get(L, f, "read"), where, "read: undefined permission '%s'", read);
        free(read);
        pf->searchable = get_bool(L, f, "searchable", where, false);
        yaml_node_t *n = get(L, f, "normalize");
        const char *v = scalar(n);
        if (n && (!v || (strcmp(v, "digits") && strcmp(v, "lower") && strcmp(v, "none"))))
            err(L, n, where, "normalize: expected one of: none, digits, lower");
        else if (v)
            pf->normalize = !strcmp(v, "digits") ? PG_NORM_DIGITS : !strcmp(v, "lower") ? PG_NORM_LOWER : PG_NORM_NONE;
        if (pf->normalize != PG_NORM_NONE && !pf->searchable)
            err(L, n, where, "normalize only applies to searchable fields");
        n = get(L, f, "others");
        v = scalar(n);
        if (n && (!v || (strcmp(v, "mask") && strcmp(v, "redact") && strcmp(v, "deny"))))
            err(L, n, where, "others: expected one of: mask, redact, deny");
        else if (v)
            pf->others = !strcmp(v, "mask") ? PG_PHI_MASK : !strcmp(v, "redact") ? PG_PHI_REDACT : PG_PHI_DENY;
        n = get(L, f, "mask");
        v = scalar(n);
        if (n) {
            int keep = 0;
            if (v && strcmp(v, "all") == 0)
                keep = 0;
            else if (v && strncmp(v, "last", 4) == 0 && v[4] >= '1' && v[4] <= '9' && !v[5])
                keep = v[4] - '0';
            else
                err(L, n, where, "mask: expected all or lastN (N from 1 to 9)");
            pf->mask_keep_last = keep;
            if (pf->others != PG_PHI_MASK)
                err(L, n, where, "mask applies only when others is mask");
        }
        (*nout)++;
    }
}

static void load_conditions(struct ld *L, yaml_node_t *map, const char *where, char ***keys, char ***vals, int *n)
{
    if (map->type != YAML_MAPPING_NODE) {
        err(L, map, where, "expected a mapping of names to required values");
        return;
    }
    int count = (int)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    *keys = calloc((size_t)count + 1, sizeof **keys);
    *vals = calloc((size_t)count + 1, sizeof **vals);
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        const char *k = scalar(node(L, a->key)), *v = scalar(node(L, a->value));
        if (!k || !v) {
            err(L, node(L, a->value), where, "expected name: value");
            continue;
        }
        (*keys)[*n] = strdup(k);
        (*vals)[*n] = strdup(v);
        (*n)++;
    }
}

static void load_route(struct ld *L, yaml_node_t *m, struct pg_route *r, int index)
{
    char where[64];
    snprintf(where, sizeof where, "routes[%d]", index);
    r->index = index;
    r->line = (int)m->start_mark.line + 1;
    r->col = (int)m->start_mark.column + 1;
    if (!check_keys(L, m, where, route_keys))
        return;
    r->name = get_string(L, m, "name", where, false);
    r->entity_type = get_string(L, m, "entity", where, false);
    r->pattern = get_string(L, m, "path", where, true);
    char why[160];
    if (r->pattern && check_pattern(r->pattern, why, sizeof why) != 0) {
        char path[96];
        snprintf(path, sizeof path, "%s.path", where);
        err(L, get(L, m, "path"), path, "%s", why);
        free(r->pattern);
        r->pattern = NULL;
    }
    yaml_node_t *mn = get(L, m, "methods");
    char path[96];
    snprintf(path, sizeof path, "%s.methods", where);
    if (!mn) {
        err(L, m, path, "missing (required): a list such as [GET, HEAD], or \"*\" for every method");
    } else if (scalar(mn) && strcmp(scalar(mn), "*") == 0) {
        r->methods = ~0u;
    } else {
        const char **names;
        int n = string_list(L, mn, path, &names);
        for (int i = 0; i < n; i++) {
            unsigned bit = pg_method_bit(names[i], strlen(names[i]));
            if (!bit)
                err(L, mn, path, "unknown method '%s' (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)", names[i]);
            r->methods |= bit;
        }
        free(names);
    }
    r->public_ = get_bool(L, m, "public", where, false);
    yaml_node_t *mode = get(L, m, "mode");
    if (mode) {
        const char *v = scalar(mode);
        snprintf(path, sizeof path, "%s.mode", where);
        if (v && strcmp(v, "shadow") == 0)
            r->mode = PG_MODE_SHADOW;
        else if (!v || strcmp(v, "enforce") != 0)
            err(L, mode, path, "expected enforce or shadow");
    }
    yaml_node_t *pn = get(L, m, "permissions");
    snprintf(path, sizeof path, "%s.permissions", where);
    const char **names;
    int n = string_list(L, pn, path, &names);
    r->required_list = n > 0 ? calloc((size_t)n, sizeof *r->required_list) : NULL;
    for (int i = 0; i < n; i++) {
        int j = pg_policy_perm_index(L->p, names[i]);
        if (j < 0) {
            err(L, pn, path, "undefined permission '%s'", names[i]);
            continue;
        }
        set_perm(&r->required, j);
        r->required_list[r->nrequired++] = j;
    }
    free(names);
    if (r->public_ && n > 0)
        err(L, pn, path, "a public route takes no permissions");
    if (!r->public_ && !pn)
        err(L, m, path, "missing: a route needs permissions, or public: true");
    yaml_node_t *when = get(L, m, "when");
    if (when) {
        static const char *const when_keys[] = {"query", "headers", NULL};
        snprintf(path, sizeof path, "%s.when", where);
        if (check_keys(L, when, path, when_keys)) {
            yaml_node_t *q = get(L, when, "query"), *h = get(L, when, "headers");
            if (q)
                load_conditions(L, q, path, &r->cond_query_keys, &r->cond_query_vals, &r->ncond_query);
            if (h)
                load_conditions(L, h, path, &r->cond_header_keys, &r->cond_header_vals, &r->ncond_header);
        }
    }
    yaml_node_t *phi = get(L, m, "phi");
    if (phi) {
        static const char *const phi_keys[] = {"request", "response", NULL};
        snprintf(path, sizeof path, "%s.phi", where);
        if (!r->entity_type)
            err(L, phi, path, "PHI fields need the route's entity (e.g. entity: Patient) to name them");
        if (check_keys(L, phi, path, phi_keys)) {
            yaml_node_t *rq = get(L, phi, "request"), *rs = get(L, phi, "response");
            char sub[120];
            snprintf(sub, sizeof sub, "%s.request", path);
            if (rq)
                load_phi_fields(L, r, rq, sub, &r->phi_request, &r->nphi_request);
            snprintf(sub, sizeof sub, "%s.response", path);
            if (rs)
                load_phi_fields(L, r, rs, sub, &r->phi_response, &r->nphi_response);
        }
    }
}

static void load_routes(struct ld *L, yaml_node_t *list)
{
    if (list->type != YAML_SEQUENCE_NODE) {
        err(L, list, "routes", "expected a list of routes");
        return;
    }
    int count = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    L->p->routes = calloc((size_t)count + 1, sizeof *L->p->routes);
    for (int i = 0; i < count; i++)
        load_route(L, node(L, list->data.sequence.items.start[i]), &L->p->routes[i], i);
    L->p->nroutes = count;
    /* Route names are unique: rate limits and tests refer to them. */
    for (int i = 0; i < count; i++)
        for (int j = 0; j < i; j++)
            if (L->p->routes[i].name && L->p->routes[j].name && !strcmp(L->p->routes[i].name, L->p->routes[j].name))
                err(L, node(L, list->data.sequence.items.start[i]), "routes",
                    "route name '%s' is already used at line %d", L->p->routes[i].name, L->p->routes[j].line);
}

/* ---- sessions, lockout, rate limits, break-glass ---- */

static void load_params(struct ld *L, yaml_node_t *root)
{
    struct pg_policy_params *pp = &L->p->params;
    pp->idle_timeout_ms = 30 * 60 * 1000;
    pp->absolute_lifetime_ms = 12 * 3600 * 1000;
    pp->max_concurrent = 3;
    pp->on_limit = PG_ON_LIMIT_REFUSE;
    pp->lockout_max_failures = 5;
    pp->lockout_duration_ms = 30 * 60 * 1000;
    pp->break_glass_window_ms = 60 * 60 * 1000;
    yaml_node_t *s = get(L, root, "sessions");
    static const char *const session_keys[] = {"idle_timeout", "absolute_lifetime", "max_concurrent", "on_limit",
                                               "end_on_ip_change", NULL};
    if (s && check_keys(L, s, "sessions", session_keys)) {
        pp->idle_timeout_ms = get_duration(L, s, "idle_timeout", "sessions", pp->idle_timeout_ms, 1000, 86400000);
        pp->absolute_lifetime_ms =
            get_duration(L, s, "absolute_lifetime", "sessions", pp->absolute_lifetime_ms, 60000, 30LL * 86400000);
        pp->max_concurrent = get_int(L, s, "max_concurrent", "sessions", pp->max_concurrent, 1, 1000);
        pp->end_on_ip_change = get_bool(L, s, "end_on_ip_change", "sessions", false);
        yaml_node_t *ol = get(L, s, "on_limit");
        if (ol) {
            const char *v = scalar(ol);
            if (v && !strcmp(v, "end_oldest"))
                pp->on_limit = PG_ON_LIMIT_END_OLDEST;
            else if (!v || strcmp(v, "refuse"))
                err(L, ol, "sessions.on_limit", "expected refuse or end_oldest");
        }
        if (pp->idle_timeout_ms > pp->absolute_lifetime_ms)
            err(L, s, "sessions", "idle_timeout is longer than absolute_lifetime");
    }
    yaml_node_t *lo = get(L, root, "lockout");
    static const char *const lockout_keys[] = {"max_failures", "duration", NULL};
    if (lo && check_keys(L, lo, "lockout", lockout_keys)) {
        pp->lockout_max_failures = get_int(L, lo, "max_failures", "lockout", 5, 1, 100);
        pp->lockout_duration_ms = get_duration(L, lo, "duration", "lockout", pp->lockout_duration_ms, 1000, 86400000);
    }
    yaml_node_t *bg = get(L, root, "break_glass");
    static const char *const bg_keys[] = {"header", "window", NULL};
    pp->break_glass_header = strdup("X-Break-Glass-Reason");
    if (bg && check_keys(L, bg, "break_glass", bg_keys)) {
        char *h = get_string(L, bg, "header", "break_glass", false);
        if (h) {
            free(pp->break_glass_header);
            pp->break_glass_header = h;
        }
        pp->break_glass_window_ms = get_duration(L, bg, "window", "break_glass", pp->break_glass_window_ms, 60000,
                                                 86400000);
    }
}

static void load_rate_limits(struct ld *L, yaml_node_t *list)
{
    static const char *const rl_keys[] = {"name", "key", "scope", "rate", "burst", "route", NULL};
    if (list->type != YAML_SEQUENCE_NODE) {
        err(L, list, "rate_limits", "expected a list of limits");
        return;
    }
    int count = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
    L->p->rate_rules = calloc((size_t)count + 1, sizeof *L->p->rate_rules);
    for (int i = 0; i < count; i++) {
        yaml_node_t *m = node(L, list->data.sequence.items.start[i]);
        char where[64];
        snprintf(where, sizeof where, "rate_limits[%d]", i);
        if (!check_keys(L, m, where, rl_keys))
            continue;
        struct pg_rate_rule *rr = &L->p->rate_rules[L->p->nrate_rules++];
        rr->line = (int)m->start_mark.line + 1;
        rr->col = (int)m->start_mark.column + 1;
        rr->name = get_string(L, m, "name", where, true);
        yaml_node_t *k = get(L, m, "key");
        const char **names;
        char path[96];
        snprintf(path, sizeof path, "%s.key", where);
        int n = string_list(L, k, path, &names);
        for (int j = 0; j < n; j++) {
            unsigned bit = !strcmp(names[j], "ip") ? PG_RK_IP : !strcmp(names[j], "user") ? PG_RK_USER
                           : !strcmp(names[j], "session") ? PG_RK_SESSION : !strcmp(names[j], "route") ? PG_RK_ROUTE : 0;
            if (!bit)
                err(L, k, path, "unknown key '%s' (ip, user, session, route)", names[j]);
            rr->key |= bit;
        }
        free(names);
        if (!k)
            err(L, m, path, "missing (required): what the limit counts by, e.g. [ip] or [user, route]");
        yaml_node_t *sc = get(L, m, "scope");
        if (sc) {
            const char *v = scalar(sc);
            if (v && !strcmp(v, "global"))
                rr->scope = PG_SCOPE_GLOBAL;
            else if (!v || strcmp(v, "local"))
                err(L, sc, "scope", "expected local or global");
        }
        yaml_node_t *rate = get(L, m, "rate");
        snprintf(path, sizeof path, "%s.rate", where);
        if (!rate || !scalar(rate) || pg_parse_rate(scalar(rate), &rr->rate_per_sec) != 0)
            err(L, rate ? rate : m, path, "expected a rate such as 100/s, 30/m or 1000/h");
        rr->burst = get_int(L, m, "burst", where, 1, 1, 1000000);
        rr->route = get_string(L, m, "route", where, false);
        bool found = !rr->route;
        for (int j = 0; rr->route && j < L->p->nroutes; j++)
            found |= L->p->routes[j].name && !strcmp(L->p->routes[j].name, rr->route);
        if (!found)
            err(L, get(L, m, "route"), where, "route: no route is named '%s'", rr->route);
    }
}

static const char *const top_keys[] = {"version", "permissions", "roles", "routes", "sessions",
                                       "lockout", "rate_limits", "break_glass", NULL};

struct pg_policy *pg_policy_load_buffer(const char *name, const char *data, size_t len,
                                        struct pg_policy_errors *errs)
{
    struct pg_policy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    p->file = strdup(name);
    p->perm_names = calloc(PG_POLICY_MAX_PERMS, sizeof *p->perm_names);
    p->roles = calloc(PG_POLICY_MAX_ROLES, sizeof *p->roles);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)data, len, digest);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(p->sha256 + 2 * i, 3, "%02x", digest[i]);
    add_builtins(p);

    int before = errs->count;
    struct ld L = {.file = name, .errs = errs, .p = p};
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        pg_policy_errors_add(errs, "%s:%zu:%zu: YAML syntax error: %s", name, parser.problem_mark.line + 1,
                             parser.problem_mark.column + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        pg_policy_unref(p);
        return NULL;
    }
    L.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        err(&L, root, NULL, "expected a mapping at the top level (version, roles, routes, ...)");
    } else {
        check_keys(&L, root, "", top_keys); /* report unknown keys, read the known ones */
        yaml_node_t *v = get(&L, root, "version");
        if (!v)
            err(&L, root, "version", "missing (required): this is schema version 1, write version: 1");
        else if (!scalar(v) || strcmp(scalar(v), "1") != 0)
            err(&L, v, "version", "unsupported schema version '%s' (this phiguard reads version 1)",
                scalar(v) ? scalar(v) : "?");
        p->version = 1;
        yaml_node_t *n;
        if ((n = get(&L, root, "permissions")))
            load_permissions(&L, n);
        if ((n = get(&L, root, "roles")))
            load_roles(&L, n);
        if ((n = get(&L, root, "routes")))
            load_routes(&L, n);
        else
            err(&L, root, "routes", "missing (required): with no routes every request is denied");
        load_params(&L, root);
        if ((n = get(&L, root, "rate_limits")))
            load_rate_limits(&L, n);
        if (errs->count == before)
            pg_policy_compile(p, errs);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (errs->count != before) {
        pg_policy_unref(p);
        return NULL;
    }
    return p;
}

struct pg_policy *pg_policy_load(const char *file, struct pg_policy_errors *errs)
{
    size_t len;
    char *buf = pg_policy_read_file(file, 16u << 20, &len, errs);
    if (!buf)
        return NULL;
    struct pg_policy *p = pg_policy_load_buffer(file, buf, len, errs);
    free(buf);
    return p;
}

int pg_policy_role_index(const struct pg_policy *p, const char *name)
{
    for (int i = 0; i < p->nroles; i++)
        if (p->roles[i].name && strcmp(p->roles[i].name, name) == 0)
            return i;
    return -1;
}

int pg_policy_perm_index(const struct pg_policy *p, const char *name)
{
    for (int i = 0; i < p->nperms; i++)
        if (strcmp(p->perm_names[i], name) == 0)
            return i;
    return -1;
}
