#ifndef PHIGUARD_AUDIT_REQUEST_H
#define PHIGUARD_AUDIT_REQUEST_H
/* A request's audit record, sealed when its outcome is known: the
 * upstream's response head, or phiguard's own answer (docs/audit.md). */
#include "proxy/audit_writer.h"

struct pg_request;

/* Seals once per request (later calls release at once). status: what the
 * client is about to get. */
enum pg_audit_seal pg_audit_seal_request(struct pg_request *req, int status, pg_audit_release_fn release);

#endif
