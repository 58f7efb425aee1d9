#include "proxy/metrics.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/units.h"
#include "policy/policy.h"
#include "proxy/audit_writer.h"
#include "proxy/blocks.h"
#include "proxy/ratelimit.h"
#include "proxy/redis.h"
#include "proxy/request.h"
#include "proxy/worker.h"

static const uint64_t bounds_us[PG_HISTOGRAM_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

void pg_histogram_observe(struct pg_histogram *h, uint64_t us)
{
    int i = 0;
    while (i < PG_HISTOGRAM_BUCKETS && us > bounds_us[i])
        i++;
    if (i < PG_HISTOGRAM_BUCKETS)
        h->bucket[i]++;
    h->count++;
    h->sum_us += us;
}

static struct pg_route_counter *route_slot(struct pg_worker_metrics *m, const char *name)
{
    uint32_t hash = pg_fnv1a(name, strlen(name));
    for (int i = 0; i < PG_METRIC_ROUTES; i++) {
        struct pg_route_counter *c = &m->routes[(hash + (uint32_t)i) % PG_METRIC_ROUTES];
        if (!strcmp(c->name, name))
            return c;
        if (!c->name[0]) {
            if (strlen(name) >= sizeof c->name)
                return NULL;
            strcpy(c->name, name);
            return c;
        }
    }
    return NULL;
}

void pg_metrics_request(struct pg_request *req)
{
    struct pg_worker_metrics *m = req->worker->metrics;
    if (!m)
        return;
    int cls = req->status / 100 - 1;
    if (cls < 0 || cls > 4)
        cls = 4; /* 499 and the like are 4xx already; anything stranger is counted as a failure */
    /* Routes the policy names; phiguard's own sign-in endpoints (answered
     * before authorization) under "phiguard-auth"; requests no route
     * decided (no policy, a refusal before authorization) under "none". */
    const struct pg_http_head *h = &req->head;
    const char *name = req->route && req->route->name ? req->route->name
                       : req->route                   ? req->route->pattern
                       : h->target && h->path_len >= 6 && !memcmp(h->target, "/auth/", 6) ? "phiguard-auth"
                                                                                          : "none";
    struct pg_route_counter *c = route_slot(m, name);
    if (c)
        c->by_class[cls]++;
    else
        m->other_by_class[cls]++;
    uint64_t now = pg_now_us(), total = now - req->t_start_us, up = 0;
    if (req->t_upstream_us && req->t_resp_head_us >= req->t_upstream_us) {
        up = req->t_resp_head_us - req->t_upstream_us;
        pg_histogram_observe(&m->upstream, up);
    }
    pg_histogram_observe(&m->overhead, total > up ? total - up : 0);
}

void pg_metrics_tls(struct pg_worker *w, int ok)
{
    if (!w->metrics)
        return;
    if (ok)
        w->metrics->tls_handshakes++;
    else
        w->metrics->tls_failures++;
}

void pg_metrics_event(struct pg_event_table *t, const char *name, const char *kind)
{
    int used = atomic_load(&t->used);
    for (int i = 0; i < used; i++)
        if (!strcmp(t->items[i].name, name) && !strcmp(t->items[i].kind, kind)) {
            atomic_fetch_add(&t->items[i].n, 1);
            return;
        }
    /* A new pair: rare (a rule's first alert), and only the owning worker
     * adds to its table except for alerts raised from the main loop, which
     * then only ever appends: claim a slot, fill it, then publish it. */
    int slot = atomic_fetch_add(&t->used, 1);
    if (slot >= PG_METRIC_LABELS || strlen(name) >= sizeof t->items[0].name ||
        strlen(kind) >= sizeof t->items[0].kind) {
        if (slot >= PG_METRIC_LABELS)
            atomic_store(&t->used, PG_METRIC_LABELS);
        atomic_fetch_add(&t->overflow, 1);
        return;
    }
    strcpy(t->items[slot].name, name);
    strcpy(t->items[slot].kind, kind);
    atomic_store(&t->items[slot].n, 1);
}

/* ---- rendering ---- */

void pg_metrics_header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void pg_metrics_label_value(struct evbuffer *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            evbuffer_add_printf(out, "\\%c", *v);
        else if (*v == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, v, 1);
    }
}

static void histogram(struct evbuffer *out, const char *name, const char *help, struct pg_histogram *const *hs,
                      int n)
{
    pg_metrics_header(out, name, "histogram", help);
    uint64_t cum = 0, count = 0, sum = 0;
    for (int b = 0; b < PG_HISTOGRAM_BUCKETS; b++) {
        for (int i = 0; i < n; i++)
            cum += hs[i]->bucket[b];
        evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, (double)bounds_us[b] / 1e6, cum);
    }
    for (int i = 0; i < n; i++) {
        count += hs[i]->count;
        sum += hs[i]->sum_us;
    }
    evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.6f\n%s_count %" PRIu64 "\n", name, count,
                        name, (double)sum / 1e6, name, count);
}

struct route_sum {
    const char *name;
    uint64_t by_class[5];
};

static void requests(struct evbuffer *out, struct pg_worker *ws, int n)
{
    pg_metrics_header(out, "phiguard_requests_total", "counter",
                      "Requests answered, by the policy route that decided them and status class.");
    struct route_sum *sums = calloc((size_t)n * PG_METRIC_ROUTES + 1, sizeof *sums);
    int nsums = 0;
    uint64_t other[5] = {0};
    for (int i = 0; i < n; i++) {
        struct pg_worker_metrics *m = ws[i].metrics;
        if (!m)
            continue;
        for (int k = 0; k < 5; k++)
            other[k] += m->other_by_class[k];
        for (int r = 0; r < PG_METRIC_ROUTES; r++) {
            const struct pg_route_counter *c = &m->routes[r];
            if (!c->name[0])
                continue;
            int j = 0;
            while (sums && j < nsums && strcmp(sums[j].name, c->name))
                j++;
            if (!sums)
                continue;
            if (j == nsums)
                sums[nsums++].name = c->name;
            for (int k = 0; k < 5; k++)
                sums[j].by_class[k] += c->by_class[k];
        }
    }
    for (int j = 0; j < nsums; j++)
        for (int k = 0; k < 5; k++)
            if (sums[j].by_class[k]) {
                evbuffer_add(out, "phiguard_requests_total{route=\"", 31);
                pg_metrics_label_value(out, sums[j].name);
                evbuffer_add_printf(out, "\",code=\"%dxx\"} %" PRIu64 "\n", k + 1, sums[j].by_class[k]);
            }
    for (int k = 0; k < 5; k++)
        if (other[k])
            evbuffer_add_printf(out, "phiguard_requests_total{route=\"other\",code=\"%dxx\"} %" PRIu64 "\n", k + 1,
                                other[k]);
    free(sums);
}

/* Sums the same (name, kind) over every worker's table. */
static void events(struct evbuffer *out, const char *metric, const char *help, const char *l1, const char *l2,
                   struct pg_worker *ws, int n, size_t table_offset, const char *only_name)
{
    pg_metrics_header(out, metric, "counter", help);
    for (int i = 0; i < n; i++) {
        if (!ws[i].metrics)
            continue;
        struct pg_event_table *t = (struct pg_event_table *)((char *)ws[i].metrics + table_offset);
        int used = atomic_load(&t->used);
        for (int e = 0; e < used && e < PG_METRIC_LABELS; e++) {
            const struct pg_event_counter *c = &t->items[e];
            if (!atomic_load(&c->n) || (only_name && strcmp(c->name, only_name)))
                continue;
            bool seen = false; /* printed already, with an earlier entry */
            for (int p = 0; p <= i && !seen; p++) {
                if (!ws[p].metrics)
                    continue;
                struct pg_event_table *tp = (struct pg_event_table *)((char *)ws[p].metrics + table_offset);
                int upto = p < i ? atomic_load(&tp->used) : e;
                for (int q = 0; q < upto && q < PG_METRIC_LABELS && !seen; q++)
                    seen = atomic_load(&tp->items[q].n) && !strcmp(tp->items[q].name, c->name) &&
                           !strcmp(tp->items[q].kind, c->kind);
            }
            if (seen)
                continue;
            uint64_t total = 0;
            for (int p = i; p < n; p++) {
                if (!ws[p].metrics)
                    continue;
                struct pg_event_table *tp = (struct pg_event_table *)((char *)ws[p].metrics + table_offset);
                for (int q = 0; q < atomic_load(&tp->used) && q < PG_METRIC_LABELS; q++)
                    if (!strcmp(tp->items[q].name, c->name) && !strcmp(tp->items[q].kind, c->kind))
                        total += atomic_load(&tp->items[q].n);
            }
            evbuffer_add_printf(out, "%s{", metric);
            if (!only_name) {
                evbuffer_add_printf(out, "%s=\"", l1);
                pg_metrics_label_value(out, c->name);
                evbuffer_add(out, "\",", 2);
            }
            evbuffer_add_printf(out, "%s=\"", l2);
            pg_metrics_label_value(out, c->kind);
            evbuffer_add_printf(out, "\"} %" PRIu64 "\n", total);
        }
    }
}

/* Rate-limit decisions by limit name, summed over workers; blocks in force. */
static void ratelimits(struct evbuffer *out, struct pg_worker *ws, int n)
{
    struct pg_ratelimit_rule_stats *per = calloc(PG_RL_STATS_NAMES, sizeof *per);
    struct pg_ratelimit_rule_stats *sum = calloc((size_t)n * PG_RL_STATS_NAMES + 1, sizeof *sum);
    int nsum = 0;
    uint64_t fallback = 0;
    struct pg_ratelimit_totals tot = {0};
    for (int i = 0; per && sum && i < n; i++) {
        int k = pg_ratelimit_stats(&ws[i], per, PG_RL_STATS_NAMES, &tot);
        fallback += tot.fallback;
        for (int j = 0; j < k && j < PG_RL_STATS_NAMES; j++) {
            int m = 0;
            while (m < nsum && strcmp(sum[m].name, per[j].name))
                m++;
            if (m == nsum)
                memcpy(sum[nsum++].name, per[j].name, sizeof per[j].name);
            sum[m].allowed += per[j].allowed;
            sum[m].limited += per[j].limited;
        }
    }
    pg_metrics_header(out, "phiguard_rate_limit_decisions_total", "counter",
                      "Rate-limit decisions, by limit and result (limited: answered 429).");
    for (int m = 0; m < nsum; m++)
        for (int r = 0; r < 2; r++) {
            evbuffer_add(out, "phiguard_rate_limit_decisions_total{limit=\"", 43);
            pg_metrics_label_value(out, sum[m].name);
            evbuffer_add_printf(out, "\",result=\"%s\"} %" PRIu64 "\n", r ? "limited" : "allowed",
                                r ? sum[m].limited : sum[m].allowed);
        }
    pg_metrics_header(out, "phiguard_rate_limit_fallbacks_total", "counter",
                      "Global rate-limit decisions taken locally because Redis could not answer.");
    evbuffer_add_printf(out, "phiguard_rate_limit_fallbacks_total %" PRIu64 "\n", fallback);
    pg_metrics_header(out, "phiguard_rate_limit_local_keys", "gauge", "Keys in the process's local rate-limit table.");
    evbuffer_add_printf(out, "phiguard_rate_limit_local_keys %" PRIu64 "\n", tot.local_keys);
    uint64_t blocked = 0;
    for (int i = 0; i < n; i++)
        if (ws[i].metrics)
            blocked += ws[i].metrics->blocked_requests;
    pg_metrics_header(out, "phiguard_blocked_requests_total", "counter",
                      "Requests refused because their address or user is blocked by a detection rule.");
    evbuffer_add_printf(out, "phiguard_blocked_requests_total %" PRIu64 "\n", blocked);
    pg_metrics_header(out, "phiguard_blocks_active", "gauge", "Subjects blocked by detection rules now.");
    evbuffer_add_printf(out, "phiguard_blocks_active %d\n", pg_blocks_active());
    free(per);
    free(sum);
}

void pg_metrics_render_workers(struct evbuffer *out, struct pg_worker *ws, int n)
{
    requests(out, ws, n);
    struct pg_histogram *over[64] = {0}, *up[64] = {0};
    int nh = 0;
    for (int i = 0; i < n && nh < 64; i++)
        if (ws[i].metrics) {
            over[nh] = &ws[i].metrics->overhead;
            up[nh++] = &ws[i].metrics->upstream;
        }
    histogram(out, "phiguard_request_overhead_seconds",
              "Time phiguard spent on a request: its whole duration minus the wait for the upstream's response head.",
              over, nh);
    histogram(out, "phiguard_upstream_seconds", "From sending a request upstream to the upstream's response head.",
              up, nh);
    uint64_t ok = 0, failed = 0, rejected = 0;
    for (int i = 0; i < n; i++) {
        if (ws[i].metrics) {
            ok += ws[i].metrics->tls_handshakes;
            failed += ws[i].metrics->tls_failures;
        }
        rejected += ws[i].stat_rejected_conns;
    }
    pg_metrics_header(out, "phiguard_tls_handshakes_total", "counter", "TLS handshakes with clients, by result.");
    evbuffer_add_printf(out, "phiguard_tls_handshakes_total{result=\"ok\"} %" PRIu64 "\n", ok);
    evbuffer_add_printf(out, "phiguard_tls_handshakes_total{result=\"failed\"} %" PRIu64 "\n", failed);
    pg_metrics_header(out, "phiguard_connections_rejected_total", "counter",
                      "Client connections closed at once: the connection limit was reached.");
    evbuffer_add_printf(out, "phiguard_connections_rejected_total %" PRIu64 "\n", rejected);
    uint64_t verifications = 0;
    for (int i = 0; i < n; i++)
        if (ws[i].metrics)
            verifications += ws[i].metrics->password_verifications;
    pg_metrics_header(out, "phiguard_password_verifications_total", "counter",
                      "Argon2id password verifications, the dummy one for unknown or disabled users included.");
    evbuffer_add_printf(out, "phiguard_password_verifications_total %" PRIu64 "\n", verifications);
    events(out, "phiguard_logins_total", "Password sign-ins, by outcome.", NULL, "outcome", ws, n,
           offsetof(struct pg_worker_metrics, events), "login");
    events(out, "phiguard_security_events_total", "Security events, by type and outcome.", "type", "outcome", ws, n,
           offsetof(struct pg_worker_metrics, events), NULL);
    events(out, "phiguard_alerts_total", "Alerts raised, by rule and severity.", "rule", "severity", ws, n,
           offsetof(struct pg_worker_metrics, alerts), NULL);

    ratelimits(out, ws, n);
    pg_metrics_header(out, "phiguard_audit_records_total", "counter", "Audit records written, per chain (worker).");
    for (int i = 0; i < n; i++)
        if (ws[i].audit) {
            struct pg_audit_stats st;
            pg_audit_writer_stats(&ws[i], &st);
            evbuffer_add_printf(out, "phiguard_audit_records_total{worker=\"%d\"} %" PRIu64 "\n", i, st.written);
        }
    pg_metrics_header(out, "phiguard_audit_spool_depth", "gauge",
                      "Audit records written to the spool and not yet acknowledged by Redis.");
    for (int i = 0; i < n; i++)
        if (ws[i].audit) {
            struct pg_audit_stats st;
            pg_audit_writer_stats(&ws[i], &st);
            evbuffer_add_printf(out, "phiguard_audit_spool_depth{worker=\"%d\"} %" PRIu64 "\n", i,
                                st.written > st.acked ? st.written - st.acked : 0);
        }
    pg_metrics_header(out, "phiguard_redis_up", "gauge", "1 when the worker's Redis connection is ready and healthy.");
    for (int i = 0; i < n; i++)
        if (ws[i].redis)
            evbuffer_add_printf(out, "phiguard_redis_up{worker=\"%d\"} %d\n", i, pg_redis_healthy(ws[i].redis) ? 1 : 0);
    struct pg_histogram *lat[64] = {0};
    struct pg_redis_stats rstats[64];
    int nl = 0;
    for (int i = 0; i < n && nl < 64; i++)
        if (ws[i].redis) {
            pg_redis_get_stats(ws[i].redis, &rstats[nl]);
            lat[nl] = &rstats[nl].latency;
            nl++;
        }
    histogram(out, "phiguard_redis_command_seconds", "From sending a command to Redis to its answer.", lat, nl);
    pg_metrics_header(out, "phiguard_redis_ping_seconds", "gauge", "Round trip of the last health PING to Redis.");
    for (int i = 0; i < n; i++)
        if (ws[i].redis) {
            struct pg_redis_stats st;
            pg_redis_get_stats(ws[i].redis, &st);
            if (st.last_ping_us >= 0)
                evbuffer_add_printf(out, "phiguard_redis_ping_seconds{worker=\"%d\"} %.6f\n", i,
                                    (double)st.last_ping_us / 1e6);
        }
}
