#ifndef OIDC_JWKS_STORE_H
#define OIDC_JWKS_STORE_H
/* The JWKS file and the key set it holds now. A thread of the store's own
 * stats the file every interval and, when it changed, reads and parses it
 * there, off the workers' loops, then swaps the set in under a mutex held
 * only for the pointer swap. A file that does not parse keeps the keys in
 * use and is reported once (until it changes again). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "jwks.h"

#define OIDC_JWKS_FILE_MAX (1024 * 1024)

/* What tells one version of the file from the next. */
struct oidc_file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

/* ok: 1 a new key set is in use, 0 the file is refused (old keys kept). */
typedef void (*oidc_jwks_report_fn)(void *ctx, int ok, const char *message);

struct oidc_jwks_store {
    pthread_mutex_t mu; /* guards current */
    struct oidc_keyset *current;
    char *path;
    long interval_ms;
    struct oidc_file_stamp seen; /* of the last file read, good or bad */
    oidc_jwks_report_fn report;
    void *report_ctx;
    atomic_ulong reloads, refusals;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    bool stop;
};

/* Reads and parses path (blocking: at load time) and keeps it current.
 * 0, or -1 with why in err. Does not start the thread. */
int oidc_jwks_store_open(struct oidc_jwks_store *s, const char *path, long interval_ms, oidc_jwks_report_fn report,
                         void *report_ctx, char *err, size_t errcap);
/* Starts the reload thread: 0, or -1 with why in err. */
int oidc_jwks_store_start(struct oidc_jwks_store *s, char *err, size_t errcap);
/* One look at the file: 1 reloaded, 0 unchanged (or the same refused
 * version), -1 refused now. What the thread does every interval. */
int oidc_jwks_store_poll(struct oidc_jwks_store *s);
/* The current key set, with a reference for the caller to drop with
 * oidc_keyset_unref. Never blocks on I/O. */
struct oidc_keyset *oidc_jwks_store_get(struct oidc_jwks_store *s);
/* Stops the thread and drops the store's keys. */
void oidc_jwks_store_close(struct oidc_jwks_store *s);
#endif
