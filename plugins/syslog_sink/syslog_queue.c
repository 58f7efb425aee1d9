#include "syslog_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int syslog_queue_init(struct syslog_queue *q, size_t max_records, size_t max_bytes)
{
    memset(q, 0, sizeof *q);
    q->max_records = max_records;
    q->max_bytes = max_bytes;
    if (pthread_mutex_init(&q->mu, NULL))
        return -1;
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr)) {
        pthread_mutex_destroy(&q->mu);
        return -1;
    }
    /* Waits are measured on the monotonic clock: a wall-clock step must
     * not stretch or cut them. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&q->ready, &attr);
    pthread_condattr_destroy(&attr);
    if (rc) {
        pthread_mutex_destroy(&q->mu);
        return -1;
    }
    return 0;
}

void syslog_queue_destroy(struct syslog_queue *q)
{
    for (struct syslog_item *it = q->head, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    q->head = q->tail = NULL;
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->mu);
}

/* Called with the lock held: counts one drop. */
static enum syslog_push drop(struct syslog_queue *q, enum syslog_push why)
{
    q->dropped_total++;
    q->dropped_episode++;
    if (q->overflowing)
        return why == SYSLOG_PUSH_NO_MEMORY ? why : SYSLOG_PUSH_DROPPED;
    q->overflowing = true;
    return why == SYSLOG_PUSH_NO_MEMORY ? why : SYSLOG_PUSH_OVERFLOW_STARTS;
}

enum syslog_push syslog_queue_push(struct syslog_queue *q, const char *chain, uint64_t seq, const char *record,
                                   size_t len)
{
    size_t chain_len = strlen(chain);
    size_t cost = len + chain_len;
    /* The bound is checked before copying so that a full queue costs the
     * worker no allocation; the copy happens outside the lock. */
    pthread_mutex_lock(&q->mu);
    bool full = q->records + 1 > q->max_records || q->bytes + cost > q->max_bytes;
    if (full) {
        enum syslog_push r = drop(q, SYSLOG_PUSH_DROPPED);
        pthread_mutex_unlock(&q->mu);
        return r;
    }
    pthread_mutex_unlock(&q->mu);

    struct syslog_item *it = malloc(sizeof *it + len + 1 + chain_len + 1);
    if (!it) {
        pthread_mutex_lock(&q->mu);
        enum syslog_push r = drop(q, SYSLOG_PUSH_NO_MEMORY);
        pthread_mutex_unlock(&q->mu);
        return r;
    }
    it->next = NULL;
    it->seq = seq;
    it->len = len;
    memcpy(it->data, record, len);
    it->data[len] = '\0';
    it->chain = it->data + len + 1;
    memcpy(it->chain, chain, chain_len + 1);

    pthread_mutex_lock(&q->mu);
    /* Checked again: other workers may have filled the room meanwhile. */
    if (q->records + 1 > q->max_records || q->bytes + cost > q->max_bytes) {
        enum syslog_push r = drop(q, SYSLOG_PUSH_DROPPED);
        pthread_mutex_unlock(&q->mu);
        free(it);
        return r;
    }
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->records++;
    q->bytes += cost;
    q->queued_total++;
    pthread_cond_signal(&q->ready);
    pthread_mutex_unlock(&q->mu);
    return SYSLOG_PUSH_QUEUED;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

struct syslog_item *syslog_queue_peek(struct syslog_queue *q, int timeout_ms)
{
    struct timespec until;
    if (timeout_ms >= 0)
        deadline_after(&until, timeout_ms);
    pthread_mutex_lock(&q->mu);
    while (!q->head && !q->stopping) {
        if (timeout_ms < 0)
            pthread_cond_wait(&q->ready, &q->mu);
        else if (pthread_cond_timedwait(&q->ready, &q->mu, &until) == ETIMEDOUT)
            break;
    }
    struct syslog_item *it = q->head;
    pthread_mutex_unlock(&q->mu);
    return it;
}

uint64_t syslog_queue_pop(struct syslog_queue *q)
{
    pthread_mutex_lock(&q->mu);
    struct syslog_item *it = q->head;
    uint64_t ended = 0;
    if (it) {
        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        q->records--;
        q->bytes -= it->len + strlen(it->chain);
    }
    if (q->overflowing && q->records <= q->max_records / 2 && q->bytes <= q->max_bytes / 2) {
        q->overflowing = false;
        ended = q->dropped_episode;
        q->dropped_episode = 0;
    }
    pthread_mutex_unlock(&q->mu);
    free(it);
    return ended;
}

void syslog_queue_stop(struct syslog_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    pthread_cond_broadcast(&q->ready);
    pthread_mutex_unlock(&q->mu);
}

void syslog_queue_stats(struct syslog_queue *q, struct syslog_queue_stats *out)
{
    pthread_mutex_lock(&q->mu);
    out->records = q->records;
    out->bytes = q->bytes;
    out->dropped_total = q->dropped_total;
    out->queued_total = q->queued_total;
    pthread_mutex_unlock(&q->mu);
}
