#include "proxy/reload_alert.h"

#include <string.h>

#include "proxy/log.h"
#include "proxy/security_event.h"

static struct pg_worker *alerting_worker; /* read and written on the main thread only */

void pg_reload_alert_set_worker(struct pg_worker *w)
{
    alerting_worker = w;
}

void pg_reload_failed(const char *what, const char *file, const char *error)
{
    if (!alerting_worker)
        return;
    char efile[600], eerr[600];
    file = file ? file : "";
    error = error && error[0] ? error : "unknown";
    pg_alert_post(alerting_worker, "high", "config_reload_failed", what, "\"file\":\"%s\",\"error\":\"%s\"",
                  pg_json_escape(file, strlen(file), efile, sizeof efile),
                  pg_json_escape(error, strlen(error), eerr, sizeof eerr));
}
