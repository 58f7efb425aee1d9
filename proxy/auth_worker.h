#ifndef PHIGUARD_AUTH_WORKER_H
#define PHIGUARD_AUTH_WORKER_H
/* A worker's share of authentication: its Redis client, the sessions it
 * checked in the last auth.session_cache (at most 1 s), the subscription
 * that empties that cache when a session ends anywhere, and the periodic
 * check that closes upgraded connections whose session has ended. */
#include <stdbool.h>
#include <stdint.h>

#include <time.h>

#include "policy/token.h"
#include "proxy/session.h"

struct pg_worker;
struct pg_auth_worker;

int pg_auth_worker_init(struct pg_worker *w);
void pg_auth_worker_free(struct pg_worker *w);
struct pg_redis *pg_auth_redis(struct pg_worker *w);
/* A session checked within max_age_us, or NULL; lent (hold it to keep
 * it). Never trusted while the subscription is down: a revocation could
 * be missed. */
struct pg_session_ref *pg_auth_cache_get(struct pg_worker *w, const char *sid, uint64_t max_age_us);
/* Caches a copy of s, its identity headers rendered; returns the cached
 * ref, lent, or NULL when out of memory. */
struct pg_session_ref *pg_auth_cache_put(struct pg_worker *w, const struct pg_session *s);
/* Tokens this worker verified recently, so a client sending the same token
 * again costs a table lookup instead of an HMAC and a JSON parse. Only an
 * exact byte-for-byte match counts, and exp is checked on every use. */
bool pg_auth_token_known(struct pg_worker *w, const char *token, size_t len, time_t now, struct pg_token_claims *out);
void pg_auth_token_remember(struct pg_worker *w, const char *token, size_t len, const struct pg_token_claims *c);
/* A session ended: forget it here, and close its upgraded connections. */
void pg_auth_session_ended(struct pg_worker *w, const char *uid, const char *sid);

#endif
