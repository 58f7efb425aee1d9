#include "proxy/policy_store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/log.h"
#include "proxy/reload_alert.h"
#include "proxy/workq.h"

static pthread_mutex_t store_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pg_policy *current;
static char *store_file;
static time_t loaded_at;
static uint64_t generation;
static bool reloading, reload_again;
static void (*on_change)(const struct pg_policy *old, const struct pg_policy *now, void *arg);
static void *on_change_arg;

static void log_errors(const struct pg_policy_errors *errs)
{
    for (int i = 0; i < errs->count; i++) {
        char e[1200];
        pg_log(PG_LOG_ERROR, "policy_error", "\"error\":\"%s\"",
               pg_json_escape(errs->items[i], strlen(errs->items[i]), e, sizeof e));
    }
}

static void publish(struct pg_policy *p)
{
    pthread_mutex_lock(&store_mu);
    struct pg_policy *old = current;
    current = p;
    loaded_at = time(NULL);
    generation++;
    pthread_mutex_unlock(&store_mu);
    pg_log(PG_LOG_INFO, "policy_loaded", "\"file\":\"%s\",\"sha256\":\"%s\",\"routes\":%d,\"roles\":%d%s%s%s", p->file,
           p->sha256, p->nroutes, p->nroles, old ? ",\"replaces\":\"" : "", old ? old->sha256 : "", old ? "\"" : "");
    if (on_change)
        on_change(old, p, on_change_arg);
    pg_policy_unref(old); /* in-flight requests hold their own references */
}

void pg_policy_store_on_change(void (*fn)(const struct pg_policy *old, const struct pg_policy *now, void *arg),
                               void *arg)
{
    on_change = fn;
    on_change_arg = arg;
}

int pg_policy_store_init(const char *file)
{
    store_file = strdup(file);
    struct pg_policy_errors errs = {0};
    struct pg_policy *p = pg_policy_load(file, &errs);
    log_errors(&errs);
    pg_policy_errors_free(&errs);
    if (!p)
        return -1;
    publish(p);
    return 0;
}

struct reload_job {
    struct event_base *base;
    struct pg_policy *p;
    struct pg_policy_errors errs;
};

static void reload_work(void *arg)
{
    struct reload_job *j = arg;
    j->p = pg_policy_load(store_file, &j->errs);
}

static void reload_done(void *arg)
{
    struct reload_job *j = arg;
    if (j->p) {
        publish(j->p);
    } else {
        log_errors(&j->errs);
        pg_log(PG_LOG_ERROR, "policy_reload_failed", "\"file\":\"%s\",\"errors\":%d,\"kept\":\"%s\"", store_file,
               j->errs.count, current ? current->sha256 : "");
        pg_reload_failed("policy", store_file, j->errs.count ? j->errs.items[0] : "not loaded");
    }
    pg_policy_errors_free(&j->errs);
    struct event_base *base = j->base;
    free(j);
    reloading = false;
    if (reload_again) {
        reload_again = false;
        pg_policy_store_reload(base);
    }
}

void pg_policy_store_reload(struct event_base *base)
{
    if (!store_file)
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
        pg_log(PG_LOG_ERROR, "policy_reload_failed", "\"error\":\"work queue unavailable\"");
        pg_reload_failed("policy", store_file, "work queue unavailable");
    }
}

struct pg_policy *pg_policy_store_get(void)
{
    pthread_mutex_lock(&store_mu);
    struct pg_policy *p = current ? pg_policy_ref(current) : NULL;
    pthread_mutex_unlock(&store_mu);
    return p;
}

bool pg_policy_store_configured(void)
{
    return store_file != NULL;
}

void pg_policy_store_describe(char *buf, size_t len)
{
    pthread_mutex_lock(&store_mu);
    if (!current) {
        snprintf(buf, len, "{\"configured\":false}\n");
    } else {
        char when[32];
        struct tm tm;
        gmtime_r(&loaded_at, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        char file[600];
        pg_json_escape(current->file, strlen(current->file), file, sizeof file);
        snprintf(buf, len,
                 "{\"configured\":true,\"file\":\"%s\",\"schema_version\":%d,\"sha256\":\"%s\",\"generation\":%llu,"
                 "\"loaded_at\":\"%s\",\"routes\":%d,\"roles\":%d}\n",
                 file, current->version, current->sha256, (unsigned long long)generation, when, current->nroutes,
                 current->nroles);
    }
    pthread_mutex_unlock(&store_mu);
}

void pg_policy_store_shutdown(void)
{
    pthread_mutex_lock(&store_mu);
    struct pg_policy *p = current;
    current = NULL;
    pthread_mutex_unlock(&store_mu);
    pg_policy_unref(p);
    free(store_file);
    store_file = NULL;
}
