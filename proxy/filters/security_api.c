/* The security API under /api/v1/security/ on the TLS listener (issue 7
 * builds the rest of it): for now `GET audit-log/integrity`, the last
 * scheduled verification of the audit trail. Callers need audit:read
 * (the compliance_auditor and security_admin roles); each call is recorded
 * in the audit trail like every answer. */
#include <http_parser.h>
#include <string.h>

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

int pg_security_api(struct pg_request *req)
{
    static const char integrity[] = "/api/v1/security/audit-log/integrity";
    const struct pg_http_head *h = &req->head;
    if (h->path_len != sizeof integrity - 1 || memcmp(h->target, integrity, sizeof integrity - 1) != 0) {
        pg_request_respond_error(req, 404, "not_found");
        return 1;
    }
    if (h->method != HTTP_GET && h->method != HTTP_HEAD) {
        pg_request_respond_error(req, 405, "method_not_allowed");
        return 1;
    }
    if (!req->session) {
        pg_request_respond_error(req, 401, "unauthenticated");
        return 1;
    }
    if (!pg_auth_session_has_perm(req, "audit:read")) {
        pg_request_respond_error(req, 403, "forbidden");
        return 1;
    }
    struct pg_ticket *t = req->worker->redis ? pg_request_suspend(req) : NULL;
    req->suspended = true;
    if (!t || pg_redis_command(req->worker->redis, integrity_read, t, "GET audit:integrity") != PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        pg_request_respond_error(req, 503, "redis_unavailable");
    }
    return 1;
}
