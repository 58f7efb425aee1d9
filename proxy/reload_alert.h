#ifndef PHIGUARD_RELOAD_ALERT_H
#define PHIGUARD_RELOAD_ALERT_H
/* A reload that failed (the certificate, the policy, the PHI keyring, the
 * users file) keeps the running version; an operator must still hear of
 * it, since the file on disk is not what runs. Each store calls
 * pg_reload_failed from its reload's completion on the main loop; the
 * alert (rule config_reload_failed, high) is raised on the recording
 * worker's loop (log, alert:list, the audit trail, the webhook). */
struct pg_worker;

/* Main thread: the worker that raises these alerts, or NULL (start-up
 * and shutdown: a failure then stops phiguard, which says why). */
void pg_reload_alert_set_worker(struct pg_worker *w);
/* what: "certificate", "policy", "keyring", "users"; error: the first
 * reason, which names no secret (paths and parser messages only). */
void pg_reload_failed(const char *what, const char *file, const char *error);

#endif
