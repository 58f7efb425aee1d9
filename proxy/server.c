#include "proxy/server.h"

#include <event2/thread.h>
#include <inttypes.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/permdiff.h"
#include "proxy/admin.h"
#include "proxy/alert_store.h"
#include "proxy/audit_integrity.h"
#include "proxy/audit_writer.h"
#include "proxy/auth_store.h"
#include "proxy/lockout.h"
#include "proxy/metrics.h"
#include "proxy/log.h"
#include "proxy/mfa_store.h"
#include "proxy/notifier.h"
#include "proxy/phi_keys.h"
#include "proxy/plugin_loader.h"
#include "proxy/session.h"
#include "proxy/session_admin.h"
#include "proxy/policy_store.h"
#include "proxy/ratelimit.h"
#include "proxy/tls.h"
#include "proxy/reload_alert.h"
#include "proxy/watch.h"
#include "proxy/worker.h"
#include "proxy/workq.h"

struct server {
    const struct pg_config *cfg;
    struct event_base *base;
    struct pg_worker *workers;
    int nworkers, running, exited;
    struct event *exit_ev, *drain_timer;
    struct event *sig_term, *sig_int, *sig_hup;
    struct pg_admin *admin;
    struct pg_watch *tls_watch, *policy_watch, *users_watch, *keyring_watch;
    struct pg_audit_integrity *integrity; /* scheduled verification, or NULL */
    _Atomic bool draining;
    bool reload_running, reload_again;
};

/* ---- SIGHUP: reload the certificate off the loop ---- */

struct reload_job {
    struct server *s;
    SSL_CTX *ctx;
    char err[512];
};

static void reload_work(void *arg)
{
    struct reload_job *j = arg;
    j->ctx = pg_tls_build(&j->s->cfg->tls, j->err, sizeof j->err);
}

static void start_reload(struct server *s);

/* Reloads are recorded in the first worker's chain (the main loop has
 * none). */
static struct pg_worker *recording_worker;

static void policy_changed(const struct pg_policy *old, const struct pg_policy *now, void *arg)
{
    (void)arg;
    if (!old || !recording_worker)
        return; /* the start: the chain's first records say which policy runs */
    char changes[3072], info[4096], efile[600];
    pg_policy_perm_changes(old, now, changes, sizeof changes);
    snprintf(info, sizeof info, "{\"file\":\"%s\",\"sha256\":\"%s\",\"replaces\":\"%s\",\"changes\":%s}",
             pg_json_escape(now->file, strlen(now->file), efile, sizeof efile), now->sha256, old->sha256, changes);
    pg_audit_post(recording_worker, "policy-reload", info);
}

/* A key rotation (or any change of the PHI keyring) is recorded with the
 * key ids, never key material. */
static void keyring_changed(const struct pg_keyring *old, const struct pg_keyring *now, void *arg)
{
    (void)arg;
    if (!recording_worker)
        return;
    char added[1024] = "", removed[1024] = "", info[3072];
    size_t na = 0, nr = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct pg_keyring *a = pass ? old : now, *b = pass ? now : old;
        char *out = pass ? removed : added;
        size_t *n = pass ? &nr : &na;
        for (int i = 0; i < a->n; i++) {
            bool found = false;
            for (int k = 0; k < b->n && !found; k++)
                found = !strcmp(a->keys[i].kid, b->keys[k].kid);
            if (!found && *n + strlen(a->keys[i].kid) + 4 < sizeof added)
                *n += (size_t)snprintf(out + *n, sizeof added - *n, "%s\"%s\"", *n ? "," : "", a->keys[i].kid);
        }
    }
    snprintf(info, sizeof info, "{\"active\":\"%s\",\"previous_active\":\"%s\",\"keys\":%d,\"added\":[%s],\"removed\":[%s]}",
             now->keys[now->active].kid, old->keys[old->active].kid, now->n, added, removed);
    pg_audit_post(recording_worker, "key-rotation", info);
}

static void reload_done(void *arg)
{
    struct reload_job *j = arg;
    struct server *s = j->s;
    if (j->ctx) {
        pg_tls_publish(j->ctx);
        char subject[256] = "", not_after[64] = "", esubj[300];
        pg_tls_current_info(subject, sizeof subject, not_after, sizeof not_after);
        pg_log(PG_LOG_INFO, "tls_reloaded", "\"certificate\":\"%s\",\"not_after\":\"%s\"",
               pg_json_escape(subject, strlen(subject), esubj, sizeof esubj), not_after);
        if (recording_worker) {
            char info[700];
            snprintf(info, sizeof info, "{\"certificate\":\"%s\",\"not_after\":\"%s\"}", esubj, not_after);
            pg_audit_post(recording_worker, "certificate-reload", info);
        }
    } else {
        char e[600];
        pg_log(PG_LOG_ERROR, "tls_reload_failed", "\"error\":\"%s\",\"kept\":\"previous certificate\"",
               pg_json_escape(j->err, strlen(j->err), e, sizeof e));
        pg_reload_failed("certificate", s->cfg->tls.certificate, j->err);
    }
    free(j);
    s->reload_running = false;
    if (s->reload_again) {
        s->reload_again = false;
        start_reload(s);
    }
}

static void start_reload(struct server *s)
{
    if (s->reload_running) {
        s->reload_again = true;
        return;
    }
    struct reload_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->s = s;
    s->reload_running = true;
    if (pg_workq_submit(PG_POOL_IO, s->base, reload_work, reload_done, j) != 0) {
        s->reload_running = false;
        free(j);
        pg_log(PG_LOG_ERROR, "tls_reload_failed", "\"error\":\"work queue unavailable\"");
        pg_reload_failed("certificate", s->cfg->tls.certificate, "work queue unavailable");
    }
}

/* ---- SIGTERM: drain ---- */

static void drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *s = arg;
    for (int i = 0; i < s->running; i++)
        pg_worker_stop(&s->workers[i]);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct server *s = arg;
    if (atomic_exchange(&s->draining, true))
        return;
    pg_log(PG_LOG_INFO, "draining", "\"signal\":%d,\"drain_ms\":%u", (int)sig, s->cfg->timeouts.drain_ms);
    for (int i = 0; i < s->running; i++)
        pg_worker_drain(&s->workers[i]);
    struct timeval tv = {.tv_sec = s->cfg->timeouts.drain_ms / 1000,
                         .tv_usec = (s->cfg->timeouts.drain_ms % 1000) * 1000};
    evtimer_add(s->drain_timer, &tv);
}

/* The certificate or key changed on disk (cert-manager, a Secret update). */
static void on_tls_files_changed(void *arg)
{
    pg_log(PG_LOG_INFO, "reload_requested", "\"reason\":\"tls files changed\"");
    start_reload(arg);
}

static void on_policy_changed(void *arg)
{
    struct server *s = arg;
    pg_log(PG_LOG_INFO, "reload_requested", "\"reason\":\"policy file changed\"");
    pg_policy_store_reload(s->base);
}

/* An admin edited the users file, or its Secret was updated. */
static void on_users_changed(void *arg)
{
    struct server *s = arg;
    pg_log(PG_LOG_INFO, "reload_requested", "\"reason\":\"users file changed\"");
    pg_auth_store_reload(s->base);
}

/* The PHI keyring changed (a rotation, a Secret update). */
static void on_keyring_changed(void *arg)
{
    struct server *s = arg;
    pg_log(PG_LOG_INFO, "reload_requested", "\"reason\":\"phi keyring changed\"");
    pg_phi_keys_reload(s->base);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct server *s = arg;
    pg_log(PG_LOG_INFO, "reload_requested", "\"reason\":\"SIGHUP\"");
    start_reload(s);
    pg_policy_store_reload(s->base);
    pg_auth_store_reload(s->base);
    pg_phi_keys_reload(s->base);
}

/* A worker's loop has ended (activated from its thread). */
static void on_worker_exit(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *s = arg;
    /* event_active calls from several threads may fold into one run. */
    int done = 0;
    for (int i = 0; i < s->running; i++)
        if (atomic_load(&s->workers[i].finished))
            done++;
    if (done == s->running)
        event_base_loopexit(s->base, NULL);
}

static bool is_ready(void *arg)
{
    struct server *s = arg;
    return !atomic_load(&s->draining) && s->running == s->nworkers;
}

/* The workers' counters are read without a lock: each is a word a worker
 * alone writes, and a figure a moment old is good enough for a status page. */
static void describe_audit(char *buf, size_t len, void *arg)
{
    struct server *s = arg;
    size_t used = (size_t)snprintf(buf, len, "{\"chains\":[");
    for (int i = 0; i < s->running && used < len; i++) {
        struct pg_audit_stats st;
        pg_audit_writer_stats(&s->workers[i], &st);
        used += (size_t)snprintf(buf + used, len - used,
                                 "%s{\"worker\":%d,\"written\":%" PRIu64 ",\"shipped\":%" PRIu64 ",\"acked\":%" PRIu64
                                 ",\"durable\":%" PRIu64 ",\"syncs\":%" PRIu64 ",\"synced_records\":%" PRIu64
                                 ",\"largest_sync_batch\":%" PRIu64 ",\"spool_writes\":%" PRIu64 ",\"checkpoints\":%" PRIu64 "}",
                                 i ? "," : "", i, st.written, st.shipped, st.acked, st.durable, st.syncs,
                                 st.synced_records, st.largest_batch, st.spool_writes, st.checkpoints);
    }
    if (used < len)
        snprintf(buf + used, len - used, "]}\n");
}

/* PHI fields need a keyring: without one they could be neither sealed nor
 * opened, so phiguard does not start (a reload that adds fields later is
 * refused per request, 503). */
static bool policy_has_phi(void)
{
    struct pg_policy *p = pg_policy_store_get();
    bool any = false;
    for (int i = 0; p && i < p->nroutes && !any; i++) {
        const struct pg_route *r = &p->routes[i];
        any = r->nphi_request || r->nphi_response || r->nphi_query || r->nphi_path;
    }
    pg_policy_unref(p);
    return any;
}

static void describe_metrics(struct evbuffer *out, void *arg)
{
    struct server *s = arg;
    pg_metrics_header(out, "phiguard_build_info", "gauge", "The running version.");
    evbuffer_add_printf(out, "phiguard_build_info{version=\"%s\"} 1\n", PHIGUARD_VERSION);
    pg_metrics_header(out, "phiguard_workers", "gauge", "Worker threads running.");
    evbuffer_add_printf(out, "phiguard_workers %d\n", s->running);
    pg_metrics_render_workers(out, s->workers, s->running);
    pg_plugins_metrics(out);
    struct pg_notifier_stats ns;
    pg_notifier_get_stats(&ns);
    if (ns.configured) {
        pg_metrics_header(out, "phiguard_alert_notifications_total", "counter",
                          "Alerts sent to the webhook, by result (dropped: the queue was full).");
        evbuffer_add_printf(out, "phiguard_alert_notifications_total{result=\"sent\"} %" PRIu64 "\n", ns.sent);
        evbuffer_add_printf(out, "phiguard_alert_notifications_total{result=\"failed\"} %" PRIu64 "\n", ns.failed);
        evbuffer_add_printf(out, "phiguard_alert_notifications_total{result=\"dropped\"} %" PRIu64 "\n", ns.dropped);
        pg_metrics_header(out, "phiguard_alert_notification_retries_total", "counter", "Webhook sends tried again.");
        evbuffer_add_printf(out, "phiguard_alert_notification_retries_total %" PRIu64 "\n", ns.retries);
        pg_metrics_header(out, "phiguard_alert_notifications_queued", "gauge", "Alerts waiting for the webhook.");
        evbuffer_add_printf(out, "phiguard_alert_notifications_queued %d\n", ns.queued);
    }
}

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int pg_server_run(const struct pg_config *cfg)
{
    struct server s = {.cfg = cfg};
    int status = 1;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit is an EFBIG the spool reports, not a kill */
    evthread_use_pthreads();
    pg_log_start(cfg->log_level);
    if (pg_workq_start(PG_POOL_IO, 2, 0) != 0 ||
        pg_workq_start(PG_POOL_HASH, cfg->auth.argon2_threads, cfg->auth.argon2_nice) != 0) {
        pg_log(PG_LOG_ERROR, "startup_failed", "\"error\":\"cannot start the work queue\"");
        goto out_log;
    }
    char err[512], e[600];
    SSL_CTX *ctx = pg_tls_build(&cfg->tls, err, sizeof err);
    if (!ctx) {
        pg_log(PG_LOG_ERROR, "startup_failed", "\"error\":\"%s\"", pg_json_escape(err, strlen(err), e, sizeof e));
        goto out_workq;
    }
    pg_tls_publish(ctx);
    if (cfg->policy_file) {
        if (pg_policy_store_init(cfg->policy_file) != 0) {
            pg_log(PG_LOG_ERROR, "startup_failed", "\"error\":\"the policy has errors (see above)\"");
            pg_tls_shutdown();
            pg_policy_store_shutdown();
            goto out_workq;
        }
    } else {
        pg_log(PG_LOG_WARN, "no_policy",
               "\"detail\":\"policy.file is not set: requests are not authorized by a policy\"");
    }

    if (pg_notifier_start(cfg) != 0) {
        pg_log(PG_LOG_ERROR, "startup_failed", "\"error\":\"the alert webhook is misconfigured (see above)\"");
        pg_tls_shutdown();
        pg_policy_store_shutdown();
        goto out_workq;
    }
    if (pg_phi_keys_init(cfg->phi.keyring_file) != 0 || (!cfg->phi.keyring_file && policy_has_phi())) {
        pg_log(PG_LOG_ERROR, "startup_failed",
               "\"error\":\"%s\"", cfg->phi.keyring_file ? "the PHI keyring is unusable (see above)"
                                                         : "the policy names PHI fields but phi.keyring_file is not set");
        pg_tls_shutdown();
        pg_policy_store_shutdown();
        pg_phi_keys_shutdown();
        goto out_workq;
    }
    if (pg_auth_store_init(cfg) != 0 ||
        (pg_auth_enabled() &&
         (pg_session_scripts_init() != 0 || pg_lockout_scripts_init() != 0 || pg_mfa_scripts_init() != 0 ||
          pg_alert_store_scripts_init() != 0 || pg_session_admin_scripts_init() != 0))) {
        pg_log(PG_LOG_ERROR, "startup_failed", "\"error\":\"authentication is misconfigured (see above)\"");
        pg_tls_shutdown();
        pg_policy_store_shutdown();
        pg_auth_store_shutdown();
        pg_phi_keys_shutdown();
        goto out_workq;
    }

    /* Plugins after the keyring (a plugin may seal at its entry) and before
     * the workers (their hooks must be in place when the first request
     * comes). */
    const char *failed = pg_ratelimit_start((size_t)cfg->ratelimit.local_max_keys) != 0 ? "cannot set up rate limiting"
                         : pg_plugins_load(cfg) != 0 ? "a plugin could not be loaded (see above)"
                                                     : NULL;
    if (failed) {
        pg_log(PG_LOG_ERROR, "startup_failed", "\"error\":\"%s\"", failed);
        pg_tls_shutdown();
        pg_policy_store_shutdown();
        pg_auth_store_shutdown();
        pg_phi_keys_shutdown();
        pg_ratelimit_stop();
        goto out_workq;
    }

    s.base = event_base_new();
    s.nworkers = cfg->workers > 0 ? cfg->workers : cpu_count();
    s.workers = calloc((size_t)s.nworkers, sizeof *s.workers);
    pg_workers_register(s.workers, s.nworkers);
    s.exit_ev = s.base ? event_new(s.base, -1, EV_PERSIST, on_worker_exit, &s) : NULL;
    s.drain_timer = s.base ? evtimer_new(s.base, drain_timeout, &s) : NULL;
    s.sig_term = s.base ? evsignal_new(s.base, SIGTERM, on_term, &s) : NULL;
    s.sig_int = s.base ? evsignal_new(s.base, SIGINT, on_term, &s) : NULL;
    s.sig_hup = s.base ? evsignal_new(s.base, SIGHUP, on_hup, &s) : NULL;
    if (!s.workers || !s.exit_ev || !s.drain_timer || !s.sig_term || !s.sig_int || !s.sig_hup)
        goto out;
    evsignal_add(s.sig_term, NULL);
    evsignal_add(s.sig_int, NULL);
    evsignal_add(s.sig_hup, NULL);

    for (int i = 0; i < s.nworkers; i++) {
        if (pg_worker_init(&s.workers[i], i, cfg, s.exit_ev) != 0 || pg_worker_start(&s.workers[i]) != 0) {
            pg_worker_join_and_free(&s.workers[i]);
            for (int k = 0; k < s.running; k++)
                pg_worker_stop(&s.workers[k]);
            goto out;
        }
        s.running++;
    }
    recording_worker = &s.workers[0];
    pg_reload_alert_set_worker(recording_worker);
    s.integrity = pg_audit_integrity_start(s.base, cfg);
    pg_policy_store_on_change(policy_changed, NULL);
    pg_phi_keys_on_change(keyring_changed, NULL);
    struct pg_admin_hooks hooks = {.ready = is_ready, .describe_audit = describe_audit, .metrics = describe_metrics,
                                   .arg = &s};
    s.admin = pg_admin_start(s.base, &cfg->admin_listen, &hooks);
    if (!s.admin) {
        for (int k = 0; k < s.running; k++)
            pg_worker_stop(&s.workers[k]);
        goto out;
    }
    const char *tls_files[] = {cfg->tls.certificate, cfg->tls.key, cfg->tls.client_ca, NULL};
    s.tls_watch = pg_watch_new(s.base, tls_files, on_tls_files_changed, &s);
    if (cfg->policy_file) {
        const char *policy_files[] = {cfg->policy_file, NULL};
        s.policy_watch = pg_watch_new(s.base, policy_files, on_policy_changed, &s);
    }
    if (pg_auth_enabled()) {
        const char *users_files[] = {cfg->auth.users_file, NULL};
        s.users_watch = pg_watch_new(s.base, users_files, on_users_changed, &s);
    }
    if (cfg->phi.keyring_file) {
        const char *keyring_files[] = {cfg->phi.keyring_file, NULL};
        s.keyring_watch = pg_watch_new(s.base, keyring_files, on_keyring_changed, &s);
    }
    pg_log(PG_LOG_INFO, "listening",
           "\"address\":\"%s\",\"admin\":\"%s\",\"upstream\":\"%s\",\"workers\":%d,\"version\":\"%s\",\"pid\":%d",
           cfg->listen.text, cfg->admin_listen.text, cfg->upstream.addr.text, s.nworkers, PHIGUARD_VERSION,
           (int)getpid());
    event_base_dispatch(s.base);
    status = 0;
    pg_log(PG_LOG_INFO, "stopped", NULL);
out:
    if (status != 0)
        pg_log(PG_LOG_ERROR, "startup_failed", "\"error\":\"see the lines above\"");
    pg_policy_store_on_change(NULL, NULL);
    pg_phi_keys_on_change(NULL, NULL);
    recording_worker = NULL;
    pg_reload_alert_set_worker(NULL);
    pg_audit_integrity_stop(s.integrity);
    for (int i = 0; i < s.running; i++)
        pg_worker_join_and_free(&s.workers[i]);
    free(s.workers);
    pg_plugins_unload(); /* the workers are stopped: plugins release everything */
    pg_admin_free(s.admin);
    pg_watch_free(s.tls_watch);
    pg_watch_free(s.policy_watch);
    pg_watch_free(s.users_watch);
    pg_watch_free(s.keyring_watch);
    if (s.sig_term)
        event_free(s.sig_term);
    if (s.sig_int)
        event_free(s.sig_int);
    if (s.sig_hup)
        event_free(s.sig_hup);
    if (s.exit_ev)
        event_free(s.exit_ev);
    if (s.drain_timer)
        event_free(s.drain_timer);
    /* Before the bases their results are delivered to go. */
    pg_workq_stop(PG_POOL_HASH);
    pg_workq_stop(PG_POOL_IO);
    pg_notifier_stop(); /* after everything that raises alerts */
    if (s.base)
        event_base_free(s.base);
    pg_tls_shutdown();
    pg_policy_store_shutdown();
    pg_auth_store_shutdown();
    pg_phi_keys_shutdown();
    pg_session_scripts_free();
    pg_lockout_scripts_free();
    pg_mfa_scripts_free();
    pg_alert_store_scripts_free();
    pg_session_admin_scripts_free();
    pg_workers_register(NULL, 0);
    pg_ratelimit_stop(); /* after every worker: none decides any more */
    goto out_log;
out_workq:
    pg_workq_stop(PG_POOL_HASH);
    pg_workq_stop(PG_POOL_IO);
    pg_notifier_stop();
out_log:
    pg_log_stop();
    return status;
}
