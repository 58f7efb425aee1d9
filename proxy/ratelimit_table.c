#include "proxy/ratelimit_table.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NSHARDS 64
#define END UINT32_MAX
#define INLINE_KEY 48 /* an IP key fits: no allocation for the common case */

struct entry {
    uint64_t hash;
    int64_t tat;
    uint32_t key_len;
    uint32_t next; /* in its bucket's chain, or in the free list */
    char *key;     /* inl, or allocated when longer */
    char inl[INLINE_KEY];
};

/* Aligned so that two shards' locks never share a cache line. */
struct shard {
    _Alignas(64) pthread_mutex_t mu;
    uint32_t cap, count, mask, free_head;
    uint32_t *buckets;
    struct entry *entries;
    uint64_t expired, evicted_live;
};

struct pg_rl_table {
    struct shard shards[NSHARDS];
    uint64_t seed; /* random per process: bucket placement is not predictable from outside */
    size_t max_keys;
};

/* FNV-1a over the key, then a 64-bit finaliser (MurmurHash3's fmix64) so
 * that the low bits used for the shard and the bucket are well mixed. */
static uint64_t hash_key(uint64_t seed, const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static void entry_release(struct shard *s, uint32_t i)
{
    struct entry *e = &s->entries[i];
    if (e->key != e->inl)
        free(e->key);
    e->key = NULL;
    e->next = s->free_head;
    s->free_head = i;
    s->count--;
}

struct pg_rl_table *pg_rl_table_new(size_t max_keys)
{
    if (max_keys < NSHARDS)
        max_keys = NSHARDS;
    if (max_keys / NSHARDS >= END / 2)
        return NULL;
    struct pg_rl_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (RAND_bytes((unsigned char *)&t->seed, sizeof t->seed) != 1) {
        free(t);
        return NULL;
    }
    t->max_keys = max_keys;
    uint32_t cap = (uint32_t)(max_keys / NSHARDS);
    uint32_t nb = 1;
    while (nb < cap)
        nb <<= 1;
    for (int k = 0; k < NSHARDS; k++) {
        struct shard *s = &t->shards[k];
        pthread_mutex_init(&s->mu, NULL);
        s->cap = cap;
        s->mask = nb - 1;
        s->buckets = malloc(nb * sizeof *s->buckets);
        s->entries = calloc(cap, sizeof *s->entries);
        if (!s->buckets || !s->entries) {
            pg_rl_table_free(t);
            return NULL;
        }
        memset(s->buckets, 0xff, nb * sizeof *s->buckets);
        for (uint32_t i = 0; i < cap; i++)
            s->entries[i].next = i + 1 < cap ? i + 1 : END;
        s->free_head = 0;
    }
    return t;
}

void pg_rl_table_free(struct pg_rl_table *t)
{
    if (!t)
        return;
    for (int k = 0; k < NSHARDS; k++) {
        struct shard *s = &t->shards[k];
        if (s->entries)
            for (uint32_t i = 0; i < s->cap; i++)
                if (s->entries[i].key && s->entries[i].key != s->entries[i].inl)
                    free(s->entries[i].key);
        free(s->entries);
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(t);
}

/* A full shard: forget every key whose state ran out; if none had, the one
 * nearest to running out. */
static void make_room(struct shard *s, int64_t now)
{
    uint32_t oldest = END;
    int64_t oldest_tat = INT64_MAX;
    for (uint32_t b = 0; b <= s->mask; b++) {
        uint32_t *link = &s->buckets[b];
        while (*link != END) {
            uint32_t i = *link;
            struct entry *e = &s->entries[i];
            if (e->tat <= now) {
                *link = e->next;
                entry_release(s, i);
                s->expired++;
                continue;
            }
            if (e->tat < oldest_tat) {
                oldest_tat = e->tat;
                oldest = i;
            }
            link = &e->next;
        }
    }
    if (s->free_head != END || oldest == END)
        return;
    uint32_t *link = &s->buckets[s->entries[oldest].hash & s->mask];
    while (*link != oldest)
        link = &s->entries[*link].next;
    *link = s->entries[oldest].next;
    entry_release(s, oldest);
    s->evicted_live++;
}

int pg_rl_table_decide(struct pg_rl_table *t, const void *key, size_t key_len, const struct pg_gcra *g,
                       int64_t now_us, struct pg_gcra_result *out)
{
    if (key_len > UINT32_MAX)
        return -1;
    uint64_t h = hash_key(t->seed, key, key_len);
    /* The shard from the high bits, the bucket from the low ones: the two
     * choices stay independent. */
    struct shard *s = &t->shards[h >> 58];
    pthread_mutex_lock(&s->mu);
    uint32_t *head = &s->buckets[h & s->mask];
    for (uint32_t i = *head; i != END; i = s->entries[i].next) {
        struct entry *e = &s->entries[i];
        if (e->hash == h && e->key_len == key_len && !memcmp(e->key, key, key_len)) {
            pg_gcra_decide(g, now_us, &e->tat, out);
            pthread_mutex_unlock(&s->mu);
            return 0;
        }
    }
    if (s->free_head == END)
        make_room(s, now_us);
    uint32_t i = s->free_head;
    struct entry *e = &s->entries[i];
    e->key = key_len <= INLINE_KEY ? e->inl : malloc(key_len);
    if (!e->key) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    s->free_head = e->next;
    s->count++;
    memcpy(e->key, key, key_len);
    e->key_len = (uint32_t)key_len;
    e->hash = h;
    e->tat = 0;
    e->next = *head;
    *head = i;
    pg_gcra_decide(g, now_us, &e->tat, out);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void pg_rl_table_get_stats(struct pg_rl_table *t, struct pg_rl_table_stats *out)
{
    memset(out, 0, sizeof *out);
    out->max_keys = (size_t)t->shards[0].cap * NSHARDS;
    for (int k = 0; k < NSHARDS; k++) {
        struct shard *s = &t->shards[k];
        pthread_mutex_lock(&s->mu);
        out->keys += s->count;
        out->expired += s->expired;
        out->evicted_live += s->evicted_live;
        pthread_mutex_unlock(&s->mu);
    }
}
