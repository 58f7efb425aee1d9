#ifndef PHIGUARD_WORKQ_H
#define PHIGUARD_WORKQ_H
/* A small thread pool for work that must not run on an event loop (Argon2,
 * file reads, fsync). A job's work runs on a pool thread; its done callback
 * runs afterwards on the event_base that submitted it. */
#include <event2/event.h>

typedef void (*pg_work_fn)(void *arg);

int pg_workq_start(int threads);
void pg_workq_stop(void); /* finishes queued jobs, joins the threads */

/* done runs on base (never on the pool thread); it may be NULL. Returns 0,
 * or -1 when the pool is not running or out of memory. */
int pg_workq_submit(struct event_base *base, pg_work_fn work, pg_work_fn done, void *arg);

#endif
