#ifndef PHIGUARD_MFA_STORE_H
#define PHIGUARD_MFA_STORE_H
/* TOTP state in Redis, shared by replicas:
 *   {u:<uid>}:totp   hash: secret (active), pending (enrolled, not yet
 *                       confirmed), last_step (the last code accepted)
 *                       secrets sealed with the MFA key (policy/secretbox.h)
 *   mfa:<ticket>     the user id of a login whose password was right and
 *                       whose code is awaited (PX = auth.mfa_step_timeout)
 * Accepting a code advances last_step in one script, so a code is used once
 * across every replica. */
#include <stddef.h>
#include <stdint.h>

#include "proxy/redis.h"

int pg_mfa_scripts_init(void);
void pg_mfa_scripts_free(void);
/* Reply: {secret, pending, last_step}, each nil when absent. */
enum pg_redis_status pg_mfa_load(struct pg_redis *r, const char *uid, pg_redis_cb cb, void *arg);
enum pg_redis_status pg_mfa_set_pending(struct pg_redis *r, const char *uid, const unsigned char *blob, size_t len,
                                        pg_redis_cb cb, void *arg);
/* Accepts the code of step: reply 1 accepted, 0 replayed (step not after
 * last_step), -1 the pending secret changed meanwhile. With pending (the
 * blob the code was checked against) it also makes that secret the active
 * one. */
enum pg_redis_status pg_mfa_accept(struct pg_redis *r, const char *uid, uint64_t step, const unsigned char *pending,
                                   size_t pending_len, pg_redis_cb cb, void *arg);
enum pg_redis_status pg_mfa_ticket_new(struct pg_redis *r, const char *ticket, const char *uid, int64_t ttl_ms,
                                       pg_redis_cb cb, void *arg);
enum pg_redis_status pg_mfa_ticket_get(struct pg_redis *r, const char *ticket, pg_redis_cb cb, void *arg);
enum pg_redis_status pg_mfa_ticket_del(struct pg_redis *r, const char *ticket, pg_redis_cb cb, void *arg);

#endif
