/* The permissions and roles sections, and the built-in ones every policy
 * starts from. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/builtin.h"
#include "policy/load_yaml.h"

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
    if (!*s || !islower((unsigned char)*s) || strlen(s) > 64)
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
    if (!p->perm_names[p->nperms])
        return -1;
    return p->nperms++;
}

void ld_permissions(struct ld *L, yaml_node_t *n)
{
    struct ld_list l;
    if (n->type == YAML_SCALAR_NODE && !*ld_scalar(n))
        return; /* "permissions:" with nothing under it */
    ld_names(L, n, "permissions", &l);
    for (int i = 0; i < l.count; i++) {
        if (!valid_perm_name(l.names[i]))
            ld_err(L, l.nodes[i], "permissions",
                   "'%s' is not a permission name (expected lower-case words joined by ':', e.g. export:bulk)",
                   l.names[i]);
        else if (pg_policy_perm_index(L->p, l.names[i]) >= 0)
            ld_err(L, l.nodes[i], "permissions", "'%s' is already defined", l.names[i]);
        else if (add_perm(L->p, l.names[i]) < 0)
            ld_err(L, l.nodes[i], "permissions", "too many permissions (at most %d)", PG_POLICY_MAX_PERMS);
    }
    ld_list_free(&l);
}

void ld_builtin_roles(struct pg_policy *p)
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
            ld_set_perm(&r->direct, pg_policy_perm_index(p, b->permissions[k]));
    }
}

static const char *const role_keys[] = {"inherits", "permissions", "description", "emergency", "mfa_required", NULL};

void ld_roles(struct ld *L, yaml_node_t *map)
{
    struct pg_policy *p = L->p;
    if (map->type == YAML_SCALAR_NODE && !*ld_scalar(map))
        return; /* "roles:" with nothing under it */
    if (map->type != YAML_MAPPING_NODE) {
        ld_err(L, map, "roles", "expected a mapping of role names to role definitions");
        return;
    }
    int first = p->nroles;
    /* Names first, so roles may inherit from roles defined further down. */
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = ld_node(L, a->key);
        const char *name = ld_scalar(k);
        char path[160];
        snprintf(path, sizeof path, "roles.%s", name ? name : "?");
        int existing = name ? pg_policy_role_index(p, name) : -1;
        if (!name || !valid_role_name(name)) {
            ld_err(L, k, "roles", "'%s' is not a role name (a lower-case letter, then letters, digits, _; at most 64)",
                   name ? name : "?");
        } else if (existing >= 0 && p->roles[existing].builtin) {
            ld_err(L, k, path, "a built-in role cannot be redefined or extended; define a new role that inherits it");
        } else if (existing >= 0) {
            ld_err(L, k, path, "duplicate key (first at line %d)", p->roles[existing].line);
        } else if (p->nroles >= PG_POLICY_MAX_ROLES) {
            ld_err(L, k, path, "too many roles (at most %d, built-in ones included)", PG_POLICY_MAX_ROLES);
        } else {
            struct pg_role *r = &p->roles[p->nroles++];
            r->name = strdup(name);
            r->line = (int)k->start_mark.line + 1;
            r->col = (int)k->start_mark.column + 1;
        }
    }
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = ld_node(L, a->key);
        const char *name = ld_scalar(k);
        int idx = name ? pg_policy_role_index(p, name) : -1;
        if (idx < first || p->roles[idx].line != (int)k->start_mark.line + 1 ||
            p->roles[idx].col != (int)k->start_mark.column + 1)
            continue; /* refused above, or the second of a duplicate */
        struct pg_role *r = &p->roles[idx];
        yaml_node_t *def = ld_node(L, a->value);
        char path[160], sub[200];
        snprintf(path, sizeof path, "roles.%s", name);
        if (def->type != YAML_MAPPING_NODE) {
            ld_err(L, def, path, "expected a mapping with permissions and/or inherits");
            continue;
        }
        if (!ld_check_keys(L, def, path, role_keys))
            continue;
        r->description = ld_string(L, def, "description", path, false);
        r->emergency = ld_bool(L, def, "emergency", path, false);
        r->mfa_required = ld_bool(L, def, "mfa_required", path, false);
        yaml_node_t *inh = ld_get(L, def, "inherits");
        snprintf(sub, sizeof sub, "%s.inherits", path);
        ld_role_list(L, inh, sub, &r->inherits, &r->ninherits);
        for (int i = 0; i < r->ninherits; i++)
            if (r->inherits[i] == idx)
                ld_err(L, inh, sub, "a role cannot inherit itself");
        yaml_node_t *perms = ld_get(L, def, "permissions");
        snprintf(sub, sizeof sub, "%s.permissions", path);
        ld_perm_list(L, perms, sub, &r->direct, NULL, NULL);
        if (!perms && !inh)
            ld_err(L, def, path, "a role needs permissions or inherits");
    }
}
