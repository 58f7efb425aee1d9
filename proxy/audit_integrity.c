#include "proxy/audit_integrity.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy/auditverify.h"
#include "policy/record.h"
#include "proxy/alert.h"
#include "proxy/audit_reader.h"
#include "proxy/notifier.h"
#include "proxy/cli_audit.h"
#include "proxy/log.h"
#include "proxy/workq.h"

struct pg_audit_integrity {
    const struct pg_config *cfg;
    struct event *timer;
    _Atomic bool running;
    char result[8192]; /* the last result, written by the job */
    bool ok;
};

#define PG_INTEGRITY_MAX_KEYS 16

static void verify_work(void *arg)
{
    struct pg_audit_integrity *ai = arg;
    const struct pg_config *cfg = ai->cfg;
    char err[512], when[PG_RECORD_TIME_LEN];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pg_record_format_time((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, when);
    ai->ok = false;
    /* The signing key and, after a rotation, the earlier ones: checkpoints
     * signed before it still verify. */
    struct pg_checkpoint_key keys[PG_INTEGRITY_MAX_KEYS];
    int nkeys = pg_audit_config_keys(cfg, keys, PG_INTEGRITY_MAX_KEYS, err, sizeof err);
    struct pg_audit_reader rd = {.rc = nkeys > 0 ? pg_audit_redis_connect(cfg, err, sizeof err) : NULL};
    if (!rd.rc || pg_audit_reader_load(&rd, NULL) != 0) {
        char e[600];
        const char *why = rd.rc ? rd.err : err;
        snprintf(ai->result, sizeof ai->result, "{\"time\":\"%s\",\"status\":\"error\",\"error\":\"%s\"}", when,
                 pg_json_escape(why, strlen(why), e, sizeof e));
        pg_audit_reader_free(&rd);
        for (int i = 0; i < nkeys; i++)
            EVP_PKEY_free(keys[i].pub);
        return;
    }
    size_t used = 0, failed = 0;
    uint64_t records = 0;
    char chains[6000] = "";
    for (size_t i = 0; i < rd.n; i++) {
        struct pg_audit_stored_chain *c = &rd.chains[i];
        struct pg_audit_chain_input in = {.chain = c->name, .entries = c->entries, .nentries = c->n,
                                          .checkpoints = (const char *const *)c->notes, .ncheckpoints = c->nnotes};
        struct pg_audit_result res;
        records += c->n;
        if (pg_auditverify_chain(&in, keys, (size_t)nkeys, &res) == 0)
            continue;
        failed++;
        char e[300], d[600];
        int n = snprintf(chains + used, sizeof chains - used, "%s{\"chain\":\"%s\",\"seq\":%" PRIu64 ",\"fault\":\"%s\",\"detail\":\"%s\"}",
                         failed > 1 ? "," : "", pg_json_escape(c->name, strlen(c->name), e, sizeof e), res.bad_seq,
                         pg_audit_fault_code(res.fault), pg_json_escape(res.detail, strlen(res.detail), d, sizeof d));
        if (n > 0 && used + (size_t)n < sizeof chains)
            used += (size_t)n;
    }
    ai->ok = failed == 0;
    snprintf(ai->result, sizeof ai->result,
             "{\"time\":\"%s\",\"status\":\"%s\",\"chains\":%zu,\"records\":%" PRIu64 ",\"failed\":[%s]}", when,
             failed ? "failed" : "ok", rd.n, records, chains);
    redisReply *r = redisCommand(rd.rc, "SET audit:integrity %s", ai->result);
    freeReplyObject(r);
    if (failed) {
        char alert[9000], details[8600];
        snprintf(details, sizeof details, "\"result\":%s", ai->result);
        struct pg_alert a = {.severity = "critical", .rule = "audit_integrity", .subject = "audit trail",
                             .instance = cfg->instance_id, .details = details};
        int n = pg_alert_init(&a) == 0 ? pg_alert_json(&a, alert, sizeof alert) : -1;
        if (n > 0) {
            r = redisCommand(rd.rc, "LPUSH alert:list %b", alert, (size_t)n);
            freeReplyObject(r);
            pg_notifier_post(&a, alert, (size_t)n);
        }
    }
    pg_audit_reader_free(&rd);
    for (int i = 0; i < nkeys; i++)
        EVP_PKEY_free(keys[i].pub);
}

static void verify_done(void *arg)
{
    struct pg_audit_integrity *ai = arg;
    pg_log(ai->ok ? PG_LOG_INFO : PG_LOG_ERROR, "audit_integrity", "\"result\":%s", ai->result);
    atomic_store(&ai->running, false);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_audit_integrity *ai = arg;
    if (atomic_exchange(&ai->running, true))
        return; /* the last run is still going */
    if (pg_workq_submit(PG_POOL_IO, event_get_base(ai->timer), verify_work, verify_done, ai) != 0)
        atomic_store(&ai->running, false);
}

struct pg_audit_integrity *pg_audit_integrity_start(struct event_base *base, const struct pg_config *cfg)
{
    if (!cfg->audit.spool_dir)
        return NULL;
    struct pg_audit_integrity *ai = calloc(1, sizeof *ai);
    if (!ai)
        return NULL;
    ai->cfg = cfg;
    ai->timer = event_new(base, -1, EV_PERSIST, tick, ai);
    struct timeval tv = {cfg->audit.verify_interval_ms / 1000, (cfg->audit.verify_interval_ms % 1000) * 1000};
    if (!ai->timer || event_add(ai->timer, &tv) != 0) {
        if (ai->timer)
            event_free(ai->timer);
        free(ai);
        return NULL;
    }
    return ai;
}

void pg_audit_integrity_stop(struct pg_audit_integrity *ai)
{
    if (!ai)
        return;
    struct event_base *base = event_get_base(ai->timer);
    event_free(ai->timer);
    /* A run in progress holds ai: its done callback needs a pass of the
     * main loop, which has stopped: run passes until it came. */
    for (int i = 0; i < 30000 && atomic_load(&ai->running); i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    free(ai);
}
