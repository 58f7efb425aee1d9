#include "proxy/upstream_fetch.h"

#include <http_parser.h>
#include <stdbool.h>
#include <stdlib.h>

#include "proxy/capture.h"
#include "proxy/http1.h"
#include "proxy/stream.h"
#include "proxy/worker.h"

struct pg_fetch {
    struct pg_stream *s;
    struct event *timer;
    struct pg_http_head resp;
    bool head_done;
    uint64_t left;
    struct pg_chunked chunked;
    struct pg_capture *body;
    size_t max_head;
    pg_fetch_done done;
    void *arg;
};

static void fetch_free(struct pg_fetch *f)
{
    if (f->s)
        pg_stream_free(f->s);
    if (f->timer)
        event_free(f->timer);
    pg_http_head_free(&f->resp);
    free(f);
}

static void finish(struct pg_fetch *f, int status)
{
    f->done(f->arg, status);
    fetch_free(f);
}

/* n bytes of the body from the socket's input into the capture. */
static void keep(struct pg_fetch *f, struct evbuffer *in, size_t n)
{
    pg_capture_add_buffer(f->body, in, n);
    evbuffer_drain(in, n);
}

/* Returns true when the answer is complete (or failed): f is then gone. */
static bool take_body(struct pg_fetch *f)
{
    struct evbuffer *in = f->s->in;
    if (f->resp.body == PG_BODY_LENGTH) {
        size_t have = evbuffer_get_length(in);
        size_t n = have < f->left ? have : (size_t)f->left;
        keep(f, in, n);
        f->left -= n;
        if (f->left == 0) {
            finish(f, f->resp.status);
            return true;
        }
    } else if (f->resp.body == PG_BODY_CHUNKED) {
        for (;;) {
            size_t avail = 0;
            enum pg_chunked_result r = pg_chunked_next(&f->chunked, in, &avail);
            if (r == PG_CHUNKED_MORE)
                break;
            if (r == PG_CHUNKED_ERROR) {
                finish(f, 0);
                return true;
            }
            if (r == PG_CHUNKED_DONE) {
                finish(f, f->resp.status);
                return true;
            }
            keep(f, in, avail);
            pg_chunked_consumed(&f->chunked, avail);
        }
    } else if (f->resp.body == PG_BODY_UNTIL_CLOSE) {
        keep(f, in, evbuffer_get_length(in));
    } else {
        finish(f, f->resp.status);
        return true;
    }
    return false;
}

/* Returns true when the answer is complete (or failed): f is then gone. */
static bool read_answer(struct pg_fetch *f)
{
    struct pg_stream *s = f->s;
    struct pg_http_limits lim = {.max_head_bytes = f->max_head, .max_headers = 256};
    while (!f->head_done) {
        size_t len = evbuffer_get_length(s->in);
        if (!len)
            return false;
        size_t want = len < lim.max_head_bytes + 1 ? len : lim.max_head_bytes + 1;
        const char *data = (const char *)evbuffer_pullup(s->in, (ev_ssize_t)want);
        long n = pg_http1_scan_head(data, want, false, &lim);
        if (n == 0)
            return false;
        if (n < 0 || pg_http1_parse_response(data, (size_t)n, &lim, HTTP_GET, &f->resp) != 0) {
            finish(f, 0);
            return true;
        }
        evbuffer_drain(s->in, (size_t)n);
        if (f->resp.status >= 100 && f->resp.status < 200) {
            pg_http_head_free(&f->resp);
            continue; /* interim */
        }
        f->head_done = true;
        f->left = f->resp.content_length;
    }
    return take_body(f);
}

static void on_read(struct pg_stream *s, void *arg)
{
    (void)s;
    read_answer(arg);
}

static void on_event(struct pg_stream *s, int what, void *arg)
{
    (void)s;
    struct pg_fetch *f = arg;
    if (!(what & (PG_STREAM_EOF | PG_STREAM_ERROR)))
        return;
    if (evbuffer_get_length(f->s->in) && read_answer(f))
        return;
    if (f->head_done && f->resp.body == PG_BODY_UNTIL_CLOSE && !(what & PG_STREAM_ERROR))
        finish(f, f->resp.status);
    else
        finish(f, 0);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg, 0);
}

struct pg_fetch *pg_fetch_start(struct pg_worker *w, const char *head, size_t head_len, struct pg_capture *body,
                                uint32_t timeout_ms, pg_fetch_done done, void *arg)
{
    const struct pg_addr *a = &w->cfg->upstream.addr;
    struct pg_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->done = done;
    f->arg = arg;
    f->body = body;
    f->max_head = w->cfg->limits.max_response_header_bytes;
    f->timer = evtimer_new(w->base, on_timeout, f);
    f->s = pg_stream_connect(w->base, (const struct sockaddr *)&a->ss, a->len);
    if (!f->timer || !f->s) {
        fetch_free(f);
        return NULL;
    }
    pg_stream_setcb(f->s, on_read, NULL, on_event, f);
    f->s->read_high = w->cfg->limits.high_water_bytes;
    pg_stream_read_enable(f->s);
    evbuffer_add(f->s->out, head, head_len);
    pg_stream_flush(f->s);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    evtimer_add(f->timer, &tv);
    return f;
}

void pg_fetch_cancel(struct pg_fetch *f)
{
    if (f)
        fetch_free(f);
}
