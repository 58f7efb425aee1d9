#include "proxy/audit_writer.h"

#include <inttypes.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy/checkpoint.h"
#include "proxy/cli_audit.h"
#include "proxy/log.h"
#include "proxy/plugin_loader.h"
#include "proxy/redis.h"
#include "proxy/redis_script.h"
#include "proxy/request.h"
#include "proxy/security_event.h"
#include "proxy/spool.h"
#include "proxy/worker.h"
#include "proxy/workq.h"

#define TICK_MS 200        /* checkpoints, the spool cursor */
#define REPLAY_BATCH 1000  /* records read back from the spool per loop pass */
#define SEND_BATCH 4096    /* XADDs pipelined per loop pass */
/* fdatasync at most this often: a sync covers every record written before
 * it, so waiting a little gathers more records into one (DESIGN.md: "every
 * few ms"). Strict mode is usually released sooner, by Redis's answer. */
#define SYNC_DELAY_US 2000

/* A record written but not yet acknowledged by Redis. */
struct pending {
    struct pending *next;
    uint64_t seq;
    char h[PG_HASH_HEX];
    size_t len;
    char bytes[];
};

/* A response held until its record is durable (strict mode). */
struct waiter {
    struct waiter *next;
    uint64_t seq;
    struct pg_ticket *ticket;
    pg_audit_release_fn release;
};

/* Records in flight to Redis (one XADD, or one batch script): the first
 * and last seq, the last one's h, under which connection generation. */
struct sent {
    struct pg_audit_writer *aw;
    uint64_t gen, seq, last;
    char h[PG_HASH_HEX];
};

/* Up to BATCH records in one call: one command to format, one reply to
 * read, instead of one each. ARGV[1] is the seq the stream must end at
 * before the batch (the previous batch's last): XADD alone refuses only an
 * id not above the stream's last, so a batch that overtook an earlier one
 * (one retried after NOSCRIPT, on a fresh Redis) would be stored after a
 * gap that nothing fills. Refused, it makes the writer read the stream's
 * tip again and send from there. */
#define BATCH 128
static const char batch_lua[] =
    "local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
    "local at = '0'\n"
    "if #top > 0 then at = string.match(top[1][1], '^(%d+)') end\n"
    "if at ~= ARGV[1] then return redis.error_reply('OUTOFORDER stream ends at ' .. at .. ', not ' .. ARGV[1]) end\n"
    "for i = 2, #ARGV, 3 do redis.call('XADD', KEYS[1], ARGV[i], 'h', ARGV[i + 1], 'r', ARGV[i + 2]) end\n"
    "return (#ARGV - 1) / 3\n";
static struct pg_redis_script *batch_script;
static int batch_users;

/* An event from another thread, waiting for the chain's loop. */
struct posted {
    struct posted *next;
    char type[48];
    char info[];
};

struct pg_audit_writer {
    struct pg_worker *w;
    pthread_mutex_t post_mu;
    struct posted *posted, *posted_tail;
    struct event *post_ev;
    char chain[128], stream[144], cp_stream[160];
    struct pg_spool *spool;
    struct pg_chain_tip tip; /* the last record written */
    /* Kept from record to record: the buffer the canonical bytes are
     * written into, and the hash context. */
    struct pg_canon canon;
    struct pg_chain_hasher *hasher;
    char *resp; /* a batch's script arguments in the Redis protocol */
    size_t resp_cap;
    EVP_PKEY *key;
    bool strict, stopping, conflict;
    /* Redis */
    uint64_t gen;   /* bumped when replies in flight can no longer be trusted */
    bool synced;    /* Redis's tip is known on this connection */
    bool resyncing;
    uint64_t acked_seq, sent_seq;
    uint64_t stream_last; /* the stream ends at this seq once every batch sent is stored */
    char acked_h[PG_HASH_HEX];
    /* Unacknowledged records in memory, in seq order. When the memory limit
     * is reached the rest stays in the spool only (spilled) and is read
     * back from there when Redis can take it. */
    struct pending *head, *tail;
    size_t mem_bytes;
    bool spilled;
    /* Strict mode: records sealed in this pass of the loop, added to the
     * spool but not yet written. They join head..tail once written (at the
     * end of the pass, with one write for all of them), and only then are
     * sent. written is the tip as of the last write: where the chain goes
     * back to if a write fails. */
    struct pending *unwritten, *unwritten_tail;
    struct pg_chain_tip written;
    bool spilled_at_write;
    /* Durability */
    uint64_t fsynced_seq;
    struct waiter *waiters, *waiters_tail;
    /* Checkpoints and the spool cursor */
    struct event *tick, *ship_ev, *sync_ev;
    bool sync_armed;
    uint64_t sync_due; /* written when the sync timer was armed */
    uint64_t cp_seq;
    int64_t cp_time_us;
    bool cursor_job;
    bool readback; /* a read-back from the spool is on the I/O pool */
    uint64_t cursor_seq;
    struct pg_audit_stats stats;
    int64_t last_spool_error_log_us;
    int64_t spool_failing_since_us; /* 0 while the spool takes records */
    uint64_t spool_failures;        /* writes refused since then */
};

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t durable_seq(const struct pg_audit_writer *aw)
{
    return aw->fsynced_seq > aw->acked_seq ? aw->fsynced_seq : aw->acked_seq;
}

/* Answers the held responses whose seq is at most upto, in order. */
static void pop_waiters(struct pg_audit_writer *aw, uint64_t upto, bool durable)
{
    while (aw->waiters && aw->waiters->seq <= upto) {
        struct waiter *wt = aw->waiters;
        aw->waiters = wt->next;
        if (!aw->waiters)
            aw->waiters_tail = NULL;
        struct pg_request *req = pg_ticket_redeem(wt->ticket);
        pg_audit_release_fn release = wt->release;
        free(wt);
        if (req)
            release(req, durable);
    }
}

/* Releases every held response whose record is now durable. */
static void release_waiters(struct pg_audit_writer *aw)
{
    aw->stats.durable = durable_seq(aw);
    pop_waiters(aw, aw->stats.durable, true);
}

/* The spool failed: responses waiting for it are refused, unless Redis has
 * their records already. Fail closed. */
static void fail_waiters(struct pg_audit_writer *aw)
{
    release_waiters(aw);
    pop_waiters(aw, UINT64_MAX, false);
}

/* ---- shipping to Redis ---- */

static void ship(struct pg_audit_writer *aw);
static void resync(struct pg_audit_writer *aw);

static void drop_acked(struct pg_audit_writer *aw)
{
    while (aw->head && aw->head->seq <= aw->acked_seq) {
        struct pending *p = aw->head;
        aw->head = p->next;
        if (!aw->head)
            aw->tail = NULL;
        aw->mem_bytes -= p->len;
        free(p);
    }
}

/* Something went wrong on the way to Redis: stop trusting the replies in
 * flight and find out again what Redis holds. */
static void lose_sync(struct pg_audit_writer *aw)
{
    aw->gen++;
    aw->synced = false;
    aw->sent_seq = aw->acked_seq;
    if (!aw->stopping && pg_redis_connected(aw->w->redis))
        resync(aw);
}

static void added(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct sent *s = arg;
    struct pg_audit_writer *aw = s->aw;
    bool current = !aw->stopping && s->gen == aw->gen;
    if (current && st == PG_REDIS_OK && s->seq == aw->acked_seq + 1) {
        aw->stats.acked += s->last - s->seq + 1;
        aw->acked_seq = s->last;
        memcpy(aw->acked_h, s->h, PG_HASH_HEX);
        drop_acked(aw);
        release_waiters(aw);
    } else if (current) {
        pg_log(PG_LOG_WARN, "audit_ship_failed", "\"chain\":\"%s\",\"seq\":%" PRIu64 ",\"redis\":\"%s\",\"error\":\"%.200s\"",
               aw->chain, s->seq, pg_redis_status_name(st),
               st == PG_REDIS_ERR_REPLY && reply ? reply->str : "");
        lose_sync(aw);
    }
    free(s);
}

/* "<seq>-0", the stream id; returns its length. */
static size_t stream_id(uint64_t seq, char out[24])
{
    char digits[20];
    size_t k = 0, n = 0;
    do {
        digits[k++] = (char)('0' + seq % 10);
        seq /= 10;
    } while (seq);
    while (k)
        out[n++] = digits[--k];
    out[n++] = '-';
    out[n++] = '0';
    return n;
}

/* Sends the records from p on (at most BATCH, consecutive) in one script
 * call, written straight into the command's protocol bytes; returns the
 * last one sent, or NULL when nothing could be sent. */
static struct pending *send_batch(struct pg_audit_writer *aw, struct pending *p)
{
    size_t stream_len = strlen(aw->stream);
    size_t room = PG_REDIS_RESP_BULK_MAX(stream_len) + PG_REDIS_RESP_BULK_MAX(24);
    struct pending *last = NULL;
    int n = 0;
    for (struct pending *q = p; q && n < BATCH && q->seq == p->seq + (uint64_t)n; q = q->next, n++) {
        room += PG_REDIS_RESP_BULK_MAX(24) + PG_REDIS_RESP_BULK_MAX(PG_HASH_HEX - 1) + PG_REDIS_RESP_BULK_MAX(q->len);
        last = q;
    }
    if (!last)
        return NULL;
    if (room > aw->resp_cap) {
        char *g = realloc(aw->resp, room);
        if (!g)
            return NULL; /* not sent: the next ship tries again */
        aw->resp = g;
        aw->resp_cap = room;
    }
    char *o = pg_redis_resp_bulk(aw->resp, aw->stream, stream_len);
    char prev[24];
    int plen = snprintf(prev, sizeof prev, "%" PRIu64, aw->stream_last);
    o = pg_redis_resp_bulk(o, prev, (size_t)plen);
    struct pending *q = p;
    for (int i = 0; i < n; i++, q = q->next) {
        char id[24];
        o = pg_redis_resp_bulk(o, id, stream_id(q->seq, id));
        o = pg_redis_resp_bulk(o, q->h, PG_HASH_HEX - 1);
        o = pg_redis_resp_bulk(o, q->bytes, q->len);
    }
    struct sent *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    *s = (struct sent){.aw = aw, .gen = aw->gen, .seq = p->seq, .last = last->seq};
    memcpy(s->h, last->h, PG_HASH_HEX);
    if (pg_redis_script_run_resp(aw->w->redis, batch_script, added, s, 1, 2 + 3 * n, aw->resp,
                                 (size_t)(o - aw->resp)) != PG_REDIS_OK) {
        free(s);
        return NULL; /* not sent: the next ship tries again */
    }
    aw->stream_last = last->seq;
    aw->sent_seq = last->seq;
    aw->stats.shipped += (uint64_t)n;
    return last;
}

/* Records the memory queue does not hold (beyond audit.memory_limit, or
 * unsent at start), read back from the spool on the I/O pool, a batch at a
 * time, and put in front of the queue: the loop never reads the file. */
struct readback {
    struct pg_audit_writer *aw;
    uint64_t gen, from, upto;
    struct pending *first, *last;
    size_t bytes;
};

static void readback_work(void *arg)
{
    struct readback *rb = arg;
    struct pg_spool_iter *it = pg_spool_replay(rb->aw->spool, rb->from);
    if (!it)
        return;
    uint64_t seq, want = rb->from;
    const char *bytes;
    size_t len;
    for (int n = 0; n < REPLAY_BATCH && want <= rb->upto && pg_spool_next(it, &seq, &bytes, &len) == 1; n++) {
        if (seq < want)
            continue; /* the iterator starts at the file's first record */
        if (seq != want)
            break;
        struct pending *p = malloc(sizeof *p + len);
        if (!p)
            break;
        p->next = NULL;
        p->seq = seq;
        pg_chain_leaf_hash(bytes, len, p->h);
        p->len = len;
        memcpy(p->bytes, bytes, len);
        if (rb->last)
            rb->last->next = p;
        else
            rb->first = p;
        rb->last = p;
        rb->bytes += len;
        want++;
    }
    pg_spool_iter_free(it);
}

static void free_list(struct pending *p)
{
    while (p) {
        struct pending *n = p->next;
        free(p);
        p = n;
    }
}

static void readback_done(void *arg)
{
    struct readback *rb = arg;
    struct pg_audit_writer *aw = rb->aw;
    aw->readback = false;
    bool fits = !aw->stopping && rb->first && rb->gen == aw->gen && rb->first->seq == aw->sent_seq + 1 &&
                (!aw->head || rb->last->seq + 1 == aw->head->seq);
    if (!fits) {
        free_list(rb->first);
        free(rb);
        return; /* the state moved on: the next ship looks again */
    }
    rb->last->next = aw->head;
    if (!aw->head)
        aw->tail = rb->last;
    aw->head = rb->first;
    aw->mem_bytes += rb->bytes;
    if (aw->tail->seq == aw->tip.seq)
        aw->spilled = false; /* memory holds everything unsent again */
    free(rb);
    ship(aw);
}

static void read_back(struct pg_audit_writer *aw)
{
    if (aw->readback)
        return;
    struct readback *rb = calloc(1, sizeof *rb);
    if (!rb)
        return;
    *rb = (struct readback){.aw = aw, .gen = aw->gen, .from = aw->sent_seq + 1,
                            .upto = aw->head ? aw->head->seq - 1 : aw->tip.seq};
    if (pg_workq_submit(PG_POOL_IO, aw->w->base, readback_work, readback_done, rb) != 0) {
        free(rb);
        return;
    }
    aw->readback = true;
}

static void spool_failed(struct pg_audit_writer *aw, enum pg_spool_error code);

static void append_list(struct pending **head, struct pending **tail, struct pending *first, struct pending *last)
{
    if (*tail)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

static void arm_sync(struct pg_audit_writer *aw)
{
    static const struct timeval delay = {0, SYNC_DELAY_US};
    aw->sync_due = aw->written.seq;
    aw->sync_armed = event_add(aw->sync_ev, &delay) == 0;
    if (!aw->sync_armed)
        pg_spool_request_sync(aw->spool);
}

/* The spool's file now holds everything added: a sync soon covers it. */
static void spool_written(struct pg_audit_writer *aw)
{
    if (aw->spool_failing_since_us) {
        /* Room again (space freed, a limit raised, Redis took the backlog
         * and the file was emptied): said once, so the outage has an end. */
        pg_log(PG_LOG_WARN, "audit_spool_recovered", "\"chain\":\"%s\",\"failed_writes\":%" PRIu64
               ",\"failed_for_ms\":%" PRId64, aw->chain, aw->spool_failures,
               (wall_us() - aw->spool_failing_since_us) / 1000);
        aw->spool_failing_since_us = 0;
        aw->spool_failures = 0;
    }
    aw->written = aw->tip;
    aw->spilled_at_write = aw->spilled;
    aw->stats.spool_writes++;
    if (aw->unwritten) {
        append_list(&aw->head, &aw->tail, aw->unwritten, aw->unwritten_tail);
        aw->unwritten = aw->unwritten_tail = NULL;
    }
    if (!aw->sync_armed)
        arm_sync(aw);
}

/* Writes the records sealed in this pass (strict mode) with one write. When
 * that fails, strict mode fails closed as it does for a record the spool
 * cannot take: the chain goes back to the last record in the file, and the
 * records after it, which nothing outside this process has seen (records
 * are sent only once written), are dropped and their held responses
 * refused (503). Their seqs are used again by the next records. */
static void write_spool(struct pg_audit_writer *aw)
{
    if (!pg_spool_buffered(aw->spool))
        return;
    enum pg_spool_error code = pg_spool_flush(aw->spool);
    if (code == PG_SPOOL_OK) {
        spool_written(aw);
        return;
    }
    uint64_t keep = aw->written.seq;
    aw->stats.written -= aw->tip.seq - keep;
    aw->tip = aw->written;
    aw->spilled = aw->spilled_at_write;
    while (aw->unwritten) {
        struct pending *p = aw->unwritten;
        aw->unwritten = p->next;
        aw->mem_bytes -= p->len;
        free(p);
    }
    aw->unwritten_tail = NULL;
    /* The held responses of the dropped records, taken off the list before
     * anything runs that could seal a record (the alert below, a
     * response's own code). */
    struct waiter *refused = NULL, **link = &aw->waiters;
    aw->waiters_tail = NULL;
    for (; *link; link = &(*link)->next) {
        if ((*link)->seq > keep) {
            refused = *link;
            *link = NULL;
            break;
        }
        aw->waiters_tail = *link;
    }
    spool_failed(aw, code);
    while (refused) {
        struct waiter *wt = refused;
        refused = wt->next;
        struct pg_request *req = pg_ticket_redeem(wt->ticket);
        pg_audit_release_fn release = wt->release;
        free(wt);
        if (req)
            release(req, false);
    }
}

static void ship(struct pg_audit_writer *aw)
{
    write_spool(aw); /* a record is in the spool before it is sent */
    if (aw->stopping || !aw->synced || aw->conflict || !pg_redis_connected(aw->w->redis))
        return;
    if (aw->sent_seq < aw->tip.seq && (!aw->head || aw->head->seq > aw->sent_seq + 1)) {
        read_back(aw);
        return;
    }
    int n = 0;
    struct pending *p = aw->head;
    while (p && p->seq <= aw->sent_seq)
        p = p->next;
    while (p && n < SEND_BATCH && p->seq == aw->sent_seq + 1) {
        struct pending *last = send_batch(aw, p);
        if (!last)
            break;
        n += (int)(last->seq - p->seq + 1);
        p = last->next;
    }
    if (n >= SEND_BATCH)
        event_active(aw->ship_ev, 0, 0);
}

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_audit_writer *aw = arg;
    aw->sync_armed = false;
    /* The records written before the timer was armed had SYNC_DELAY_US to
     * reach Redis. When Redis stored them all, no one needs them from the
     * spool's disk: a response waits for the first of the two, and the
     * spool keeps only what Redis has not acknowledged. The sync is left
     * out (with Redis up it usually is: that is most of the cost of the
     * spool) and the timer looks again at the records written since. */
    if (aw->acked_seq >= aw->sync_due) {
        if (aw->written.seq > durable_seq(aw))
            arm_sync(aw);
        return;
    }
    pg_spool_request_sync(aw->spool);
}

static void posted_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_audit_writer *aw = arg;
    pthread_mutex_lock(&aw->post_mu);
    struct posted *list = aw->posted;
    aw->posted = aw->posted_tail = NULL;
    pthread_mutex_unlock(&aw->post_mu);
    while (list) {
        struct posted *p = list;
        list = p->next;
        struct pg_audit_detail d = {"info", p->info};
        struct pg_audit_record r = {.type = p->type, .action = 'E', .details = &d, .ndetails = 1};
        if (!aw->stopping)
            pg_audit_write(aw->w, &r, NULL, NULL);
        free(p);
    }
}

void pg_audit_post(struct pg_worker *w, const char *type, const char *info)
{
    struct pg_audit_writer *aw = w->audit;
    if (!aw)
        return;
    size_t n = strlen(info);
    struct posted *p = malloc(sizeof *p + n + 1);
    if (!p)
        return;
    p->next = NULL;
    snprintf(p->type, sizeof p->type, "%s", type);
    memcpy(p->info, info, n + 1);
    pthread_mutex_lock(&aw->post_mu);
    if (aw->posted_tail)
        aw->posted_tail->next = p;
    else
        aw->posted = p;
    aw->posted_tail = p;
    pthread_mutex_unlock(&aw->post_mu);
    event_active(aw->post_ev, 0, 0); /* thread-safe: evthread locking is on */
}

static void ship_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_audit_writer *aw = arg;
    ship(aw);
    /* Held responses wait on Redis's answer: the batch leaves now, not
     * after the rest of the next pass. Only here, in a plain event
     * callback: ship also runs inside Redis's replies. */
    if (aw->strict && !aw->stopping)
        pg_redis_flush(aw->w->redis);
}

/* Parses "<seq>-0" (our stream ids); 0 when it is not one. */
static uint64_t seq_of_id(const redisReply *id)
{
    if (!id || id->type != REDIS_REPLY_STRING)
        return 0;
    char *end;
    unsigned long long v = strtoull(id->str, &end, 10);
    return *end == '-' ? v : 0;
}

/* XREVRANGE audit:<chain> + - COUNT 1: where Redis's copy of the chain ends. */
static void tip_read(enum pg_redis_status st, const redisReply *reply, void *arg)
{
    struct sent *s = arg;
    struct pg_audit_writer *aw = s->aw;
    bool current = !aw->stopping && s->gen == aw->gen;
    free(s);
    if (!current)
        return;
    aw->resyncing = false;
    if (st != PG_REDIS_OK || !reply || reply->type != REDIS_REPLY_ARRAY) {
        pg_log(PG_LOG_WARN, "audit_resync_failed", "\"chain\":\"%s\",\"redis\":\"%s\"", aw->chain,
               pg_redis_status_name(st));
        return; /* the next reconnection or tick tries again */
    }
    uint64_t stored = 0;
    char h[PG_HASH_HEX] = "";
    if (reply->elements == 1) {
        const redisReply *e = reply->element[0];
        stored = e->type == REDIS_REPLY_ARRAY && e->elements == 2 ? seq_of_id(e->element[0]) : 0;
        const redisReply *f = stored ? e->element[1] : NULL;
        for (size_t i = 0; f && f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2)
            if (f->element[i]->len == 1 && f->element[i]->str[0] == 'h' && f->element[i + 1]->len == PG_HASH_HEX - 1)
                memcpy(h, f->element[i + 1]->str, PG_HASH_HEX);
    }
    if (stored > aw->tip.seq) {
        aw->conflict = true;
        pg_log(PG_LOG_ERROR, "audit_chain_conflict",
               "\"chain\":\"%s\",\"redis_seq\":%" PRIu64 ",\"spool_seq\":%" PRIu64
               ",\"detail\":\"Redis holds more of this chain than the spool: was the spool lost? New records stay in "
               "the spool until an operator resolves it\"",
               aw->chain, stored, aw->tip.seq);
        pg_alert_raise(aw->w, "critical", "audit_chain_conflict", aw->chain, "\"redis_seq\":%" PRIu64, stored);
        return;
    }
    if (stored < aw->acked_seq) {
        /* Redis acknowledged records it no longer has: it restarted without
         * persistence, or someone deleted the tail. The spool may no
         * longer hold them either; verification will show the gap. */
        pg_log(PG_LOG_ERROR, "audit_redis_lost_records",
               "\"chain\":\"%s\",\"redis_seq\":%" PRIu64 ",\"acknowledged_seq\":%" PRIu64
               ",\"detail\":\"Redis holds less than it acknowledged; give Redis persistence (appendonly yes)\"",
               aw->chain, stored, aw->acked_seq);
        pg_alert_raise(aw->w, "critical", "audit_redis_lost_records", aw->chain, "\"redis_seq\":%" PRIu64, stored);
    }
    if (stored > aw->acked_seq && pg_chain_is_hash(h)) {
        aw->acked_seq = stored; /* stored before its reply was lost */
        memcpy(aw->acked_h, h, PG_HASH_HEX);
        drop_acked(aw);
        release_waiters(aw);
    }
    aw->sent_seq = aw->acked_seq;
    aw->stream_last = stored; /* what the stream ends at: the next batch must follow it */
    aw->synced = true;
    pg_redis_command(aw->w->redis, pg_redis_discard, NULL, "SADD audit:writers %s", aw->chain);
    ship(aw);
}

static void resync(struct pg_audit_writer *aw)
{
    if (aw->resyncing)
        return;
    struct sent *s = malloc(sizeof *s);
    if (!s)
        return;
    *s = (struct sent){.aw = aw, .gen = aw->gen};
    if (pg_redis_command(aw->w->redis, tip_read, s, "XREVRANGE %s + - COUNT 1", aw->stream) != PG_REDIS_OK) {
        free(s);
        return;
    }
    aw->resyncing = true;
}

void pg_audit_writer_connected(struct pg_worker *w)
{
    struct pg_audit_writer *aw = w->audit;
    if (!aw || aw->stopping)
        return;
    aw->gen++;
    aw->synced = false;
    aw->resyncing = false;
    resync(aw);
}

/* ---- durability in the spool ---- */

static void spool_durable(struct pg_spool *sp, uint64_t seq, enum pg_spool_error code, void *arg)
{
    (void)sp;
    struct pg_audit_writer *aw = arg;
    if (code != PG_SPOOL_OK) {
        pg_log(PG_LOG_ERROR, "audit_spool_sync_failed", "\"chain\":\"%s\",\"error\":\"%s\"", aw->chain,
               pg_spool_strerror(aw->spool));
        fail_waiters(aw);
        return;
    }
    if (seq > aw->fsynced_seq)
        aw->fsynced_seq = seq;
    struct pg_spool_stats st;
    pg_spool_stats(aw->spool, &st);
    aw->stats.syncs = st.syncs;
    aw->stats.largest_batch = st.largest_batch;
    aw->stats.synced_records = st.synced_records;
    release_waiters(aw);
}

struct cursor_job {
    struct pg_audit_writer *aw;
    uint64_t seq;
    char h[PG_HASH_HEX];
    enum pg_spool_error code;
};

static void cursor_work(void *arg)
{
    struct cursor_job *j = arg;
    j->code = pg_spool_ack(j->aw->spool, j->seq, j->h);
}

static void cursor_done(void *arg)
{
    struct cursor_job *j = arg;
    struct pg_audit_writer *aw = j->aw;
    aw->cursor_job = false;
    if (j->code == PG_SPOOL_OK) {
        aw->cursor_seq = j->seq;
        pg_spool_trim(aw->spool); /* empties the file once all of it is in Redis */
    } else {
        pg_log(PG_LOG_ERROR, "audit_cursor_failed", "\"chain\":\"%s\",\"error\":\"%s\"", aw->chain,
               pg_spool_strerror(aw->spool));
    }
    free(j);
}

/* ---- checkpoints ---- */

static void checkpoint(struct pg_audit_writer *aw, int64_t now)
{
    struct pg_checkpoint cp = {.count = aw->acked_seq, .time_us = now};
    memcpy(cp.origin, aw->chain, sizeof cp.origin); /* chain ids fit: checked at init */
    if (aw->acked_seq)
        memcpy(cp.head, aw->acked_h, PG_HASH_HEX);
    else
        pg_chain_genesis(aw->chain, cp.head);
    char note[1024];
    if (pg_checkpoint_sign(aw->key, aw->w->cfg->audit.key_name, &cp, note, sizeof note) != 0) {
        pg_log(PG_LOG_ERROR, "audit_checkpoint_failed", "\"chain\":\"%s\"", aw->chain);
        return;
    }
    if (pg_redis_command(aw->w->redis, pg_redis_discard, NULL, "XADD %s * n %s", aw->cp_stream, note) != PG_REDIS_OK)
        return; /* the next tick tries again */
    char e[1400];
    pg_log(PG_LOG_INFO, "audit_checkpoint", "\"chain\":\"%s\",\"count\":%" PRIu64 ",\"note\":\"%s\"", aw->chain,
           cp.count, pg_json_escape(note, strlen(note), e, sizeof e));
    aw->cp_seq = aw->acked_seq;
    aw->cp_time_us = now;
    aw->stats.checkpoints++;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_audit_writer *aw = arg;
    if (aw->stopping)
        return;
    const struct pg_audit_config *ac = &aw->w->cfg->audit;
    if (!aw->synced && !aw->resyncing && pg_redis_connected(aw->w->redis))
        resync(aw);
    if (aw->synced && !aw->conflict) {
        int64_t now = wall_us();
        uint64_t fresh = aw->acked_seq - aw->cp_seq;
        int64_t age = now - aw->cp_time_us;
        if ((fresh && (fresh >= (uint64_t)ac->checkpoint_records || age >= (int64_t)ac->checkpoint_interval_ms * 1000)) ||
            age >= (int64_t)ac->heartbeat_ms * 1000)
            checkpoint(aw, now);
        if (aw->sent_seq < aw->tip.seq)
            ship(aw);
    }
    if (!aw->cursor_job && aw->acked_seq > aw->cursor_seq) {
        struct cursor_job *j = malloc(sizeof *j);
        if (j) {
            *j = (struct cursor_job){.aw = aw, .seq = aw->acked_seq};
            memcpy(j->h, aw->acked_h, PG_HASH_HEX);
            if (pg_workq_submit(PG_POOL_IO, aw->w->base, cursor_work, cursor_done, j) == 0)
                aw->cursor_job = true;
            else
                free(j);
        }
    }
}

/* ---- writing ---- */

static void spool_failed(struct pg_audit_writer *aw, enum pg_spool_error code)
{
    int64_t now = wall_us();
    bool first = !aw->spool_failing_since_us;
    if (first)
        aw->spool_failing_since_us = now;
    aw->spool_failures++;
    if (!first && code == PG_SPOOL_INVALID && !aw->strict)
        return; /* async: records after a failed write wait, in memory, for Redis to take the backlog */
    if (!first && now - aw->last_spool_error_log_us < 1000000)
        return; /* one line a second is enough to say the disk is full */
    aw->last_spool_error_log_us = now;
    pg_log(PG_LOG_ERROR, "audit_spool_failed", "\"chain\":\"%s\",\"kind\":\"%s\",\"error\":\"%s\",\"mode\":\"%s\"",
           aw->chain,
           code == PG_SPOOL_FULL     ? "full"
           : code == PG_SPOOL_DENIED ? "not writable"
                                     : "i/o",
           pg_spool_strerror(aw->spool), aw->strict ? "strict: refusing requests (503)" : "async: Redis only");
    /* Raised from the worker's next loop pass, not here: an alert is itself
     * a record, and writing it from inside pg_audit_write (which is where
     * a spool failure is found) would reuse the record buffer and the seq
     * of the record being written. */
    if (first) /* one alert per outage; its end is logged (audit_spool_recovered) */
        pg_alert_post(aw->w, "critical", "audit_spool_failed", aw->chain, NULL);
}

enum pg_audit_seal pg_audit_write(struct pg_worker *w, struct pg_audit_record *r, struct pg_request *waiting,
                                  pg_audit_release_fn release)
{
    struct pg_audit_writer *aw = w->audit;
    if (!aw)
        return PG_AUDIT_RELEASE;
    r->seq = aw->tip.seq + 1;
    r->writer = aw->chain;
    memcpy(r->prev, aw->tip.head, PG_HASH_HEX);
    r->time_us = wall_us();
    struct pg_canon *cp = &aw->canon;
    cp->len = 0;
    char err[200];
    if (pg_record_write(r, cp, err, sizeof err) != 0 || cp->failed) {
        pg_log(PG_LOG_ERROR, "audit_record_invalid", "\"chain\":\"%s\",\"type\":\"%s\",\"error\":\"%s\"", aw->chain,
               r->type ? r->type : "", err);
        if (cp->failed) { /* out of memory: start again from an empty buffer */
            pg_canon_free(cp);
            pg_canon_init(cp);
        }
        return aw->strict ? PG_AUDIT_FAILED : PG_AUDIT_RELEASE;
    }
    const struct pg_canon c = *cp;
    /* Strict: written at the end of the pass, with the pass's other records
     * (responses wait for the sync or Redis, which come after the write).
     * Async: written now, as the response goes at once. */
    enum pg_spool_error code = pg_spool_add(aw->spool, r->seq, c.buf, c.len);
    if (code == PG_SPOOL_OK && !aw->strict)
        code = pg_spool_flush(aw->spool);
    if (code != PG_SPOOL_OK) {
        spool_failed(aw, code);
        if (aw->strict)
            return PG_AUDIT_FAILED; /* the chain does not advance: the same seq is tried again */
        /* Async: the record lives in memory only until Redis takes it. When
         * memory is full too, or the records before it are kept only in the
         * file (spilled: read back from there, so one after them in memory
         * would go out of order), it has nowhere to go, and its request is
         * refused rather than answered without a record (fail closed). */
        if (aw->spilled || aw->mem_bytes + c.len > w->cfg->audit.memory_limit)
            return PG_AUDIT_FAILED;
    }
    if (aw->hasher)
        pg_chain_hasher_leaf(aw->hasher, c.buf, c.len, aw->tip.head);
    else
        pg_chain_leaf_hash(c.buf, c.len, aw->tip.head);
    aw->tip.seq = r->seq;
    aw->stats.written++;
    /* Sealed: the audit sinks of plugins get the exact bytes chained. */
    pg_plugins_audit_record(aw->chain, r->seq, c.buf, c.len);
    if (!aw->spilled && aw->mem_bytes + c.len <= w->cfg->audit.memory_limit) {
        struct pending *p = malloc(sizeof *p + c.len);
        if (p) {
            p->next = NULL;
            p->seq = r->seq;
            memcpy(p->h, aw->tip.head, PG_HASH_HEX);
            p->len = c.len;
            memcpy(p->bytes, c.buf, c.len);
            if (aw->strict)
                append_list(&aw->unwritten, &aw->unwritten_tail, p, p);
            else
                append_list(&aw->head, &aw->tail, p, p);
            aw->mem_bytes += c.len;
        } else {
            aw->spilled = true;
        }
    } else {
        aw->spilled = true;
    }
    if (code == PG_SPOOL_OK && !aw->strict)
        spool_written(aw);
    event_active(aw->ship_ev, 0, 0); /* one pipelined batch per loop pass */
    if (!aw->strict || !waiting)
        return PG_AUDIT_RELEASE;
    struct waiter *wt = malloc(sizeof *wt);
    struct pg_ticket *t = wt ? pg_request_suspend(waiting) : NULL;
    if (!t) {
        free(wt);
        return PG_AUDIT_FAILED;
    }
    *wt = (struct waiter){.seq = r->seq, .ticket = t, .release = release};
    if (aw->waiters_tail)
        aw->waiters_tail->next = wt;
    else
        aw->waiters = wt;
    aw->waiters_tail = wt;
    return PG_AUDIT_WAIT;
}

/* ---- life ---- */

/* Chain ids name the instance and the worker; a spool file name escapes
 * whatever is unusual in them. */
int pg_audit_writer_init(struct pg_worker *w)
{
    const struct pg_config *cfg = w->cfg;
    if (!cfg->audit.spool_dir)
        return 0;
    struct pg_audit_writer *aw = calloc(1, sizeof *aw);
    if (!aw)
        return -1;
    w->audit = aw;
    batch_users++; /* workers are set up one after another, on the main thread */
    if (!batch_script && !(batch_script = pg_redis_script_new(batch_lua)))
        return -1;
    aw->w = w;
    aw->strict = cfg->audit.mode == PG_AUDIT_STRICT;
    pg_canon_init(&aw->canon);
    aw->hasher = pg_chain_hasher_new(); /* without it, pg_chain_leaf_hash does the same, slower */
    int n = snprintf(aw->chain, sizeof aw->chain, "%s/w%d", cfg->instance_id, w->index);
    if (n < 0 || (size_t)n >= sizeof((struct pg_checkpoint *)0)->origin) {
        pg_log(PG_LOG_ERROR, "audit_chain_error", "\"error\":\"instance_id too long for a chain id\"");
        return -1;
    }
    snprintf(aw->stream, sizeof aw->stream, "audit:%s", aw->chain);
    snprintf(aw->cp_stream, sizeof aw->cp_stream, "audit:checkpoints:%s", aw->chain);
    char err[512];
    aw->key = pg_audit_key_read_private(cfg->audit.signing_key_file, err, sizeof err);
    if (!aw->key) {
        pg_log(PG_LOG_ERROR, "audit_key_error", "\"file\":\"%s\",\"error\":\"%s\"", cfg->audit.signing_key_file, err);
        return -1;
    }
    mkdir(cfg->audit.spool_dir, 0700); /* exists already in most deployments */
    struct pg_spool_recovery rec;
    enum pg_spool_error code;
    if (pg_spool_open(cfg->audit.spool_dir, aw->chain, &aw->spool, &rec, &code, err, sizeof err) != 0) {
        pg_log(PG_LOG_ERROR, "audit_spool_error", "\"chain\":\"%s\",\"error\":\"%s\"", aw->chain, err);
        return -1;
    }
    pg_spool_on_durable(aw->spool, w->base, spool_durable, aw);
    /* The chain continues where the spool says it stopped. */
    if (rec.last_seq && pg_chain_is_hash(rec.last_h)) {
        aw->tip.seq = rec.last_seq;
        memcpy(aw->tip.head, rec.last_h, PG_HASH_HEX);
    } else {
        pg_chain_tip_genesis(&aw->tip, aw->chain);
    }
    aw->acked_seq = aw->cursor_seq = rec.acked_seq;
    aw->sent_seq = rec.acked_seq;
    aw->fsynced_seq = rec.last_seq; /* what the file held at start is on disk */
    aw->spilled = rec.last_seq > rec.acked_seq; /* those are read back from the spool */
    aw->written = aw->tip;
    aw->spilled_at_write = aw->spilled;
    if (rec.torn_bytes)
        pg_log(PG_LOG_WARN, "audit_spool_torn", "\"chain\":\"%s\",\"bytes_cut\":%" PRIu64, aw->chain, rec.torn_bytes);
    pg_log(PG_LOG_INFO, "audit_chain", "\"chain\":\"%s\",\"seq\":%" PRIu64 ",\"unshipped\":%" PRIu64 ",\"mode\":\"%s\"",
           aw->chain, aw->tip.seq, rec.last_seq > rec.acked_seq ? rec.last_seq - rec.acked_seq : 0,
           aw->strict ? "strict" : "async");
    aw->cp_time_us = wall_us() - (int64_t)cfg->audit.heartbeat_ms * 1000; /* a checkpoint soon after start */
    pthread_mutex_init(&aw->post_mu, NULL);
    aw->post_ev = event_new(w->base, -1, 0, posted_cb, aw);
    aw->ship_ev = event_new(w->base, -1, 0, ship_cb, aw);
    aw->sync_ev = evtimer_new(w->base, sync_cb, aw);
    aw->tick = event_new(w->base, -1, EV_PERSIST, tick, aw);
    struct timeval tv = {0, TICK_MS * 1000};
    if (!aw->post_ev || !aw->ship_ev || !aw->sync_ev || !aw->tick || event_add(aw->tick, &tv) != 0)
        return -1;
    return 0;
}

void pg_audit_writer_stop(struct pg_worker *w)
{
    struct pg_audit_writer *aw = w->audit;
    if (aw)
        aw->stopping = true;
}

void pg_audit_writer_free(struct pg_worker *w)
{
    struct pg_audit_writer *aw = w->audit;
    if (!aw)
        return;
    /* Jobs on the I/O pool still use the spool: let them finish (their
     * done callbacks need a pass of the loop, which has stopped). */
    for (int i = 0; i < 5000 && (aw->cursor_job || aw->readback || (aw->spool && pg_spool_sync_in_flight(aw->spool)));
         i++) {
        event_base_loop(w->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    if (aw->tick)
        event_free(aw->tick);
    if (aw->ship_ev)
        event_free(aw->ship_ev);
    if (aw->post_ev)
        event_free(aw->post_ev);
    while (aw->posted) {
        struct posted *p = aw->posted;
        aw->posted = p->next;
        free(p);
    }
    pthread_mutex_destroy(&aw->post_mu);
    if (aw->sync_ev)
        event_free(aw->sync_ev);
    while (aw->waiters) {
        struct waiter *wt = aw->waiters;
        aw->waiters = wt->next;
        pg_ticket_redeem(wt->ticket);
        free(wt);
    }
    aw->acked_seq = UINT64_MAX;
    drop_acked(aw);
    free_list(aw->unwritten);
    if (aw->spool) {
        enum pg_spool_error code;
        pg_spool_flush(aw->spool); /* records sealed in the last pass: they are kept too */
        pg_spool_sync(aw->spool, &code); /* at exit: the loop is gone, blocking is fine */
        pg_spool_close(aw->spool);
    }
    EVP_PKEY_free(aw->key);
    pg_canon_free(&aw->canon);
    pg_chain_hasher_free(aw->hasher);
    free(aw->resp);
    free(aw);
    w->audit = NULL;
    if (--batch_users == 0) { /* the last writer: no run of it is outstanding (Redis is gone) */
        pg_redis_script_free(batch_script);
        batch_script = NULL;
    }
}

void pg_audit_writer_stats(struct pg_worker *w, struct pg_audit_stats *out)
{
    struct pg_audit_writer *aw = w->audit;
    memset(out, 0, sizeof *out);
    if (aw)
        *out = aw->stats;
}
