#include "claims.h"

#include <stdio.h>
#include <string.h>

#include "json_tree.h"

static int audience_ok(const struct oidc_config *c, yajl_val aud)
{
    for (int i = 0; i < c->naudiences; i++) {
        if (YAJL_IS_STRING(aud) && !strcmp(OIDC_STR(aud), c->audiences[i]))
            return 1;
        if (YAJL_IS_ARRAY(aud))
            for (size_t k = 0; k < aud->u.array.len; k++) {
                yajl_val v = aud->u.array.values[k];
                if (YAJL_IS_STRING(v) && !strcmp(OIDC_STR(v), c->audiences[i]))
                    return 1;
            }
    }
    return 0;
}

/* A time claim: 1 present (in *t), 0 absent, -1 not a number. */
static int time_claim(yajl_val claims, const char *name, long long *t)
{
    yajl_val v = oidc_json_member(claims, name);
    if (!v)
        return 0;
    return oidc_json_seconds(v, t) == 0 ? 1 : -1;
}

static int required_ok(const struct oidc_required_claim *r, yajl_val claims)
{
    yajl_val v = oidc_json_path(claims, r->claim);
    if (!v || YAJL_IS_NULL(v))
        return 0;
    switch (r->kind) {
    case OIDC_REQ_PRESENT:
        return 1;
    case OIDC_REQ_BOOL:
        return r->boolean ? YAJL_IS_TRUE(v) : YAJL_IS_FALSE(v);
    case OIDC_REQ_STRING:
        if (YAJL_IS_STRING(v))
            return !strcmp(OIDC_STR(v), r->string);
        if (YAJL_IS_ARRAY(v))
            for (size_t k = 0; k < v->u.array.len; k++)
                if (YAJL_IS_STRING(v->u.array.values[k]) && !strcmp(OIDC_STR(v->u.array.values[k]), r->string))
                    return 1;
        return 0;
    }
    return 0;
}

int oidc_claims_check(const struct oidc_config *c, yajl_val claims, long long now, long long *exp, char *err,
                      size_t errcap)
{
    const char *iss = oidc_json_string(claims, "iss");
    if (!iss || strcmp(iss, c->issuer) != 0) {
        snprintf(err, errcap, "iss is not the configured issuer");
        return -1;
    }
    yajl_val aud = oidc_json_member(claims, "aud");
    if (!aud) {
        snprintf(err, errcap, "no aud");
        return -1;
    }
    if (!audience_ok(c, aud)) {
        snprintf(err, errcap, "aud does not name a configured audience");
        return -1;
    }
    long long nbf = 0, iat = 0;
    int has_exp = time_claim(claims, "exp", exp);
    int has_nbf = time_claim(claims, "nbf", &nbf);
    int has_iat = time_claim(claims, "iat", &iat);
    if (has_exp < 0 || has_nbf < 0 || has_iat < 0) {
        snprintf(err, errcap, "exp, nbf or iat is not a number");
        return -1;
    }
    /* exp is required: a token that never expires cannot be revoked. */
    if (!has_exp) {
        snprintf(err, errcap, "no exp");
        return -1;
    }
    if (*exp <= 0 || now - c->leeway_s >= *exp) {
        snprintf(err, errcap, "expired %lld s ago (leeway %ld s)", *exp <= 0 ? now : now - *exp, c->leeway_s);
        return -1;
    }
    if (has_nbf && now + c->leeway_s < nbf) {
        snprintf(err, errcap, "not valid for another %lld s (nbf, leeway %ld s)", nbf - now, c->leeway_s);
        return -1;
    }
    if (has_iat && now + c->leeway_s < iat) {
        snprintf(err, errcap, "issued %lld s in the future (iat, leeway %ld s)", iat - now, c->leeway_s);
        return -1;
    }
    for (int i = 0; i < c->nrequired; i++)
        if (!required_ok(&c->required[i], claims)) {
            snprintf(err, errcap, "required claim %s is missing or has another value", c->required[i].claim);
            return -1;
        }
    return 0;
}
