#ifndef PHIGUARD_SYSLOG_WAIT_H
#define PHIGUARD_SYSLOG_WAIT_H
/* How the sender thread waits (for a socket, or out a backoff) so that
 * unload can always stop it in bounded time: every wait also watches a
 * pipe that unload writes to, and ends at the stop deadline unload sets. */
#include <stdatomic.h>
#include <stdint.h>

#define SYSLOG_NEVER INT64_MAX

struct syslog_waker {
    int rfd, wfd;
    _Atomic int64_t stop_at_ms; /* monotonic ms; SYSLOG_NEVER until unload */
};

int64_t syslog_now_ms(void);

int syslog_waker_init(struct syslog_waker *w);
void syslog_waker_destroy(struct syslog_waker *w);
/* From unload: every wait ends by stop_at_ms. */
void syslog_waker_stop(struct syslog_waker *w, int64_t stop_at_ms);

enum syslog_wait_result {
    SYSLOG_WAIT_READY = 1,
    SYSLOG_WAIT_TIMEOUT = 0,
    SYSLOG_WAIT_STOPPED = -2, /* the stop deadline passed */
};

/* Waits for events (poll's) on fd until deadline_ms, or, with fd -1, just
 * until deadline_ms. */
enum syslog_wait_result syslog_wait(struct syslog_waker *w, int fd, short events, int64_t deadline_ms);

#endif
