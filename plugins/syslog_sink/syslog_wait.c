#include "syslog_wait.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

int64_t syslog_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int syslog_waker_init(struct syslog_waker *w)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK))
        return -1;
    w->rfd = fds[0];
    w->wfd = fds[1];
    atomic_store(&w->stop_at_ms, SYSLOG_NEVER);
    return 0;
}

void syslog_waker_destroy(struct syslog_waker *w)
{
    close(w->rfd);
    close(w->wfd);
}

void syslog_waker_stop(struct syslog_waker *w, int64_t stop_at_ms)
{
    atomic_store(&w->stop_at_ms, stop_at_ms);
    /* The pipe stays readable (never drained): every later wait returns at
     * once and checks the deadline. A full pipe already says the same. */
    ssize_t n = write(w->wfd, "x", 1);
    (void)n;
}

enum syslog_wait_result syslog_wait(struct syslog_waker *w, int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t now = syslog_now_ms();
        int64_t stop_at = atomic_load(&w->stop_at_ms);
        if (now >= stop_at)
            return SYSLOG_WAIT_STOPPED;
        if (now >= deadline_ms)
            return SYSLOG_WAIT_TIMEOUT;
        int64_t until = deadline_ms < stop_at ? deadline_ms : stop_at;
        int64_t left = until - now;
        struct pollfd p[2] = {{.fd = w->rfd, .events = POLLIN}, {.fd = fd, .events = events}};
        bool stopping = stop_at != SYSLOG_NEVER;
        /* Once unload has written the pipe it stays readable: skip it then
         * and sleep on the socket alone, up to the stop deadline. */
        int rc = poll(stopping ? p + 1 : p, stopping ? 1 : 2 - (fd < 0), left > 60000 ? 60000 : (int)left);
        if (rc < 0 && errno != EINTR)
            return SYSLOG_WAIT_TIMEOUT;
        if (rc > 0 && fd >= 0 && p[1].revents)
            return SYSLOG_WAIT_READY;
    }
}
