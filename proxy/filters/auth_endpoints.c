/* The /auth/ endpoints (docs/authentication.md, "Endpoints"):
 *   GET  /auth/login          the sign-in page
 *   POST /auth/login          username and password (JSON or form)
 *   POST /auth/mfa            the code after a password (mfa_token, code)
 *   POST /auth/mfa/enroll     a new TOTP secret: otpauth:// URI and QR code
 *   POST /auth/mfa/activate   the first code, which turns the secret on
 *   POST /auth/logout         ends the session
 *   GET  /auth/session        who the session is
 *   POST /auth/sessions/end   ends every session of a user (security:manage) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <http_parser.h>

#include "policy/credentials.h"
#include "policy/token.h"
#include "proxy/auth_pages.h"
#include "proxy/auth_store.h"
#include "proxy/auth_worker.h"
#include "proxy/conn.h"
#include "proxy/filters/auth_internal.h"
#include "proxy/filters/login.h"
#include "proxy/log.h"
#include "proxy/request.h"
#include "proxy/request_body.h"
#include "proxy/security_event.h"
#include "proxy/worker.h"

static bool path_is(const struct pg_request *req, const char *p)
{
    size_t n = strlen(p);
    return req->head.path_len == n && !memcmp(req->head.target, p, n);
}

/* ---- session start (the end of every successful sign-in) ---- */

struct starting {
    struct pg_session s;
    char next[512];
    bool html;
};

static void free_starting(void *p)
{
    free(p);
}

static void session_created(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    struct starting *ss = req->filter_state;
    if (st != PG_REDIS_OK || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        pg_log(PG_LOG_ERROR, "session_create_failed", "\"request_id\":\"%s\",\"redis\":\"%s\"", req->id,
               pg_redis_status_name(st));
        pg_request_respond_error(req, 503, "auth_unavailable");
        return;
    }
    struct pg_session *s = &ss->s;
    if (reply->element[0]->integer != 1) {
        pg_security_event(req, "session_refused", "failure", s->uid, s->username, "\"reason\":\"concurrent limit\"");
        pg_request_respond_error(req, 409, "too_many_sessions");
        return;
    }
    if (reply->elements >= 3) {
        s->created_ms = reply->element[1]->integer;
        s->abs_ms = reply->element[2]->integer;
    }
    for (size_t i = 3; i < reply->elements; i++) {
        char sid[64];
        if (reply->element[i]->type != REDIS_REPLY_STRING || reply->element[i]->len >= sizeof sid)
            continue;
        memcpy(sid, reply->element[i]->str, reply->element[i]->len);
        sid[reply->element[i]->len] = '\0';
        pg_security_event(req, "session_ended", "success", s->uid, s->username,
                          "\"reason\":\"concurrent limit, oldest ended\"");
        pg_auth_session_ended(req->worker, s->uid, sid);
    }
    struct pg_token_claims c = {.iat = s->created_ms / 1000, .exp = (s->abs_ms + 999) / 1000};
    snprintf(c.sid, sizeof c.sid, "%s", s->sid);
    snprintf(c.sub, sizeof c.sub, "%s", s->uid);
    char token[2048];
    if (pg_token_sign(&pg_auth_secrets()->token, &c, token, sizeof token) != 0) {
        pg_request_respond_error(req, 500, "internal_error");
        return;
    }
    pg_auth_cache_put(req->worker, s);
    pg_security_event(req, "session_started", "success", s->uid, s->username, "\"expires_ms\":%lld",
                      (long long)s->abs_ms);
    pg_auth_set_cookie(req, token);
    if (ss->html) {
        pg_auth_redirect(req, ss->next[0] ? ss->next : "/");
        return;
    }
    char body[3072], e_user[600];
    snprintf(body, sizeof body,
             "{\"status\":\"ok\",\"token\":\"%s\",\"user\":\"%s\",\"user_id\":\"%s\",\"roles\":\"%s\","
             "\"expires_at\":%lld}\n",
             token, pg_json_escape(s->username, strlen(s->username), e_user, sizeof e_user), s->uid, s->roles_csv,
             (long long)(s->abs_ms / 1000));
    pg_auth_reply_json(req, 200, body);
}

void pg_auth_start_session(struct pg_request *req, const struct pg_user *u, const char *next, bool html)
{
    struct starting *ss = calloc(1, sizeof *ss);
    if (!ss) {
        pg_request_respond_error(req, 500, "internal_error");
        return;
    }
    struct pg_session *s = &ss->s;
    const struct pg_policy_params *pp = &req->policy->params;
    size_t used = 0;
    for (int i = 0; i < u->nroles && used < sizeof s->roles_csv; i++)
        used += (size_t)snprintf(s->roles_csv + used, sizeof s->roles_csv - used, "%s%s", i ? "," : "", u->roles[i]);
    if (pg_session_new_id(s->sid) != 0 || used >= sizeof s->roles_csv) {
        free(ss);
        pg_request_respond_error(req, 500, "internal_error");
        return;
    }
    snprintf(s->uid, sizeof s->uid, "%s", u->id);
    snprintf(s->username, sizeof s->username, "%s", u->username);
    snprintf(s->ip, sizeof s->ip, "%s", req->conn->client_ip);
    s->created_ms = pg_wall_ms();
    s->abs_ms = s->created_ms + pp->absolute_lifetime_ms;
    pg_session_split_roles(s);
    snprintf(ss->next, sizeof ss->next, "%s", next ? next : "");
    ss->html = html;
    /* The login flow's state goes; the session's takes its place. */
    if (req->filter_state_free)
        req->filter_state_free(req->filter_state);
    req->filter_state = ss;
    req->filter_state_free = free_starting;
    struct pg_ticket *t = pg_request_suspend(req);
    enum pg_redis_status st =
        t ? pg_session_create(pg_auth_redis(req->worker), s, pp->idle_timeout_ms, pp->max_concurrent,
                              pp->on_limit == PG_ON_LIMIT_END_OLDEST, session_created, t)
          : PG_REDIS_OVERLOADED;
    if (st != PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        pg_request_respond_error(req, 503, "auth_unavailable");
    }
}

/* ---- logout, session info, ending a user's sessions ---- */

static void logged_out(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    (void)reply;
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    if (st != PG_REDIS_OK) {
        pg_request_respond_error(req, 503, "auth_unavailable"); /* the session may still be alive: say so */
        return;
    }
    const struct pg_session *s = &req->session->s;
    pg_auth_session_ended(req->worker, s->uid, s->sid);
    pg_security_event(req, "logout", "success", s->uid, s->username, NULL);
    pg_auth_set_cookie(req, NULL);
    if (pg_auth_wants_html(req))
        pg_auth_redirect(req, "/auth/login");
    else
        pg_auth_reply_json(req, 200, "{\"status\":\"logged_out\"}\n");
}

static void logout(struct pg_request *req)
{
    if (!req->session) {
        pg_auth_set_cookie(req, NULL);
        pg_request_respond_error(req, 401, "unauthenticated");
        return;
    }
    req->suspended = true;
    struct pg_ticket *t = pg_request_suspend(req);
    const struct pg_session *s = &req->session->s;
    enum pg_redis_status st =
        t ? pg_session_end(pg_auth_redis(req->worker), s->uid, s->sid, logged_out, t) : PG_REDIS_OVERLOADED;
    if (st != PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        pg_request_respond_error(req, 503, "auth_unavailable");
    }
}

static void session_info(struct pg_request *req)
{
    if (!req->session) {
        pg_request_respond_error(req, 401, "unauthenticated");
        return;
    }
    const struct pg_session *s = &req->session->s;
    char body[2048], e_user[600];
    snprintf(body, sizeof body,
             "{\"user\":\"%s\",\"user_id\":\"%s\",\"roles\":\"%s\",\"created_at\":%lld,\"expires_at\":%lld,"
             "\"break_glass_at\":%lld}\n",
             pg_json_escape(s->username, strlen(s->username), e_user, sizeof e_user), s->uid, s->roles_csv,
             (long long)(s->created_ms / 1000), (long long)(s->abs_ms / 1000), (long long)(s->bg_ms / 1000));
    pg_auth_reply_json(req, 200, body);
}

struct ending {
    char uid[128], username[256];
};

static void free_ending(void *p)
{
    free(p);
}

static void sessions_ended(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    if (st != PG_REDIS_OK || !reply || reply->type != REDIS_REPLY_INTEGER) {
        pg_request_respond_error(req, 503, "auth_unavailable");
        return;
    }
    struct ending *e = req->filter_state;
    pg_auth_session_ended(req->worker, e->uid, "*");
    pg_security_event(req, "sessions_revoked", "success", e->uid, e->username, "\"by\":\"%s\",\"ended\":%lld",
                      req->session->s.uid, reply->integer);
    char body[128];
    snprintf(body, sizeof body, "{\"status\":\"ok\",\"ended\":%lld}\n", reply->integer);
    pg_auth_reply_json(req, 200, body);
}

static void end_sessions_body(struct pg_request *req, int status)
{
    if (status) {
        pg_request_respond_error(req, status, "bad_request");
        return;
    }
    struct pg_login_form f;
    struct pg_header *ct = pg_http_find(&req->head, "content-type");
    size_t len = evbuffer_get_length(req->local_body);
    const char *body = (const char *)evbuffer_pullup(req->local_body, -1);
    const char *why = NULL;
    if (!ct || pg_login_form_parse(ct->value, ct->value_len, body ? body : "", len, &f, &why) != 0 ||
        !(f.present & PG_FORM_USER)) {
        pg_request_respond_error(req, 400, "user_required");
        return;
    }
    struct pg_users *users = pg_auth_users();
    const struct pg_user *u = users ? pg_users_by_name(users, f.user) : NULL;
    if (!u && users)
        u = pg_users_by_id(users, f.user);
    struct ending *e = u ? calloc(1, sizeof *e) : NULL;
    if (e) {
        snprintf(e->uid, sizeof e->uid, "%s", u->id);
        snprintf(e->username, sizeof e->username, "%s", u->username);
    }
    pg_users_unref(users);
    pg_login_form_clear(&f);
    if (!e) {
        pg_request_respond_error(req, 404, "unknown_user");
        return;
    }
    req->filter_state = e;
    req->filter_state_free = free_ending;
    struct pg_ticket *t = pg_request_suspend(req);
    enum pg_redis_status st =
        t ? pg_session_end(pg_auth_redis(req->worker), e->uid, NULL, sessions_ended, t) : PG_REDIS_OVERLOADED;
    if (st != PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        pg_request_respond_error(req, 503, "auth_unavailable");
    }
}

static void end_sessions(struct pg_request *req)
{
    if (!req->session) {
        pg_request_respond_error(req, 401, "unauthenticated");
        return;
    }
    if (!pg_auth_session_has_perm(req, "security:manage")) {
        pg_security_event(req, "sessions_revoke_denied", "failure", req->session->s.uid, req->session->s.username,
                          NULL);
        pg_request_respond_error(req, 403, "forbidden");
        return;
    }
    req->suspended = true;
    pg_request_read_body(req, 4096, end_sessions_body);
}

/* ---- the sign-in page ---- */

static void login_page(struct pg_request *req)
{
    char next[512] = "";
    const struct pg_http_head *h = &req->head;
    if (h->path_len < h->target_len) { /* ?next=/path (percent-encoded slashes not needed) */
        const char *q = h->target + h->path_len + 1, *end = h->target + h->target_len;
        if ((size_t)(end - q) > 5 && !memcmp(q, "next=", 5)) {
            const char *v = q + 5, *amp = memchr(v, '&', (size_t)(end - v));
            size_t n = (size_t)((amp ? amp : end) - v);
            if (n < sizeof next)
                memcpy(next, v, n), next[n] = '\0';
        }
    }
    struct evbuffer *page = evbuffer_new();
    if (!page) {
        pg_request_respond_error(req, 500, "internal_error");
        return;
    }
    pg_page_login(page, NULL, pg_login_next_safe(next) ? next : NULL);
    size_t n = evbuffer_get_length(page);
    pg_request_respond(req, 200, "text/html; charset=utf-8", (const char *)evbuffer_pullup(page, -1), n);
    evbuffer_free(page);
}

int pg_auth_endpoint(struct pg_request *req)
{
    int m = req->head.method;
    bool get = m == HTTP_GET || m == HTTP_HEAD, post = m == HTTP_POST;
    if (path_is(req, "/auth/login")) {
        if (get)
            login_page(req);
        else if (post)
            pg_login_start(req, PG_STEP_PASSWORD);
        else
            pg_request_respond_error(req, 405, "method_not_allowed");
        return 1;
    }
    static const struct {
        const char *path;
        enum pg_login_step step;
    } steps[] = {{"/auth/mfa", PG_STEP_MFA}, {"/auth/mfa/enroll", PG_STEP_ENROLL},
                 {"/auth/mfa/activate", PG_STEP_ACTIVATE}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (path_is(req, steps[i].path)) {
            if (post)
                pg_login_start(req, steps[i].step);
            else
                pg_request_respond_error(req, 405, "method_not_allowed");
            return 1;
        }
    if (path_is(req, "/auth/logout")) {
        if (post)
            logout(req);
        else
            pg_request_respond_error(req, 405, "method_not_allowed");
        return 1;
    }
    if (path_is(req, "/auth/session")) {
        if (get)
            session_info(req);
        else
            pg_request_respond_error(req, 405, "method_not_allowed");
        return 1;
    }
    if (path_is(req, "/auth/sessions/end")) {
        if (post)
            end_sessions(req);
        else
            pg_request_respond_error(req, 405, "method_not_allowed");
        return 1;
    }
    pg_request_respond_error(req, 404, "not_found");
    return 1;
}
