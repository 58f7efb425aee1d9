#ifndef PHIGUARD_AUDIT_WRITER_H
#define PHIGUARD_AUDIT_WRITER_H
/* A worker's audit chain (docs/audit.md, "In the proxy"): records are
 * sealed on the worker's loop, chained, appended to the chain's spool file,
 * fsynced in groups on the I/O pool, and shipped to the Redis stream
 * audit:<chain> with XADD (stream id <seq>-0, so a record can never be
 * stored twice or out of order). Redis's answers advance the spool cursor.
 * After a Redis outage the writer reads back the stream's last seq and
 * sends what follows; after a kill -9 the spool's unacknowledged records are
 * sent at start. Signed checkpoints of what Redis holds go to
 * audit:checkpoints:<chain> and to the log.
 *
 * Strict mode: a record is durable once fsynced in the spool or stored by
 * Redis, whichever comes first, and the caller holds the response until
 * then. */
#include <stdbool.h>
#include <stdint.h>

#include "policy/record.h"

struct pg_worker;
struct pg_request;
struct pg_audit_writer;

/* Main thread, before the worker's loop runs (it reads the spool). 0, or
 * -1 after logging why: phiguard does not start without its audit trail. */
int pg_audit_writer_init(struct pg_worker *w);
/* Before the worker's Redis client goes: nothing more is sent. */
void pg_audit_writer_stop(struct pg_worker *w);
void pg_audit_writer_free(struct pg_worker *w);
/* Called by the worker's Redis client after each (re)connection. */
void pg_audit_writer_connected(struct pg_worker *w);

enum pg_audit_seal {
    PG_AUDIT_RELEASE, /* durable, or async mode, or audit off: go on */
    PG_AUDIT_WAIT,    /* strict: release(req) runs once the record is durable */
    PG_AUDIT_FAILED,  /* strict and the spool cannot take it: refuse (503) */
};
/* durable false: the record could not be made durable (the spool failed
 * and Redis has not stored it): the caller refuses the request. */
typedef void (*pg_audit_release_fn)(struct pg_request *req, bool durable);
/* Writes r (seq, writer, prev and time are filled in here). */
enum pg_audit_seal pg_audit_write(struct pg_worker *w, struct pg_audit_record *r, struct pg_request *waiting,
                                  pg_audit_release_fn release);

/* Any thread (the main loop's reloads): a record of type with details.info
 * = info (a JSON text), written by w's loop soon after. */
void pg_audit_post(struct pg_worker *w, const char *type, const char *info);

struct pg_audit_stats {
    uint64_t written, shipped, acked, durable;
    uint64_t syncs, largest_batch, synced_records;
    uint64_t spool_writes; /* write(2)s of the spool file: strict mode writes a loop pass's records with one */
    uint64_t checkpoints;
    bool spool_failed;
};
void pg_audit_writer_stats(struct pg_worker *w, struct pg_audit_stats *out);

#endif
