#ifndef PHIGUARD_POLICY_GCRA_H
#define PHIGUARD_POLICY_GCRA_H
/* Rate-limit arithmetic: the generic cell rate algorithm (GCRA), the
 * "virtual scheduling" form of a token bucket. The whole state of one key is
 * one number, its theoretical arrival time (TAT): when the next request
 * would be due if requests came exactly at the rate. A request at now passes
 * when it is no earlier than TAT − τ, the tolerance that lets a burst of
 * `burst` requests through at once; passing moves TAT one emission interval
 * T later. Time is in microseconds, on whatever clock the caller uses (the
 * local table a monotonic clock, Redis its own TIME): only differences
 * matter. No I/O, no allocation, no floating point after pg_gcra_init. */
#include <stdbool.h>
#include <stdint.h>

/* Rates are kept to the microsecond: above this T would round by more
 * than 5 %. The policy loader refuses faster rates. */
#define PG_GCRA_MAX_RATE 100000.0

struct pg_gcra {
    int64_t interval_us;  /* T = 1 s / rate */
    int64_t tolerance_us; /* τ = T × (burst − 1) */
    int burst;
};

struct pg_gcra_result {
    bool allowed;
    int remaining;          /* requests that would pass at once after this one (0 when refused) */
    int64_t retry_after_us; /* refused: until a request would pass again; 0 when allowed */
    int64_t reset_us;       /* until the key is back to a full burst (its state could be forgotten) */
};

/* -1 unless 0 < rate_per_sec <= PG_GCRA_MAX_RATE and burst >= 1. */
int pg_gcra_init(struct pg_gcra *g, double rate_per_sec, int burst);

/* Decides one request at now_us. *tat is the key's state (0, or anything
 * at or before now, for a key never seen or idle long enough); it is moved
 * on only when the request passes. */
void pg_gcra_decide(const struct pg_gcra *g, int64_t now_us, int64_t *tat, struct pg_gcra_result *out);

/* The same result from a decision taken elsewhere by the same rule (the
 * Redis script): whether it passed and ahead_us = TAT − now as it stood
 * after the decision. */
void pg_gcra_result_of(const struct pg_gcra *g, bool allowed, int64_t ahead_us, struct pg_gcra_result *out);

/* Whole seconds for a delay-seconds header (Retry-After, RateLimit t=):
 * rounded up, so a client that waits that long is not refused again; at
 * least 1 for any positive delay. */
int64_t pg_gcra_seconds(int64_t us);

/* The rate as an HTTP quota policy (RateLimit-Policy q and w): the
 * smallest whole window of 1 s, 1 min, 1 h or 1 day over which the rate is
 * a whole number of requests, so that q / w is the rate as written. */
void pg_gcra_quota(double rate_per_sec, int64_t *quota, int64_t *window_s);

#endif
