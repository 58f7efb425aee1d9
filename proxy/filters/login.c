/* The login flow: password (Argon2id on the work queue), lockout, the TOTP
 * step, TOTP enrollment, and the start of a session. Each step that waits
 * (Redis, Argon2) holds a ticket, never the request itself. Every failure
 * answers the same generic message. */
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/credentials.h"
#include "policy/password.h"
#include "policy/qr.h"
#include "policy/secretbox.h"
#include "policy/token.h"
#include "policy/totp.h"
#include "proxy/auth_pages.h"
#include "proxy/auth_store.h"
#include "proxy/auth_worker.h"
#include "proxy/conn.h"
#include "proxy/filters/auth_internal.h"
#include "proxy/filters/login.h"
#include "proxy/lockout.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/mfa_store.h"
#include "proxy/ratelimit.h"
#include "proxy/request.h"
#include "proxy/request_body.h"
#include "proxy/security_event.h"
#include "proxy/worker.h"
#include "proxy/workq.h"

#define GENERIC_FAILURE "Sign-in failed. Check your username and password, or try again later."
#define BLOB_MAX (PG_TOTP_SECRET_LEN + PG_SECRETBOX_OVERHEAD)

static atomic_int argon2_queued;

struct login {
    enum pg_login_step step;
    struct pg_login_form form;
    struct pg_users *users;
    const struct pg_user *user; /* in users; NULL: no such user (the dummy hash is verified) */
    bool html, locked, via_ticket;
    unsigned char pending[BLOB_MAX];
    size_t pending_len;
};

static void login_free(void *p)
{
    struct login *l = p;
    if (!l)
        return;
    pg_login_form_clear(&l->form);
    pg_users_unref(l->users);
    OPENSSL_cleanse(l, sizeof *l);
    free(l);
}

static struct login *state(struct pg_request *req)
{
    return req->filter_state;
}

static struct pg_redis *redis_of(struct pg_request *req)
{
    return pg_auth_redis(req->worker);
}

static const char *next_of(const struct login *l)
{
    return (l->form.present & PG_FORM_NEXT) && pg_login_next_safe(l->form.next) ? l->form.next : NULL;
}

static void respond_page(struct pg_request *req, int status, struct evbuffer *page)
{
    size_t n = evbuffer_get_length(page);
    const char *data = (const char *)evbuffer_pullup(page, -1);
    pg_request_respond(req, status, "text/html; charset=utf-8", data ? data : "", data ? n : 0);
    evbuffer_free(page);
}

/* The one answer to every failed sign-in. */
static void fail(struct pg_request *req, int status, const char *code)
{
    struct login *l = state(req);
    if (l && l->html) {
        struct evbuffer *page = evbuffer_new();
        if (page) {
            if (l->step == PG_STEP_PASSWORD || !l->form.mfa_token[0])
                pg_page_login(page, status == 503 ? "Sign-in is unavailable right now. Try again shortly."
                                                  : GENERIC_FAILURE,
                              next_of(l));
            else
                pg_page_mfa(page, l->form.mfa_token, next_of(l), "That code was not accepted.");
            respond_page(req, status, page);
            return;
        }
    }
    pg_request_respond_error(req, status, code);
}

static void redis_failed(struct pg_request *req, enum pg_redis_status st)
{
    pg_log(PG_LOG_ERROR, "login_unavailable", "\"request_id\":\"%s\",\"redis\":\"%s\"", req->id,
           pg_redis_status_name(st));
    fail(req, 503, "auth_unavailable");
}

/* Back on the loop after a Redis step: the request, or NULL when the
 * client left or Redis failed (then already answered). */
static struct pg_request *back(void *arg, enum pg_redis_status st)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (req && st != PG_REDIS_OK) {
        redis_failed(req, st);
        return NULL;
    }
    return req;
}

/* The same for a pg_mfa_load answer, which must be its three fields. */
static struct pg_request *back_with_totp(void *arg, enum pg_redis_status st, const redisReply *reply)
{
    if (st == PG_REDIS_OK && (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3))
        st = PG_REDIS_ERR_REPLY;
    return back(arg, st);
}

/* Starts a Redis step; on refusal answers at once. */
#define REDIS_STEP(req, call)                                                                                          \
    do {                                                                                                               \
        struct pg_ticket *t_ = pg_request_suspend(req);                                                                \
        enum pg_redis_status st_ = t_ ? (call) : PG_REDIS_OVERLOADED;                                                  \
        if (st_ != PG_REDIS_OK) {                                                                                      \
            if (t_)                                                                                                    \
                pg_ticket_redeem(t_);                                                                                  \
            redis_failed(req, st_);                                                                                    \
        }                                                                                                              \
    } while (0)
#define TICKET t_

static bool mfa_required(struct pg_request *req, const struct pg_user *u)
{
    if (u->mfa_required)
        return true;
    for (int i = 0; req->policy && i < u->nroles; i++) {
        int r = pg_policy_role_index(req->policy, u->roles[i]);
        if (r >= 0 && req->policy->roles[r].mfa_required)
            return true;
    }
    return false;
}

/* ---- enrollment: a new secret, pending until a code proves it ---- */

static void enroll_stored(enum pg_redis_status st, const redisReply *reply, void *arg);

struct enroll_view {
    char b32[64];
    char uri[512];
    char *svg;
};

static void enroll(struct pg_request *req)
{
    struct login *l = state(req);
    uint8_t secret[PG_TOTP_SECRET_LEN];
    const char *uid = l->user->id;
    if (pg_totp_new_secret(secret) != 0) {
        fail(req, 500, "internal_error");
        return;
    }
    int n = pg_secretbox_seal(pg_auth_secrets()->mfa_key, uid, strlen(uid), secret, sizeof secret, l->pending,
                              sizeof l->pending);
    OPENSSL_cleanse(secret, sizeof secret);
    if (n < 0) {
        fail(req, 500, "internal_error");
        return;
    }
    l->pending_len = (size_t)n;
    REDIS_STEP(req, pg_mfa_set_pending(redis_of(req), uid, l->pending, l->pending_len, enroll_stored, TICKET));
}

static void enroll_stored(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    (void)reply;
    struct pg_request *req = back(arg, st);
    if (!req)
        return;
    struct login *l = state(req);
    const char *uid = l->user->id;
    uint8_t secret[PG_TOTP_SECRET_LEN];
    struct enroll_view v = {0};
    int n = pg_secretbox_open(pg_auth_secrets()->mfa_key, uid, strlen(uid), l->pending, l->pending_len, secret,
                              sizeof secret);
    const char *issuer = req->worker->cfg->auth.issuer;
    if (n != PG_TOTP_SECRET_LEN || pg_totp_base32(secret, sizeof secret, v.b32, sizeof v.b32) != 0 ||
        pg_totp_uri(issuer, l->user->username, v.b32, v.uri, sizeof v.uri) != 0 ||
        !(v.svg = pg_qr_svg(v.uri, "QR code for your authenticator app"))) {
        OPENSSL_cleanse(secret, sizeof secret);
        fail(req, 500, "internal_error");
        return;
    }
    OPENSSL_cleanse(secret, sizeof secret);
    pg_security_event(req, "mfa_enrollment_started", "success", uid, l->user->username, NULL);
    if (l->html) {
        struct evbuffer *page = evbuffer_new();
        if (page) {
            pg_page_enroll(page, l->via_ticket ? l->form.mfa_token : NULL, next_of(l), v.svg, v.b32, NULL);
            respond_page(req, 200, page);
        } else {
            fail(req, 500, "internal_error");
        }
    } else {
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            fail(req, 500, "internal_error");
        } else {
            /* The SVG is ours: only '"' needs escaping for JSON. */
            evbuffer_add_printf(b, "{\"status\":\"enrollment_pending\",\"secret\":\"%s\",\"otpauth_uri\":\"", v.b32);
            char e_uri[1100];
            evbuffer_add_printf(b, "%s\",\"qr_svg\":\"", pg_json_escape(v.uri, strlen(v.uri), e_uri, sizeof e_uri));
            for (const char *p = v.svg; *p; p++) {
                if (*p == '"' || *p == '\\')
                    evbuffer_add(b, "\\", 1);
                if (*p == '\n')
                    evbuffer_add(b, "\\n", 2);
                else
                    evbuffer_add(b, p, 1);
            }
            evbuffer_add_printf(b, "\",\"activate\":\"/auth/mfa/activate\"");
            if (l->via_ticket)
                evbuffer_add_printf(b, ",\"mfa_token\":\"%s\"", l->form.mfa_token);
            evbuffer_add_printf(b, "}\n");
            size_t len = evbuffer_get_length(b);
            pg_request_respond(req, 200, "application/json", (const char *)evbuffer_pullup(b, -1), len);
            evbuffer_free(b);
        }
    }
    OPENSSL_cleanse(&v, sizeof v.b32 + sizeof v.uri);
    free(v.svg);
}

/* ---- the code step ---- */

static void code_accepted(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    if (st != PG_REDIS_OK || !reply || reply->type != REDIS_REPLY_INTEGER) {
        redis_failed(req, st == PG_REDIS_OK ? PG_REDIS_ERR_REPLY : st);
        return;
    }
    struct login *l = state(req);
    if (reply->integer != 1) {
        pg_security_event(req, "mfa", "failure", l->user->id, l->user->username, "\"reason\":\"%s\"",
                          reply->integer == 0 ? "code already used" : "enrollment changed");
        fail(req, 401, "mfa_failed");
        return;
    }
    bool activating = l->step == PG_STEP_ACTIVATE;
    pg_security_event(req, activating ? "mfa_enrolled" : "mfa", "success", l->user->id, l->user->username, NULL);
    if (l->via_ticket) {
        pg_mfa_ticket_del(redis_of(req), l->form.mfa_token, pg_redis_discard, NULL);
        pg_auth_start_session(req, l->user, next_of(l), l->html);
        return;
    }
    pg_auth_reply_json(req, 200, "{\"status\":\"mfa_active\"}\n");
}

/* A failed password or code was counted; it may have locked the account. */
static void failure_counted(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    struct login *l = state(req);
    bool code_step = l->step != PG_STEP_PASSWORD;
    if (st == PG_REDIS_OK && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->integer == 1) {
        pg_security_event(req, "account_locked", "failure", l->user->id, l->user->username,
                          "\"failures\":%lld,\"during\":\"%s\",\"duration_ms\":%u", reply->element[0]->integer,
                          code_step ? "mfa" : "password", req->policy->params.lockout_duration_ms);
        pg_alert_raise(req->worker, "high", "account_locked", l->user->username, "\"failures\":%lld",
                       reply->element[0]->integer);
        if (code_step && l->via_ticket)
            pg_mfa_ticket_del(redis_of(req), l->form.mfa_token, pg_redis_discard, NULL);
    } else if (st != PG_REDIS_OK) {
        pg_log(PG_LOG_ERROR, "lockout_not_counted", "\"request_id\":\"%s\",\"redis\":\"%s\"", req->id,
               pg_redis_status_name(st));
    }
    fail(req, 401, code_step ? "mfa_failed" : "login_failed");
}

static void code_failed(struct pg_request *req, const char *reason)
{
    struct login *l = state(req);
    const struct pg_policy_params *pp = &req->policy->params;
    pg_security_event(req, "mfa", "failure", l->user->id, l->user->username, "\"reason\":\"%s\"", reason);
    REDIS_STEP(req, pg_lockout_fail(redis_of(req), l->user->id, pp->lockout_max_failures, pp->lockout_window_ms,
                                    pp->lockout_duration_ms, failure_counted, TICKET));
}

static bool reply_blob(const redisReply *e, unsigned char *out, size_t cap, size_t *len)
{
    if (!e || e->type != REDIS_REPLY_STRING || e->len > cap)
        return false;
    memcpy(out, e->str, e->len);
    *len = e->len;
    return true;
}

/* The TOTP record is here: check the code against the active secret (a
 * login) or the pending one (an activation). */
static void mfa_loaded_for_code(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = back_with_totp(arg, st, reply);
    if (!req)
        return;
    struct login *l = state(req);
    bool activating = l->step == PG_STEP_ACTIVATE;
    unsigned char blob[BLOB_MAX];
    size_t blob_len = 0;
    if (!reply_blob(reply->element[activating ? 1 : 0], blob, sizeof blob, &blob_len)) {
        code_failed(req, activating ? "nothing to activate" : "not enrolled");
        return;
    }
    if (activating) {
        memcpy(l->pending, blob, blob_len);
        l->pending_len = blob_len;
    }
    uint64_t last = 0;
    if (reply->element[2]->type == REDIS_REPLY_STRING)
        last = strtoull(reply->element[2]->str, NULL, 10);
    uint8_t secret[PG_TOTP_SECRET_LEN];
    const char *uid = l->user->id;
    int n = pg_secretbox_open(pg_auth_secrets()->mfa_key, uid, strlen(uid), blob, blob_len, secret, sizeof secret);
    if (n != PG_TOTP_SECRET_LEN) {
        pg_log(PG_LOG_ERROR, "mfa_secret_unreadable", "\"request_id\":\"%s\",\"user_id\":\"%s\"", req->id, uid);
        pg_alert_raise(req->worker, "high", "mfa_secret_unreadable", l->user->username, NULL);
        fail(req, 500, "internal_error");
        return;
    }
    uint64_t step = 0;
    enum pg_totp_result r = pg_totp_check(secret, sizeof secret, l->form.code, time(NULL), last, &step);
    OPENSSL_cleanse(secret, sizeof secret);
    if (r != PG_TOTP_OK) {
        code_failed(req, r == PG_TOTP_REPLAY ? "code already used" : "wrong code");
        return;
    }
    REDIS_STEP(req, pg_mfa_accept(redis_of(req), uid, step, activating ? l->pending : NULL,
                                  activating ? l->pending_len : 0, code_accepted, TICKET));
}

/* ---- who is asking: a pending login's ticket, or a session ---- */

static void proceed(struct pg_request *req);

static void ticket_found(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = back(arg, st);
    if (!req)
        return;
    struct login *l = state(req);
    char uid[256] = "";
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len < sizeof uid)
        memcpy(uid, reply->str, reply->len), uid[reply->len] = '\0';
    l->user = uid[0] ? pg_users_by_id(l->users, uid) : NULL;
    if (!l->user || l->user->disabled) {
        pg_security_event(req, "mfa", "failure", uid[0] ? uid : NULL, NULL, "\"reason\":\"unknown or expired ticket\"");
        fail(req, 401, "mfa_failed");
        return;
    }
    proceed(req);
}

static void enroll_checked(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = back_with_totp(arg, st, reply);
    if (!req)
        return;
    /* A password alone must never replace an active second factor. */
    if (state(req)->via_ticket && reply->element[0]->type == REDIS_REPLY_STRING) {
        fail(req, 403, "mfa_already_active");
        return;
    }
    enroll(req);
}

/* The user is known: run the step asked for. */
static void proceed(struct pg_request *req)
{
    struct login *l = state(req);
    switch (l->step) {
    case PG_STEP_MFA:
    case PG_STEP_ACTIVATE:
        REDIS_STEP(req, pg_mfa_load(redis_of(req), l->user->id, mfa_loaded_for_code, TICKET));
        break;
    case PG_STEP_ENROLL:
        REDIS_STEP(req, pg_mfa_load(redis_of(req), l->user->id, enroll_checked, TICKET));
        break;
    case PG_STEP_PASSWORD:
        break;
    }
}

/* ---- the password step ---- */

struct verify_job {
    struct pg_ticket *ticket;
    char password[1025];
    size_t password_len;
    char *phc; /* NULL: verify against the dummy */
    struct pg_argon2_params params;
    int result;
};

static void verify_work(void *arg)
{
    struct verify_job *j = arg;
    j->result = j->phc ? pg_password_verify(j->phc, j->password, j->password_len)
                       : pg_password_verify_dummy(j->password, j->password_len, &j->params);
}

static void mfa_loaded_after_password(enum pg_redis_status st, const redisReply *reply, void *arg);

static void verify_done(void *arg)
{
    struct verify_job *j = arg;
    atomic_fetch_sub(&argon2_queued, 1);
    int ok = j->result;
    struct pg_request *req = pg_ticket_redeem(j->ticket);
    OPENSSL_cleanse(j->password, sizeof j->password);
    free(j->phc);
    free(j);
    if (!req)
        return;
    if (req->worker->metrics)
        req->worker->metrics->password_verifications++;
    struct login *l = state(req);
    const struct pg_user *u = l->user;
    if (!u || l->locked || ok != 1) {
        const char *reason = !u ? "unknown user" : l->locked ? "account locked" : "wrong password";
        pg_security_event(req, "login", "failure", u ? u->id : NULL, l->form.username, "\"reason\":\"%s\"", reason);
        if (u && !l->locked) {
            const struct pg_policy_params *pp = &req->policy->params;
            REDIS_STEP(req, pg_lockout_fail(redis_of(req), u->id, pp->lockout_max_failures, pp->lockout_window_ms,
                                            pp->lockout_duration_ms, failure_counted, TICKET));
            return;
        }
        fail(req, 401, "login_failed");
        return;
    }
    pg_lockout_reset(redis_of(req), u->id, pg_redis_discard, NULL);
    REDIS_STEP(req, pg_mfa_load(redis_of(req), u->id, mfa_loaded_after_password, TICKET));
}

static void ticket_stored(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    (void)reply;
    struct pg_request *req = back(arg, st);
    if (!req)
        return;
    struct login *l = state(req);
    if (l->step == PG_STEP_ENROLL) { /* enrollment required before the first code */
        enroll(req);
        return;
    }
    if (l->html) {
        struct evbuffer *page = evbuffer_new();
        if (!page) {
            fail(req, 500, "internal_error");
            return;
        }
        pg_page_mfa(page, l->form.mfa_token, next_of(l), NULL);
        respond_page(req, 200, page);
        return;
    }
    char body[256];
    snprintf(body, sizeof body, "{\"status\":\"mfa_required\",\"mfa_token\":\"%s\",\"next\":\"/auth/mfa\"}\n",
             l->form.mfa_token);
    pg_auth_reply_json(req, 200, body);
}

static void mfa_loaded_after_password(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = back_with_totp(arg, st, reply);
    if (!req)
        return;
    struct login *l = state(req);
    bool active = reply->element[0]->type == REDIS_REPLY_STRING;
    if (!active && !mfa_required(req, l->user)) {
        pg_security_event(req, "login", "success", l->user->id, l->user->username, "\"factors\":\"password\"");
        pg_auth_start_session(req, l->user, next_of(l), l->html);
        return;
    }
    /* The password was right; the code (or enrollment) comes next. */
    pg_security_event(req, "login_password", "success", l->user->id, l->user->username,
                      "\"next\":\"%s\"", active ? "mfa" : "mfa_enrollment");
    if (pg_session_new_id(l->form.mfa_token) != 0) {
        fail(req, 500, "internal_error");
        return;
    }
    l->form.present |= PG_FORM_MFA_TOKEN;
    l->via_ticket = true;
    l->step = active ? PG_STEP_MFA : PG_STEP_ENROLL;
    REDIS_STEP(req, pg_mfa_ticket_new(redis_of(req), l->form.mfa_token, l->user->id,
                                      req->worker->cfg->auth.mfa_step_timeout_ms, ticket_stored, TICKET));
}

static void lock_checked(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = back(arg, st); /* Redis failed: cannot tell whether it is locked, so refuse */
    if (!req)
        return;
    struct login *l = state(req);
    l->locked = reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0;
    if (l->locked)
        pg_security_event(req, "login_refused_locked", "failure", l->user->id, l->user->username,
                          "\"lock_ms_left\":%lld", reply->integer);
    /* Locked or not, the hash is computed: the answer's timing says nothing. */
    const struct pg_config *cfg = req->worker->cfg;
    if (atomic_fetch_add(&argon2_queued, 1) >= cfg->auth.argon2_max_queued) {
        atomic_fetch_sub(&argon2_queued, 1);
        pg_log(PG_LOG_WARN, "login_busy", "\"request_id\":\"%s\",\"queued\":%d", req->id, cfg->auth.argon2_max_queued);
        evbuffer_add_printf(req->local_headers ? req->local_headers : (req->local_headers = evbuffer_new()),
                            "Retry-After: 1\r\n");
        fail(req, 503, "busy");
        return;
    }
    struct verify_job *j = calloc(1, sizeof *j);
    struct pg_ticket *t = j ? pg_request_suspend(req) : NULL;
    if (!t) {
        atomic_fetch_sub(&argon2_queued, 1);
        free(j);
        fail(req, 500, "internal_error");
        return;
    }
    j->ticket = t;
    memcpy(j->password, l->form.password, l->form.password_len);
    j->password_len = l->form.password_len;
    j->phc = l->user ? strdup(l->user->password) : NULL;
    j->params = pg_auth_secrets()->argon2;
    if ((l->user && !j->phc) || pg_workq_submit(PG_POOL_HASH, req->worker->base, verify_work, verify_done, j) != 0) {
        atomic_fetch_sub(&argon2_queued, 1);
        pg_ticket_redeem(t);
        OPENSSL_cleanse(j->password, sizeof j->password);
        free(j->phc);
        free(j);
        fail(req, 500, "internal_error");
    }
}

/* ---- the login endpoint's own rate limits (login_limits:) ---- */

/* Refused before any password is hashed: the answer says to wait, and the
 * same for a name that exists and one that does not. */
static void login_rate_limited(struct pg_request *req, const struct pg_rl_verdict *v)
{
    struct login *l = state(req);
    pg_security_event(req, "login_rate_limited", "failure", NULL, l->form.username,
                      "\"limit\":\"%s\",\"retry_after_ms\":%lld", v->name, (long long)(v->res.retry_after_us / 1000));
    if (pg_ratelimit_add_headers(req, v) != 0) {
        fail(req, 500, "internal_error");
        return;
    }
    struct evbuffer *page = l->html ? evbuffer_new() : NULL;
    if (!page) {
        pg_request_respond_error(req, 429, "rate_limited");
        return;
    }
    pg_page_login(page, "Too many sign-in attempts. Wait a minute, then try again.", next_of(l));
    req->error = "rate_limited";
    respond_page(req, 429, page);
}

static void check_password(struct pg_request *req);

static void login_limits_decided(struct pg_request *req, const struct pg_rl_verdict *v)
{
    if (v->limited)
        login_rate_limited(req, v);
    else
        check_password(req);
}

/* Counts the attempt per client IP and per submitted username; then the
 * password step goes on, unless one of them refuses. */
static void password_step(struct pg_request *req)
{
    struct login *l = state(req);
    if (!(l->form.present & PG_FORM_USERNAME) || !(l->form.present & PG_FORM_PASSWORD)) {
        fail(req, 400, "username_and_password_required");
        return;
    }
    const struct pg_policy_params *pp = &req->policy->params;
    struct pg_rl_check c[2];
    const char *ip = req->conn->client_ip;
    if (pg_rl_check_init(&c[0], "login-ip", pp->login_ip.rate_per_sec, pp->login_ip.burst,
                         pp->login_ip.scope == PG_SCOPE_GLOBAL) != 0 ||
        pg_rl_check_init(&c[1], "login-username", pp->login_username.rate_per_sec, pp->login_username.burst,
                         pp->login_username.scope == PG_SCOPE_GLOBAL) != 0) {
        fail(req, 500, "internal_error");
        return;
    }
    pg_rl_check_part(&c[0], 'i', ip, strlen(ip));
    pg_rl_check_end(&c[0]);
    pg_rl_check_part(&c[1], 'n', l->form.username, strlen(l->form.username));
    pg_rl_check_end(&c[1]);
    struct pg_rl_batch *batch = NULL;
    for (int i = 0; i < 2; i++) {
        if (c[i].global) {
            if (pg_rl_batch_add(&batch, &c[i]) != 0) {
                pg_rl_batch_free(batch);
                fail(req, 500, "internal_error");
                return;
            }
            continue;
        }
        struct pg_gcra_result res;
        if (pg_ratelimit_local(req->worker, &c[i], &res) != 0) {
            pg_rl_batch_free(batch);
            fail(req, 500, "internal_error");
            return;
        }
        if (!res.allowed) {
            pg_rl_batch_free(batch);
            struct pg_rl_verdict v;
            pg_rl_verdict_set(&v, &c[i], &res);
            login_rate_limited(req, &v);
            return;
        }
    }
    if (!batch) {
        check_password(req);
        return;
    }
    struct pg_rl_verdict v;
    switch (pg_rl_batch_run(req, batch, login_limits_decided, &v)) {
    case 0:
        return; /* login_limits_decided goes on */
    case 1:
        login_limits_decided(req, &v);
        return;
    default:
        fail(req, 500, "internal_error");
    }
}

static void check_password(struct pg_request *req)
{
    struct login *l = state(req);
    const struct pg_user *u = pg_users_by_name(l->users, l->form.username);
    l->user = u && !u->disabled ? u : NULL;
    if (!l->user) {
        struct pg_ticket *t = pg_request_suspend(req);
        if (t)
            lock_checked(PG_REDIS_OK, NULL, t); /* the same path, with the dummy hash */
        else
            fail(req, 500, "internal_error");
        return;
    }
    REDIS_STEP(req, pg_lockout_check(redis_of(req), l->user->id, lock_checked, TICKET));
}

/* ---- entry ---- */

static void body_read(struct pg_request *req, int status)
{
    struct login *l = state(req);
    if (status) {
        fail(req, status, status == 413 ? "payload_too_large" : "bad_request");
        return;
    }
    struct pg_header *ct = pg_http_find(&req->head, "content-type");
    size_t len = evbuffer_get_length(req->local_body);
    const char *body = (const char *)evbuffer_pullup(req->local_body, -1);
    const char *why = NULL;
    if (!ct || pg_login_form_parse(ct->value, ct->value_len, body ? body : "", len, &l->form, &why) != 0) {
        evbuffer_drain(req->local_body, len);
        char e[200];
        pg_log(PG_LOG_INFO, "login_bad_request", "\"request_id\":\"%s\",\"reason\":\"%s\"", req->id,
               why ? pg_json_escape(why, strlen(why), e, sizeof e) : "no content type");
        fail(req, ct ? 400 : 415, ct ? "bad_request" : "unsupported_media_type");
        return;
    }
    /* The body held the password: wipe the copy in the buffer. */
    if (body)
        OPENSSL_cleanse((void *)body, len);
    evbuffer_drain(req->local_body, len);
    if (l->step == PG_STEP_PASSWORD) {
        password_step(req);
        return;
    }
    if (l->form.present & PG_FORM_MFA_TOKEN) {
        if (!pg_session_id_valid(l->form.mfa_token)) {
            fail(req, 401, "mfa_failed");
            return;
        }
        l->via_ticket = true;
        REDIS_STEP(req, pg_mfa_ticket_get(redis_of(req), l->form.mfa_token, ticket_found, TICKET));
        return;
    }
    if (req->session && l->step != PG_STEP_MFA) {
        l->user = pg_users_by_id(l->users, req->session->s.uid);
        if (l->user) {
            proceed(req);
            return;
        }
    }
    fail(req, 401, l->step == PG_STEP_MFA ? "mfa_failed" : "unauthenticated");
}

int pg_login_start(struct pg_request *req, enum pg_login_step step)
{
    struct login *l = calloc(1, sizeof *l);
    if (!l || !(l->users = pg_auth_users()) || !req->policy) {
        login_free(l);
        pg_request_respond_error(req, 503, "auth_unavailable");
        return 1;
    }
    l->step = step;
    l->html = pg_auth_wants_html(req);
    req->filter_state = l;
    req->filter_state_free = login_free;
    /* The request stays suspended for the whole flow; every step answers. */
    req->suspended = true;
    pg_request_read_body(req, 8192, body_read);
    return 1;
}
