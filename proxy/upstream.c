#include "proxy/upstream.h"

#include <errno.h>
#include <event2/buffer.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/audit_request.h"
#include "proxy/body_xform.h"
#include "proxy/conn.h"
#include "proxy/filters/filters.h"
#include "proxy/log.h"
#include "proxy/phi_request.h"
#include "proxy/request.h"
#include "proxy/stream.h"
#include "proxy/track.h"
#include "proxy/worker.h"

static void up_readcb(struct pg_stream *s, void *arg);
static void up_drained(struct pg_stream *s, void *arg);
static void up_eventcb(struct pg_stream *s, int what, void *arg);
static bool relay_response(struct pg_request *req);
static void release_upstream(struct pg_request *req, bool durable);

static void move_body(struct evbuffer *in, struct evbuffer *out, size_t n, bool chunk)
{
    if (chunk)
        pg_chunk_begin(out, n);
    evbuffer_remove_buffer(in, out, n);
    if (chunk)
        pg_chunk_end(out);
}

/* The request body goes up chunked: the client's framing, or ours when the
 * body is rewritten. */
static bool up_chunked(const struct pg_request *req)
{
    return (req->up_framing_set ? req->up_body : req->head.body) == PG_BODY_CHUNKED;
}

/* The PHI rewriter refused the request body: nothing more goes up, and the
 * upstream connection is closed before the body's end, so the app never
 * takes a partial request for a whole one. */
static void refuse_request_body(struct pg_request *req)
{
    struct pg_body_xform *x = req->body_xform;
    char why[200];
    const char *reason = pg_body_xform_reason(x);
    pg_log(PG_LOG_WARN, "phi_request_refused", "\"request_id\":\"%s\",\"reason\":\"%s\"", req->id,
           pg_json_escape(reason, strlen(reason), why, sizeof why));
    pg_request_respond_error(req, pg_body_xform_status(x), pg_body_xform_code(x));
}

/* n request body bytes from the client to the upstream. false when the
 * request was refused. */
static bool send_body(struct pg_request *req, struct evbuffer *in, struct evbuffer *out, size_t n)
{
    if (!req->body_xform) {
        move_body(in, out, n, up_chunked(req));
        return true;
    }
    if (pg_body_xform_feed(req->body_xform, in, n, out, true) == 0)
        return true;
    refuse_request_body(req);
    return false;
}

static bool end_body(struct pg_request *req, struct evbuffer *out)
{
    if (req->body_xform && pg_body_xform_finish(req->body_xform, out, true) != 0) {
        refuse_request_body(req);
        return false;
    }
    if (up_chunked(req))
        pg_chunk_last(out);
    return true;
}

static void up_free(struct pg_upconn *u)
{
    pg_stream_free(u->s);
    if (u->idle_timer)
        event_free(u->idle_timer);
    free(u);
}

/* ---- the pool ---- */

static void idle_close(struct pg_upconn *u)
{
    struct pg_worker *w = u->worker;
    for (struct pg_upconn **p = &w->idle_up; *p; p = &(*p)->next) {
        if (*p == u) {
            *p = u->next;
            w->nidle_up--;
            break;
        }
    }
    up_free(u);
}

/* An idle connection that speaks or closes is of no more use. */
static void idle_readcb(struct pg_stream *s, void *arg)
{
    (void)s;
    idle_close(arg);
}

static void idle_eventcb(struct pg_stream *s, int what, void *arg)
{
    (void)s;
    (void)what;
    idle_close(arg);
}

static void idle_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    idle_close(arg);
}

static void pool_put(struct pg_upconn *u)
{
    struct pg_worker *w = u->worker;
    const struct pg_upstream_config *uc = &w->cfg->upstream;
    u->req = NULL;
    if (w->draining || w->nidle_up >= uc->max_idle) {
        up_free(u);
        return;
    }
    struct timeval idle = {.tv_sec = uc->idle_timeout_ms / 1000, .tv_usec = (uc->idle_timeout_ms % 1000) * 1000};
    pg_stream_setcb(u->s, idle_readcb, NULL, idle_eventcb, u);
    pg_stream_read_enable(u->s);
    evtimer_add(u->idle_timer, &idle);
    u->next = w->idle_up;
    w->idle_up = u;
    w->nidle_up++;
}

/* An idle connection whose close the stream has already seen, but whose
 * event has not run yet, is dropped here: reused, it would take a request
 * and never report the close again (the stream has had its EOF), and the
 * request would wait for the response timeout. */
static struct pg_upconn *pool_get(struct pg_worker *w)
{
    struct pg_upconn *u;
    while ((u = w->idle_up)) {
        w->idle_up = u->next;
        w->nidle_up--;
        u->next = NULL;
        if (!u->s->eof && !u->s->failed && !u->s->peer_closed)
            break;
        up_free(u);
    }
    if (!u)
        return NULL;
    u->reused = true;
    u->got_data = false;
    evtimer_del(u->idle_timer);
    return u;
}

void pg_upstream_pool_clear(struct pg_worker *w)
{
    while (w->idle_up) {
        struct pg_upconn *u = w->idle_up;
        w->idle_up = u->next;
        up_free(u);
    }
    w->nidle_up = 0;
}

static struct pg_upconn *up_connect(struct pg_worker *w)
{
    const struct pg_addr *a = &w->cfg->upstream.addr;
    struct pg_upconn *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->worker = w;
    u->s = pg_stream_connect(w->base, (const struct sockaddr *)&a->ss, a->len);
    u->idle_timer = evtimer_new(w->base, idle_timeout, u);
    if (!u->s || !u->idle_timer) {
        up_free(u);
        return NULL;
    }
    return u;
}

/* ---- the exchange ---- */

static void arm_up_timer(struct pg_request *req, uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(req->up_timer, &tv);
}

static void up_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_request *req = arg;
    if (req->resp_paused) {
        /* The client took nothing of what waits for it within
         * timeouts.send: it holds a connection, an upstream connection and
         * the buffers, so it is cut (as a client that left). */
        pg_log(PG_LOG_WARN, "client_send_timeout", "\"request_id\":\"%s\",\"client\":\"%s\",\"queued_bytes\":%zu",
               req->id, req->conn->client_ip, evbuffer_get_length(req->conn->s->out));
        pg_conn_abort(req->conn);
        return;
    }
    pg_log(PG_LOG_WARN, "upstream_timeout", "\"request_id\":\"%s\",\"connected\":%s,\"response_started\":%s",
           req->id, req->up && req->up->connected ? "true" : "false", req->resp_head_done ? "true" : "false");
    if (!req->resp_head_done)
        pg_request_respond_error(req, 504, "gateway_timeout");
    else
        pg_conn_abort(req->conn); /* mid-body: the client sees a cut, never a forged end */
}

/* Arms the response timeout once the whole request has been handed over. */
static void await_response(struct pg_request *req)
{
    if (req->body_done && req->up && req->up->connected && !req->resp_paused)
        arm_up_timer(req, req->worker->cfg->upstream.response_timeout_ms);
}

static void write_request_head(struct pg_request *req, struct evbuffer *out)
{
    struct pg_http_head *h = &req->head;
    evbuffer_add(out, h->method_name, strlen(h->method_name));
    evbuffer_add(out, " ", 1);
    evbuffer_add(out, h->target, h->target_len);
    evbuffer_add(out, " HTTP/1.1\r\n", 11);
    pg_http_add_kept_headers(out, h);
    size_t extra = evbuffer_get_length(req->up_add_headers);
    if (extra) /* copied, not moved: a retry writes the head again */
        evbuffer_add(out, evbuffer_pullup(req->up_add_headers, -1), extra);
    enum pg_body_kind body = req->up_framing_set ? req->up_body : h->body;
    if (body == PG_BODY_LENGTH)
        pg_http_add_content_length(out, req->up_framing_set ? req->up_length : h->content_length);
    else if (body == PG_BODY_CHUNKED)
        evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
    if (h->upgrade) {
        const struct pg_header *up = pg_http_find_id(h, PG_H_UPGRADE);
        evbuffer_add(out, "Connection: upgrade\r\nUpgrade: ", 30);
        evbuffer_add(out, up->value, up->value_len);
        evbuffer_add(out, "\r\n", 2);
    }
    evbuffer_add(out, "\r\n", 2);
}

static int attach(struct pg_request *req)
{
    struct pg_worker *w = req->worker;
    struct pg_upconn *u = pool_get(w);
    if (!u)
        u = up_connect(w);
    if (!u)
        return -1;
    u->req = req;
    req->up = u;
    req->up_attempts++;
    pg_stream_setcb(u->s, up_readcb, up_drained, up_eventcb, u);
    u->s->read_high = w->cfg->limits.high_water_bytes;
    pg_stream_read_enable(u->s);
    if (!u->reused)
        arm_up_timer(req, w->cfg->upstream.connect_timeout_ms);
    else
        u->connected = true;
    write_request_head(req, u->s->out); /* flushed by the caller, with the body's first bytes */
    return 0;
}

void pg_upstream_start(struct pg_request *req)
{
    if (!req->up_timer) {
        req->up_timer = evtimer_new(req->worker->base, up_timeout, req);
        if (!req->up_timer) {
            pg_request_respond_error(req, 500, "internal_error");
            return;
        }
    }
    req->t_upstream_us = pg_now_us();
    if (attach(req) != 0) {
        int e = errno;
        pg_log(PG_LOG_ERROR, "upstream_connect_failed", "\"request_id\":\"%s\",\"errno\":%d,\"error\":\"%s\"",
               req->id, e, strerror(e));
        pg_request_respond_error(req, 502, "bad_gateway");
        return;
    }
    if (req->head.expect_continue && !req->body_done && !req->continue_sent) {
        /* The request passed every check: invite the body. */
        pg_conn_write(req->conn, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        req->continue_sent = true;
    }
    if (req->body_xform && req->local_body) {
        /* What the PHI rewriter held before the upstream was chosen. */
        struct evbuffer *out = req->up->s->out;
        if (up_chunked(req))
            move_body(req->local_body, out, evbuffer_get_length(req->local_body), true);
        else
            evbuffer_add_buffer(out, req->local_body);
        if (req->body_done && up_chunked(req))
            pg_chunk_last(out);
    }
    if (!req->body_done) {
        pg_upstream_pump_request(req);
    } else {
        pg_stream_flush(req->up->s);
        await_response(req);
    }
}

/* A pooled connection the upstream had already closed fails before any
 * response byte; a request without a body can safely go again on a new
 * connection. */
static bool retry(struct pg_request *req)
{
    struct pg_upconn *u = req->up;
    int m = req->head.method;
    if (!u->reused || u->got_data || req->head.body != PG_BODY_NONE || req->up_attempts > 1 ||
        !(m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS))
        return false;
    req->up = NULL;
    up_free(u);
    evtimer_del(req->up_timer);
    if (attach(req) != 0)
        return false;
    pg_stream_flush(req->up->s);
    await_response(req);
    return true;
}

void pg_upstream_abort(struct pg_request *req)
{
    struct pg_upconn *u = req->up;
    if (!u)
        return;
    req->up = NULL;
    if (u->paused_client)
        pg_conn_resume_read(req->conn);
    if (req->up_timer)
        evtimer_del(req->up_timer);
    up_free(u);
}


void pg_upstream_pump_request(struct pg_request *req)
{
    struct pg_conn *c = req->conn;
    struct pg_upconn *u = req->up;
    if (req->body_done || !u)
        return;
    const struct pg_config *cfg = req->worker->cfg;
    struct evbuffer *in = c->s->in;
    struct evbuffer *out = u->s->out;
    if (req->head.body == PG_BODY_LENGTH) {
        size_t have = evbuffer_get_length(in);
        size_t n = have < req->body_left ? have : (size_t)req->body_left;
        if (n) {
            if (!send_body(req, in, out, n))
                return;
            req->body_left -= n;
            req->body_bytes += n;
        }
        req->body_done = req->body_left == 0;
        if (req->body_done && (req->body_xform || up_chunked(req)) && !end_body(req, out))
            return;
    } else {
        for (;;) {
            size_t avail = 0;
            enum pg_chunked_result r = pg_chunked_next(&req->body_chunked, in, &avail);
            if (r == PG_CHUNKED_MORE)
                break;
            if (r == PG_CHUNKED_ERROR) {
                pg_request_respond_error(req, 400, "bad_request");
                return;
            }
            if (r == PG_CHUNKED_DONE) {
                if (!end_body(req, out))
                    return;
                req->body_done = true;
                break;
            }
            if (req->body_bytes + avail > cfg->limits.max_body_bytes) {
                pg_request_respond_error(req, 413, "payload_too_large");
                return;
            }
            if (!send_body(req, in, out, avail))
                return;
            pg_chunked_consumed(&req->body_chunked, avail);
            req->body_bytes += avail;
        }
    }
    pg_stream_flush(u->s);
    if (req->body_done) {
        pg_conn_arm_timer(c);
        await_response(req);
    } else if (evbuffer_get_length(out) > cfg->limits.high_water_bytes) {
        u->paused_client = true;
        pg_conn_pause_read(c);
    }
}

void pg_upstream_tunnel_to_upstream(struct pg_request *req)
{
    struct pg_upconn *u = req->up;
    if (!u)
        return;
    struct evbuffer *out = u->s->out;
    evbuffer_add_buffer(out, req->conn->s->in);
    pg_stream_flush(u->s);
    if (evbuffer_get_length(out) > req->worker->cfg->limits.high_water_bytes) {
        u->paused_client = true;
        pg_conn_pause_read(req->conn);
    }
}

void pg_upstream_shutdown_write(struct pg_upconn *u)
{
    if (evbuffer_get_length(u->s->out) == 0)
        pg_stream_shutdown_write(u->s, true);
    else
        u->fin_pending = true;
}

static void up_drained(struct pg_stream *s, void *arg)
{
    struct pg_upconn *u = arg;
    struct pg_request *req = u->req;
    if (!req)
        return;
    if (u->fin_pending) {
        u->fin_pending = false;
        pg_stream_shutdown_write(s, true);
    }
    if (u->paused_client) {
        u->paused_client = false;
        pg_conn_resume_read(req->conn);
        if (req->conn->state == PG_CONN_TUNNEL)
            pg_upstream_tunnel_to_upstream(req);
        else
            pg_upstream_pump_request(req);
    }
}

static void fail_502(struct pg_request *req, const char *why)
{
    pg_log(PG_LOG_WARN, "upstream_bad_response", "\"request_id\":\"%s\",\"reason\":\"%s\"", req->id, why);
    pg_request_respond_error(req, 502, "bad_gateway");
}

/* The PHI rewriter refused the upstream's body (not JSON, too large):
 * the head is already on its way, so the client gets a truncated response,
 * never the unrewritten rest. */
static void refuse_response_body(struct pg_request *req)
{
    struct pg_body_xform *x = req->resp_xform;
    char why[200];
    const char *reason = pg_body_xform_reason(x);
    pg_log(PG_LOG_WARN, "phi_response_refused", "\"request_id\":\"%s\",\"reason\":\"%s\"", req->id,
           pg_json_escape(reason, strlen(reason), why, sizeof why));
    req->error = "phi_response_refused";
    evbuffer_drain(req->worker->stage, evbuffer_get_length(req->worker->stage));
    pg_conn_abort(req->conn);
}

/* Stray envelopes in the next n bytes, masked where they lie (the
 * evbuffer's own memory). */
static void scrub_envelopes(struct pg_request *req, struct evbuffer *in, size_t n)
{
    struct pg_phi_req *p = req->phi;
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
    while (n > 0) {
        struct evbuffer_iovec v[8];
        int nv = evbuffer_peek(in, (ev_ssize_t)n, &pos, v, 8);
        if (nv <= 0)
            return;
        for (int i = 0; i < nv && n > 0; i++) {
            size_t take = v[i].iov_len < n ? v[i].iov_len : n;
            p->out.tally[p->out.nfields].masked += pg_scrub(&p->scrub, v[i].iov_base, take);
            n -= take;
            evbuffer_ptr_set(in, &pos, take, EVBUFFER_PTR_ADD);
        }
    }
}

/* n response body bytes from the upstream to the client. false when the
 * response was cut off. */
static bool relay_body(struct pg_request *req, struct evbuffer *in, struct evbuffer *out, size_t n, bool chunk)
{
    if (req->track && req->track->after_open) /* the app's own bytes, before any PHI rewriting */
        pg_capture_add_buffer(&req->track->after, in, n);
    if (req->phi && req->phi->scrubbing)
        scrub_envelopes(req, in, n);
    if (!req->resp_xform) {
        move_body(in, out, n, chunk);
        return true;
    }
    if (pg_body_xform_feed(req->resp_xform, in, n, out, chunk) == 0)
        return true;
    refuse_response_body(req);
    return false;
}

static bool end_response_body(struct pg_request *req, struct evbuffer *out)
{
    if (!req->resp_xform || pg_body_xform_finish(req->resp_xform, out, req->resp_out == PG_BODY_CHUNKED) == 0)
        return true;
    refuse_response_body(req);
    return false;
}

/* Writes the response head for the client: the upstream's status and the
 * headers the response-headers phase kept, then framing we choose. */
static void write_response_head(struct pg_request *req)
{
    struct pg_http_head *r = &req->resp;
    struct evbuffer *out = req->worker->stage;
    bool client11 = req->head.minor == 1;

    if (r->status == 101) {
        req->resp_out = PG_BODY_NONE;
        req->keep_client = false;
    } else if (req->resp_xform) {
        /* Rewritten: its length is known only at its end. */
        req->resp_out = client11 ? PG_BODY_CHUNKED : PG_BODY_UNTIL_CLOSE;
        if (!client11)
            req->keep_client = false;
    } else if (r->body == PG_BODY_LENGTH) {
        req->resp_out = PG_BODY_LENGTH;
    } else if (r->body == PG_BODY_NONE) {
        req->resp_out = PG_BODY_NONE;
    } else if (client11) {
        req->resp_out = PG_BODY_CHUNKED;
    } else {
        req->resp_out = PG_BODY_UNTIL_CLOSE;
        req->keep_client = false;
    }
    if (!req->head.keep_alive || req->worker->draining)
        req->keep_client = false;

    pg_http_add_status_line(out, r->status, r->reason, r->reason_len);
    pg_http_add_kept_headers(out, r);
    evbuffer_add_buffer(out, req->resp_add_headers);
    if ((req->resp_out == PG_BODY_LENGTH && !req->resp_xform) ||
        (r->body == PG_BODY_NONE && r->status >= 200 && r->status != 204 && pg_http_find_id(r, PG_H_CONTENT_LENGTH)))
        pg_http_add_content_length(out, r->content_length);
    else if (req->resp_out == PG_BODY_CHUNKED)
        evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
    if (r->status == 101) {
        const struct pg_header *up = pg_http_find_id(r, PG_H_UPGRADE);
        evbuffer_add(out, "Connection: upgrade\r\n", 21);
        if (up) {
            evbuffer_add(out, "Upgrade: ", 9);
            evbuffer_add(out, up->value, up->value_len);
            evbuffer_add(out, "\r\n", 2);
        }
    } else if (!req->keep_client) {
        evbuffer_add(out, "Connection: close\r\n", 19);
    } else if (!client11) {
        evbuffer_add(out, "Connection: keep-alive\r\n", 24);
    }
    evbuffer_add(out, "\r\n", 2);
    req->responded = true;
    req->status = r->status;
}

/* Returns 1 when the head is in, 0 when more bytes are needed, -1 when the
 * request was answered with an error. */
static int read_response_head(struct pg_request *req)
{
    const struct pg_config *cfg = req->worker->cfg;
    struct evbuffer *in = req->up->s->in;
    struct pg_http_limits lim = {.max_head_bytes = cfg->limits.max_response_header_bytes, .max_headers = 256};
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            return 0;
        size_t want = len < lim.max_head_bytes + 1 ? len : lim.max_head_bytes + 1;
        const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
        long n = pg_http1_scan_head(data, want, false, &lim);
        if (n == 0)
            return 0;
        if (n < 0) {
            fail_502(req, n == -431 ? "response head too large" : "malformed response head");
            return -1;
        }
        pg_http_head_free(&req->resp);
        int rc = pg_http1_parse_response(data, (size_t)n, &lim, req->head.method, &req->resp);
        evbuffer_drain(in, (size_t)n);
        if (rc) {
            fail_502(req, "malformed response head");
            return -1;
        }
        int st = req->resp.status;
        if (st >= 100 && st < 200 && st != 101)
            continue; /* interim responses are not relayed: 100-continue is ours */
        if (st == 101 && !req->head.upgrade) {
            fail_502(req, "101 without an upgrade request");
            return -1;
        }
        req->t_resp_head_us = pg_now_us();
        return 1;
    }
}

static void finish_exchange(struct pg_request *req)
{
    struct pg_upconn *u = req->up;
    struct pg_conn *c = req->conn;
    struct evbuffer *stage = req->worker->stage;
    if (req->resp_out == PG_BODY_CHUNKED)
        pg_chunk_last(stage);
    pg_conn_send(c, stage);
    evtimer_del(req->up_timer);
    req->up = NULL;
    bool reusable = req->resp.keep_alive && req->body_done && req->resp.body != PG_BODY_UNTIL_CLOSE &&
                    evbuffer_get_length(u->s->in) == 0;
    if (u->paused_client)
        pg_conn_resume_read(c);
    if (reusable) {
        u->paused_client = false;
        pool_put(u);
    } else {
        up_free(u);
    }
    if (!req->body_done) {
        req->keep_client = false; /* the rest of the body would be read as a request */
        c->linger = true;
    }
    pg_request_done(req);
}

/* Returns false when the request has ended (and may be freed). */
static bool relay_response(struct pg_request *req)
{
    struct pg_upconn *u = req->up;
    struct pg_conn *c = req->conn;
    const struct pg_config *cfg = req->worker->cfg;
    if (!req->resp_head_done) {
        if (!req->resp_head_read) {
            int r = read_response_head(req);
            if (r <= 0)
                return r == 0;
            req->resp_head_read = true; /* a held response comes back here with its head already read */
            /* The outcome is known: the record is sealed now, and in
             * strict mode nothing goes to the client before it is durable. */
            switch (pg_audit_seal_request(req, req->resp.status, release_upstream)) {
            case PG_AUDIT_RELEASE:
                break;
            case PG_AUDIT_FAILED:
                pg_request_respond_error(req, 503, "audit_unavailable");
                return false;
            case PG_AUDIT_WAIT:
                req->audit_held = true;
                pg_stream_read_disable(u->s);
                return true;
            }
        }
        if (req->audit_held)
            return true;
        switch (pg_plugins_response_headers(req)) {
        case 0:
            break;
        case 1: /* a plugin's hook waits: held as for the audit record */
            req->audit_held = true;
            pg_stream_read_disable(u->s);
            return true;
        default:
            return false;
        }
        req->resp_head_done = true;
        req->resp_left = req->resp.content_length;
        int st = pg_request_response_headers(req);
        if (st) {
            pg_request_respond_error(req, st, "internal_error");
            return false;
        }
        write_response_head(req);
        if (req->resp.status == 101) {
            pg_conn_start_tunnel(c);
            evtimer_del(req->up_timer);
            /* Bytes either side sent right after the handshake. */
            evbuffer_add_buffer(req->worker->stage, u->s->in);
            pg_conn_send(c, req->worker->stage);
            pg_upstream_tunnel_to_upstream(req);
            return true;
        }
        if (req->resp.body == PG_BODY_NONE) {
            finish_exchange(req);
            return false;
        }
    }
    struct evbuffer *in = u->s->in;
    struct evbuffer *out = req->worker->stage;
    bool chunk = req->resp_out == PG_BODY_CHUNKED;
    if (c->state == PG_CONN_TUNNEL) {
        evbuffer_add_buffer(out, in);
        pg_conn_arm_timer(c); /* traffic either way keeps a tunnel alive */
    } else if (req->resp.body == PG_BODY_LENGTH) {
        size_t have = evbuffer_get_length(in);
        size_t n = have < req->resp_left ? have : (size_t)req->resp_left;
        if (n) {
            if (!relay_body(req, in, out, n, chunk))
                return false;
            req->resp_left -= n;
            req->resp_bytes += n;
        }
        if (req->resp_left == 0) {
            if (!end_response_body(req, out))
                return false;
            finish_exchange(req);
            return false;
        }
    } else if (req->resp.body == PG_BODY_CHUNKED) {
        for (;;) {
            size_t avail = 0;
            enum pg_chunked_result r = pg_chunked_next(&req->resp_chunked, in, &avail);
            if (r == PG_CHUNKED_MORE)
                break;
            if (r == PG_CHUNKED_ERROR) {
                pg_log(PG_LOG_WARN, "upstream_bad_response", "\"request_id\":\"%s\",\"reason\":\"bad chunk\"",
                       req->id);
                evbuffer_drain(out, evbuffer_get_length(out));
                pg_conn_abort(c);
                return false;
            }
            if (r == PG_CHUNKED_DONE) {
                if (!end_response_body(req, out))
                    return false;
                finish_exchange(req);
                return false;
            }
            if (!relay_body(req, in, out, avail, chunk))
                return false;
            pg_chunked_consumed(&req->resp_chunked, avail);
            req->resp_bytes += avail;
        }
    } else { /* until close */
        size_t n = evbuffer_get_length(in);
        if (n) {
            if (!relay_body(req, in, out, n, chunk))
                return false;
            req->resp_bytes += n;
        }
    }
    pg_conn_send(c, out);
    if (evbuffer_get_length(c->s->out) > cfg->limits.high_water_bytes) {
        req->resp_paused = true;
        pg_stream_read_disable(u->s);
        arm_up_timer(req, cfg->timeouts.send_ms); /* now the client's time to read, not the app's */
    } else if (c->state != PG_CONN_TUNNEL) {
        arm_up_timer(req, cfg->upstream.response_timeout_ms);
    }
    return true;
}

/* Strict audit: the record of this response is durable (or cannot be). */
static void release_upstream(struct pg_request *req, bool durable)
{
    req->audit_held = false;
    if (!durable) {
        pg_request_respond_error(req, 503, "audit_unavailable");
        return;
    }
    struct pg_upconn *u = req->up;
    int eof = req->audit_eof_events;
    req->audit_eof_events = 0;
    if (!eof) {
        pg_stream_read_enable(u->s);
        relay_response(req);
        return;
    }
    if (relay_response(req)) /* what arrived before the close */
        up_eventcb(u->s, eof, u);
}

void pg_upstream_release_held(struct pg_request *req)
{
    release_upstream(req, true);
}

void pg_upstream_pump_response(struct pg_request *req)
{
    if (!req->up || !req->resp_paused)
        return;
    req->resp_paused = false;
    pg_stream_read_enable(req->up->s);
    relay_response(req);
}

static void up_readcb(struct pg_stream *s, void *arg)
{
    (void)s;
    struct pg_upconn *u = arg;
    if (!u->req)
        return;
    u->got_data = true;
    relay_response(u->req);
}

static void up_eventcb(struct pg_stream *s, int events, void *arg)
{
    struct pg_upconn *u = arg;
    struct pg_request *req = u->req;
    if (req->audit_held && (events & (PG_STREAM_EOF | PG_STREAM_ERROR))) {
        req->audit_eof_events |= events; /* handled once the record is durable */
        return;
    }
    if (events & PG_STREAM_CONNECTED) {
        u->connected = true;
        evtimer_del(req->up_timer);
        await_response(req);
        return;
    }
    if (!(events & (PG_STREAM_EOF | PG_STREAM_ERROR)))
        return;
    int err = s->error;
    struct pg_conn *c = req->conn;
    if (c->state == PG_CONN_TUNNEL) {
        pg_conn_send(c, u->s->in);
        req->keep_client = false;
        pg_upstream_abort(req);
        pg_request_done(req);
        return;
    }
    if (!req->resp_head_done) {
        /* A head may have arrived together with the close. */
        if (evbuffer_get_length(u->s->in) > 0 && !relay_response(req))
            return;
        if (!req->resp_head_done) {
            /* retry frees u, whether or not a new connection follows. */
            bool connected = u->connected, reused = u->reused;
            if (retry(req))
                return;
            pg_log(PG_LOG_WARN, "upstream_closed",
                   "\"request_id\":\"%s\",\"connected\":%s,\"reused\":%s,\"errno\":%d,\"error\":\"%s\"",
                   req->id, connected ? "true" : "false", reused ? "true" : "false", err,
                   err ? strerror(err) : "closed before a response");
            pg_request_respond_error(req, 502, "bad_gateway");
            return;
        }
    }
    if (!relay_response(req))
        return; /* the response completed */
    if (req->resp.body == PG_BODY_UNTIL_CLOSE && !(events & PG_STREAM_ERROR)) {
        if (end_response_body(req, req->worker->stage))
            finish_exchange(req);
        return;
    }
    pg_log(PG_LOG_WARN, "upstream_truncated", "\"request_id\":\"%s\"", req->id);
    pg_conn_abort(c);
}
