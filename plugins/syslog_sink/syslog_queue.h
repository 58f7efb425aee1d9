#ifndef PHIGUARD_SYSLOG_QUEUE_H
#define PHIGUARD_SYSLOG_QUEUE_H
/* The bounded queue between the workers' audit hooks (producers, on their
 * loops: they only copy and link, never wait) and the sender thread (the
 * one consumer). When a bound would be passed the new record is dropped
 * and counted: phiguard's trail in Redis keeps every record, this is only
 * the SIEM's copy. Drops come in episodes: one starts with the first drop
 * and ends when the sender has drained the queue to half its bounds, so an
 * outage raises one alert, not one per record. */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct syslog_item {
    struct syslog_item *next;
    uint64_t seq;
    size_t len;  /* of record */
    char *chain; /* points into data, after the record's NUL */
    char data[]; /* record, NUL, chain, NUL */
};

struct syslog_queue {
    pthread_mutex_t mu;
    pthread_cond_t ready;
    struct syslog_item *head, *tail;
    size_t records, bytes; /* bytes: records' and chains' lengths */
    size_t max_records, max_bytes;
    bool stopping;
    bool overflowing;
    uint64_t dropped_episode, dropped_total, queued_total;
};

enum syslog_push {
    SYSLOG_PUSH_QUEUED,
    SYSLOG_PUSH_DROPPED,         /* during an overflow episode already announced */
    SYSLOG_PUSH_OVERFLOW_STARTS, /* dropped, and the first of an episode: alert */
    SYSLOG_PUSH_NO_MEMORY,       /* dropped: counted as a drop too */
};

int syslog_queue_init(struct syslog_queue *q, size_t max_records, size_t max_bytes);
/* Frees every item still queued. */
void syslog_queue_destroy(struct syslog_queue *q);

/* Copies the record in, unless a bound would be passed. Never blocks for
 * longer than the lock is held by a push or pop (pointer moves only). */
enum syslog_push syslog_queue_push(struct syslog_queue *q, const char *chain, uint64_t seq, const char *record,
                                   size_t len);

/* The oldest item, left in the queue (it is sent, and resent after a
 * failed write, before it is popped). Waits up to timeout_ms (-1: until an
 * item comes or stop is called); NULL when none came. Only the sender
 * calls it, so the head it returns stays put until it pops it. */
struct syslog_item *syslog_queue_peek(struct syslog_queue *q, int timeout_ms);

/* Removes and frees the head (sent). Returns the number of records the
 * overflow episode dropped when this pop ends one, else 0. */
uint64_t syslog_queue_pop(struct syslog_queue *q);

/* Wakes a waiting peek, which then returns what is queued or NULL. */
void syslog_queue_stop(struct syslog_queue *q);

struct syslog_queue_stats {
    size_t records, bytes;
    uint64_t dropped_total, queued_total;
};
void syslog_queue_stats(struct syslog_queue *q, struct syslog_queue_stats *out);

#endif
