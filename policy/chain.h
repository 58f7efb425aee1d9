#ifndef PHIGUARD_POLICY_CHAIN_H
#define PHIGUARD_POLICY_CHAIN_H
/* The audit hash chain. A record's hash is h = SHA-256(0x00 || the exact
 * record bytes), the RFC 9162 leaf hash, so a Merkle tree can be built over
 * the same leaves later. Each record names the previous record's h in its
 * prev field; the first record of a chain names the chain's genesis value,
 * a hash of a domain-separated string naming the chain, so records of two
 * chains can never be spliced into each other. Hashes are lower-case hex. */
#include <stddef.h>
#include <stdint.h>

#define PG_HASH_HEX 65 /* 64 hex digits and a NUL */

void pg_chain_leaf_hash(const void *bytes, size_t len, char out[PG_HASH_HEX]);

/* The same leaf hash for a writer hashing record after record on one
 * thread: the digest is fetched from the provider once and one context is
 * reset per hash instead of allocated, which costs about a third of a short
 * record's hash otherwise. */
struct pg_chain_hasher;
/* NULL when out of memory (then use pg_chain_leaf_hash). */
struct pg_chain_hasher *pg_chain_hasher_new(void);
void pg_chain_hasher_free(struct pg_chain_hasher *h);
void pg_chain_hasher_leaf(struct pg_chain_hasher *h, const void *bytes, size_t len, char out[PG_HASH_HEX]);
/* SHA-256("phiguard audit chain genesis v1" || 0x00 || chain id). */
void pg_chain_genesis(const char *chain_id, char out[PG_HASH_HEX]);
/* SHA-256 of a session id, so a record can name a session without holding
 * anything that would let a reader use it. */
void pg_chain_session_hash(const char *session_id, char out[PG_HASH_HEX]);
/* 1 when s is exactly 64 lower-case hex digits. */
int pg_chain_is_hash(const char *s);

/* Where a writer's chain stands: the seq and h of its last record
 * (seq 0 and the genesis value before the first). */
struct pg_chain_tip {
    uint64_t seq;
    char head[PG_HASH_HEX];
};

void pg_chain_tip_genesis(struct pg_chain_tip *tip, const char *chain_id);

#endif
