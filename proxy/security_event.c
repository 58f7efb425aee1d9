#include "proxy/security_event.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy/record.h"
#include "proxy/audit_writer.h"
#include "proxy/auth_worker.h"
#include "proxy/conn.h"
#include "proxy/detect.h"
#include "proxy/alert.h"
#include "proxy/log.h"
#include "proxy/notifier.h"
#include "proxy/metrics.h"
#include "proxy/request.h"
#include "proxy/worker.h"

#define ALERTS_KEPT 10000

static void vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
    buf[0] = '\0';
    if (fmt)
        vsnprintf(buf, cap, fmt, ap);
}

void pg_security_event(struct pg_request *req, const char *type, const char *outcome, const char *uid,
                       const char *username, const char *extra_fmt, ...)
{
    char extra[1024], e_uid[300], e_user[600];
    va_list ap;
    va_start(ap, extra_fmt);
    vformat(extra, sizeof extra, extra_fmt, ap);
    va_end(ap);
    bool failed = strcmp(outcome, "success") != 0;
    pg_log(failed ? PG_LOG_WARN : PG_LOG_INFO, "security_event",
           "\"type\":\"%s\",\"outcome\":\"%s\",\"user_id\":\"%s\",\"username\":\"%s\",\"client_ip\":\"%s\","
           "\"request_id\":\"%s\"%s%s",
           type, outcome, uid ? pg_json_escape(uid, strlen(uid), e_uid, sizeof e_uid) : "",
           username ? pg_json_escape(username, strlen(username), e_user, sizeof e_user) : "",
           req ? req->conn->client_ip : "", req ? req->id : "", extra[0] ? "," : "", extra);
    if (!req)
        return;
    if (req->worker->metrics)
        pg_metrics_event(&req->worker->metrics->events, type, outcome);
    /* Failed sign-ins feed the detection rules: per known user, and per
     * client address whoever was tried. */
    if (failed && (!strcmp(type, "login") || !strcmp(type, "mfa"))) {
        if (uid)
            pg_detect(req, PG_DETECT_FAILED_LOGINS_USER, username ? username : uid, uid, 1);
        pg_detect(req, PG_DETECT_FAILED_LOGINS_IP, req->conn->client_ip, NULL, 1);
    }
    /* The same event in the audit trail; its extra members travel as one
     * JSON text in details.info. */
    struct pg_audit_detail details[1] = {{"info", extra}};
    struct pg_audit_record r = {.type = type, .action = 'E', .outcome = failed ? PG_OUTCOME_MINOR_FAILURE : 0,
                                .request_id = req->id, .details = extra[0] ? details : NULL, .ndetails = extra[0] ? 1 : 0};
    r.agent.user_id = uid;
    r.agent.username = username;
    r.agent.client_ip = req->conn->client_ip;
    pg_audit_write(req->worker, &r, NULL, NULL);
}

void pg_alert_raise(struct pg_worker *w, const char *severity, const char *rule, const char *subject,
                    const char *details_fmt, ...)
{
    char details[1024], e_subj[600], alert[2048];
    va_list ap;
    va_start(ap, details_fmt);
    vformat(details, sizeof details, details_fmt, ap);
    va_end(ap);
    struct pg_alert a = {.severity = severity, .rule = rule, .subject = subject, .instance = w->cfg->instance_id,
                         .details = details};
    int n = pg_alert_init(&a) == 0 ? pg_alert_json(&a, alert, sizeof alert) : -1;
    const char *subj = subject ? pg_json_escape(subject, strlen(subject), e_subj, sizeof e_subj) : "";
    pg_log(PG_LOG_WARN, "alert", "\"id\":\"%s\",\"severity\":\"%s\",\"rule\":\"%s\",\"subject\":\"%s\"%s%s",
           a.id, severity, rule, subj, details[0] ? "," : "", details);
    if (w->metrics)
        pg_metrics_event(&w->metrics->alerts, rule, severity);
    struct pg_audit_detail d[5] = {{"id", a.id},      {"info", details}, {"rule", rule}, {"severity", severity},
                                   {"subject", subject ? subject : ""}};
    struct pg_audit_record rec = {.type = "alert", .action = 'E', .outcome = 0};
    if (details[0]) {
        rec.details = d;
        rec.ndetails = 5;
    } else {
        d[1] = d[0]; /* without info */
        rec.details = d + 1;
        rec.ndetails = 4;
    }
    pg_audit_write(w, &rec, NULL, NULL);
    if (n < 0)
        return;
    /* Stored first (queued on the worker's Redis connection), then sent:
     * whoever the webhook wakes finds it through the API. */
    struct pg_redis *r = pg_auth_redis(w);
    if (r && pg_redis_command(r, pg_redis_discard, NULL, "LPUSH alert:list %b", alert, (size_t)n) == PG_REDIS_OK)
        pg_redis_command(r, pg_redis_discard, NULL, "LTRIM alert:list 0 %d", ALERTS_KEPT - 1);
    else if (r)
        pg_log(PG_LOG_ERROR, "alert_not_stored", "\"id\":\"%s\",\"rule\":\"%s\",\"reason\":\"redis unavailable\"",
               a.id, rule);
    pg_notifier_post(&a, alert, (size_t)n);
}
