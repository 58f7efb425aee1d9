#ifndef PHIGUARD_AUDIT_READER_H
#define PHIGUARD_AUDIT_READER_H
/* Reading stored audit chains back from Redis with hiredis's blocking API:
 * for the command line, and for the scheduled verification on the I/O
 * pool. Never on an event loop. */
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/auditverify.h"
#include "proxy/config.h"

struct pg_audit_stored_chain {
    char *name;
    struct pg_audit_entry *entries; /* bytes and h owned here */
    size_t n, cap;
    char **notes; /* its checkpoints, oldest first */
    size_t nnotes, notes_cap;
};

struct pg_audit_reader {
    redisContext *rc; /* NULL when the chains come from an export file */
    char err[512];    /* why a load failed */
    struct pg_audit_stored_chain *chains;
    size_t n, cap;
};

/* Connects with cfg's redis.* (AUTH, SELECT); NULL with why in err. */
redisContext *pg_audit_redis_connect(const struct pg_config *cfg, char *err, size_t errlen);
/* Loads every chain in audit:writers, or only that one. 0 or -1. */
int pg_audit_reader_load(struct pg_audit_reader *rd, const char *only);
void pg_audit_reader_free(struct pg_audit_reader *rd);

/* For loaders (Redis, proxy/audit_export_file.c): the chain of that name,
 * added when new; an entry or a checkpoint note appended, copied. NULL or
 * -1 only when out of memory. */
struct pg_audit_stored_chain *pg_audit_reader_chain(struct pg_audit_reader *rd, const char *name);
int pg_audit_chain_add_entry(struct pg_audit_stored_chain *c, uint64_t seq, const char *bytes, size_t len,
                             const char *h, size_t hlen);
int pg_audit_chain_add_note(struct pg_audit_stored_chain *c, const char *note, size_t len);

#endif
