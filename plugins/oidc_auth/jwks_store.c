#include "jwks_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void stamp_of(const struct stat *st, struct oidc_file_stamp *t)
{
    memset(t, 0, sizeof *t);
    t->dev = st->st_dev;
    t->ino = st->st_ino;
    t->size = st->st_size;
    t->mtime = st->st_mtim;
    t->ctime = st->st_ctim;
}

static bool stamp_equal(const struct oidc_file_stamp *a, const struct oidc_file_stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* The whole file, NUL-terminated, in *out (free it); *stamp the version
 * read. 0, or -1 with why in err. */
static int read_file(const char *path, char **out, size_t *len, struct oidc_file_stamp *stamp, char *err,
                     size_t errcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "%s is not a regular file", path);
        goto fail;
    }
    if (st.st_size > OIDC_JWKS_FILE_MAX) {
        snprintf(err, errcap, "%s is larger than %d bytes", path, OIDC_JWKS_FILE_MAX);
        goto fail;
    }
    stamp_of(&st, stamp);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        snprintf(err, errcap, "out of memory reading %s", path);
        goto fail;
    }
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errcap, "cannot read %s: %s", path, r < 0 ? strerror(errno) : "shorter than its size");
            goto fail;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    close(fd);
    *out = buf;
    *len = n;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}

static struct oidc_keyset *load(const char *path, struct oidc_file_stamp *stamp, char *err, size_t errcap)
{
    char *text = NULL;
    size_t len = 0;
    if (read_file(path, &text, &len, stamp, err, errcap))
        return NULL;
    char why[300];
    struct oidc_keyset *ks = oidc_jwks_parse(text, len, why, sizeof why);
    free(text);
    if (!ks)
        snprintf(err, errcap, "%s: %s", path, why);
    return ks;
}

int oidc_jwks_store_open(struct oidc_jwks_store *s, const char *path, long interval_ms, oidc_jwks_report_fn report,
                         void *report_ctx, char *err, size_t errcap)
{
    memset(s, 0, sizeof *s);
    s->current = load(path, &s->seen, err, errcap);
    if (!s->current)
        return -1;
    s->path = strdup(path);
    if (!s->path) {
        oidc_keyset_unref(s->current);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    s->interval_ms = interval_ms;
    s->report = report;
    s->report_ctx = report_ctx;
    atomic_init(&s->reloads, 0);
    atomic_init(&s->refusals, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->stop_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

int oidc_jwks_store_poll(struct oidc_jwks_store *s)
{
    struct stat st;
    struct oidc_file_stamp now;
    char err[400];
    if (stat(s->path, &st) != 0) {
        /* Gone (mid-rename, or removed): keep the keys; say so once. */
        memset(&now, 0, sizeof now);
        if (stamp_equal(&now, &s->seen))
            return 0;
        s->seen = now;
        snprintf(err, sizeof err, "cannot stat %s: %s; the keys in use are kept", s->path, strerror(errno));
        atomic_fetch_add(&s->refusals, 1);
        s->report(s->report_ctx, 0, err);
        return -1;
    }
    stamp_of(&st, &now);
    if (stamp_equal(&now, &s->seen))
        return 0;
    struct oidc_file_stamp read_stamp;
    struct oidc_keyset *ks = load(s->path, &read_stamp, err, sizeof err);
    if (!ks) {
        s->seen = now;
        atomic_fetch_add(&s->refusals, 1);
        size_t n = strlen(err);
        snprintf(err + n, sizeof err - n, "; the keys in use are kept");
        s->report(s->report_ctx, 0, err);
        return -1;
    }
    s->seen = read_stamp;
    pthread_mutex_lock(&s->mu);
    struct oidc_keyset *old = s->current;
    s->current = ks;
    pthread_mutex_unlock(&s->mu);
    oidc_keyset_unref(old);
    atomic_fetch_add(&s->reloads, 1);
    snprintf(err, sizeof err, "%s reloaded: %d keys (%d others skipped)", s->path, ks->nkeys, ks->skipped);
    s->report(s->report_ctx, 1, err);
    return 1;
}

static void *watch(void *arg)
{
    struct oidc_jwks_store *s = arg;
    pthread_mutex_lock(&s->stop_mu);
    while (!s->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += s->interval_ms / 1000;
        until.tv_nsec += (s->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!s->stop && pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &until) != ETIMEDOUT)
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->stop_mu);
        oidc_jwks_store_poll(s);
        pthread_mutex_lock(&s->stop_mu);
    }
    pthread_mutex_unlock(&s->stop_mu);
    return NULL;
}

int oidc_jwks_store_start(struct oidc_jwks_store *s, char *err, size_t errcap)
{
    int rc = pthread_create(&s->thread, NULL, watch, s);
    if (rc != 0) {
        snprintf(err, errcap, "cannot start the JWKS reload thread: %s", strerror(rc));
        return -1;
    }
    s->thread_started = true;
    return 0;
}

struct oidc_keyset *oidc_jwks_store_get(struct oidc_jwks_store *s)
{
    pthread_mutex_lock(&s->mu);
    struct oidc_keyset *ks = oidc_keyset_ref(s->current);
    pthread_mutex_unlock(&s->mu);
    return ks;
}

void oidc_jwks_store_close(struct oidc_jwks_store *s)
{
    if (!s->path)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->stop_mu);
        s->stop = true;
        pthread_cond_signal(&s->stop_cv);
        pthread_mutex_unlock(&s->stop_mu);
        pthread_join(s->thread, NULL);
    }
    oidc_keyset_unref(s->current);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->stop_mu);
    pthread_cond_destroy(&s->stop_cv);
    free(s->path);
    memset(s, 0, sizeof *s);
}
