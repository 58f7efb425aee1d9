#include "identity.h"

#include <stdio.h>
#include <string.h>

#include "json_tree.h"

/* A value that becomes a header and an audit field: no control bytes. */
static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int copy_text(char *out, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= cap || !printable(s))
        return -1;
    memcpy(out, s, n + 1);
    return 0;
}

static int user_id_of(const struct oidc_config *c, yajl_val claims, struct oidc_identity_buf *buf, char *err,
                      size_t errcap)
{
    if (c->user_claim) {
        yajl_val v = oidc_json_path(claims, c->user_claim);
        if (!YAJL_IS_STRING(v) || copy_text(buf->user_id, sizeof buf->user_id, OIDC_STR(v))) {
            snprintf(err, errcap, "user claim %s is missing, not a string, empty, too long or not printable",
                     c->user_claim);
            return -1;
        }
        return 0;
    }
    const char *sub = oidc_json_string(claims, "sub");
    const char *iss = oidc_json_string(claims, "iss");
    int n = sub && iss && sub[0] ? snprintf(buf->user_id, sizeof buf->user_id, "%s|%s", iss, sub) : -1;
    if (n < 0 || (size_t)n >= sizeof buf->user_id || !printable(buf->user_id)) {
        snprintf(err, errcap, "sub is missing, not a string, too long or not printable");
        return -1;
    }
    return 0;
}

static const char *username_of(const struct oidc_config *c, yajl_val claims, struct oidc_identity_buf *buf)
{
    const char *names[] = {c->username_claim, "preferred_username", "email"};
    int from = c->username_claim ? 0 : 1, to = c->username_claim ? 1 : 3;
    for (int i = from; i < to; i++) {
        yajl_val v = oidc_json_path(claims, names[i]);
        if (YAJL_IS_STRING(v) && copy_text(buf->username, sizeof buf->username, OIDC_STR(v)) == 0)
            return buf->username;
    }
    return NULL; /* the host shows user_id */
}

static void add_role(struct phg_identity *id, const char *role)
{
    for (int i = 0; i < id->nroles; i++)
        if (!strcmp(id->roles[i], role))
            return;
    if (id->nroles < PHG_MAX_ROLES)
        id->roles[id->nroles++] = role;
}

static void map_value(const struct oidc_config *c, const char *value, struct phg_identity *id,
                      struct oidc_identity_buf *buf)
{
    for (int i = 0; i < c->nrole_map; i++)
        if (!strcmp(c->role_map[i].idp_value, value)) {
            for (int k = 0; k < c->role_map[i].nroles; k++)
                add_role(id, c->role_map[i].roles[k]);
            return;
        }
    buf->unmapped++;
}

int oidc_identity_map(const struct oidc_config *c, yajl_val claims, long long exp, struct phg_identity *id,
                      struct oidc_identity_buf *buf, char *err, size_t errcap)
{
    memset(id, 0, sizeof *id);
    buf->unmapped = 0;
    if (user_id_of(c, claims, buf, err, errcap))
        return -1;
    id->user_id = buf->user_id;
    id->username = username_of(c, claims, buf);
    id->method = "oidc";
    id->expires_at = exp + c->leeway_s;
    for (int i = 0; i < c->ndefault_roles; i++)
        add_role(id, c->default_roles[i]);
    yajl_val v = c->roles_claim ? oidc_json_path(claims, c->roles_claim) : NULL;
    if (YAJL_IS_STRING(v)) {
        map_value(c, OIDC_STR(v), id, buf);
    } else if (YAJL_IS_ARRAY(v)) {
        for (size_t k = 0; k < v->u.array.len; k++)
            if (YAJL_IS_STRING(v->u.array.values[k]))
                map_value(c, OIDC_STR(v->u.array.values[k]), id, buf);
            else
                buf->unmapped++;
    } else if (v && !YAJL_IS_NULL(v)) {
        snprintf(err, errcap, "roles claim %s is neither a string nor a list", c->roles_claim);
        return -1;
    }
    return 0;
}
