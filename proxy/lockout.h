#ifndef PHIGUARD_LOCKOUT_H
#define PHIGUARD_LOCKOUT_H
/* Failed-login counting across replicas, in Redis:
 *   {u:<uid>}:fails   failures within the window (PEXPIRE = window)
 *   {u:<uid>}:lock    present while the account is locked (PX = duration)
 * One script counts and locks atomically, so two replicas cannot both let
 * the fifth failure through. */
#include <stdint.h>

#include "proxy/redis.h"

int pg_lockout_scripts_init(void);
void pg_lockout_scripts_free(void);
/* Reply: milliseconds the lock has left, or -2 when not locked (PTTL). */
enum pg_redis_status pg_lockout_check(struct pg_redis *r, const char *uid, pg_redis_cb cb, void *arg);
/* Reply: {failures, locked_now}: locked_now 1 when this failure locked it. */
enum pg_redis_status pg_lockout_fail(struct pg_redis *r, const char *uid, int max_failures, int64_t window_ms,
                                     int64_t duration_ms, pg_redis_cb cb, void *arg);
/* After a success: forget the failures. */
enum pg_redis_status pg_lockout_reset(struct pg_redis *r, const char *uid, pg_redis_cb cb, void *arg);

#endif
