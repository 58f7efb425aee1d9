/* The security API's status and sessions (proxy/filters/security_api.c
 * routes to these):
 *   GET  status                         what a security officer checks first (security:read)
 *   GET  sessions                       every live session (security:read)
 *   POST sessions/{user id}/revoke      ends every session of the user (security:manage)
 *   POST sessions/{user id}/{sid}/revoke  ends one */
#include <inttypes.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/audit_writer.h"
#include "proxy/auth_store.h"
#include "proxy/blocks.h"
#include "proxy/filters/auth_internal.h"
#include "proxy/log.h"
#include "proxy/policy_store.h"
#include "proxy/request.h"
#include "proxy/security_event.h"
#include "proxy/session.h"
#include "proxy/session_admin.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

/* The users file's ids, for the calls that span users. */
struct uid_list {
    struct pg_users *users;
    const char **ids;
    int n;
    int enabled, mfa_required;
};

static void uid_list_free(void *p)
{
    struct uid_list *l = p;
    if (!l)
        return;
    free(l->ids);
    pg_users_unref(l->users);
    free(l);
}

static struct uid_list *uid_list_new(void)
{
    struct uid_list *l = calloc(1, sizeof *l);
    if (!l || !(l->users = pg_auth_users()) || !(l->ids = calloc((size_t)l->users->count + 1, sizeof *l->ids))) {
        uid_list_free(l);
        return NULL;
    }
    for (int i = 0; i < l->users->count; i++) {
        const struct pg_user *u = &l->users->users[i];
        l->ids[l->n++] = u->id;
        if (!u->disabled) {
            l->enabled++;
            l->mfa_required += u->mfa_required;
        }
    }
    return l;
}

/* ---- status ---- */

struct status {
    struct uid_list *users;
    long long sessions, with_mfa, alerts, open[4]; /* open: low, medium, high, critical */
    bool figures_ok;
};

static void status_free(void *p)
{
    struct status *st = p;
    if (st)
        uid_list_free(st->users);
    free(st);
}

static void status_reply(struct pg_request *req, struct status *st, const redisReply *integrity, bool integrity_ok)
{
    const struct pg_config *cfg = req->worker->cfg;
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        pg_request_respond_error(req, 500, "internal_error");
        return;
    }
    char subject[256] = "", not_after[64] = "", esubj[300];
    pg_tls_current_info(subject, sizeof subject, not_after, sizeof not_after);
    evbuffer_add_printf(out, "{\"tls\":{\"versions\":%s,\"certificate\":{\"subject\":\"%s\",\"not_after\":\"%s\"}},",
                        cfg->tls.min_version == TLS1_3_VERSION ? "[\"TLSv1.3\"]" : "[\"TLSv1.2\",\"TLSv1.3\"]",
                        pg_json_escape(subject, strlen(subject), esubj, sizeof esubj), not_after);
    char policy[1024];
    pg_policy_store_describe(policy, sizeof policy);
    policy[strcspn(policy, "\n")] = '\0';
    evbuffer_add_printf(out, "\"policy\":%s,", policy);
    struct pg_redis_stats rs = {.last_ping_us = -1};
    if (req->worker->redis)
        pg_redis_get_stats(req->worker->redis, &rs);
    evbuffer_add_printf(out, "\"redis\":{\"configured\":%s,\"connected\":%s,\"healthy\":%s,\"ping_ms\":%.3f},",
                        req->worker->redis ? "true" : "false", rs.connected ? "true" : "false",
                        rs.healthy ? "true" : "false", rs.last_ping_us >= 0 ? (double)rs.last_ping_us / 1000 : -1.0);
    struct pg_worker *ws;
    int nw = pg_workers_all(&ws);
    uint64_t depth = 0, written = 0;
    for (int i = 0; i < nw; i++)
        if (ws[i].audit) {
            struct pg_audit_stats as;
            pg_audit_writer_stats(&ws[i], &as);
            written += as.written;
            depth += as.written > as.acked ? as.written - as.acked : 0;
        }
    evbuffer_add_printf(out, "\"audit\":{\"enabled\":%s,\"records_written\":%" PRIu64 ",\"spool_depth\":%" PRIu64
                             ",\"last_integrity\":",
                        req->worker->audit ? "true" : "false", written, depth);
    if (integrity_ok && integrity && integrity->type == REDIS_REPLY_STRING)
        evbuffer_add(out, integrity->str, integrity->len);
    else
        evbuffer_add(out, "null", 4);
    int enabled = st->users ? st->users->enabled : 0;
    evbuffer_add_printf(out, "},\"sessions\":{\"active\":%lld},\"mfa\":{\"users\":%d,\"enrolled\":%lld,\"required\":%d,"
                             "\"share_enrolled\":%.3f},\"blocks\":{\"active\":%d}",
                        st->figures_ok ? st->sessions : -1, enabled, st->figures_ok ? st->with_mfa : -1,
                        st->users ? st->users->mfa_required : 0,
                        st->figures_ok && enabled ? (double)st->with_mfa / enabled : 0.0, pg_blocks_active());
    if (st->figures_ok)
        evbuffer_add_printf(out, ",\"alerts\":{\"kept\":%lld,\"open\":{\"low\":%lld,\"medium\":%lld,\"high\":%lld,"
                                 "\"critical\":%lld}}",
                            st->alerts, st->open[0], st->open[1], st->open[2], st->open[3]);
    else
        evbuffer_add(out, ",\"alerts\":null", 14);
    evbuffer_add(out, "}\n", 2);
    pg_request_respond_buffer(req, 200, "application/json", out);
}

static void status_integrity(enum pg_redis_status s, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (req)
        status_reply(req, req->filter_state, reply, s == PG_REDIS_OK);
}

static void status_figures(enum pg_redis_status s, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    struct status *st = req->filter_state;
    bool ok = s == PG_REDIS_OK && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 7;
    for (size_t i = 0; ok && i < 7; i++)
        ok = reply->element[i]->type == REDIS_REPLY_INTEGER;
    if (ok) {
        st->figures_ok = true;
        st->sessions = reply->element[0]->integer;
        st->with_mfa = reply->element[1]->integer;
        st->alerts = reply->element[2]->integer;
        for (int k = 0; k < 4; k++)
            st->open[k] = reply->element[3 + k]->integer;
    }
    struct pg_ticket *t = pg_request_suspend(req);
    if (!t || pg_redis_command(req->worker->redis, status_integrity, t, "GET audit:integrity") != PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        status_reply(req, st, NULL, false);
    }
}

int pg_security_status(struct pg_request *req)
{
    struct status *st = calloc(1, sizeof *st);
    if (!st || !(st->users = uid_list_new())) {
        status_free(st);
        pg_request_respond_error(req, 500, "internal_error");
        return 1;
    }
    req->filter_state = st;
    req->filter_state_free = status_free;
    req->suspended = true;
    struct pg_ticket *t = req->worker->redis ? pg_request_suspend(req) : NULL;
    if (!t || pg_session_admin_figures(req->worker->redis, st->users->ids, st->users->n, status_figures, t) !=
                  PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        status_reply(req, st, NULL, false); /* what phiguard knows without Redis, Redis marked down */
    }
    return 1;
}

/* ---- sessions ---- */

static void sessions_read(enum pg_redis_status s, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    if (s != PG_REDIS_OK || !reply || reply->type != REDIS_REPLY_ARRAY) {
        pg_request_respond_error(req, 503, "redis_unavailable");
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        pg_request_respond_error(req, 500, "internal_error");
        return;
    }
    evbuffer_add(out, "{\"sessions\":[", 13);
    size_t n = 0;
    static const char *const names[] = {"user_id", "session", "username", "roles", "client_ip",
                                        "created_ms", "last_used_ms", "expires_ms", "break_glass_ms"};
    for (size_t i = 0; i + 9 <= reply->elements; i += 9) {
        if (n++)
            evbuffer_add(out, ",", 1);
        evbuffer_add(out, "{", 1);
        for (int k = 0; k < 9; k++) {
            const redisReply *v = reply->element[i + (size_t)k];
            const char *str = v->type == REDIS_REPLY_STRING ? v->str : "";
            char esc[600];
            if (k >= 5) /* numbers */
                evbuffer_add_printf(out, "%s\"%s\":%lld", k ? "," : "", names[k], atoll(str));
            else
                evbuffer_add_printf(out, "%s\"%s\":\"%s\"", k ? "," : "", names[k],
                                    pg_json_escape(str, strlen(str), esc, sizeof esc));
        }
        evbuffer_add(out, "}", 1);
    }
    evbuffer_add_printf(out, "],\"count\":%zu}\n", n);
    pg_request_respond_buffer(req, 200, "application/json", out);
}

int pg_security_sessions(struct pg_request *req)
{
    struct uid_list *l = uid_list_new();
    if (!l) {
        pg_request_respond_error(req, 500, "internal_error");
        return 1;
    }
    req->filter_state = l;
    req->filter_state_free = uid_list_free;
    req->suspended = true;
    struct pg_ticket *t = req->worker->redis ? pg_request_suspend(req) : NULL;
    if (!t || pg_session_admin_list(req->worker->redis, l->ids, l->n, sessions_read, t) != PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        pg_request_respond_error(req, 503, "redis_unavailable");
    }
    return 1;
}

struct revoke {
    char uid[128], sid[64];
};

static void revoked(enum pg_redis_status s, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    struct revoke *rv = req->filter_state;
    if (s != PG_REDIS_OK || !reply || reply->type != REDIS_REPLY_INTEGER) {
        pg_request_respond_error(req, 503, "redis_unavailable");
        return;
    }
    pg_security_event(req, "sessions_revoked", "success", rv->uid, NULL, "\"by\":\"%s\",\"ended\":%lld,\"one\":%s",
                      req->session->s.uid, reply->integer, rv->sid[0] ? "true" : "false");
    char body[96];
    snprintf(body, sizeof body, "{\"ended\":%lld}\n", reply->integer);
    pg_auth_reply_json(req, 200, body);
}

/* rest: "<uid>/revoke" or "<uid>/<sid>/revoke" (without the prefix). */
int pg_security_revoke(struct pg_request *req, const char *rest, size_t len)
{
    static const char suffix[] = "/revoke";
    size_t sl = sizeof suffix - 1;
    struct revoke *rv = calloc(1, sizeof *rv);
    if (!rv) {
        pg_request_respond_error(req, 500, "internal_error");
        return 1;
    }
    req->filter_state = rv;
    req->filter_state_free = free;
    size_t body = len - sl; /* the caller checked the suffix */
    const char *slash = memchr(rest, '/', body);
    size_t ul = slash ? (size_t)(slash - rest) : body;
    size_t sidl = slash ? body - ul - 1 : 0;
    struct pg_users *users = pg_auth_users();
    bool known = false;
    if (ul && ul < sizeof rv->uid && sidl < sizeof rv->sid) {
        memcpy(rv->uid, rest, ul);
        memcpy(rv->sid, slash ? slash + 1 : "", sidl);
        known = users && pg_users_by_id(users, rv->uid) && (!sidl || pg_session_id_valid(rv->sid));
    }
    pg_users_unref(users);
    if (!known) {
        pg_request_respond_error(req, 404, "unknown_user_or_session");
        return 1;
    }
    req->suspended = true;
    struct pg_ticket *t = req->worker->redis ? pg_request_suspend(req) : NULL;
    if (!t || pg_session_end(req->worker->redis, rv->uid, sidl ? rv->sid : NULL, revoked, t) != PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        pg_request_respond_error(req, 503, "redis_unavailable");
    }
    return 1;
}
