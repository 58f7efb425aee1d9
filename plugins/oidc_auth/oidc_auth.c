/* oidc_auth: an authenticator for JWTs from an external OpenID Connect
 * provider (docs/plugin-oidc.md). The hook runs on a worker's loop and
 * only computes: the token is in a header, the keys are in memory, and the
 * JWKS file is re-read by the store's own thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "claims.h"
#include "config.h"
#include "identity.h"
#include "json_tree.h"
#include "jwks_store.h"
#include "jwt_verify.h"
#include "oidc_auth.h"
#include "phiguard_plugin.h"

struct oidc_plugin {
    const struct phg_host *host;
    phg_plugin_handle *self;
    struct oidc_config cfg;
    struct oidc_jwks_store store;
};

static void report_jwks(void *ctx, int ok, const char *message)
{
    struct oidc_plugin *p = ctx;
    if (ok) {
        p->host->log(p->self, PHG_LOG_INFO, "JWKS %s", message);
        return;
    }
    p->host->log(p->self, PHG_LOG_ERROR, "JWKS refused: %s", message);
    p->host->alert(p->self, PHG_SEV_HIGH, "oidc_jwks_refused", message);
}

/* The token of Authorization: Bearer (RFC 6750 2.1), or NULL. */
static const char *bearer_token(const struct phg_host *host, phg_request *r, size_t *len)
{
    size_t n = 0;
    const char *v = host->header(r, "authorization", &n);
    if (!v || n < 8 || strncasecmp(v, "Bearer ", 7) != 0)
        return NULL;
    v += 7;
    n -= 7;
    while (n && *v == ' ') {
        v++;
        n--;
    }
    *len = n;
    return n ? v : NULL;
}

static enum phg_auth_result reject(struct oidc_plugin *p, phg_request *r, const char *why)
{
    p->host->log(p->self, PHG_LOG_WARN, "token refused (request %s): %s", p->host->request_id(r), why);
    return PHG_AUTH_REJECT;
}

/* The request's Bearer token when it is a JWS of the configured issuer,
 * decoded (not verified) into jwt: 1, else 0. iss is read before the
 * signature is checked only to tell whose token it is: phiguard's own
 * session tokens and other IdPs' tokens are JWTs too, and belong to
 * someone else. */
static int our_token(const struct oidc_plugin *p, phg_request *r, struct oidc_jwt *jwt)
{
    size_t len = 0;
    const char *token = bearer_token(p->host, r, &len);
    if (!token || oidc_jwt_parse(token, len, jwt) != 0)
        return 0;
    const char *iss = oidc_json_string(jwt->claims, "iss");
    if (!iss || strcmp(iss, p->cfg.issuer) != 0) {
        oidc_jwt_free(jwt);
        return 0;
    }
    return 1;
}

enum phg_auth_result oidc_authenticate(void *state, phg_request *r, struct phg_identity *identity)
{
    struct oidc_plugin *p = state;
    struct oidc_jwt jwt;
    if (!our_token(p, r, &jwt))
        return PHG_AUTH_DECLINE;
    char why[400];
    enum phg_auth_result result = PHG_AUTH_OK;
    struct oidc_keyset *ks = oidc_jwks_store_get(&p->store);
    long long exp = 0;
    /* The host reads the identity's strings when the hook has returned, on
     * this thread, before the next hook runs here: so they live in a
     * per-thread buffer, not on this stack. */
    static _Thread_local struct oidc_identity_buf buf;
    if (oidc_jwt_verify(&jwt, ks, why, sizeof why) != 0 ||
        oidc_claims_check(&p->cfg, jwt.claims, (long long)time(NULL), &exp, why, sizeof why) != 0 ||
        oidc_identity_map(&p->cfg, jwt.claims, exp, identity, &buf, why, sizeof why) != 0)
        result = reject(p, r, why);
    else if (buf.unmapped)
        p->host->log(p->self, PHG_LOG_DEBUG, "request %s: %d IdP role values not in role_map",
                     p->host->request_id(r), buf.unmapped);
    oidc_keyset_unref(ks);
    oidc_jwt_free(&jwt);
    return result;
}

/* The IdP's token is a bearer credential for every service of its
 * audience: the upstream gets phiguard's identity headers instead, unless
 * forward_token asks for the token too (an app calling APIs as the user).
 * A token that cannot be removed stops the request rather than leak. */
enum phg_result oidc_hide_token(void *state, phg_request *r)
{
    struct oidc_plugin *p = state;
    struct oidc_jwt jwt;
    if (!our_token(p, r, &jwt))
        return PHG_CONTINUE;
    oidc_jwt_free(&jwt);
    return p->host->remove_header(r, "authorization") == 0 ? PHG_CONTINUE : PHG_FAIL;
}

static void unload(void *state)
{
    struct oidc_plugin *p = state;
    oidc_jwks_store_close(&p->store);
    oidc_config_free(&p->cfg);
    free(p);
}

int oidc_entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self, const char *config_json,
               struct phg_plugin *plugin, char *err, size_t errcap)
{
    if (PHG_ABI_MAJOR_OF(abi) != PHG_ABI_MAJOR) {
        snprintf(err, errcap, "oidc_auth is built for ABI %u.x, loaded under %u.%u", PHG_ABI_MAJOR,
                 PHG_ABI_MAJOR_OF(abi), PHG_ABI_MINOR_OF(abi));
        return -1;
    }
    struct oidc_plugin *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errcap, "oidc_auth: out of memory");
        return -1;
    }
    p->host = host;
    p->self = self;
    if (oidc_config_parse(config_json, &p->cfg, err, errcap) != 0) {
        free(p);
        return -1;
    }
    char why[600];
    if (oidc_jwks_store_open(&p->store, p->cfg.jwks_file, p->cfg.reload_interval_ms, report_jwks, p, why,
                             sizeof why) != 0 ||
        oidc_jwks_store_start(&p->store, why, sizeof why) != 0) {
        snprintf(err, errcap, "oidc_auth: %s", why);
        oidc_jwks_store_close(&p->store);
        oidc_config_free(&p->cfg);
        free(p);
        return -1;
    }
    struct oidc_keyset *ks = oidc_jwks_store_get(&p->store);
    host->log(self, PHG_LOG_INFO, "issuer %s, %d keys from %s (%d others skipped), reload every %ld ms",
              p->cfg.issuer, ks->nkeys, p->cfg.jwks_file, ks->skipped, p->cfg.reload_interval_ms);
    oidc_keyset_unref(ks);
    plugin->name = "oidc_auth";
    plugin->state = p;
    plugin->authenticate = oidc_authenticate;
    if (!p->cfg.forward_token)
        plugin->request_headers = oidc_hide_token;
    plugin->unload = unload;
    return 0;
}

PHG_PLUGIN_DECLARE(oidc_entry)
