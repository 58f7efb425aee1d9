#ifndef PHIGUARD_AUDIT_INTEGRITY_H
#define PHIGUARD_AUDIT_INTEGRITY_H
/* Scheduled verification of the whole audit trail (audit.verify_interval,
 * default daily), on the I/O pool with its own blocking Redis connection,
 * never on an event loop. The result goes to Redis (audit:integrity, read
 * by GET /api/v1/security/audit-log/integrity) and to the log; a failure
 * also raises a critical alert. */
#include <event2/event.h>

#include "proxy/config.h"

struct pg_audit_integrity;

/* NULL when the audit trail is off. */
struct pg_audit_integrity *pg_audit_integrity_start(struct event_base *base, const struct pg_config *cfg);
/* Waits for a run in progress. */
void pg_audit_integrity_stop(struct pg_audit_integrity *ai);

#endif
