#include "proxy/blocks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/units.h"
#include "proxy/log.h"
#include "proxy/redis.h"
#include "proxy/worker.h"

#define SHARDS 16
#define SLOTS 1024 /* per shard: blocks in force at once; an attacker spraying IPs fills it, then new ones are only alerted */
#define CHANNEL "phiguard:blocks"

struct slot {
    char key[80]; /* "i:<ip>" or "u:<user id>"; "" when free */
    int64_t until_ms; /* wall clock, so replicas agree */
};

static struct shard {
    pthread_mutex_t mu;
    struct slot slots[SLOTS];
} shards[SHARDS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_shards(void)
{
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&shards[i].mu, NULL);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t hash(const char *s)
{
    return pg_fnv1a(s, strlen(s));
}

static bool make_key(enum pg_block_kind kind, const char *subject, char key[80])
{
    int n = snprintf(key, 80, "%c:%s", kind == PG_BLOCK_IP ? 'i' : 'u', subject);
    return n > 0 && n < 80;
}

/* Sets key's block to until (the later of two wins). */
static bool put(const char *key, int64_t until_ms)
{
    pthread_once(&once, init_shards);
    uint32_t h = hash(key);
    struct shard *sh = &shards[h % SHARDS];
    int64_t now = wall_ms();
    bool ok = false;
    pthread_mutex_lock(&sh->mu);
    struct slot *free_slot = NULL;
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &sh->slots[(h / SHARDS + (uint32_t)i) % SLOTS];
        if (!strcmp(s->key, key)) {
            if (until_ms > s->until_ms)
                s->until_ms = until_ms;
            ok = true;
            break;
        }
        if (!free_slot && (!s->key[0] || s->until_ms <= now))
            free_slot = s;
        if (!s->key[0])
            break; /* the probe ends at the first never-used slot */
    }
    if (!ok && free_slot) {
        snprintf(free_slot->key, sizeof free_slot->key, "%s", key);
        free_slot->until_ms = until_ms;
        ok = true;
    }
    pthread_mutex_unlock(&sh->mu);
    return ok;
}

bool pg_blocks_check(enum pg_block_kind kind, const char *subject, int64_t *left_ms)
{
    char key[80];
    if (!subject || !make_key(kind, subject, key))
        return false;
    pthread_once(&once, init_shards);
    uint32_t h = hash(key);
    struct shard *sh = &shards[h % SHARDS];
    int64_t now = wall_ms(), until = 0;
    pthread_mutex_lock(&sh->mu);
    for (int i = 0; i < SLOTS; i++) {
        const struct slot *s = &sh->slots[(h / SHARDS + (uint32_t)i) % SLOTS];
        if (!s->key[0])
            break;
        if (!strcmp(s->key, key)) {
            until = s->until_ms;
            break;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    if (until <= now)
        return false;
    if (left_ms)
        *left_ms = until - now;
    return true;
}

int pg_blocks_active(void)
{
    pthread_once(&once, init_shards);
    int64_t now = wall_ms();
    int n = 0;
    for (int k = 0; k < SHARDS; k++) {
        pthread_mutex_lock(&shards[k].mu);
        for (int i = 0; i < SLOTS; i++)
            n += shards[k].slots[i].key[0] && shards[k].slots[i].until_ms > now;
        pthread_mutex_unlock(&shards[k].mu);
    }
    return n;
}

void pg_blocks_add(struct pg_worker *w, enum pg_block_kind kind, const char *subject, uint32_t ms, const char *rule)
{
    char key[80];
    if (!subject || !make_key(kind, subject, key))
        return;
    int64_t until = wall_ms() + ms;
    bool kept = put(key, until);
    char e[200];
    pg_log(kept ? PG_LOG_WARN : PG_LOG_ERROR, kept ? "blocked" : "block_table_full",
           "\"kind\":\"%s\",\"subject\":\"%s\",\"for_ms\":%u,\"rule\":\"%s\"", kind == PG_BLOCK_IP ? "ip" : "user",
           pg_json_escape(subject, strlen(subject), e, sizeof e), ms, rule);
    if (!w->redis)
        return;
    char rkey[96], msg[128];
    snprintf(rkey, sizeof rkey, "block:%s", key);
    int n = snprintf(msg, sizeof msg, "%lld %s", (long long)until, key);
    pg_redis_command(w->redis, pg_redis_discard, NULL, "SET %s %lld PX %u", rkey, (long long)until, ms);
    if (n > 0 && (size_t)n < sizeof msg)
        pg_redis_command(w->redis, pg_redis_discard, NULL, "PUBLISH %s %b", CHANNEL, msg, (size_t)n);
}

/* "<until ms> <key>" from another replica (or this one: put is idempotent). */
static void on_block(enum pg_redis_sub_event ev, const char *msg, size_t len, void *arg)
{
    (void)arg;
    if (ev != PG_REDIS_SUB_MESSAGE)
        return;
    char buf[128];
    if (len >= sizeof buf)
        return;
    memcpy(buf, msg, len);
    buf[len] = '\0';
    char *sp = strchr(buf, ' ');
    if (!sp || (sp[1] != 'i' && sp[1] != 'u') || sp[2] != ':')
        return;
    *sp = '\0';
    char *end;
    long long until = strtoll(buf, &end, 10);
    if (*end || until <= wall_ms())
        return;
    put(sp + 1, until);
}

int pg_blocks_subscribe(struct pg_worker *w)
{
    return w->redis ? pg_redis_subscribe(w->redis, CHANNEL, on_block, w) : 0;
}
