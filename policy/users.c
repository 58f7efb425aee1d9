#include "policy/users.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "policy/password.h"

static const char *const user_keys[] = {"id", "username", "display_name", "roles", "password", "mfa_required",
                                        "disabled", NULL};

static void at(struct pg_policy_errors *e, const char *file, const yaml_node_t *n, const char *fmt, const char *a,
               const char *b)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    pg_policy_errors_add(e, "%s:%zu:%zu: %s", file, n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1,
                         msg);
}

static yaml_node_t *value_of(yaml_document_t *d, yaml_node_t *m, const char *key)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static char *str(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length ? strdup((const char *)n->data.scalar.value)
                                                                      : NULL;
}

static bool boolean(struct pg_policy_errors *e, const char *file, yaml_node_t *n, const char *key, bool def)
{
    if (!n)
        return def;
    const char *v = n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : "";
    if (!strcmp(v, "true"))
        return true;
    if (!strcmp(v, "false"))
        return false;
    at(e, file, n, "users.%s: expected true or false%s", key, NULL);
    return def;
}

struct pg_users *pg_users_load_buffer(const char *name, const char *data, size_t len, struct pg_policy_errors *errs)
{
    int before = errs->count;
    struct pg_users *u = calloc(1, sizeof *u);
    atomic_init(&u->refs, 1);
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        pg_policy_errors_add(errs, "%s:%zu:%zu: YAML syntax error: %s", name, parser.problem_mark.line + 1,
                             parser.problem_mark.column + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        pg_users_unref(u);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *list = root && root->type == YAML_MAPPING_NODE ? value_of(&doc, root, "users") : NULL;
    if (!list || list->type != YAML_SEQUENCE_NODE) {
        at(errs, name, list ? list : root, "users: expected a list of users under users:%s%s", NULL, NULL);
    } else {
        int n = (int)(list->data.sequence.items.top - list->data.sequence.items.start);
        u->users = calloc((size_t)n + 1, sizeof *u->users);
        for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
            yaml_node_t *m = yaml_document_get_node(&doc, *it);
            if (m->type != YAML_MAPPING_NODE) {
                at(errs, name, m, "users: expected a user (id, username, roles, password)%s%s", NULL, NULL);
                continue;
            }
            for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
                yaml_node_t *k = yaml_document_get_node(&doc, p->key);
                const char *kn = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
                bool known = false;
                for (int i = 0; user_keys[i]; i++)
                    known |= !strcmp(user_keys[i], kn);
                if (!known)
                    at(errs, name, k, "users.%s: unknown key%s", kn, NULL);
            }
            struct pg_user *x = &u->users[u->count++];
            x->line = (int)m->start_mark.line + 1;
            x->id = str(value_of(&doc, m, "id"));
            x->username = str(value_of(&doc, m, "username"));
            x->display_name = str(value_of(&doc, m, "display_name"));
            x->password = str(value_of(&doc, m, "password"));
            x->mfa_required = boolean(errs, name, value_of(&doc, m, "mfa_required"), "mfa_required", false);
            x->disabled = boolean(errs, name, value_of(&doc, m, "disabled"), "disabled", false);
            if (!x->id)
                at(errs, name, m, "users.id: missing (required)%s%s", NULL, NULL);
            if (!x->username)
                at(errs, name, m, "users.username: missing (required)%s%s", NULL, NULL);
            struct pg_argon2_params params;
            char why[200];
            yaml_node_t *pw = value_of(&doc, m, "password");
            if (!x->password)
                at(errs, name, pw ? pw : m, "users.password: missing: an Argon2id PHC string (phiguard user hash)%s%s",
                   NULL, NULL);
            else if (pg_password_phc_params(x->password, &params) != 0)
                at(errs, name, pw, "users.password: not an Argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)%s%s",
                   NULL, NULL);
            else if (!pg_argon2_params_ok(&params, why, sizeof why))
                at(errs, name, pw, "users.password: %s%s", why, NULL);
            yaml_node_t *roles = value_of(&doc, m, "roles");
            if (!roles || roles->type != YAML_SEQUENCE_NODE ||
                roles->data.sequence.items.top == roles->data.sequence.items.start) {
                at(errs, name, roles ? roles : m, "users.roles: expected a list of role names%s%s", NULL, NULL);
            } else {
                int k = (int)(roles->data.sequence.items.top - roles->data.sequence.items.start);
                x->roles = calloc((size_t)k, sizeof *x->roles);
                for (yaml_node_item_t *r = roles->data.sequence.items.start; r < roles->data.sequence.items.top; r++) {
                    char *role = str(yaml_document_get_node(&doc, *r));
                    if (role)
                        x->roles[x->nroles++] = role;
                }
            }
            for (int j = 0; j < u->count - 1; j++) {
                if (x->id && u->users[j].id && !strcmp(x->id, u->users[j].id))
                    at(errs, name, m, "users.id: '%s' is already used%s", x->id, NULL);
                if (x->username && u->users[j].username && !strcmp(x->username, u->users[j].username))
                    at(errs, name, m, "users.username: '%s' is already used%s", x->username, NULL);
            }
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (errs->count != before) {
        pg_users_unref(u);
        return NULL;
    }
    return u;
}

struct pg_users *pg_users_load(const char *file, struct pg_policy_errors *errs)
{
    size_t len;
    char *buf = pg_policy_read_file(file, 1u << 20, &len, errs);
    if (!buf)
        return NULL;
    struct pg_users *u = pg_users_load_buffer(file, buf, len, errs);
    free(buf);
    return u;
}

const struct pg_user *pg_users_by_name(const struct pg_users *u, const char *username)
{
    for (int i = 0; i < u->count; i++)
        if (u->users[i].username && !strcmp(u->users[i].username, username))
            return &u->users[i];
    return NULL;
}

const struct pg_user *pg_users_by_id(const struct pg_users *u, const char *id)
{
    for (int i = 0; i < u->count; i++)
        if (u->users[i].id && !strcmp(u->users[i].id, id))
            return &u->users[i];
    return NULL;
}

struct pg_users *pg_users_ref(struct pg_users *u)
{
    atomic_fetch_add(&u->refs, 1);
    return u;
}

void pg_users_unref(struct pg_users *u)
{
    if (!u || atomic_fetch_sub(&u->refs, 1) != 1)
        return;
    for (int i = 0; i < u->count; i++) {
        struct pg_user *x = &u->users[i];
        free(x->id);
        free(x->username);
        free(x->display_name);
        free(x->password);
        for (int k = 0; k < x->nroles; k++)
            free(x->roles[k]);
        free(x->roles);
    }
    free(u->users);
    free(u);
}
