#ifndef PHIGUARD_POLICY_RECORD_H
#define PHIGUARD_POLICY_RECORD_H
/* The audit record: canonical JSON (fixed key order, no insignificant
 * whitespace, one fixed escaping), so the bytes written are the bytes
 * hashed and verified, never re-serialised; and its chain hash,
 * h = SHA-256(0x00 || record bytes), the RFC 9162 leaf hash. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing buffer that writes canonical JSON. Members are written in the
 * order the caller gives; the caller's order is the canon. */
struct pg_canon {
    char *buf;
    size_t len, cap;
    int depth;
    bool need_comma[16];
    bool failed; /* out of memory or too deep: the record must not be used */
};

void pg_canon_init(struct pg_canon *c);
void pg_canon_free(struct pg_canon *c);
void pg_canon_begin_object(struct pg_canon *c, const char *key); /* key NULL at top level or in arrays */
void pg_canon_end_object(struct pg_canon *c);
void pg_canon_begin_array(struct pg_canon *c, const char *key);
void pg_canon_end_array(struct pg_canon *c);
void pg_canon_string(struct pg_canon *c, const char *key, const char *value, size_t len);
void pg_canon_int(struct pg_canon *c, const char *key, int64_t value);
void pg_canon_bool(struct pg_canon *c, const char *key, bool value);
void pg_canon_null(struct pg_canon *c, const char *key);

#define PG_HASH_HEX 65

/* h = SHA-256(0x00 || bytes), lower-case hex. */
void pg_record_hash(const char *bytes, size_t len, char out[PG_HASH_HEX]);
/* The value the first record of a chain links to: a hash naming the
 * chain, so two chains can never be spliced into each other. */
void pg_chain_genesis(const char *chain_id, char out[PG_HASH_HEX]);

#endif
