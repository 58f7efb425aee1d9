#include "proxy/request_body.h"

#include "proxy/body_xform.h"
#include "proxy/conn.h"
#include "proxy/request.h"
#include "proxy/stream.h"

static void finish(struct pg_request *req, int status)
{
    pg_body_done_fn done = req->local_body_done;
    req->local_body_done = NULL;
    if (status == 0)
        pg_conn_arm_timer(req->conn);
    done(req, status);
}

/* Moves n body bytes from in to what is held, through the transform when
 * there is one. */
static int take(struct pg_request *req, struct evbuffer *in, size_t n)
{
    if (req->body_xform)
        return pg_body_xform_feed(req->body_xform, in, n, req->local_body, false);
    evbuffer_remove_buffer(in, req->local_body, n);
    return 0;
}

static int xform_status(struct pg_request *req)
{
    return pg_body_xform_status(req->body_xform);
}

void pg_request_body_readable(struct pg_request *req)
{
    if (!req->local_body_done)
        return;
    struct evbuffer *in = req->conn->s->in;
    if (req->head.body == PG_BODY_LENGTH) {
        size_t have = evbuffer_get_length(in);
        size_t n = have < req->body_left ? have : (size_t)req->body_left;
        if (n && take(req, in, n) != 0) {
            finish(req, xform_status(req));
            return;
        }
        req->body_left -= n;
        req->body_bytes += n;
        req->body_done = req->body_left == 0;
    } else {
        while (!req->body_done) {
            size_t avail = 0;
            enum pg_chunked_result r = pg_chunked_next(&req->body_chunked, in, &avail);
            if (r == PG_CHUNKED_MORE)
                break;
            if (r == PG_CHUNKED_ERROR) {
                finish(req, 400);
                return;
            }
            if (r == PG_CHUNKED_DONE) {
                req->body_done = true;
                break;
            }
            if (req->body_bytes + avail > req->local_body_max) {
                finish(req, 413);
                return;
            }
            if (take(req, in, avail) != 0) {
                finish(req, xform_status(req));
                return;
            }
            pg_chunked_consumed(&req->body_chunked, avail);
            req->body_bytes += avail;
        }
    }
    if (req->body_done) {
        if (req->body_xform && pg_body_xform_finish(req->body_xform, req->local_body, false) != 0)
            finish(req, xform_status(req));
        else
            finish(req, 0);
    } else if (req->local_body_hold && evbuffer_get_length(req->local_body) > req->local_body_hold) {
        finish(req, PG_BODY_HELD);
    }
}

void pg_request_read_body(struct pg_request *req, size_t max, pg_body_done_fn done)
{
    req->local_body_done = done;
    req->local_body_max = max;
    if (!req->local_body && !(req->local_body = evbuffer_new())) {
        finish(req, 500);
        return;
    }
    if (req->head.body == PG_BODY_LENGTH && req->head.content_length > max) {
        finish(req, 413);
        return;
    }
    if (req->head.body == PG_BODY_NONE || req->body_done) {
        req->body_done = true;
        finish(req, 0);
        return;
    }
    if (req->head.expect_continue && !req->continue_sent) {
        pg_conn_write(req->conn, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        req->continue_sent = true;
    }
    pg_conn_arm_timer(req->conn);
    pg_request_body_readable(req);
}
