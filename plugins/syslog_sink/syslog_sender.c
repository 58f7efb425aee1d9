#include "syslog_sender.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "syslog_conn.h"

unsigned syslog_backoff_next(unsigned current, unsigned min, unsigned max)
{
    unsigned next = current > max / 2 ? max : current * 2;
    return next < min ? min : next > max ? max : next;
}

struct run_state {
    struct syslog_sender *s;
    struct syslog_conn conn;
    unsigned backoff;
    unsigned failed_connects; /* of the outage going on; 0 when connected */
    char err[512];
};

#define LOG(s, level, ...) (s)->host->log((s)->self, (level), __VA_ARGS__)

/* Sleeps out the backoff; false when unload's deadline came first. */
static bool back_off(struct run_state *st)
{
    struct syslog_sender *s = st->s;
    enum syslog_wait_result wr = syslog_wait(&s->waker, -1, 0, syslog_now_ms() + st->backoff);
    st->backoff = syslog_backoff_next(st->backoff, s->cfg->reconnect_min_ms, s->cfg->reconnect_max_ms);
    return wr != SYSLOG_WAIT_STOPPED;
}

/* Makes sure there is a live connection. 1 connected, 0 not (backed off,
 * try again), -1 stop. */
static int ensure_connected(struct run_state *st)
{
    struct syslog_sender *s = st->s;
    const struct syslog_config *cfg = s->cfg;
    if (st->conn.fd >= 0) {
        if (!syslog_conn_closed_by_peer(&st->conn))
            return 1;
        LOG(s, PHG_LOG_WARN, "syslog receiver %s:%d closed the connection; reconnecting", cfg->host, cfg->port);
        syslog_conn_close(&st->conn);
        s->reconnects++;
    }
    enum syslog_io io = syslog_conn_open(&st->conn, cfg, s->tls, &s->waker, st->err, sizeof st->err);
    if (io == SYSLOG_IO_STOPPED)
        return -1;
    if (io == SYSLOG_IO_FAILED) {
        if (st->failed_connects++ == 0)
            LOG(s, PHG_LOG_WARN,
                "cannot reach syslog receiver %s:%d: %s; records wait in the queue, retrying (backoff %u to %u ms)",
                cfg->host, cfg->port, st->err, cfg->reconnect_min_ms, cfg->reconnect_max_ms);
        else
            LOG(s, PHG_LOG_DEBUG, "syslog receiver %s:%d: attempt %u: %s", cfg->host, cfg->port,
                st->failed_connects, st->err);
        return back_off(st) ? 0 : -1;
    }
    LOG(s, PHG_LOG_INFO, "connected to syslog receiver %s:%d%s (after %u failed attempts)", cfg->host, cfg->port,
        s->tls ? " over TLS" : "", st->failed_connects);
    st->failed_connects = 0;
    return 1;
}

static void *run(void *arg)
{
    struct run_state st = {.s = arg};
    struct syslog_sender *s = st.s;
    const struct syslog_config *cfg = s->cfg;
    st.backoff = cfg->reconnect_min_ms;
    syslog_conn_init(&st.conn);
    char *frame = NULL;
    size_t frame_len = 0;

    for (;;) {
        /* NULL only once unload asked and nothing is left. */
        struct syslog_item *it = syslog_queue_peek(s->queue, -1);
        if (!it || syslog_now_ms() >= atomic_load(&s->waker.stop_at_ms))
            break;
        int c = ensure_connected(&st);
        if (c < 0)
            break;
        if (c == 0)
            continue;
        if (!frame) {
            struct syslog_record_info info;
            syslog_record_info(it->data, &info);
            if (syslog_frame(&s->origin, &info, it->chain, it->seq, it->data, it->len, &frame, &frame_len)) {
                LOG(s, PHG_LOG_ERROR, "out of memory formatting a syslog message; retrying");
                if (!back_off(&st))
                    break;
                continue;
            }
        }
        enum syslog_io io = syslog_conn_write(&st.conn, frame, frame_len, cfg->write_timeout_ms, &s->waker, st.err,
                                              sizeof st.err);
        if (io == SYSLOG_IO_STOPPED)
            break;
        if (io == SYSLOG_IO_FAILED) {
            LOG(s, PHG_LOG_WARN, "syslog receiver %s:%d: %s; reconnecting, then record %" PRIu64 " of %s is sent again",
                cfg->host, cfg->port, st.err, it->seq, it->chain);
            syslog_conn_close(&st.conn);
            s->reconnects++;
            if (!back_off(&st))
                break;
            continue;
        }
        free(frame);
        frame = NULL;
        s->sent++;
        st.backoff = cfg->reconnect_min_ms; /* a write went through: the receiver is back for real */
        uint64_t dropped = syslog_queue_pop(s->queue);
        if (dropped)
            LOG(s, PHG_LOG_WARN,
                "syslog queue has room again: %" PRIu64 " records were dropped while it was full "
                "(they are in phiguard's audit trail in Redis)",
                dropped);
    }
    free(frame);
    syslog_conn_close(&st.conn);
    return NULL;
}

int syslog_sender_start(struct syslog_sender *s, char *err, size_t errcap)
{
    if (syslog_waker_init(&s->waker)) {
        snprintf(err, errcap, "cannot make a pipe for the sender thread");
        return -1;
    }
    int rc = pthread_create(&s->thread, NULL, run, s);
    if (rc) {
        snprintf(err, errcap, "cannot start the sender thread (error %d)", rc);
        syslog_waker_destroy(&s->waker);
        return -1;
    }
    return 0;
}

void syslog_sender_stop(struct syslog_sender *s)
{
    syslog_waker_stop(&s->waker, syslog_now_ms() + s->cfg->flush_timeout_ms);
    syslog_queue_stop(s->queue);
    pthread_join(s->thread, NULL);
    syslog_waker_destroy(&s->waker);
}
