#ifndef PHIGUARD_RATELIMIT_TABLE_H
#define PHIGUARD_RATELIMIT_TABLE_H
/* The local rate-limit state: one GCRA arrival time per key, shared by
 * every worker of the process. The keys are spread over shards, each with
 * its own mutex, so that workers rarely wait for each other; a decision
 * holds one shard's lock for a hash lookup and a few additions.
 *
 * The table is bounded: max_keys in all, split evenly over the shards. A
 * full shard first forgets every key whose state has run out (TAT at or
 * before now: forgetting it changes no decision), and only when none has,
 * the key closest to running out, the one whose loss grants least. A flood
 * of new client addresses therefore costs lookups, never memory. */
#include <stddef.h>
#include <stdint.h>

#include "policy/gcra.h"

struct pg_rl_table;

struct pg_rl_table_stats {
    size_t keys;            /* held now */
    size_t max_keys;
    uint64_t expired;       /* forgotten after their state ran out */
    uint64_t evicted_live;  /* forgotten early because a shard was full */
};

/* NULL when out of memory. max_keys is at least one per shard. */
struct pg_rl_table *pg_rl_table_new(size_t max_keys);
void pg_rl_table_free(struct pg_rl_table *t);

/* Decides one request for key (any bytes) at now_us (a monotonic clock).
 * Thread-safe. Returns 0, or -1 when no memory was left for a new key
 * (nothing decided: the caller fails closed). */
int pg_rl_table_decide(struct pg_rl_table *t, const void *key, size_t key_len, const struct pg_gcra *g,
                       int64_t now_us, struct pg_gcra_result *out);

/* Thread-safe; approximate while decisions run (shard by shard). */
void pg_rl_table_get_stats(struct pg_rl_table *t, struct pg_rl_table_stats *out);

#endif
