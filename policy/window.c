#include "policy/window.h"

static void roll(struct pg_window *w, int64_t now_us, int64_t window_us)
{
    if (w->start_us == 0 || now_us - w->start_us >= 2 * window_us) {
        w->start_us = now_us;
        w->cur = w->prev = 0;
    } else if (now_us - w->start_us >= window_us) {
        w->prev = w->cur;
        w->cur = 0;
        w->start_us += window_us;
    }
}

double pg_window_add(struct pg_window *w, int64_t now_us, int64_t window_us, uint32_t n)
{
    if (window_us <= 0)
        window_us = 1;
    if (now_us < w->start_us)
        now_us = w->start_us; /* a clock that went back counts as now */
    roll(w, now_us, window_us);
    w->cur = w->cur > UINT32_MAX - n ? UINT32_MAX : w->cur + n;
    double covered = 1.0 - (double)(now_us - w->start_us) / (double)window_us;
    return (double)w->prev * (covered > 0 ? covered : 0) + (double)w->cur;
}

int pg_window_idle(const struct pg_window *w, int64_t now_us, int64_t window_us)
{
    return w->start_us == 0 || now_us - w->start_us >= 2 * window_us;
}
