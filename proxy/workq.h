#ifndef PHIGUARD_WORKQ_H
#define PHIGUARD_WORKQ_H
/* Thread pools for work that must not run on an event loop. A job's work
 * runs on a pool thread; its done callback runs afterwards on the
 * event_base that submitted it.
 *
 * Two pools, so that one kind of work never waits behind the other:
 *   PG_POOL_IO    file reads and fsync (policy reloads, the audit spool):
 *                 short, latency-sensitive;
 *   PG_POOL_HASH  Argon2 password verification: ~100 ms of CPU and 64 MiB
 *                 each. Its threads run at a lower priority (nice), so a
 *                 burst of logins slows logins, not proxied requests. */
#include <event2/event.h>

typedef void (*pg_work_fn)(void *arg);

enum pg_workq_pool { PG_POOL_IO, PG_POOL_HASH, PG_POOL_COUNT };

/* nice: added to the threads' scheduling niceness (0: as the process). */
int pg_workq_start(enum pg_workq_pool pool, int threads, int nice);
void pg_workq_stop(enum pg_workq_pool pool); /* finishes queued jobs, joins the threads */
/* done runs on base (never on the pool thread); it may be NULL. Returns 0,
 * or -1 when the pool is not running or out of memory. */
int pg_workq_submit(enum pg_workq_pool pool, struct event_base *base, pg_work_fn work, pg_work_fn done, void *arg);
#endif
