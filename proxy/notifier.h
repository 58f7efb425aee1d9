#ifndef PHIGUARD_NOTIFIER_H
#define PHIGUARD_NOTIFIER_H
/* Alerts sent to a webhook (alerts.webhook_url): as a Slack incoming
 * webhook message, a PagerDuty Events API v2 event, or the alert itself.
 * A thread of its own sends them with blocking I/O under timeouts, so a
 * webhook that is slow or down never slows a request: alerts wait in a
 * bounded queue (the overflow is dropped and counted), a failed send is
 * retried with backoff, and the counters go to /metrics. */
#include <stddef.h>
#include <stdint.h>

#include "proxy/alert.h"
#include "proxy/config.h"

enum pg_webhook_format { PG_WEBHOOK_JSON, PG_WEBHOOK_SLACK, PG_WEBHOOK_PAGERDUTY };

/* Main thread, at start: nothing to do without alerts.webhook_url. -1
 * (logged) when the URL or the PagerDuty key is unusable. */
int pg_notifier_start(const struct pg_config *cfg);
/* Any thread: queues the alert (json: its pg_alert_json text) when it is
 * at least alerts.webhook_min_severity. Never blocks. */
void pg_notifier_post(const struct pg_alert *a, const char *json, size_t len);
/* Sends what is queued (bounded by the timeouts), then stops the thread. */
void pg_notifier_stop(void);

struct pg_notifier_stats {
    uint64_t sent, failed, dropped, retries;
    int queued;
    int configured;
};
void pg_notifier_get_stats(struct pg_notifier_stats *out);

/* The body sent for a in format (routing_key: PagerDuty's); its length,
 * or -1 when cap is too small. Pure: exposed for the tests. */
int pg_notifier_payload(enum pg_webhook_format format, const struct pg_alert *a, const char *json,
                        const char *routing_key, char *out, size_t cap);

#endif
