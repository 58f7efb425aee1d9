#ifndef PHIGUARD_SESSION_ADMIN_H
#define PHIGUARD_SESSION_ADMIN_H
/* What the security API reads across users from Redis, in one Lua call
 * each: every live session of the listed users, and how many of them have
 * an active second factor. The users are those of the users file (the
 * only users phiguard signs in). Keys are named per user ({u:<id>}...), so
 * the call spans slots: single Redis, or Redis Cluster with a proxy that
 * allows it (docs/redis.md). */
#include "proxy/redis.h"

int pg_session_admin_scripts_init(void);
void pg_session_admin_scripts_free(void);

/* Reply: a flat array, 9 entries per session: user id, sid, username,
 * roles, client ip, created ms, last use ms, absolute end ms, break-glass
 * ms (0: none). */
enum pg_redis_status pg_session_admin_list(struct pg_redis *r, const char *const *uids, int n, pg_redis_cb cb,
                                           void *arg);
/* Reply: {live sessions, users with an active TOTP secret, alerts kept,
 * then unacknowledged alerts by severity: low, medium, high, critical}. */
enum pg_redis_status pg_session_admin_figures(struct pg_redis *r, const char *const *uids, int n, pg_redis_cb cb,
                                              void *arg);

#endif
