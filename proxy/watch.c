#include "proxy/watch.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "proxy/log.h"

#define DEBOUNCE_MS 200
#define MAX_WATCHED 16

struct pg_watch {
    int fd;
    struct event *read_ev, *settle_ev;
    pg_watch_cb cb;
    void *arg;
    int n;
    int wd[MAX_WATCHED];
    char *base_name[MAX_WATCHED];
};

static void settled(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_watch *w = arg;
    w->cb(w->arg);
}

static bool concerns(const struct pg_watch *w, const struct inotify_event *e)
{
    for (int i = 0; i < w->n; i++) {
        if (w->wd[i] != e->wd)
            continue;
        /* ConfigMap and Secret volumes swap "..data"; editors rename. */
        if (e->len == 0 || strcmp(e->name, w->base_name[i]) == 0 || strcmp(e->name, "..data") == 0)
            return true;
    }
    return false;
}

static void readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct pg_watch *w = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool hit = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            hit |= concerns(w, e);
            p += sizeof *e + e->len;
        }
    }
    if (hit) {
        struct timeval tv = {0, DEBOUNCE_MS * 1000};
        evtimer_add(w->settle_ev, &tv); /* re-adding pushes the deadline back */
    }
}

struct pg_watch *pg_watch_new(struct event_base *base, const char *const *paths, pg_watch_cb cb, void *arg)
{
    struct pg_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cb = cb;
    w->arg = arg;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        free(w);
        return NULL;
    }
    for (int i = 0; paths[i] && w->n < MAX_WATCHED; i++) {
        char dir[PATH_MAX];
        const char *slash = strrchr(paths[i], '/');
        if (slash) {
            size_t len = (size_t)(slash - paths[i]);
            if (len >= sizeof dir)
                continue;
            memcpy(dir, paths[i], len);
            dir[len ? len : 1] = '\0';
            if (!len)
                dir[0] = '/';
        } else {
            strcpy(dir, ".");
        }
        int wd = inotify_add_watch(w->fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB);
        if (wd < 0) {
            pg_log(PG_LOG_WARN, "watch_failed", "\"errno\":%d", errno);
            continue;
        }
        w->wd[w->n] = wd;
        w->base_name[w->n] = strdup(slash ? slash + 1 : paths[i]);
        w->n++;
    }
    w->read_ev = event_new(base, w->fd, EV_READ | EV_PERSIST, readable, w);
    w->settle_ev = evtimer_new(base, settled, w);
    if (!w->read_ev || !w->settle_ev || event_add(w->read_ev, NULL) != 0) {
        pg_watch_free(w);
        return NULL;
    }
    return w;
}

void pg_watch_free(struct pg_watch *w)
{
    if (!w)
        return;
    if (w->read_ev)
        event_free(w->read_ev);
    if (w->settle_ev)
        event_free(w->settle_ev);
    for (int i = 0; i < w->n; i++)
        free(w->base_name[i]);
    close(w->fd);
    free(w);
}
