#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_tree.h"

static const char *const KNOWN[] = {"issuer",      "audience",     "jwks_file",     "leeway_s",
                                    "user_claim",  "username_claim", "roles_claim", "role_map",
                                    "default_roles", "required_claims", "reload_interval_ms", "forward_token"};

/* Role names go into the comma-separated roles header: plain names only. */
static bool role_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

/* A claim name or dotted path: printable, no spaces, bounded. */
static bool claim_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return false;
    return true;
}

static int fail(char *err, size_t errcap, const char *what, const char *why)
{
    snprintf(err, errcap, "oidc_auth config: %s %s", what, why);
    return -1;
}

static int take_string(yajl_val v, const char *what, char **out, char *err, size_t errcap)
{
    if (!YAJL_IS_STRING(v) || !OIDC_STR(v)[0])
        return fail(err, errcap, what, "must be a non-empty string");
    if (!(*out = strdup(OIDC_STR(v))))
        return fail(err, errcap, what, "(out of memory)");
    return 0;
}

static int take_claim(yajl_val v, const char *what, char **out, char *err, size_t errcap)
{
    if (take_string(v, what, out, err, errcap))
        return -1;
    return claim_name_ok(*out) ? 0 : fail(err, errcap, what, "must be a claim name (a.b for nested members)");
}

static int take_integer(yajl_val v, const char *what, long lo, long hi, long *out, char *err, size_t errcap)
{
    if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < lo || YAJL_GET_INTEGER(v) > hi) {
        char why[80];
        snprintf(why, sizeof why, "must be an integer from %ld to %ld", lo, hi);
        return fail(err, errcap, what, why);
    }
    *out = (long)YAJL_GET_INTEGER(v);
    return 0;
}

/* A value or a list of values, as the items of one list: *one holds v
 * when it is no list. */
static yajl_val *items_of(yajl_val v, yajl_val *one, size_t *len)
{
    if (YAJL_IS_ARRAY(v)) {
        *len = v->u.array.len;
        return v->u.array.values;
    }
    *one = v;
    *len = 1;
    return one;
}

/* A role name or a list of them, into roles[cap]. */
static int take_roles(yajl_val v, const char *what, char **roles, int *n, char *err, size_t errcap)
{
    yajl_val one;
    size_t len;
    yajl_val *items = items_of(v, &one, &len);
    if (len == 0 || len > OIDC_MAX_ROLES_PER_ENTRY)
        return fail(err, errcap, what, "must name 1 to 16 roles");
    for (size_t i = 0; i < len; i++) {
        if (take_string(items[i], what, &roles[*n], err, errcap))
            return -1;
        (*n)++;
        if (!role_name_ok(roles[*n - 1]))
            return fail(err, errcap, what, "holds a role name that is not [A-Za-z0-9_.:-]{1,64}");
    }
    return 0;
}

static int take_audience(yajl_val v, struct oidc_config *c, char *err, size_t errcap)
{
    yajl_val one;
    size_t len;
    yajl_val *items = items_of(v, &one, &len);
    if (len == 0 || len > OIDC_MAX_AUDIENCES)
        return fail(err, errcap, "audience", "must be a string or a list of 1 to 8 strings");
    for (size_t i = 0; i < len; i++) {
        if (take_string(items[i], "audience", &c->audiences[c->naudiences], err, errcap))
            return -1;
        c->naudiences++;
    }
    return 0;
}

static int take_role_map(yajl_val v, struct oidc_config *c, char *err, size_t errcap)
{
    if (!YAJL_IS_OBJECT(v))
        return fail(err, errcap, "role_map", "must be a map of IdP value to phiguard role(s)");
    if (v->u.object.len > OIDC_MAX_ROLE_MAP)
        return fail(err, errcap, "role_map", "has more than 128 entries");
    for (size_t i = 0; i < v->u.object.len; i++) {
        struct oidc_role_rule *r = &c->role_map[c->nrole_map++];
        if (!v->u.object.keys[i][0] || !(r->idp_value = strdup(v->u.object.keys[i])))
            return fail(err, errcap, "role_map", "has an empty IdP value");
        if (take_roles(v->u.object.values[i], "role_map value", r->roles, &r->nroles, err, errcap))
            return -1;
    }
    return 0;
}

static int take_required(yajl_val v, struct oidc_config *c, char *err, size_t errcap)
{
    const char *what = "required_claims";
    if (!YAJL_IS_ARRAY(v) || v->u.array.len > OIDC_MAX_REQUIRED)
        return fail(err, errcap, what, "must be a list of up to 16 entries");
    for (size_t i = 0; i < v->u.array.len; i++) {
        yajl_val e = v->u.array.values[i];
        struct oidc_required_claim *r = &c->required[c->nrequired++];
        if (YAJL_IS_STRING(e)) {
            r->kind = OIDC_REQ_PRESENT;
            if (take_claim(e, "required_claims entry", &r->claim, err, errcap))
                return -1;
            continue;
        }
        yajl_val claim = oidc_json_member(e, "claim"), eq = oidc_json_member(e, "equals");
        if (!YAJL_IS_OBJECT(e) || e->u.object.len != 2 || !claim || !eq)
            return fail(err, errcap, what, "entries are a claim name or {claim: name, equals: value}");
        if (take_claim(claim, "required_claims claim", &r->claim, err, errcap))
            return -1;
        if (YAJL_IS_TRUE(eq) || YAJL_IS_FALSE(eq)) {
            r->kind = OIDC_REQ_BOOL;
            r->boolean = YAJL_IS_TRUE(eq);
        } else {
            r->kind = OIDC_REQ_STRING;
            if (take_string(eq, "required_claims equals", &r->string, err, errcap))
                return -1;
        }
    }
    return 0;
}

static int take_member(const char *key, yajl_val v, struct oidc_config *c, char *err, size_t errcap)
{
    if (!strcmp(key, "issuer"))
        return take_string(v, key, &c->issuer, err, errcap);
    if (!strcmp(key, "audience"))
        return take_audience(v, c, err, errcap);
    if (!strcmp(key, "jwks_file"))
        return take_string(v, key, &c->jwks_file, err, errcap);
    if (!strcmp(key, "leeway_s"))
        return take_integer(v, key, 0, OIDC_MAX_LEEWAY_S, &c->leeway_s, err, errcap);
    if (!strcmp(key, "user_claim"))
        return take_claim(v, key, &c->user_claim, err, errcap);
    if (!strcmp(key, "username_claim"))
        return take_claim(v, key, &c->username_claim, err, errcap);
    if (!strcmp(key, "roles_claim"))
        return take_claim(v, key, &c->roles_claim, err, errcap);
    if (!strcmp(key, "role_map"))
        return take_role_map(v, c, err, errcap);
    if (!strcmp(key, "default_roles"))
        return take_roles(v, key, c->default_roles, &c->ndefault_roles, err, errcap);
    if (!strcmp(key, "required_claims"))
        return take_required(v, c, err, errcap);
    if (!strcmp(key, "forward_token")) {
        if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
            return fail(err, errcap, key, "must be true or false");
        c->forward_token = YAJL_IS_TRUE(v);
        return 0;
    }
    return take_integer(v, key, OIDC_MIN_RELOAD_MS, OIDC_MAX_RELOAD_MS, &c->reload_interval_ms, err, errcap);
}

int oidc_config_parse(const char *json, struct oidc_config *c, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    c->leeway_s = OIDC_DEFAULT_LEEWAY_S;
    c->reload_interval_ms = OIDC_DEFAULT_RELOAD_MS;
    char why[200];
    yajl_val root = oidc_json_parse_object(json, strlen(json), why, sizeof why);
    if (!root) {
        snprintf(err, errcap, "oidc_auth config: %s", why);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < root->u.object.len && rc == 0; i++) {
        const char *key = root->u.object.keys[i];
        bool known = false;
        for (size_t k = 0; k < sizeof KNOWN / sizeof KNOWN[0]; k++)
            known = known || !strcmp(key, KNOWN[k]);
        if (!known) {
            char what[160];
            snprintf(what, sizeof what, "key \"%.100s\"", key);
            rc = fail(err, errcap, what, "is not known (docs/plugin-oidc.md lists the keys)");
        } else {
            rc = take_member(key, root->u.object.values[i], c, err, errcap);
        }
    }
    yajl_tree_free(root);
    if (rc == 0 && !c->issuer)
        rc = fail(err, errcap, "issuer", "is required (the IdP's iss, exactly)");
    if (rc == 0 && !c->naudiences)
        rc = fail(err, errcap, "audience", "is required (the client id tokens are issued for)");
    if (rc == 0 && !c->jwks_file)
        rc = fail(err, errcap, "jwks_file", "is required");
    if (rc == 0 && c->nrole_map && !c->roles_claim)
        rc = fail(err, errcap, "role_map", "needs roles_claim (where the IdP puts the values)");
    if (rc == 0 && c->roles_claim && !c->nrole_map)
        rc = fail(err, errcap, "roles_claim", "needs role_map (IdP values are never taken as phiguard roles as they are)");
    if (rc)
        oidc_config_free(c);
    return rc;
}

void oidc_config_free(struct oidc_config *c)
{
    free(c->issuer);
    for (int i = 0; i < c->naudiences; i++)
        free(c->audiences[i]);
    free(c->jwks_file);
    free(c->user_claim);
    free(c->username_claim);
    free(c->roles_claim);
    for (int i = 0; i < c->nrole_map; i++) {
        free(c->role_map[i].idp_value);
        for (int k = 0; k < c->role_map[i].nroles; k++)
            free(c->role_map[i].roles[k]);
    }
    for (int i = 0; i < c->ndefault_roles; i++)
        free(c->default_roles[i]);
    for (int i = 0; i < c->nrequired; i++) {
        free(c->required[i].claim);
        free(c->required[i].string);
    }
    memset(c, 0, sizeof *c);
}
