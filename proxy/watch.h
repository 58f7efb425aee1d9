#ifndef PHIGUARD_WATCH_H
#define PHIGUARD_WATCH_H
/* Tells when a file may have changed on disk (inotify on its directory),
 * so a reload can start. Kubernetes updates a mounted ConfigMap or Secret
 * by swapping a symlink in the directory, never by writing the file, which
 * is why the directory is watched and not the file. Changes are debounced:
 * one callback per burst. */
#include <event2/event.h>

struct pg_watch;
typedef void (*pg_watch_cb)(void *arg);

/* Watches the files in paths (NULL-terminated); cb runs on base once a
 * burst of changes to any of them has settled. */
struct pg_watch *pg_watch_new(struct event_base *base, const char *const *paths, pg_watch_cb cb, void *arg);
void pg_watch_free(struct pg_watch *w);

#endif
