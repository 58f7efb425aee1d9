#ifndef PHIGUARD_RATELIMIT_H
#define PHIGUARD_RATELIMIT_H
/* Rate-limit decisions for a request (docs/policy.md, "Rate limits"):
 * local limits against the process's table (proxy/ratelimit_table.h),
 * global ones in Redis with one script call each, all of a request's sent
 * at once (one round trip). The arithmetic is policy/gcra.c's.
 *
 * A global limit that Redis cannot decide (no Redis configured, not
 * connected, not answering its health checks, overloaded, a timeout or an
 * error reply) is decided by the
 * same rule against the local table instead: each replica then allows the
 * full rate on its own. The first such decision of an outage is logged
 * (ratelimit_fallback), the end of it too (ratelimit_fallback_ended), and
 * each one is counted.
 *
 * Redis keys: rl:{<limit>:<parts>}, one per limit and client, holding the
 * TAT in microseconds of Redis's own clock, expiring when it runs out
 * (docs/redis.md). The same string keys the local table. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/gcra.h"
#include "policy/policy.h"

struct pg_request;
struct pg_worker;

/* Longest key: the name and four parts of at most 128 bytes each (longer
 * values are replaced by their SHA-256). */
#define PG_RL_KEY_MAX 640

/* One limit to decide for one client. */
struct pg_rl_check {
    char name[PG_RATE_NAME_MAX + 1];
    struct pg_gcra g;
    double rate_per_sec;
    bool global;
    size_t key_len;
    char key[PG_RL_KEY_MAX];
};

/* Starts a check: the limit's name, rate and burst (as the policy loader
 * checked them). -1 when they are out of range. */
int pg_rl_check_init(struct pg_rl_check *c, const char *name, double rate_per_sec, int burst, bool global);
/* Adds one part of the key: tag is one letter saying what the value is (i
 * client IP, u user id, s session, r route, n submitted username), so that
 * parts of different kinds never make the same key. */
void pg_rl_check_part(struct pg_rl_check *c, char tag, const char *value, size_t len);
/* Closes the key. */
void pg_rl_check_end(struct pg_rl_check *c);

/* What was decided for a request: the first limit that refused it, if any. */
struct pg_rl_verdict {
    bool limited;
    char name[PG_RATE_NAME_MAX + 1];
    double rate_per_sec;
    int burst;
    struct pg_gcra_result res;
};

/* Decides c against the local table now. -1: no memory for a new key. */
int pg_ratelimit_local(struct pg_worker *w, const struct pg_rl_check *c, struct pg_gcra_result *out);
void pg_rl_verdict_set(struct pg_rl_verdict *v, const struct pg_rl_check *c, const struct pg_gcra_result *r);

/* Global checks of one request, decided together. */
struct pg_rl_batch;
/* Appends a copy of c to *b (made on the first call). -1: no memory. */
int pg_rl_batch_add(struct pg_rl_batch **b, const struct pg_rl_check *c);
void pg_rl_batch_free(struct pg_rl_batch *b);
/* Called back on the request's loop once every check of the batch is
 * decided, unless the request is gone by then. */
typedef void (*pg_rl_done_fn)(struct pg_request *req, const struct pg_rl_verdict *v);
/* Runs b (which it owns from here on). 1: decided at once (every check
 * fell back to the local table), *v holds the verdict and done will not
 * run; 0: the request holds a ticket until done runs; -1: cannot (no
 * memory), nothing held. */
int pg_rl_batch_run(struct pg_request *req, struct pg_rl_batch *b, pg_rl_done_fn done, struct pg_rl_verdict *v);

/* Retry-After, RateLimit-Policy and RateLimit (draft-ietf-httpapi-
 * ratelimit-headers) for a refused request, into req->local_headers; and
 * the limit's name into the request for the audit record and the access
 * log. 0, or -1 when out of memory. */
int pg_ratelimit_add_headers(struct pg_request *req, const struct pg_rl_verdict *v);
/* The 429 answer: the headers above and {"error":"rate_limited"}. */
void pg_ratelimit_refuse(struct pg_request *req, const struct pg_rl_verdict *v);

/* The process's state: the local table and the Redis script. Before the
 * workers start, and after they stopped. */
int pg_ratelimit_start(size_t max_local_keys);
void pg_ratelimit_stop(void);
/* Per-worker counters, made by pg_worker_init. */
int pg_ratelimit_worker_init(struct pg_worker *w);
void pg_ratelimit_worker_free(struct pg_worker *w);

/* Counters, for metrics. Per limit name (the first PG_RL_STATS_NAMES names
 * a worker sees; later ones are summed under "other"): */
#define PG_RL_STATS_NAMES 128
struct pg_ratelimit_rule_stats {
    char name[PG_RATE_NAME_MAX + 1];
    uint64_t allowed, limited;
    uint64_t fallback; /* of those, decided locally for a global limit */
};
struct pg_ratelimit_totals {
    uint64_t allowed, limited, fallback;
    uint64_t redis_decisions;   /* global decisions Redis took */
    bool fallback_active;       /* the worker's last global decision fell back */
    /* The process's local table (the same for every worker). */
    uint64_t local_keys, local_max_keys, local_expired, local_evicted_live;
};
/* Copies up to cap per-name counters of worker w into rules (may be NULL
 * with cap 0) and the totals into *totals (may be NULL); returns how many
 * names the worker has. Safe from any thread while the worker runs. */
int pg_ratelimit_stats(const struct pg_worker *w, struct pg_ratelimit_rule_stats *rules, int cap,
                       struct pg_ratelimit_totals *totals);

#endif
