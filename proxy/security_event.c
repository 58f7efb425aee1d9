#include "proxy/security_event.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- alerts posted from other threads ---- */

struct posted_alert {
    struct posted_alert *next;
    char severity[16], rule[64], subject[256], details[1024];
};

struct pg_alert_inbox {
    pthread_mutex_t mu;
    struct posted_alert *head, *tail;
    struct event *ev;
};

static void inbox_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_worker *w = arg;
    struct pg_alert_inbox *in = w->alert_inbox;
    pthread_mutex_lock(&in->mu);
    struct posted_alert *p = in->head;
    in->head = in->tail = NULL;
    pthread_mutex_unlock(&in->mu);
    while (p) {
        struct posted_alert *next = p->next;
        pg_alert_raise(w, p->severity, p->rule, p->subject[0] ? p->subject : NULL, p->details[0] ? "%s" : NULL,
                       p->details);
        free(p);
        p = next;
    }
}

int pg_alert_inbox_init(struct pg_worker *w)
{
    struct pg_alert_inbox *in = calloc(1, sizeof *in);
    if (!in)
        return -1;
    pthread_mutex_init(&in->mu, NULL);
    in->ev = event_new(w->base, -1, 0, inbox_drain, w);
    if (!in->ev) {
        pthread_mutex_destroy(&in->mu);
        free(in);
        return -1;
    }
    w->alert_inbox = in;
    return 0;
}

void pg_alert_inbox_free(struct pg_worker *w)
{
    struct pg_alert_inbox *in = w->alert_inbox;
    if (!in)
        return;
    while (in->head) {
        struct posted_alert *p = in->head;
        in->head = p->next;
        free(p);
    }
    event_free(in->ev);
    pthread_mutex_destroy(&in->mu);
    free(in);
    w->alert_inbox = NULL;
}

void pg_alert_post(struct pg_worker *w, const char *severity, const char *rule, const char *subject,
                   const char *details_fmt, ...)
{
    struct pg_alert_inbox *in = w ? w->alert_inbox : NULL;
    struct posted_alert *p = in ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        pg_log(PG_LOG_ERROR, "alert_not_raised", "\"rule\":\"%s\",\"reason\":\"%s\"", rule,
               in ? "out of memory" : "no worker");
        return;
    }
    snprintf(p->severity, sizeof p->severity, "%s", severity);
    snprintf(p->rule, sizeof p->rule, "%s", rule);
    snprintf(p->subject, sizeof p->subject, "%s", subject ? subject : "");
    va_list ap;
    va_start(ap, details_fmt);
    vformat(p->details, sizeof p->details, details_fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&in->mu);
    if (in->tail)
        in->tail->next = p;
    else
        in->head = p;
    in->tail = p;
    pthread_mutex_unlock(&in->mu);
    event_active(in->ev, 0, 0); /* thread-safe: evthread locking is on */
}
