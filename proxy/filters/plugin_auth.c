/* The authentication phase's plugin step: the plugins' authenticate hooks,
 * in the order of the configuration, for a request with no phiguard
 * session and no client-certificate identity. The first that answers OK
 * or REJECT decides; one that suspends is resumed on the request's loop. */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"
#include "proxy/filters/auth_internal.h"
#include "proxy/log.h"
#include "proxy/plugin_host.h"
#include "proxy/plugin_loader.h"
#include "proxy/request.h"
#include "proxy/security_event.h"
#include "proxy/worker.h"

#define TEXT_MAX 256

/* What goes into a header value and the audit trail: printable, bounded;
 * role names also without the list separator. */
static bool text_ok(const char *s, bool role)
{
    if (!s || !*s || strlen(s) > TEXT_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (role && (*p == ',' || *p == ' ')))
            return false;
    return true;
}

static bool method_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 32)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' || *s == '_'))
            return false;
    return true;
}

/* The identity becomes the request's: copied, its roles kept when the
 * policy defines them, the identity headers added for the upstream.
 * NULL, or why it cannot be used. Called straight after the hook returned,
 * before anything else runs on this thread, so strings in the plugin's
 * state or thread-local storage are as the hook left them (the contract in
 * phiguard_plugin.h); after resume_auth, id holds the ticket's copies. */
static const char *take_identity(struct pg_request *req, int plugin, const struct phg_identity *id)
{
    struct phg_plugin_handle *h = pg_plugin_at(plugin);
    struct pg_plugin_req *pr = pg_plugin_req_of(req);
    if (!pr)
        return "out of memory";
    if (!id || !text_ok(id->user_id, false))
        return "the identity has no usable user_id (printable, at most 256 bytes)";
    if (id->username && !text_ok(id->username, false))
        return "the identity's username is not printable text of at most 256 bytes";
    if (id->method && !method_ok(id->method))
        return "the identity's method is not [a-z0-9_-] of at most 32 characters";
    if (id->nroles < 0 || id->nroles > PHG_MAX_ROLES)
        return "the identity's nroles is out of range";
    pr->user_id = strdup(id->user_id);
    pr->username = strdup(id->username ? id->username : id->user_id);
    pr->method = strdup(id->method ? id->method : h->name);
    if (!pr->user_id || !pr->username || !pr->method)
        return "out of memory";
    char dropped[512] = "";
    size_t used = 0;
    for (int i = 0; i < id->nroles; i++) {
        const char *r = id->roles[i];
        bool known = text_ok(r, true) && (!req->policy || pg_policy_role_index(req->policy, r) >= 0);
        if (!known) {
            if (used < sizeof dropped)
                used += (size_t)snprintf(dropped + used, sizeof dropped - used, "%s%s", used ? "," : "",
                                         text_ok(r, true) ? r : "(not a role name)");
            continue;
        }
        if (!(pr->roles[pr->nroles] = strdup(r)))
            return "out of memory";
        pr->nroles++;
    }
    if (dropped[0]) {
        char e[1100];
        pg_log(PG_LOG_WARN, "plugin_roles_dropped",
               "\"request_id\":\"%s\",\"plugin\":\"%s\",\"roles\":\"%s\",\"detail\":\"the policy defines no such "
               "role; the user does not hold it\"",
               req->id, h->name, pg_json_escape(dropped, strlen(dropped), e, sizeof e));
    }
    pr->expires_at = id->expires_at;
    req->authenticated = true;
    req->user = pr->user_id;
    req->role_names = (const char *const *)pr->roles;
    req->nrole_names = pr->nroles;
    const struct pg_auth_config *a = &req->worker->cfg->auth;
    struct evbuffer *add = req->up_add_headers;
    pg_add_header(add, a->header_user, pr->username, strlen(pr->username));
    pg_add_header(add, a->header_user_id, pr->user_id, strlen(pr->user_id));
    evbuffer_add_printf(add, "%s: ", a->header_roles);
    for (int i = 0; i < pr->nroles; i++)
        evbuffer_add_printf(add, "%s%s", i ? "," : "", pr->roles[i]);
    evbuffer_add_printf(add, "\r\nX-Auth-Method: %s\r\n", pr->method);
    pg_auth_add_assertion(req, pr->user_id, pr->username);
    return NULL;
}

/* A credential of the plugin's that is not valid: 401, a failed login. */
static void reject(struct pg_request *req, int plugin)
{
    struct phg_plugin_handle *h = pg_plugin_at(plugin);
    pg_security_event(req, "login", "failure", NULL, NULL, "\"method\":\"%s\",\"plugin\":\"%s\",\"reason\":\"%s\"",
                      h->name, h->name, "credential rejected by the plugin");
    pg_request_respond_error(req, 401, "invalid_credentials");
}

static void hide_authorization(struct pg_request *req)
{
    for (int i = 0; i < req->head.n_headers; i++)
        if (pg_header_is(&req->head.headers[i], "authorization"))
            req->head.headers[i].drop = true;
}

/* Every authenticator declined. */
static enum pg_filter_result unclaimed(struct pg_request *req)
{
    struct pg_plugin_req *pr = req->plugin;
    if (!pr || !pr->auth_required)
        return pg_authn_finish(req);
    hide_authorization(req);
    pg_security_event(req, "token_rejected", "failure", NULL, NULL,
                      "\"reason\":\"not a phiguard token, and no authenticator plugin took it\"");
    pg_request_respond_error(req, 401, "invalid_token");
    return PG_RESPOND;
}

static void resumed(struct pg_request *req, int plugin, const struct pg_plugin_resumed *how);

/* One authenticator's answer, however it came; PG_SUSPEND never. */
static enum pg_filter_result decide(struct pg_request *req, int plugin, int result, const struct phg_identity *id);

static enum pg_filter_result run_from(struct pg_request *req, int from)
{
    for (int i = from; i < pg_plugins_count(); i++) {
        struct phg_plugin_handle *h = pg_plugin_at(i);
        if (!h->hooks.authenticate)
            continue;
        struct phg_identity id;
        memset(&id, 0, sizeof id);
        atomic_fetch_add_explicit(&h->calls, 1, memory_order_relaxed);
        enum phg_auth_result r = h->hooks.authenticate(h->hooks.state, (phg_request *)req, &id);
        if (r == PHG_AUTH_SUSPEND) {
            if (pg_plugin_await(req, i, resumed))
                return PG_SUSPEND;
            pg_plugin_hook_failed(req, i, "authenticate", "answered SUSPEND without host->suspend");
            return PG_RESPOND;
        }
        if (req->plugin && req->plugin->pending) {
            pg_plugin_cancel_pending(req);
            pg_plugin_hook_failed(req, i, "authenticate", "took a ticket (host->suspend) but did not answer SUSPEND");
            return PG_RESPOND;
        }
        if (r == PHG_AUTH_DECLINE)
            continue;
        return decide(req, i, r, &id);
    }
    return unclaimed(req);
}

static enum pg_filter_result decide(struct pg_request *req, int plugin, int result, const struct phg_identity *id)
{
    switch (result) {
    case PHG_AUTH_DECLINE:
        return run_from(req, plugin + 1);
    case PHG_AUTH_OK: {
        if (id && id->expires_at > 0 && id->expires_at <= (int64_t)time(NULL)) {
            reject(req, plugin); /* accepted a credential that has already run out: not valid */
            return PG_RESPOND;
        }
        const char *why = take_identity(req, plugin, id);
        if (why) {
            pg_plugin_hook_failed(req, plugin, "authenticate", why);
            return PG_RESPOND;
        }
        return pg_authn_finish(req);
    }
    case PHG_AUTH_REJECT:
        reject(req, plugin);
        return PG_RESPOND;
    case PHG_AUTH_FAIL:
        pg_plugin_hook_failed(req, plugin, "authenticate", "answered FAIL");
        return PG_RESPOND;
    default:
        pg_plugin_hook_failed(req, plugin, "authenticate", "answered a value the ABI does not define");
        return PG_RESPOND;
    }
}

static void resumed(struct pg_request *req, int plugin, const struct pg_plugin_resumed *how)
{
    if (how->result == PHG_AUTH_SUSPEND) {
        pg_plugin_hook_failed(req, plugin, "authenticate", "resumed with SUSPEND");
        return;
    }
    enum pg_filter_result r = decide(req, plugin, how->result, how->identity);
    if (r == PG_NEXT || r == PG_ERROR)
        pg_request_resume(req, r);
    /* PG_RESPOND: answered; PG_SUSPEND: the next authenticator waits. */
}

enum pg_filter_result pg_plugin_authenticate(struct pg_request *req, bool required)
{
    struct pg_plugin_req *pr = pg_plugin_req_of(req);
    if (!pr)
        return PG_ERROR;
    pr->auth_required = required;
    return run_from(req, 0);
}
