/* Authentication phase. Identity headers are phiguard's to send: whatever a
 * client sends under those names is removed first, on every request. A
 * request is then authenticated by a verified client certificate named in
 * client_identities, or by a session token (the __Host- cookie, or
 * Authorization: Bearer) naming a live session in Redis. Requests under
 * /auth/ go on to the login endpoints. A request with neither is offered
 * to the plugins' authenticators (proxy/filters/plugin_auth.c). */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proxy/auth_store.h"
#include "proxy/auth_worker.h"
#include "proxy/conn.h"
#include "proxy/filters/auth_internal.h"
#include "proxy/filters/filters.h"
#include "proxy/log.h"
#include "proxy/plugin_loader.h"
#include "proxy/policy_store.h"
#include "proxy/request.h"
#include "proxy/security_event.h"
#include "proxy/worker.h"

static bool is_identity_header(const struct pg_auth_config *a, const struct pg_header *hd)
{
    const char *names[] = {a->header_user,    a->header_user_id,   a->header_roles, a->header_session,
                           a->header_assertion, "x-auth-method"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (names[k] && pg_header_is(hd, names[k]))
            return true;
    return false;
}

static bool by_certificate(struct pg_request *req)
{
    const struct pg_config *cfg = req->worker->cfg;
    const char *cn = req->conn->peer_cn;
    if (!cn[0])
        return false;
    for (int i = 0; i < cfg->n_cert_identities; i++) {
        const struct pg_cert_identity *id = &cfg->cert_identities[i];
        if (strcmp(id->subject_cn, cn) != 0)
            continue;
        req->authenticated = true;
        req->user = id->user;
        req->role_names = (const char *const *)id->roles;
        req->nrole_names = id->nroles;
        const struct pg_auth_config *a = &cfg->auth;
        struct evbuffer *add = req->up_add_headers;
        pg_add_header(add, a->header_user, id->user, strlen(id->user));
        pg_add_header(add, a->header_user_id, id->user, strlen(id->user));
        evbuffer_add_printf(add, "%s: ", a->header_roles);
        for (int k = 0; k < id->nroles; k++) {
            if (k)
                evbuffer_add(add, ",", 1);
            evbuffer_add(add, id->roles[k], strlen(id->roles[k]));
        }
        evbuffer_add(add, "\r\nX-Auth-Method: client-certificate\r\n", 37);
        return true;
    }
    return false;
}

/* Where a session token was found, so that it can be kept from the
 * upstream: the token is phiguard's, and an app that saw it could replay
 * it. */
struct token_source {
    struct pg_header *header;
    const char *cookie; /* the name=value pair in a Cookie header, or NULL */
    size_t cookie_len;
};

enum token_found {
    TOKEN_NONE,
    TOKEN_FOUND,    /* in out */
    TOKEN_TOO_LONG, /* a token, but longer than any of phiguard's: not one (src is set) */
};

/* The token from Authorization: Bearer, else from the session cookie. */
static enum token_found find_token(struct pg_request *req, char *out, size_t cap, struct token_source *src)
{
    struct pg_header *hd = pg_http_find(&req->head, "authorization");
    if (hd && hd->value_len > 7 && !strncasecmp(hd->value, "Bearer ", 7)) {
        size_t n = hd->value_len - 7;
        *src = (struct token_source){.header = hd};
        if (n >= cap)
            return TOKEN_TOO_LONG;
        memcpy(out, hd->value + 7, n);
        out[n] = '\0';
        return TOKEN_FOUND;
    }
    const char *name = req->worker->cfg->auth.cookie_name;
    size_t nl = strlen(name);
    for (int i = 0; i < req->head.n_headers; i++) {
        struct pg_header *c = &req->head.headers[i];
        if (!pg_header_is(c, "cookie"))
            continue;
        const char *p = c->value, *end = c->value + c->value_len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *stop = semi ? semi : end;
            if ((size_t)(stop - p) > nl && !memcmp(p, name, nl) && p[nl] == '=') {
                size_t n = (size_t)(stop - p) - nl - 1;
                *src = (struct token_source){.header = c, .cookie = p, .cookie_len = (size_t)(stop - p)};
                if (n >= cap)
                    return TOKEN_TOO_LONG;
                memcpy(out, p + nl + 1, n);
                out[n] = '\0';
                return TOKEN_FOUND;
            }
            p = stop;
        }
    }
    return TOKEN_NONE;
}

/* Removes the token from what the upstream gets; the app's own cookies in
 * the same header are passed on. */
static void hide_token(struct pg_request *req, const struct token_source *src)
{
    src->header->drop = true;
    if (!src->cookie)
        return;
    const char *v = src->header->value, *end = v + src->header->value_len;
    const char *before_end = src->cookie, *after = src->cookie + src->cookie_len;
    while (before_end > v && (before_end[-1] == ' ' || before_end[-1] == ';'))
        before_end--;
    while (after < end && (*after == ' ' || *after == ';'))
        after++;
    size_t nb = (size_t)(before_end - v), na = (size_t)(end - after);
    if (!nb && !na)
        return;
    struct evbuffer *add = req->up_add_headers;
    evbuffer_add(add, "Cookie: ", 8);
    evbuffer_add(add, v, nb);
    if (nb && na)
        evbuffer_add(add, "; ", 2);
    evbuffer_add(add, after, na);
    evbuffer_add(add, "\r\n", 2);
}

static bool is_auth_path(const struct pg_request *req)
{
    return req->head.path_len >= 6 && !memcmp(req->head.target, "/auth/", 6);
}

static bool is_security_api(const struct pg_request *req)
{
    return req->head.path_len >= 17 && !memcmp(req->head.target, "/api/v1/security/", 17);
}

enum pg_filter_result pg_authn_finish(struct pg_request *req)
{
    if (pg_auth_enabled() && is_auth_path(req))
        return pg_auth_endpoint(req) ? PG_RESPOND : PG_NEXT;
    if (pg_auth_enabled() && is_security_api(req))
        return pg_security_api(req) ? PG_RESPOND : PG_NEXT;
    return PG_NEXT;
}

/* No phiguard session: the plugins' authenticators may know the request
 * (not phiguard's own endpoints, which need no identity of theirs). */
static enum pg_filter_result without_session(struct pg_request *req)
{
    if (pg_plugins_authenticate_any() && !(pg_auth_enabled() && is_auth_path(req)))
        return pg_plugin_authenticate(req, false);
    return pg_authn_finish(req);
}

static void refuse(struct pg_request *req, const char *code)
{
    if (is_auth_path(req))
        return; /* a stale cookie must not keep anyone from logging in again */
    pg_auth_set_cookie(req, NULL);
    pg_request_respond_error(req, 401, code);
}

/* The session is alive: check it against this connection, then go on. */
static enum pg_filter_result accept_session(struct pg_request *req, struct pg_session_ref *ref)
{
    const struct pg_session *s = &ref->s;
    const struct pg_policy *p = req->policy;
    if (s->ip[0] && strcmp(s->ip, req->conn->client_ip) != 0) {
        bool end = p && p->params.end_on_ip_change;
        pg_security_event(req, "session_ip_changed", end ? "failure" : "success", s->uid, s->username,
                          "\"session_ip\":\"%s\",\"ended\":%s", s->ip, end ? "true" : "false");
        pg_alert_raise(req->worker, "high", "session_ip_changed", s->username,
                       "\"session_ip\":\"%s\",\"client_ip\":\"%s\"", s->ip, req->conn->client_ip);
        if (end) {
            char uid[sizeof s->uid], sid[sizeof s->sid]; /* the cache entry goes with the session */
            memcpy(uid, s->uid, sizeof uid);
            memcpy(sid, s->sid, sizeof sid);
            pg_session_end(pg_auth_redis(req->worker), uid, sid, pg_redis_discard, NULL);
            pg_auth_session_ended(req->worker, uid, sid);
            if (!is_auth_path(req)) {
                refuse(req, "session_ended");
                return PG_RESPOND;
            }
            return pg_authn_finish(req);
        }
    }
    pg_auth_set_identity(req, ref);
    return pg_authn_finish(req);
}

static void resume_with(struct pg_request *req, enum pg_filter_result r)
{
    if (r == PG_NEXT || r == PG_ERROR)
        pg_request_resume(req, r);
    /* PG_RESPOND: answered; PG_SUSPEND: a further step is under way. */
}

/* The session a token names, while its Redis lookup runs. */
struct lookup {
    char sid[64];
    char uid[128];
};

static void fetched(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return; /* the client left; its state went with it */
    struct lookup *l = req->filter_state;
    struct pg_session s = {0};
    memcpy(s.sid, l->sid, sizeof s.sid);
    memcpy(s.uid, l->uid, sizeof s.uid);
    req->filter_state = NULL;
    req->filter_state_free = NULL;
    free(l);
    if (st != PG_REDIS_OK) {
        pg_log(PG_LOG_ERROR, "session_check_failed", "\"request_id\":\"%s\",\"redis\":\"%s\"", req->id,
               pg_redis_status_name(st));
        pg_request_respond_error(req, 503, "auth_unavailable"); /* cannot tell: refuse */
        return;
    }
    if (!pg_session_from_reply(reply, &s)) {
        pg_security_event(req, "session_rejected", "failure", s.uid, NULL, "\"reason\":\"ended or expired\"");
        if (is_auth_path(req))
            resume_with(req, pg_authn_finish(req));
        else
            refuse(req, "session_expired");
        return;
    }
    struct pg_session_ref *ref = pg_auth_cache_put(req->worker, &s);
    if (ref) {
        resume_with(req, accept_session(req, ref));
        return;
    }
    if (!(ref = pg_session_ref_new(&s))) {
        pg_request_resume(req, PG_ERROR);
        return;
    }
    resume_with(req, accept_session(req, ref));
    pg_session_ref_release(ref);
}

static enum pg_filter_result by_session(struct pg_request *req)
{
    char token[2048];
    struct token_source src;
    enum token_found found = find_token(req, token, sizeof token, &src);
    if (found == TOKEN_NONE)
        return without_session(req);
    struct pg_token_claims c;
    time_t now = time(NULL);
    /* Too long to be phiguard's: judged as any other token that is not
     * (an authenticator's, or refused), never taken for no token at all. */
    enum pg_token_result tr = found == TOKEN_TOO_LONG ? PG_TOKEN_MALFORMED : PG_TOKEN_OK;
    size_t token_len = found == TOKEN_FOUND ? strlen(token) : 0;
    if (found == TOKEN_FOUND && !pg_auth_token_known(req->worker, token, token_len, now, &c)) {
        tr = pg_token_verify(&pg_auth_secrets()->token, token, now, &c);
        if (tr == PG_TOKEN_OK && !pg_session_id_valid(c.sid))
            tr = PG_TOKEN_MALFORMED; /* ours never look like that: a key name must not be shaped by it */
        if (tr == PG_TOKEN_OK)
            pg_auth_token_remember(req->worker, token, token_len, &c);
    }
    /* phiguard's session tokens are Bearer tokens too: one that is not
     * phiguard's may be an authenticator plugin's (an IdP's JWT), which
     * then judges it with the header still in place. */
    if (tr != PG_TOKEN_OK && !src.cookie && pg_plugins_authenticate_any() && !is_auth_path(req))
        return pg_plugin_authenticate(req, true);
    hide_token(req, &src);
    if (tr != PG_TOKEN_OK) {
        pg_security_event(req, "token_rejected", "failure", NULL, NULL, "\"reason\":\"%s\"", pg_token_result_name(tr));
        if (is_auth_path(req))
            return pg_authn_finish(req);
        refuse(req, "invalid_token");
        return PG_RESPOND;
    }
    const struct pg_config *cfg = req->worker->cfg;
    struct pg_session_ref *cached = pg_auth_cache_get(req->worker, c.sid, (uint64_t)cfg->auth.session_cache_ms * 1000);
    if (cached && !strcmp(cached->s.uid, c.sub))
        return accept_session(req, cached);
    struct lookup *l = calloc(1, sizeof *l);
    struct pg_ticket *t = l ? pg_request_suspend(req) : NULL;
    if (!t) {
        free(l);
        return PG_ERROR;
    }
    snprintf(l->sid, sizeof l->sid, "%s", c.sid);
    snprintf(l->uid, sizeof l->uid, "%s", c.sub);
    req->filter_state = l;
    req->filter_state_free = free;
    int64_t idle = req->policy ? req->policy->params.idle_timeout_ms : 30 * 60 * 1000;
    enum pg_redis_status st = pg_session_fetch(pg_auth_redis(req->worker), c.sub, c.sid, idle, fetched, t);
    if (st != PG_REDIS_OK) {
        pg_ticket_redeem(t);
        pg_log(PG_LOG_ERROR, "session_check_failed", "\"request_id\":\"%s\",\"redis\":\"%s\"", req->id,
               pg_redis_status_name(st));
        pg_request_respond_error(req, 503, "auth_unavailable");
        return PG_RESPOND;
    }
    return PG_SUSPEND;
}

static enum pg_filter_result authn_run(struct pg_request *req)
{
    const struct pg_auth_config *a = &req->worker->cfg->auth;
    struct pg_http_head *h = &req->head;
    for (int i = 0; i < h->n_headers; i++)
        if (is_identity_header(a, &h->headers[i]))
            h->headers[i].drop = true;
    /* The policy snapshot this request is decided under; the session
     * timeouts come from it too. */
    if (!req->policy && pg_policy_store_configured())
        req->policy = pg_policy_store_get();
    if (by_certificate(req))
        return pg_authn_finish(req);
    if (!pg_auth_enabled())
        return without_session(req);
    return by_session(req);
}

const struct pg_filter pg_filter_authn = {
    .name = "authn",
    .phase = PG_PHASE_AUTHN,
    .run = authn_run,
};
