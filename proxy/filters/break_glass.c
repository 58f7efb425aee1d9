#include "proxy/filters/break_glass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/record.h"
#include "proxy/audit_writer.h"
#include "proxy/auth_worker.h"
#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/request.h"
#include "proxy/security_event.h"
#include "proxy/worker.h"

static void refuse(struct pg_request *req, const char *why)
{
    const char *uid = req->session ? req->session->s.uid : req->user;
    pg_security_event(req, "break_glass", "failure", uid, req->session ? req->session->s.username : NULL,
                      "\"reason\":\"%s\",\"path\":\"%.*s\"", why, (int)(req->head.path_len > 200 ? 200 : req->head.path_len),
                      req->head.target);
    pg_request_respond_error(req, 403, "forbidden");
}

static void window_applied(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct pg_request *req = pg_ticket_redeem(arg);
    if (!req)
        return;
    if (st != PG_REDIS_OK || !reply || reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        /* The session could not be limited: do not grant what cannot be bounded. */
        pg_log(PG_LOG_ERROR, "break_glass_unbounded", "\"request_id\":\"%s\",\"redis\":\"%s\"", req->id,
               pg_redis_status_name(st));
        pg_request_respond_error(req, 503, "auth_unavailable");
        return;
    }
    struct pg_session *s = malloc(sizeof *s); /* a changed session is a new one in the cache */
    if (s) {
        *s = req->session->s;
        s->bg_ms = pg_wall_ms();
        int64_t end = s->bg_ms + req->policy->params.break_glass_window_ms;
        if (end < s->abs_ms)
            s->abs_ms = end;
        pg_auth_cache_put(req->worker, s);
        free(s);
    }
    pg_request_resume(req, PG_NEXT);
}

enum pg_filter_result pg_break_glass(struct pg_request *req, const struct pg_request_view *rq,
                                     const struct pg_decision *denied)
{
    const struct pg_policy *p = req->policy;
    const struct pg_policy_params *pp = &p->params;
    if (!req->session) {
        refuse(req, "needs a signed-in session");
        return PG_RESPOND;
    }
    struct pg_header *hd = pg_http_find(&req->head, pp->break_glass_header);
    if (!hd || (int)hd->value_len < pp->break_glass_reason_min) {
        refuse(req, "reason missing or too short");
        return PG_RESPOND;
    }
    hd->drop = true; /* the upstream learns of it from the audit trail, not the header */
    pg_permset perms;
    if (!pg_policy_break_glass_perms(p, req->roles, req->nroles, &perms)) {
        refuse(req, "role not eligible");
        return PG_RESPOND;
    }
    struct pg_decision d;
    pg_policy_decide_perms(p, &perms, rq, &d);
    if (d.verdict != PG_ALLOW) {
        refuse(req, "not allowed even in an emergency");
        return PG_RESPOND;
    }
    req->break_glass = true;
    pg_request_set_decision(req, &d);
    const struct pg_session *s = &req->session->s;
    /* The stated reason is free text and may name a patient: it goes to the
     * audit trail only, never to the log. */
    char reason[201];
    size_t rl = hd->value_len < sizeof reason - 1 ? hd->value_len : sizeof reason - 1;
    memcpy(reason, hd->value, rl);
    reason[rl] = '\0';
    pg_log(PG_LOG_WARN, "security_event",
           "\"type\":\"break_glass\",\"outcome\":\"success\",\"severity\":\"critical\",\"user_id\":\"%s\","
           "\"request_id\":\"%s\",\"justification_length\":%u,\"rule\":\"%s\",\"denied_by\":\"%s\"",
           s->uid, req->id, (unsigned)hd->value_len, d.route && d.route->name ? d.route->name : "",
           denied->route && denied->route->name ? denied->route->name : "");
    struct pg_audit_detail details[] = {{"denied_by", denied->route && denied->route->name ? denied->route->name : ""},
                                        {"justification", reason},
                                        {"severity", "critical"}};
    struct pg_audit_record r = {.type = "break_glass", .action = 'E', .request_id = req->id, .details = details,
                                .ndetails = sizeof details / sizeof details[0]};
    r.agent.user_id = s->uid;
    r.agent.username = s->username;
    r.agent.client_ip = req->conn->client_ip;
    pg_audit_write(req->worker, &r, NULL, NULL);
    pg_alert_raise(req->worker, "critical", "break_glass", s->username, "\"path\":\"%.*s\"",
                   (int)(req->head.path_len > 200 ? 200 : req->head.path_len), req->head.target);
    if (s->bg_ms)
        return PG_NEXT; /* the window already runs */
    struct pg_ticket *t = pg_request_suspend(req);
    enum pg_redis_status st = t ? pg_session_break_glass(pg_auth_redis(req->worker), s->uid, s->sid,
                                                         pp->break_glass_window_ms, window_applied, t)
                                : PG_REDIS_OVERLOADED;
    if (st != PG_REDIS_OK) {
        if (t)
            pg_ticket_redeem(t);
        pg_request_respond_error(req, 503, "auth_unavailable");
        return PG_RESPOND;
    }
    return PG_SUSPEND;
}
