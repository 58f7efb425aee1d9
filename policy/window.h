#ifndef PHIGUARD_POLICY_WINDOW_H
#define PHIGUARD_POLICY_WINDOW_H
/* Events counted over a sliding window (detection rules: failed logins per
 * user over 5 minutes, and so on), in constant memory: the count of the
 * current fixed window and of the one before it, the older one weighted by
 * how much of it the sliding window still covers. Exact while every event
 * falls in the current window. Pure. */
#include <stdint.h>

struct pg_window {
    int64_t start_us; /* start of the current fixed window; 0: nothing counted yet */
    uint32_t cur, prev;
};

/* Adds n events at now_us; returns the estimate of events in the last
 * window_us, these included. */
double pg_window_add(struct pg_window *w, int64_t now_us, int64_t window_us, uint32_t n);
/* True when nothing of the window is left at now_us: the slot may be
 * reused. */
int pg_window_idle(const struct pg_window *w, int64_t now_us, int64_t window_us);

#endif
