#include "proxy/detect.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "policy/units.h"
#include "policy/window.h"
#include "proxy/blocks.h"
#include "proxy/conn.h"
#include "proxy/log.h"
#include "proxy/request.h"
#include "proxy/security_event.h"
#include "proxy/session.h"
#include "proxy/worker.h"

#define SHARDS 16
#define SLOTS 2048 /* subjects counted at once per shard; idle ones are reused */

struct counter {
    char key[96]; /* "<rule>|<subject>"; "" when free */
    int rule;
    struct pg_window win;
    int64_t fired_until_us;
};

static struct shard {
    pthread_mutex_t mu;
    struct counter slots[SLOTS];
} shards[SHARDS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_shards(void)
{
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&shards[i].mu, NULL);
}

const char *pg_detect_rule_name(enum pg_detect_rule rule)
{
    static const char *const names[PG_DETECT_RULES] = {"failed_logins_user", "failed_logins_ip", "forbidden_burst",
                                                       "phi_exfiltration", "malformed_ip"};
    return rule < PG_DETECT_RULES ? names[rule] : "unknown";
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Counts and says whether the rule fires now (at most once per window). */
static bool count(enum pg_detect_rule rule, const char *subject, uint32_t n, const struct pg_detect_rule_config *rc,
                  double *estimate)
{
    /* "<rule>|<subject>", made by hand: this runs on every read of PHI. */
    char key[96];
    size_t sl = strlen(subject);
    _Static_assert(PG_DETECT_RULES <= 10, "a rule is one digit of the key");
    if (rule >= PG_DETECT_RULES || sl + 3 > sizeof key)
        return false;
    key[0] = (char)('0' + (int)rule);
    key[1] = '|';
    memcpy(key + 2, subject, sl + 1);
    size_t kl = sl + 2;
    pthread_once(&once, init_shards);
    uint32_t h = pg_fnv1a(key, kl);
    struct shard *sh = &shards[h % SHARDS];
    int64_t now = mono_us(), window = (int64_t)rc->window_ms * 1000;
    bool fire = false;
    pthread_mutex_lock(&sh->mu);
    struct counter *c = NULL, *reuse = NULL;
    for (int i = 0; i < SLOTS && !c; i++) {
        struct counter *s = &sh->slots[(h / SHARDS + (uint32_t)i) % SLOTS];
        if (!strcmp(s->key, key))
            c = s;
        else if (!reuse && (!s->key[0] || (s->fired_until_us < now && pg_window_idle(&s->win, now, window))))
            reuse = s; /* a subject quiet for two windows is forgotten */
        if (!s->key[0])
            break;
    }
    if (!c && reuse) {
        c = reuse;
        memset(c, 0, sizeof *c);
        memcpy(c->key, key, kl + 1);
        c->rule = (int)rule;
    }
    if (c) {
        *estimate = pg_window_add(&c->win, now, window, n);
        if (*estimate >= (double)rc->threshold && now >= c->fired_until_us) {
            fire = true;
            c->fired_until_us = now + window;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return fire;
}

void pg_detect(struct pg_request *req, enum pg_detect_rule rule, const char *subject, const char *uid, uint32_t n)
{
    const struct pg_detect_rule_config *rc = &req->worker->cfg->detection[rule];
    if (rc->threshold <= 0 || !subject || !subject[0] || n == 0)
        return;
    double estimate = 0;
    if (!count(rule, subject, n, rc, &estimate))
        return;
    const char *name = pg_detect_rule_name(rule);
    const char *action = rc->action == PG_DETECT_BLOCK ? "block" : rc->action == PG_DETECT_END_SESSION ? "end_session"
                                                                                                        : "alert";
    bool by_ip = rule == PG_DETECT_FAILED_LOGINS_IP || rule == PG_DETECT_MALFORMED_IP ||
                 (rule == PG_DETECT_FORBIDDEN_BURST && !uid);
    pg_alert_raise(req->worker, rc->action == PG_DETECT_ALERT ? "high" : "critical", name, subject,
                   "\"count\":%.0f,\"threshold\":%d,\"window_s\":%u,\"action\":\"%s\",\"request_id\":\"%s\"", estimate,
                   rc->threshold, rc->window_ms / 1000, action, req->id);
    if (rc->action == PG_DETECT_BLOCK)
        pg_blocks_add(req->worker, by_ip ? PG_BLOCK_IP : PG_BLOCK_USER, by_ip ? subject : uid, rc->block_ms, name);
    else if (rc->action == PG_DETECT_END_SESSION && uid && req->worker->redis) {
        pg_session_end(req->worker->redis, uid, NULL, pg_redis_discard, NULL);
        pg_security_event(req, "sessions_ended_by_detection", "success", uid, NULL, "\"rule\":\"%s\"", name);
    }
}
