#ifndef OIDC_CONFIG_H
#define OIDC_CONFIG_H
/* The plugin's config block (docs/plugin-oidc.md), validated strictly: an
 * unknown key, a wrong type or a value out of range fails the load. */
#include <stdbool.h>
#include <stddef.h>

#define OIDC_MAX_AUDIENCES 8
#define OIDC_MAX_ROLE_MAP 128
#define OIDC_MAX_ROLES_PER_ENTRY 16
#define OIDC_MAX_REQUIRED 16

struct oidc_role_rule {
    char *idp_value;
    char *roles[OIDC_MAX_ROLES_PER_ENTRY];
    int nroles;
};

enum oidc_required_kind { OIDC_REQ_PRESENT, OIDC_REQ_STRING, OIDC_REQ_BOOL };

struct oidc_required_claim {
    char *claim;
    enum oidc_required_kind kind;
    char *string; /* OIDC_REQ_STRING: the claim equals it, or is an array holding it */
    bool boolean; /* OIDC_REQ_BOOL */
};

struct oidc_config {
    char *issuer;
    char *audiences[OIDC_MAX_AUDIENCES];
    int naudiences;
    char *jwks_file;
    long leeway_s;
    char *user_claim;     /* NULL: iss "|" sub */
    char *username_claim; /* NULL: preferred_username, else email */
    char *roles_claim;    /* dotted path; NULL: default_roles only */
    struct oidc_role_rule role_map[OIDC_MAX_ROLE_MAP];
    int nrole_map;
    char *default_roles[OIDC_MAX_ROLES_PER_ENTRY];
    int ndefault_roles;
    struct oidc_required_claim required[OIDC_MAX_REQUIRED];
    int nrequired;
    long reload_interval_ms;
    bool forward_token; /* the upstream gets the Authorization header too */
};

#define OIDC_DEFAULT_LEEWAY_S 60
#define OIDC_MAX_LEEWAY_S 300
#define OIDC_DEFAULT_RELOAD_MS 5000
#define OIDC_MIN_RELOAD_MS 100
#define OIDC_MAX_RELOAD_MS 3600000

/* 0, or -1 with why in err (c is then freed already). */
int oidc_config_parse(const char *json, struct oidc_config *c, char *err, size_t errcap);
void oidc_config_free(struct oidc_config *c);
#endif
