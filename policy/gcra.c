#include "policy/gcra.h"

#include <stddef.h>

/* a + b for b >= 0, held at INT64_MAX: a state far in the future must
 * never wrap into the past (which would grant a full burst). */
/* Nearest whole number of a positive value small enough for int64 (the
 * callers bound it): no libm for one rounding. */
static double round_pos(double x)
{
    return (double)(int64_t)(x + 0.5);
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int pg_gcra_init(struct pg_gcra *g, double rate_per_sec, int burst)
{
    if (!(rate_per_sec > 0) || rate_per_sec > PG_GCRA_MAX_RATE || burst < 1)
        return -1;
    /* The slowest rate the policy takes (1/h) gives T = 3.6e9 µs; a burst
     * of a million of those still fits in 63 bits. */
    double t = round_pos(1e6 / rate_per_sec);
    g->interval_us = t < 1 ? 1 : (int64_t)t;
    g->tolerance_us = g->interval_us * (int64_t)(burst - 1);
    g->burst = burst;
    return 0;
}

void pg_gcra_result_of(const struct pg_gcra *g, bool allowed, int64_t ahead_us, struct pg_gcra_result *out)
{
    if (ahead_us < 0)
        ahead_us = 0;
    out->allowed = allowed;
    out->reset_us = ahead_us;
    if (!allowed) {
        out->remaining = 0;
        out->retry_after_us = ahead_us > g->tolerance_us ? ahead_us - g->tolerance_us : 0;
        return;
    }
    out->retry_after_us = 0;
    /* k more requests pass at once while TAT + (k − 1)·T − now <= τ, i.e.
     * k <= (τ + T − ahead) / T. */
    int64_t room = add_sat(g->tolerance_us, g->interval_us) - ahead_us;
    int64_t k = room > 0 ? room / g->interval_us : 0;
    out->remaining = k > g->burst - 1 ? g->burst - 1 : (int)k;
}

void pg_gcra_decide(const struct pg_gcra *g, int64_t now_us, int64_t *tat, struct pg_gcra_result *out)
{
    int64_t base = *tat > now_us ? *tat : now_us; /* an idle key has no credit beyond a full burst */
    int64_t ahead = base - now_us;                /* >= 0, and no overflow: base >= now */
    if (ahead > g->tolerance_us) {
        pg_gcra_result_of(g, false, ahead, out);
        return;
    }
    *tat = add_sat(base, g->interval_us);
    pg_gcra_result_of(g, true, *tat - now_us, out);
}

int64_t pg_gcra_seconds(int64_t us)
{
    if (us <= 0)
        return 0;
    return us / 1000000 + (us % 1000000 != 0);
}

void pg_gcra_quota(double rate_per_sec, int64_t *quota, int64_t *window_s)
{
    static const int64_t windows[] = {1, 60, 3600, 86400};
    if (!(rate_per_sec > 0))
        rate_per_sec = 0;
    else if (rate_per_sec > PG_GCRA_MAX_RATE)
        rate_per_sec = PG_GCRA_MAX_RATE; /* what pg_gcra_init would take at most */
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        double q = rate_per_sec * (double)windows[i];
        double r = round_pos(q);
        double d = q > r ? q - r : r - q;
        if (r >= 1 && d < 1e-6 * r) {
            *quota = (int64_t)r;
            *window_s = windows[i];
            return;
        }
    }
    /* Not a whole number per day either (a rate the loader never makes):
     * the nearest, at least one request per day. */
    double r = round_pos(rate_per_sec * 86400.0);
    *quota = r < 1 ? 1 : (int64_t)r;
    *window_s = 86400;
}
