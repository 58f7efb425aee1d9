/* Reading a policy file: YAML to the model of policy.h, checking every key
 * and collecting every error with its place. The sections are read by
 * load_roles.c, load_routes.c, load_phi.c and load_limits.c; compile.c
 * then resolves inheritance, finds unreachable rules and builds the trie. */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "policy/compile.h"
#include "policy/load_yaml.h"
#include "policy/policy.h"

static const char *const top_keys[] = {"version", "revision", "permissions", "roles", "routes", "sessions",
                                       "lockout", "rate_limits", "login_limits", "break_glass", NULL};

static void load_root(struct ld *L, yaml_node_t *root)
{
    struct pg_policy *p = L->p;
    ld_check_keys(L, root, "", top_keys); /* reports unknown keys; the known ones are read below */
    yaml_node_t *v = ld_get(L, root, "version");
    if (!v)
        ld_err(L, root, "version", "missing (required): this is schema version 1, write version: 1");
    else if (!ld_scalar(v) || strcmp(ld_scalar(v), "1") != 0)
        ld_err(L, v, "version", "unsupported schema version '%s' (this phiguard reads version 1)",
               ld_scalar(v) ? ld_scalar(v) : "?");
    p->version = 1;
    p->revision = ld_string(L, root, "revision", "", false);
    if (p->revision && strlen(p->revision) > 64)
        ld_err(L, ld_get(L, root, "revision"), "revision", "longer than 64 characters");
    yaml_node_t *n;
    if ((n = ld_get(L, root, "permissions")))
        ld_permissions(L, n);
    if ((n = ld_get(L, root, "roles")))
        ld_roles(L, n);
    if ((n = ld_get(L, root, "routes")))
        ld_routes(L, n);
    else
        ld_err(L, root, "routes", "missing (required): with no routes every request is denied");
    ld_phi_crosscheck(L);
    ld_params(L, root);
    if ((n = ld_get(L, root, "rate_limits")))
        ld_rate_limits(L, n);
}

struct pg_policy *pg_policy_load_buffer(const char *name, const char *data, size_t len,
                                        struct pg_policy_errors *errs)
{
    struct pg_policy *p = calloc(1, sizeof *p);
    if (!p) {
        pg_policy_errors_add(errs, "%s:1:1: out of memory", name);
        return NULL;
    }
    atomic_init(&p->refs, 1);
    p->file = strdup(name);
    p->perm_names = calloc(PG_POLICY_MAX_PERMS, sizeof *p->perm_names);
    p->roles = calloc(PG_POLICY_MAX_ROLES, sizeof *p->roles);
    if (!p->file || !p->perm_names || !p->roles) {
        pg_policy_errors_add(errs, "%s:1:1: out of memory", name);
        pg_policy_unref(p);
        return NULL;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)data, len, digest);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(p->sha256 + 2 * i, 3, "%02x", digest[i]);
    ld_builtin_roles(p);

    int before = pg_policy_errors_total(errs);
    struct ld L = {.file = name, .errs = errs, .p = p};
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        pg_policy_errors_add(errs, "%s:%zu:%zu: YAML syntax error: %s%s%s", name, parser.problem_mark.line + 1,
                             parser.problem_mark.column + 1, parser.problem ? parser.problem : "?",
                             parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        pg_policy_unref(p);
        return NULL;
    }
    L.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        ld_err(&L, root, NULL, "expected a mapping at the top level (version, roles, routes, ...)");
    else
        load_root(&L, root);
    if (pg_policy_errors_total(errs) == before)
        pg_policy_compile(p, errs);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (pg_policy_errors_total(errs) != before) {
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

int pg_policy_route_index(const struct pg_policy *p, const char *name)
{
    for (int i = 0; i < p->nroutes; i++)
        if (p->routes[i].name && strcmp(p->routes[i].name, name) == 0)
            return i;
    return -1;
}

const struct pg_phi_field *pg_policy_find_field(const struct pg_policy *p, const char *logical_path)
{
    for (int i = 0; i < p->nroutes; i++) {
        const struct pg_route *r = &p->routes[i];
        for (int k = 0; k < r->nphi_request; k++)
            if (r->phi_request[k].logical_path && !strcmp(r->phi_request[k].logical_path, logical_path))
                return &r->phi_request[k];
        for (int k = 0; k < r->nphi_response; k++)
            if (r->phi_response[k].logical_path && !strcmp(r->phi_response[k].logical_path, logical_path))
                return &r->phi_response[k];
    }
    return NULL;
}
