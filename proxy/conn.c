#include "proxy/conn.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/addr.h"
#include "proxy/ip_count.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/request.h"
#include "proxy/request_body.h"
#include "proxy/stream.h"
#include "proxy/tls.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"

#define LINGER_MS 2000

static void conn_readcb(struct pg_stream *s, void *arg);
static void conn_drained(struct pg_stream *s, void *arg);
static void conn_eventcb(struct pg_stream *s, int what, void *arg);
static void conn_timeout(evutil_socket_t fd, short what, void *arg);
static void conn_kick(evutil_socket_t fd, short what, void *arg);
static void conn_try_head(struct pg_conn *c);

static void conn_free(struct pg_conn *c)
{
    struct pg_worker *w = c->worker;
    if (c->req) {
        struct pg_request *req = c->req;
        c->req = NULL;
        pg_request_abort(req);
    }
    if (c->timer)
        event_free(c->timer);
    if (c->kick)
        event_free(c->kick);
    pg_stream_free(c->s); /* closes the socket */
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->ip_counted)
        pg_ip_count_release(w->ip_conns, c->client_ip);
    free(c);
    w->nconns--;
    pg_worker_conn_closed(w);
}

/* A connection over a limit is closed before its handshake: nothing is
 * spent on it, and TLS gives no way to say why before one. The log says
 * so at most once a second per worker, with the count, so that a flood
 * does not flood the log too. */
static void refuse(struct pg_worker *w, int fd, const char *limit, const char *ip)
{
    w->stat_rejected_conns++;
    close(fd);
    w->rejected_unlogged++;
    uint64_t now = pg_now_us();
    if (w->reject_logged_us && now - w->reject_logged_us < 1000000)
        return;
    pg_log(PG_LOG_WARN, "connection_refused", "\"worker\":%d,\"limit\":\"%s\",\"client\":\"%s\",\"open\":%d,\"refused\":%" PRIu64,
           w->index, limit, ip, w->nconns, w->rejected_unlogged);
    w->reject_logged_us = now;
    w->rejected_unlogged = 0;
}

void pg_conn_accept(struct pg_worker *w, int fd, const struct sockaddr *sa, int salen)
{
    (void)salen;
    const struct pg_config *cfg = w->cfg;
    char ip[sizeof ((struct pg_conn *)0)->client_ip];
    pg_addr_ip_string(sa, ip, sizeof ip);
    if (w->draining) {
        w->stat_rejected_conns++;
        close(fd);
        return;
    }
    if (w->nconns >= cfg->limits.max_connections) {
        refuse(w, fd, "max_connections", ip);
        return;
    }
    if (w->ip_conns && !pg_ip_count_acquire(w->ip_conns, ip, cfg->limits.max_connections_per_ip)) {
        refuse(w, fd, "max_connections_per_ip", ip);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL *ssl = pg_tls_new_ssl();
    struct pg_conn *c = calloc(1, sizeof *c);
    if (!ssl || !c) {
        SSL_free(ssl);
        free(c);
        close(fd);
        if (w->ip_conns)
            pg_ip_count_release(w->ip_conns, ip);
        return;
    }
    c->worker = w;
    c->fd = fd;
    c->ip_counted = w->ip_conns != NULL;
    memcpy(c->client_ip, ip, sizeof c->client_ip);
    c->s = pg_stream_accept_tls(w->base, fd, ssl); /* owns fd and ssl from here */
    c->timer = evtimer_new(w->base, conn_timeout, c);
    c->kick = event_new(w->base, -1, 0, conn_kick, c);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    if (!c->s || !c->timer || !c->kick) {
        conn_free(c);
        return;
    }
    /* Reading stops once this much is buffered and not yet consumed. */
    c->s->read_high = cfg->limits.high_water_bytes;
    pg_stream_setcb(c->s, conn_readcb, conn_drained, conn_eventcb, c);
    c->state = PG_CONN_HANDSHAKE;
    pg_conn_arm_timer(c);
}

static void arm_ms(struct pg_conn *c, uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

void pg_conn_arm_timer(struct pg_conn *c)
{
    const struct pg_timeouts_config *t = &c->worker->cfg->timeouts;
    switch (c->state) {
    case PG_CONN_HANDSHAKE:
        arm_ms(c, t->handshake_ms);
        break;
    case PG_CONN_IDLE:
        arm_ms(c, c->requests ? t->keepalive_ms : t->header_read_ms);
        break;
    case PG_CONN_HEAD:
        arm_ms(c, t->header_read_ms);
        break;
    case PG_CONN_REQUEST:
        if (c->req && !c->req->body_done && !c->read_paused)
            arm_ms(c, t->body_read_ms);
        else
            evtimer_del(c->timer);
        break;
    case PG_CONN_TUNNEL:
        arm_ms(c, t->keepalive_ms);
        break;
    case PG_CONN_CLOSING:
        arm_ms(c, LINGER_MS);
        break;
    }
}

/* Sends close_notify and FIN once everything queued is written. When the
 * client may still be sending (an unread body, bytes the kernel holds),
 * keeps reading and discarding until it closes or the linger time passes:
 * closing a socket with unread input sends a reset, which can destroy the
 * response still in flight. Otherwise the socket closes at once. */
static void begin_shutdown(struct pg_conn *c)
{
    if (c->shutdown_sent)
        return;
    c->shutdown_sent = true;
    bool linger = !c->client_eof && (c->linger || c->s->readable);
    pg_stream_shutdown_write(c->s, linger);
    if (!linger) {
        conn_free(c);
        return;
    }
    pg_stream_read_enable(c->s);
}

void pg_conn_close(struct pg_conn *c)
{
    if (c->state != PG_CONN_CLOSING) {
        c->state = PG_CONN_CLOSING;
        pg_conn_arm_timer(c);
    }
    /* Read and drop whatever the client still sends, whatever the
     * watermark: nothing more of it is served. */
    c->s->read_high = SIZE_MAX;
    if (evbuffer_get_length(c->s->in) > 0)
        c->linger = true;
    evbuffer_drain(c->s->in, evbuffer_get_length(c->s->in));
    if (evbuffer_get_length(c->s->out) == 0)
        begin_shutdown(c);
}

void pg_conn_send(struct pg_conn *c, struct evbuffer *buf)
{
    size_t n = evbuffer_get_length(buf);
    if (n == 0)
        return;
    if (n <= 16384)
        evbuffer_pullup(buf, -1);
    evbuffer_add_buffer(c->s->out, buf);
    pg_stream_flush(c->s);
}

void pg_conn_write(struct pg_conn *c, const void *data, size_t len)
{
    evbuffer_add(c->s->out, data, len);
    pg_stream_flush(c->s);
}

void pg_conn_abort(struct pg_conn *c)
{
    conn_free(c);
}

void pg_conn_pause_read(struct pg_conn *c)
{
    if (!c->read_paused) {
        c->read_paused = true;
        pg_stream_read_disable(c->s);
        if (c->state == PG_CONN_REQUEST)
            evtimer_del(c->timer);
    }
}

void pg_conn_resume_read(struct pg_conn *c)
{
    if (c->read_paused) {
        c->read_paused = false;
        pg_stream_read_enable(c->s);
        pg_conn_arm_timer(c);
    }
}

void pg_conn_request_finished(struct pg_conn *c, bool keep)
{
    c->requests++;
    if (!keep || c->client_eof || c->worker->draining) {
        pg_conn_close(c);
        return;
    }
    c->state = PG_CONN_IDLE;
    pg_conn_resume_read(c);
    pg_conn_arm_timer(c);
    if (evbuffer_get_length(c->s->in) > 0)
        event_active(c->kick, 0, 0); /* a pipelined request is waiting */
}

void pg_conn_drain(struct pg_conn *c)
{
    if (c->state == PG_CONN_IDLE || c->state == PG_CONN_HANDSHAKE)
        pg_conn_close(c);
    else if (c->req)
        c->req->keep_client = false;
    else if (c->state == PG_CONN_HEAD)
        pg_conn_close(c);
}

static struct pg_http_limits request_limits(const struct pg_config *cfg)
{
    return (struct pg_http_limits){.max_head_bytes = cfg->limits.max_header_bytes,
                                   .max_headers = cfg->limits.max_headers};
}

static const char *status_code_name(int status)
{
    switch (status) {
    case 408: return "request_timeout";
    case 413: return "payload_too_large";
    case 417: return "expectation_failed";
    case 431: return "header_fields_too_large";
    case 505: return "http_version_not_supported";
    case 500: return "internal_error";
    default: return "bad_request";
    }
}

/* An error found before the request could be served: answer and close. */
static void reject(struct pg_conn *c, int status)
{
    struct pg_request *req = c->req ? c->req : pg_request_new(c);
    if (!req) {
        conn_free(c);
        return;
    }
    c->req = req;
    c->state = PG_CONN_REQUEST;
    req->keep_client = false;
    pg_request_respond_error(req, status, status_code_name(status));
}

static void conn_try_head(struct pg_conn *c)
{
    const struct pg_config *cfg = c->worker->cfg;
    struct evbuffer *in = c->s->in;
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;
    if (c->state == PG_CONN_IDLE) {
        c->state = PG_CONN_HEAD;
        pg_conn_arm_timer(c);
    }
    struct pg_http_limits lim = request_limits(cfg);
    /* Rescan a partial head only when a new line has arrived, so a client
     * trickling bytes cannot make the scan quadratic. */
    if (len <= lim.max_head_bytes && len > c->head_seen) {
        struct evbuffer_ptr from;
        evbuffer_ptr_set(in, &from, c->head_seen, EVBUFFER_PTR_SET);
        struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, &from);
        c->head_seen = len;
        if (lf.pos < 0)
            return;
    }
    size_t want = len < lim.max_head_bytes + 1 ? len : lim.max_head_bytes + 1;
    const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
    if (!data) {
        conn_free(c);
        return;
    }
    long n = pg_http1_scan_head(data, want, true, &lim);
    if (n == 0)
        return;
    if (n < 0) {
        reject(c, (int)-n);
        return;
    }
    c->head_seen = 0;
    struct pg_request *req = pg_request_new(c);
    if (!req) {
        conn_free(c);
        return;
    }
    c->req = req;
    c->state = PG_CONN_REQUEST;
    int status = pg_http1_parse_request(data, (size_t)n, &lim, &req->head);
    evbuffer_drain(in, (size_t)n);
    if (status) {
        reject(c, status);
        return;
    }
    struct pg_http_head *h = &req->head;
    req->body_done = h->body == PG_BODY_NONE;
    req->body_left = h->content_length;
    if (h->body == PG_BODY_LENGTH && h->content_length > cfg->limits.max_body_bytes) {
        reject(c, 413);
        return;
    }
    pg_conn_arm_timer(c);
    pg_request_run(req);
}

static void conn_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_conn *c = arg;
    if (c->state == PG_CONN_IDLE)
        conn_try_head(c);
}

static void conn_readcb(struct pg_stream *s, void *arg)
{
    struct pg_conn *c = arg;
    switch (c->state) {
    case PG_CONN_IDLE:
    case PG_CONN_HEAD:
        conn_try_head(c);
        break;
    case PG_CONN_REQUEST:
        if (c->req && c->req->local_body_done) {
            pg_conn_arm_timer(c);
            pg_request_body_readable(c->req);
        } else if (c->req && !c->req->body_done && c->req->up) {
            pg_conn_arm_timer(c);
            pg_upstream_pump_request(c->req);
        }
        /* Otherwise bytes wait: a pipelined request is read after this
         * one is answered, and the read watermark bounds them. */
        break;
    case PG_CONN_TUNNEL:
        pg_conn_arm_timer(c);
        if (c->req)
            pg_upstream_tunnel_to_upstream(c->req);
        break;
    case PG_CONN_CLOSING:
        evbuffer_drain(s->in, evbuffer_get_length(s->in));
        break;
    case PG_CONN_HANDSHAKE:
        break;
    }
}

static void conn_drained(struct pg_stream *s, void *arg)
{
    (void)s;
    struct pg_conn *c = arg;
    switch (c->state) {
    case PG_CONN_CLOSING:
        begin_shutdown(c);
        break;
    case PG_CONN_REQUEST:
    case PG_CONN_TUNNEL:
        if (c->req && c->req->resp_paused)
            pg_upstream_pump_response(c->req);
        break;
    default:
        break;
    }
}

static void conn_eventcb(struct pg_stream *s, int what, void *arg)
{
    struct pg_conn *c = arg;
    if (what & PG_STREAM_CONNECTED) {
        pg_metrics_tls(c->worker, 1);
        pg_log(PG_LOG_DEBUG, "tls_handshake", "\"client\":\"%s\",\"version\":\"%s\",\"resumed\":%s", c->client_ip,
               SSL_get_version(s->ssl), SSL_session_reused(s->ssl) ? "true" : "false");
        X509 *peer = SSL_get0_peer_certificate(s->ssl);
        if (peer && SSL_get_verify_result(s->ssl) == X509_V_OK) {
            int n = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, c->peer_cn,
                                              sizeof c->peer_cn);
            if (n <= 0 || (size_t)n != strlen(c->peer_cn)) /* absent, cut, or with an embedded NUL */
                c->peer_cn[0] = '\0';
        }
        c->state = PG_CONN_IDLE;
        pg_conn_arm_timer(c);
        conn_try_head(c);
        return;
    }
    if (what & PG_STREAM_ERROR && c->state == PG_CONN_HANDSHAKE) {
        pg_metrics_tls(c->worker, 0);
        pg_log(PG_LOG_DEBUG, "tls_handshake_failed", "\"client\":\"%s\",\"error\":%d,\"ssl_error\":%lu",
               c->client_ip, s->error, s->ssl_error);
    }
    if (what & PG_STREAM_EOF) {
        c->client_eof = true;
        switch (c->state) {
        case PG_CONN_REQUEST:
            if (c->req && c->req->body_done)
                return; /* half-closed after a full request: answer it, then close */
            break;
        case PG_CONN_TUNNEL:
            /* Pass the half-close on once what the client sent is out; the
             * upstream side ends the tunnel. */
            if (c->req && c->req->up)
                pg_upstream_shutdown_write(c->req->up);
            return;
        case PG_CONN_CLOSING:
            if (c->shutdown_sent)
                break;
            return; /* still flushing our response; freed once it is out */
        default:
            break;
        }
    }
    conn_free(c);
}

static void conn_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_conn *c = arg;
    switch (c->state) {
    case PG_CONN_HEAD:
        reject(c, 408);
        break;
    case PG_CONN_REQUEST:
        if (c->req && !c->req->responded) {
            c->req->keep_client = false;
            pg_request_respond_error(c->req, 408, "request_timeout");
        } else {
            conn_free(c);
        }
        break;
    case PG_CONN_IDLE:
        pg_conn_close(c);
        break;
    default:
        conn_free(c);
        break;
    }
}

void pg_conn_start_tunnel(struct pg_conn *c)
{
    c->state = PG_CONN_TUNNEL;
    pg_conn_arm_timer(c);
}
