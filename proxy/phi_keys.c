#include "proxy/phi_keys.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"
#include "proxy/reload_alert.h"
#include "proxy/secret_file.h"
#include "proxy/workq.h"

#define KEYRING_MAX_BYTES (1 << 20)

static pthread_mutex_t store_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pg_phi_ring *current;
static char *keyring_file;
static bool reloading, reload_again;
static void (*change_fn)(const struct pg_keyring *, const struct pg_keyring *, void *);
static void *change_arg;

static void log_problem(const char *event, const char *file, const char *why)
{
    char e1[600], e2[600];
    pg_log(PG_LOG_ERROR, event, "\"file\":\"%s\",\"error\":\"%s\"", pg_json_escape(file, strlen(file), e1, sizeof e1),
           pg_json_escape(why, strlen(why), e2, sizeof e2));
}

/* Reads and parses file; blocking (start-up or the work queue). The first
 * reason it failed goes to why. */
static struct pg_phi_ring *load_ring(const char *file, char *why, size_t whylen)
{
    size_t len = 0;
    char *text = pg_secret_file_read(file, KEYRING_MAX_BYTES, &len, why, whylen);
    if (!text) {
        log_problem("phi_keyring_error", file, why);
        return NULL;
    }
    struct pg_phi_ring *r = calloc(1, sizeof *r);
    struct pg_policy_errors errs = {0};
    if (r && pg_keyring_parse(file, text, len, &r->ring, &errs) == 0) {
        atomic_init(&r->refs, 1);
    } else {
        for (int i = 0; i < errs.count; i++)
            log_problem("phi_keyring_error", file, errs.items[i]);
        snprintf(why, whylen, "%s", errs.count ? errs.items[0] : "out of memory");
        if (!r)
            log_problem("phi_keyring_error", file, "out of memory");
        free(r);
        r = NULL;
    }
    pg_policy_errors_free(&errs);
    OPENSSL_cleanse(text, len);
    free(text);
    return r;
}

static void log_loaded(const struct pg_phi_ring *r)
{
    char e[600];
    pg_log(PG_LOG_INFO, "phi_keyring_loaded", "\"file\":\"%s\",\"keys\":%d,\"active\":\"%s\"",
           pg_json_escape(keyring_file, strlen(keyring_file), e, sizeof e),
           r->ring.n, r->ring.keys[r->ring.active].kid);
}

int pg_phi_keys_init(const char *file)
{
    if (!file)
        return 0;
    char why[256];
    struct pg_phi_ring *r = load_ring(file, why, sizeof why);
    if (!r)
        return -1;
    keyring_file = strdup(file);
    if (!keyring_file) {
        pg_phi_ring_unref(r);
        return -1;
    }
    current = r;
    log_loaded(r);
    return 0;
}

bool pg_phi_keys_configured(void)
{
    return keyring_file != NULL;
}

struct pg_phi_ring *pg_phi_keys_get(void)
{
    pthread_mutex_lock(&store_mu);
    struct pg_phi_ring *r = current;
    if (r)
        atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&store_mu);
    return r;
}

void pg_phi_ring_unref(struct pg_phi_ring *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    pg_keyring_wipe(&r->ring);
    free(r);
}

static bool same_ring(const struct pg_keyring *a, const struct pg_keyring *b)
{
    if (a->n != b->n || strcmp(a->keys[a->active].kid, b->keys[b->active].kid) != 0)
        return false;
    for (int i = 0; i < a->n; i++)
        if (CRYPTO_memcmp(&a->keys[i], &b->keys[i], sizeof a->keys[i]) != 0)
            return false;
    return true;
}

struct reload_job {
    struct event_base *base;
    struct pg_phi_ring *r;
    char why[256];
};

static void reload_work(void *arg)
{
    struct reload_job *j = arg;
    j->r = load_ring(keyring_file, j->why, sizeof j->why);
}

/* A change noticed while a reload ran is read once that one ends, so the
 * keyring that runs is the file's last version. */
static void reload_finished(struct event_base *base)
{
    reloading = false;
    if (reload_again) {
        reload_again = false;
        pg_phi_keys_reload(base);
    }
}

static void reload_done(void *arg)
{
    struct reload_job *j = arg;
    struct event_base *base = j->base;
    if (!j->r) {
        char e[600], ef[600];
        pg_log(PG_LOG_ERROR, "phi_keyring_reload_failed",
               "\"file\":\"%s\",\"error\":\"%s\",\"kept\":\"the running keyring\"",
               pg_json_escape(keyring_file, strlen(keyring_file), ef, sizeof ef),
               pg_json_escape(j->why, strlen(j->why), e, sizeof e));
        pg_reload_failed("keyring", keyring_file, j->why);
        free(j);
        reload_finished(base);
        return;
    }
    pthread_mutex_lock(&store_mu);
    struct pg_phi_ring *old = current;
    bool changed = !old || !same_ring(&old->ring, &j->r->ring);
    if (changed)
        current = j->r;
    pthread_mutex_unlock(&store_mu);
    if (changed) {
        log_loaded(j->r);
        if (change_fn && old)
            change_fn(&old->ring, &j->r->ring, change_arg);
        pg_phi_ring_unref(old);
    } else {
        pg_phi_ring_unref(j->r);
    }
    free(j);
    reload_finished(base);
}

void pg_phi_keys_reload(struct event_base *base)
{
    if (!keyring_file)
        return;
    if (reloading) {
        reload_again = true;
        return;
    }
    struct reload_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->base = base;
    reloading = true;
    if (pg_workq_submit(PG_POOL_IO, base, reload_work, reload_done, j) != 0) {
        reloading = false;
        free(j);
        pg_log(PG_LOG_ERROR, "phi_keyring_reload_failed", "\"error\":\"work queue unavailable\"");
        pg_reload_failed("keyring", keyring_file, "work queue unavailable");
    }
}

void pg_phi_keys_on_change(void (*fn)(const struct pg_keyring *, const struct pg_keyring *, void *), void *arg)
{
    change_fn = fn;
    change_arg = arg;
}

void pg_phi_keys_shutdown(void)
{
    pthread_mutex_lock(&store_mu);
    struct pg_phi_ring *r = current;
    current = NULL;
    pthread_mutex_unlock(&store_mu);
    pg_phi_ring_unref(r);
    free(keyring_file);
    keyring_file = NULL;
    change_fn = NULL;
}
