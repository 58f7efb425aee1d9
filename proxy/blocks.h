#ifndef PHIGUARD_BLOCKS_H
#define PHIGUARD_BLOCKS_H
/* Active blocks, the action of detection rules set to `block`: a subject
 * (a client IP, or a user id) refused with 403 until a time. Kept in the
 * process, shared by its workers; with Redis, also stored
 * (block:<kind>:<subject>, expiring with the block) and published on
 * phiguard:blocks, so a block one replica makes holds on every replica
 * that is up. */
#include <stdbool.h>
#include <stdint.h>

struct pg_worker;

enum pg_block_kind { PG_BLOCK_IP, PG_BLOCK_USER };

/* From any worker's loop. rule names why (for the log). */
void pg_blocks_add(struct pg_worker *w, enum pg_block_kind kind, const char *subject, uint32_t ms, const char *rule);
/* True while subject is blocked; *left_ms the time that remains. */
bool pg_blocks_check(enum pg_block_kind kind, const char *subject, int64_t *left_ms);
/* A worker's Redis client subscribes to blocks made elsewhere. */
int pg_blocks_subscribe(struct pg_worker *w);
/* Blocks in force now, for the security API's status. */
int pg_blocks_active(void);

#endif
