/* The security API under /api/v1/security/ on the TLS listener
 * (docs/monitoring.md). Each call needs a session with the right
 * permission, and is recorded in the audit trail like every answer:
 *   GET  audit-log/integrity          the last scheduled verification (audit:read)
 *   GET  alerts?severity=&rule=&status=open|acknowledged&limit=
 *                                     the newest alerts (security:read)
 *   POST alerts/{id}/acknowledge      who saw it, and when (security:manage)
 * and status and sessions (proxy/filters/security_status.c). */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#include "policy/record.h"
#include "proxy/alert_store.h"
#include "proxy/security_event.h"

#include "proxy/filters/auth_internal.h"
#include "proxy/log.h"
#include "proxy/redis.h"
#include "proxy/request.h"
#include "proxy/worker.h"

static void integrity_read(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    if (st != PG_REDIS_OK) {
        pg_request_respond_error(req, 503, "redis_unavailable");
        return;
    }
    if (!reply || reply->type != REDIS_REPLY_STRING) {
        pg_auth_reply_json(req, 200, "{\"status\":\"not_run_yet\",\"detail\":\"the first scheduled verification has "
                                     "not finished (audit.verify_interval)\"}\n");
        return;
    }
    pg_request_respond(req, 200, "application/json", reply->str, reply->len);
}

#define ALERTS_SCANNED 10000 /* every kept alert (security_event.c keeps as many) */

static bool field_is(yajl_val root, const char *key, const char *want, size_t want_len)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    const char *got = v ? YAJL_GET_STRING(v) : NULL;
    return got && strlen(got) == want_len && !memcmp(got, want, want_len);
}

struct alert_filter {
    const char *severity, *rule, *status;
    size_t severity_len, rule_len, status_len;
    long limit;
};

static void alerts_read(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    struct alert_filter *f = req->filter_state;
    if (st != PG_REDIS_OK || !reply || reply->type != REDIS_REPLY_ARRAY) {
        pg_request_respond_error(req, 503, "redis_unavailable");
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        pg_request_respond_error(req, 500, "internal_error");
        return;
    }
    evbuffer_add(out, "{\"alerts\":[", 11);
    long n = 0;
    for (size_t i = 0; i + 1 < reply->elements && n < f->limit; i += 2) {
        const redisReply *a = reply->element[i], *ack = reply->element[i + 1];
        if (a->type != REDIS_REPLY_STRING || a->len < 2 || a->str[a->len - 1] != '}')
            continue;
        bool acked = ack->type == REDIS_REPLY_STRING;
        if (f->status && !(f->status_len == 4 && !memcmp(f->status, "open", 4) ? !acked
                           : f->status_len == 12 && !memcmp(f->status, "acknowledged", 12) ? acked
                                                                                          : false))
            continue;
        if (f->severity || f->rule) {
            char why[64];
            yajl_val root = yajl_tree_parse(a->str, why, sizeof why);
            bool keep = root && (!f->severity || field_is(root, "severity", f->severity, f->severity_len)) &&
                        (!f->rule || field_is(root, "rule", f->rule, f->rule_len));
            yajl_tree_free(root);
            if (!keep)
                continue;
        }
        /* The alert as stored, with its acknowledgement added. */
        if (n++)
            evbuffer_add(out, ",", 1);
        evbuffer_add(out, a->str, a->len - 1);
        evbuffer_add(out, ",\"acknowledged\":", 16);
        if (acked)
            evbuffer_add(out, ack->str, ack->len);
        else
            evbuffer_add(out, "null", 4);
        evbuffer_add(out, "}", 1);
    }
    evbuffer_add_printf(out, "],\"count\":%ld}\n", n);
    pg_request_respond_buffer(req, 200, "application/json", out);
}

static int list_alerts(struct pg_request *req)
{
    const struct pg_http_head *h = &req->head;
    struct alert_filter *f = calloc(1, sizeof *f);
    if (!f) {
        pg_request_respond_error(req, 500, "internal_error");
        return 1;
    }
    req->filter_state = f;
    req->filter_state_free = free;
    f->severity = pg_http_query_value(h, "severity", &f->severity_len);
    f->rule = pg_http_query_value(h, "rule", &f->rule_len);
    f->status = pg_http_query_value(h, "status", &f->status_len);
    size_t ll = 0;
    const char *lim = pg_http_query_value(h, "limit", &ll);
    f->limit = 100;
    if (lim) {
        char buf[12];
        snprintf(buf, sizeof buf, "%.*s", (int)(ll < 11 ? ll : 11), lim);
        char *end;
        f->limit = strtol(buf, &end, 10);
        if (*end || f->limit < 1 || f->limit > 1000) {
            pg_request_respond_error(req, 400, "bad_limit");
            return 1;
        }
    }
    struct pg_ticket *t = req->worker->redis ? pg_request_suspend(req) : NULL;
    req->suspended = true;
    if (!t || pg_alert_store_list(req->worker->redis, ALERTS_SCANNED, alerts_read, t) != PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        pg_request_respond_error(req, 503, "redis_unavailable");
    }
    return 1;
}

static void acked(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    const char *id = req->filter_state;
    if (st != PG_REDIS_OK || !reply || reply->type != REDIS_REPLY_INTEGER) {
        pg_request_respond_error(req, 503, "redis_unavailable");
        return;
    }
    if (reply->integer < 0) {
        pg_request_respond_error(req, 404, "no_such_alert");
        return;
    }
    if (reply->integer == 0) {
        pg_request_respond_error(req, 409, "already_acknowledged");
        return;
    }
    pg_security_event(req, "alert_acknowledged", "success", req->session->s.uid, req->session->s.username,
                      "\"alert\":\"%s\"", id);
    char body[128];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"acknowledged\":true}\n", id);
    pg_auth_reply_json(req, 200, body);
}

static int acknowledge(struct pg_request *req, const char *id, size_t id_len)
{
    bool hex = id_len == 16;
    for (size_t i = 0; hex && i < id_len; i++)
        hex = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
    if (!hex) {
        pg_request_respond_error(req, 404, "no_such_alert");
        return 1;
    }
    char *copy = strndup(id, id_len);
    if (!copy) {
        pg_request_respond_error(req, 500, "internal_error");
        return 1;
    }
    req->filter_state = copy;
    req->filter_state_free = free;
    char ack[700], when[PG_RECORD_TIME_LEN], e_user[300], e_uid[300];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pg_record_format_time((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, when);
    const struct pg_session *s = &req->session->s;
    snprintf(ack, sizeof ack, "{\"by\":\"%s\",\"username\":\"%s\",\"at\":\"%s\"}",
             pg_json_escape(s->uid, strlen(s->uid), e_uid, sizeof e_uid),
             pg_json_escape(s->username, strlen(s->username), e_user, sizeof e_user), when);
    struct pg_ticket *t = req->worker->redis ? pg_request_suspend(req) : NULL;
    req->suspended = true;
    if (!t || pg_alert_store_ack(req->worker->redis, copy, ack, acked, t) != PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        pg_request_respond_error(req, 503, "redis_unavailable");
    }
    return 1;
}

static bool path_eq(const struct pg_http_head *h, const char *p)
{
    size_t n = strlen(p);
    return h->path_len == n && !memcmp(h->target, p, n);
}

/* Answers 401, 403 or 405 and returns false unless the caller may. */
static bool allowed(struct pg_request *req, int method, const char *perm)
{
    const struct pg_http_head *h = &req->head;
    if (h->method != method && !(method == HTTP_GET && h->method == HTTP_HEAD)) {
        pg_request_respond_error(req, 405, "method_not_allowed");
        return false;
    }
    if (!req->session) {
        pg_request_respond_error(req, 401, "unauthenticated");
        return false;
    }
    if (!pg_auth_session_has_perm(req, perm)) {
        pg_request_respond_error(req, 403, "forbidden");
        return false;
    }
    return true;
}

int pg_security_api(struct pg_request *req)
{
    static const char alerts_prefix[] = "/api/v1/security/alerts/", ack_suffix[] = "/acknowledge";
    const struct pg_http_head *h = &req->head;
    if (path_eq(h, "/api/v1/security/audit-log/integrity")) {
        if (!allowed(req, HTTP_GET, "audit:read"))
            return 1;
        struct pg_ticket *t = req->worker->redis ? pg_request_suspend(req) : NULL;
        req->suspended = true;
        if (!t || pg_redis_command(req->worker->redis, integrity_read, t, "GET audit:integrity") != PG_REDIS_OK) {
            if (t)
                pg_ticket_redeem(t);
            pg_request_respond_error(req, 503, "redis_unavailable");
        }
        return 1;
    }
    if (path_eq(h, "/api/v1/security/alerts"))
        return allowed(req, HTTP_GET, "security:read") ? list_alerts(req) : 1;
    if (path_eq(h, "/api/v1/security/status"))
        return allowed(req, HTTP_GET, "security:read") ? pg_security_status(req) : 1;
    if (path_eq(h, "/api/v1/security/sessions"))
        return allowed(req, HTTP_GET, "security:read") ? pg_security_sessions(req) : 1;
    static const char sessions_prefix[] = "/api/v1/security/sessions/", revoke_suffix[] = "/revoke";
    size_t sp = sizeof sessions_prefix - 1, rs = sizeof revoke_suffix - 1;
    if (h->path_len > sp + rs && !memcmp(h->target, sessions_prefix, sp) &&
        !memcmp(h->target + h->path_len - rs, revoke_suffix, rs))
        return allowed(req, HTTP_POST, "security:manage") ? pg_security_revoke(req, h->target + sp, h->path_len - sp)
                                                         : 1;
    size_t pl = sizeof alerts_prefix - 1, sl = sizeof ack_suffix - 1;
    if (h->path_len > pl + sl && !memcmp(h->target, alerts_prefix, pl) &&
        !memcmp(h->target + h->path_len - sl, ack_suffix, sl))
        return allowed(req, HTTP_POST, "security:manage")
                   ? acknowledge(req, h->target + pl, h->path_len - pl - sl)
                   : 1;
    pg_request_respond_error(req, 404, "not_found");
    return 1;
}
