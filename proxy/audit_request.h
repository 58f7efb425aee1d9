#ifndef PHIGUARD_AUDIT_REQUEST_H
#define PHIGUARD_AUDIT_REQUEST_H
/* A request's audit record, sealed when its outcome is known: the
 * upstream's response head, or phiguard's own answer (docs/audit.md). */
#include <stddef.h>
#include <stdint.h>

#include "proxy/audit_writer.h"

struct pg_request;

/* Seals once per request (later calls release at once). status: what the
 * client is about to get. */
enum pg_audit_seal pg_audit_seal_request(struct pg_request *req, int status, pg_audit_release_fn release);

/* After a response body the PHI rewriter read: which fields it disclosed
 * in clear to the requester (names and counts), and how many values it
 * masked, removed or could not open. A record of its own, linked to the
 * request's by request id: the counts are known only at the body's end. */
void pg_audit_phi_disclosure(struct pg_request *req, const struct pg_audit_phi *fields, size_t n, uint32_t masked,
                             uint32_t removed, uint32_t failed);

struct pg_track;
/* After a tracked change (proxy/track.h): the resource before, the app's
 * answer after, their statuses, lengths and SHA-256, in one record of type
 * "modification" linked to the request's by request id. */
void pg_audit_modification(struct pg_request *req, struct pg_track *t);

#endif
