/* What a request learns from its session: the identity headers for the
 * upstream, the roles for authorization; and the small answers the /auth/
 * endpoints share (cookies, JSON, redirects). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "policy/token.h"
#include "proxy/auth_store.h"
#include "proxy/filters/auth_internal.h"
#include "proxy/log.h"
#include "proxy/request.h"
#include "proxy/worker.h"

void pg_auth_set_identity(struct pg_request *req, struct pg_session_ref *ref)
{
    pg_session_ref_hold(ref);
    pg_session_ref_release(req->session);
    req->session = ref;
    req->authenticated = true;
    req->user = ref->s.uid;
    req->role_names = (const char *const *)ref->s.roles;
    req->nrole_names = ref->s.nroles;

    const struct pg_auth_config *a = &req->worker->cfg->auth;
    struct evbuffer *add = req->up_add_headers;
    if (!ref->s.headers_len) /* rendered when cached; only an uncached ref is not */
        pg_session_render_headers(&ref->s, a);
    evbuffer_add(add, ref->s.headers, ref->s.headers_len);
    pg_auth_add_assertion(req, ref->s.uid, ref->s.username);
}

void pg_auth_add_assertion(struct pg_request *req, const char *uid, const char *username)
{
    const struct pg_auth_secrets *sec = pg_auth_secrets();
    if (!sec || !sec->assertion_pem)
        return;
    const struct pg_auth_config *a = &req->worker->cfg->auth;
    char jwt[4096];
    if (pg_assertion_sign(sec->assertion_pem, sec->assertion_pem_len, a->issuer, uid, username, req->role_names,
                          req->nrole_names, req->id, time(NULL), (int)(a->assertion_ttl_ms / 1000), jwt,
                          sizeof jwt) == 0)
        pg_add_header(req->up_add_headers, a->header_assertion, jwt, strlen(jwt));
    else
        pg_log(PG_LOG_ERROR, "assertion_failed", "\"request_id\":\"%s\"", req->id);
}

bool pg_auth_wants_html(struct pg_request *req)
{
    struct pg_header *ct = pg_http_find(&req->head, "content-type");
    if (ct && ct->value_len >= 33 && !strncasecmp(ct->value, "application/x-www-form-urlencoded", 33))
        return true;
    struct pg_header *acc = pg_http_find(&req->head, "accept");
    if (!acc)
        return false;
    /* A browser names text/html; an API client asks for JSON or anything. */
    for (size_t i = 0; i + 9 <= acc->value_len; i++)
        if (!strncasecmp(acc->value + i, "text/html", 9))
            return true;
    return false;
}

static struct evbuffer *local_headers(struct pg_request *req)
{
    if (!req->local_headers)
        req->local_headers = evbuffer_new();
    return req->local_headers;
}

void pg_auth_set_cookie(struct pg_request *req, const char *token)
{
    struct evbuffer *h = local_headers(req);
    if (!h)
        return;
    const char *name = req->worker->cfg->auth.cookie_name;
    if (token)
        evbuffer_add_printf(h, "Set-Cookie: %s=%s; Path=/; Secure; HttpOnly; SameSite=Strict\r\n", name, token);
    else
        evbuffer_add_printf(h, "Set-Cookie: %s=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0\r\n", name);
}

void pg_auth_reply_json(struct pg_request *req, int status, const char *body)
{
    pg_request_respond(req, status, "application/json", body, strlen(body));
}

void pg_auth_redirect(struct pg_request *req, const char *location)
{
    struct evbuffer *h = local_headers(req);
    if (h)
        evbuffer_add_printf(h, "Location: %s\r\n", location);
    static const char body[] = "See Other\n";
    pg_request_respond(req, 303, "text/plain; charset=utf-8", body, sizeof body - 1);
}

bool pg_auth_session_has_perm(struct pg_request *req, const char *perm)
{
    if (!req->session || !req->policy)
        return false;
    int p = pg_policy_perm_index(req->policy, perm);
    int roles[PG_SESSION_MAX_ROLES], n = 0;
    for (int i = 0; i < req->session->s.nroles; i++) {
        int r = pg_policy_role_index(req->policy, req->session->s.roles[i]);
        if (r >= 0)
            roles[n++] = r;
    }
    pg_permset have;
    pg_policy_role_perms(req->policy, roles, n, &have);
    return p >= 0 && pg_permset_has(&have, p);
}
