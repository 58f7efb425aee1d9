#ifndef PHIGUARD_SECURITY_EVENT_H
#define PHIGUARD_SECURITY_EVENT_H
/* Security events (logins, lockouts, session ends, break-glass) and the
 * alerts some of them raise. Events are written as JSON log lines with the
 * event type, outcome, who and from where; the audit chain (issue 5)
 * takes the same calls. Alerts also go to Redis (alert:list, newest first,
 * capped) where the security API reads them. Neither ever carries a
 * password, a token or PHI. */
struct pg_request;
struct pg_worker;

/* extra_fmt: more JSON members ("\"k\":\"v\",..."), or NULL. uid and
 * username may be NULL. */
void pg_security_event(struct pg_request *req, const char *type, const char *outcome, const char *uid,
                       const char *username, const char *extra_fmt, ...) __attribute__((format(printf, 6, 7)));
/* severity: "low", "medium", "high" or "critical". */
void pg_alert_raise(struct pg_worker *w, const char *severity, const char *rule, const char *subject,
                    const char *details_fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same, from any thread (the main loop's reloads): the alert is queued
 * and raised on w's own loop, where its Redis client and audit chain live.
 * An alert still queued when the worker stops is dropped (it was logged
 * when posted). */
void pg_alert_post(struct pg_worker *w, const char *severity, const char *rule, const char *subject,
                   const char *details_fmt, ...) __attribute__((format(printf, 5, 6)));
/* The worker's queue of posted alerts: made with its loop, freed with it. */
int pg_alert_inbox_init(struct pg_worker *w);
void pg_alert_inbox_free(struct pg_worker *w);

#endif
