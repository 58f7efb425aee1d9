#include "proxy/stream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_CHUNK 16384
#define TLS_RECORD 16384

static void stream_cb(evutil_socket_t fd, short what, void *arg);

/* Reading stops at read_high; when the owner consumes input below it
 * again, bytes the kernel still holds must be read without waiting for an
 * edge that will not come. */
static void input_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct pg_stream *s = arg;
    if (info->n_deleted && info->orig_size >= s->read_high && evbuffer_get_length(buf) < s->read_high &&
        s->readable && s->reading && s->open && !s->eof && !s->dead)
        event_active(&s->ev, EV_READ, 0);
}

static struct pg_stream *stream_new(struct event_base *base, int fd, SSL *ssl)
{
    struct pg_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fd = fd;
    s->ssl = ssl;
    s->in = evbuffer_new();
    s->out = evbuffer_new();
    s->read_high = 256 * 1024;
    s->reading = true;
    if (!s->in || !s->out || !evbuffer_add_cb(s->in, input_drained, s) ||
        event_assign(&s->ev, base, fd, EV_READ | EV_WRITE | EV_CLOSED | EV_PERSIST | EV_ET, stream_cb, s) != 0 ||
        event_add(&s->ev, NULL) != 0) {
        if (s->in)
            evbuffer_free(s->in);
        if (s->out)
            evbuffer_free(s->out);
        free(s);
        return NULL;
    }
    return s;
}

struct pg_stream *pg_stream_accept_tls(struct event_base *base, int fd, SSL *ssl)
{
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    struct pg_stream *s = stream_new(base, fd, ssl);
    if (!s) {
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    s->handshaking = true;
    return s;
}

struct pg_stream *pg_stream_connect(struct event_base *base, const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int rc = connect(fd, sa, len);
    int err = rc == 0 ? 0 : errno;
    struct pg_stream *s = stream_new(base, fd, NULL);
    if (!s) {
        close(fd);
        return NULL;
    }
    s->connecting = true;
    if (rc != 0 && err != EINPROGRESS) {
        /* Reported from the loop, never from inside the caller. */
        s->failed = true;
        s->error = err;
        event_active(&s->ev, EV_WRITE, 0);
    }
    return s;
}

void pg_stream_setcb(struct pg_stream *s, pg_stream_cb on_read, pg_stream_cb on_drain, pg_stream_event_cb on_event,
                     void *arg)
{
    s->on_read = on_read;
    s->on_drain = on_drain;
    s->on_event = on_event;
    s->arg = arg;
}

static void finalize(struct pg_stream *s)
{
    event_del(&s->ev);
    if (s->ssl)
        SSL_free(s->ssl);
    if (s->fd >= 0)
        close(s->fd);
    evbuffer_free(s->in);
    evbuffer_free(s->out);
    free(s);
}

void pg_stream_free(struct pg_stream *s)
{
    if (!s)
        return;
    if (s->depth > 0) {
        s->dead = true;
        event_del(&s->ev);
        return;
    }
    finalize(s);
}

void pg_stream_read_enable(struct pg_stream *s)
{
    if (s->reading)
        return;
    s->reading = true;
    /* The edge that said "readable" may have come and gone while reading
     * was off: read from the loop. */
    if (s->readable && s->open && !s->dead)
        event_active(&s->ev, EV_READ, 0);
}

void pg_stream_read_disable(struct pg_stream *s)
{
    s->reading = false;
}

static void set_tls_failure(struct pg_stream *s)
{
    s->failed = true;
    s->error = errno ? errno : -1;
    s->ssl_error = ERR_peek_last_error();
    ERR_clear_error();
}

/* Writes as much of s->out as the kernel takes. Returns -1 on failure. */
static int do_write(struct pg_stream *s)
{
    if (s->ssl) {
        while (evbuffer_get_length(s->out) > 0) {
            size_t have = evbuffer_get_length(s->out);
            int len = s->ssl_retry_len ? s->ssl_retry_len : (int)(have < TLS_RECORD ? have : TLS_RECORD);
            void *p = evbuffer_pullup(s->out, len);
            ERR_clear_error();
            errno = 0;
            int n = SSL_write(s->ssl, p, len);
            if (n > 0) {
                evbuffer_drain(s->out, (size_t)n);
                s->ssl_retry_len = 0;
                continue;
            }
            /* OpenSSL wants the same length again when it retries. */
            s->ssl_retry_len = len;
            switch (SSL_get_error(s->ssl, n)) {
            case SSL_ERROR_WANT_WRITE:
                s->writable = false;
                return 0;
            case SSL_ERROR_WANT_READ:
                s->ssl_write_wants_read = true;
                return 0;
            default:
                set_tls_failure(s);
                return -1;
            }
        }
        s->ssl_write_wants_read = false;
        return 0;
    }
    while (evbuffer_get_length(s->out) > 0) {
        int n = evbuffer_write(s->out, s->fd);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s->writable = false;
            return 0;
        }
        s->failed = true;
        s->error = n < 0 ? errno : EPIPE;
        return -1;
    }
    return 0;
}

/* Reads until the kernel (or OpenSSL) has no more, or the input is full.
 * Returns 1 when bytes arrived, 0 when none, -1 on failure. */
static int do_read(struct pg_stream *s)
{
    int got = 0;
    while (!s->eof && evbuffer_get_length(s->in) < s->read_high) {
        struct evbuffer_iovec v[2];
        if (s->ssl) {
            if (evbuffer_reserve_space(s->in, READ_CHUNK, v, 1) < 1)
                return -1;
            ERR_clear_error();
            errno = 0;
            int n = SSL_read(s->ssl, v[0].iov_base, (int)v[0].iov_len);
            if (n > 0) {
                v[0].iov_len = (size_t)n;
                evbuffer_commit_space(s->in, v, 1);
                got = 1;
                continue;
            }
            evbuffer_commit_space(s->in, v, 0);
            switch (SSL_get_error(s->ssl, n)) {
            case SSL_ERROR_WANT_READ:
                s->readable = false;
                return got;
            case SSL_ERROR_WANT_WRITE:
                s->writable = false;
                return got;
            case SSL_ERROR_ZERO_RETURN:
                s->eof = true;
                return got;
            case SSL_ERROR_SYSCALL:
                if (errno == 0) { /* FIN without close_notify */
                    s->eof = true;
                    return got;
                }
                /* fall through */
            default:
                set_tls_failure(s);
                return -1;
            }
        }
        int nv = evbuffer_reserve_space(s->in, READ_CHUNK, v, 2);
        if (nv < 1)
            return -1;
        size_t want = 0;
        for (int i = 0; i < nv; i++)
            want += v[i].iov_len;
        ssize_t n = readv(s->fd, v, nv);
        if (n > 0) {
            size_t left = (size_t)n;
            for (int i = 0; i < nv; i++) {
                if (v[i].iov_len > left)
                    v[i].iov_len = left;
                left -= v[i].iov_len;
            }
            evbuffer_commit_space(s->in, v, nv);
            got = 1;
            /* A short read emptied the socket; the next byte brings a new
             * edge, so no read is needed just to see EAGAIN. A FIN that came
             * with the data brings no edge of its own: once the peer is known
             * to have closed (EPOLLRDHUP), read on until the 0. */
            if ((size_t)n < want && !s->peer_closed) {
                s->readable = false;
                return got;
            }
            continue;
        }
        evbuffer_commit_space(s->in, v, 0);
        if (n == 0) {
            s->eof = true;
            return got;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            s->readable = false;
            return got;
        }
        s->failed = true;
        s->error = errno;
        return -1;
    }
    return got;
}

void pg_stream_flush(struct pg_stream *s)
{
    if (s->dead || !s->open || s->failed || !s->writable)
        return; /* the loop writes once connected, or once writable again */
    if (do_write(s) < 0)
        event_active(&s->ev, EV_WRITE, 0); /* report the failure from the loop */
}

void pg_stream_shutdown_write(struct pg_stream *s, bool fin)
{
    if (s->write_shut || s->dead)
        return;
    s->write_shut = true;
    if (s->ssl && s->open) {
        ERR_clear_error();
        SSL_shutdown(s->ssl); /* queues close_notify; we do not wait for the peer's */
        ERR_clear_error();
    }
    if (fin) /* not needed when the socket is closed right after: close sends it */
        shutdown(s->fd, SHUT_WR);
}

/* Tells the owner; returns false when the owner freed the stream. */
static bool emit(struct pg_stream *s, int what)
{
    if (s->on_event)
        s->on_event(s, what, s->arg);
    return !s->dead;
}

static void handle(struct pg_stream *s)
{
    if (s->failed) {
        emit(s, PG_STREAM_ERROR);
        return;
    }
    if (s->connecting) {
        if (!s->writable)
            return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err) {
            s->failed = true;
            s->error = err;
            emit(s, PG_STREAM_ERROR);
            return;
        }
        s->connecting = false;
        s->open = true;
        if (!emit(s, PG_STREAM_CONNECTED))
            return;
    }
    if (s->handshaking) {
        /* A server handshake starts with the client's hello: trying before
         * any byte has arrived would only cost a read that finds nothing. */
        if (!s->readable && !s->handshake_started)
            return;
        s->handshake_started = true;
        ERR_clear_error();
        errno = 0;
        int r = SSL_do_handshake(s->ssl);
        if (r != 1) {
            switch (SSL_get_error(s->ssl, r)) {
            case SSL_ERROR_WANT_READ:
                s->readable = false;
                return;
            case SSL_ERROR_WANT_WRITE:
                s->writable = false;
                return;
            default:
                set_tls_failure(s);
                emit(s, PG_STREAM_ERROR);
                return;
            }
        }
        s->handshaking = false;
        s->open = true;
        if (!emit(s, PG_STREAM_CONNECTED))
            return;
    }
    if (!s->open)
        return;
    bool had_output = evbuffer_get_length(s->out) > 0;
    if (had_output && (s->writable || (s->ssl_write_wants_read && s->readable))) {
        if (do_write(s) < 0) {
            emit(s, PG_STREAM_ERROR);
            return;
        }
        if (evbuffer_get_length(s->out) == 0 && s->on_drain) {
            s->on_drain(s, s->arg);
            if (s->dead)
                return;
        }
    }
    if (s->reading && s->readable && !s->eof) {
        int r = do_read(s);
        if (r > 0 && s->on_read) {
            s->on_read(s, s->arg);
            if (s->dead)
                return;
        }
        if (r < 0) {
            emit(s, PG_STREAM_ERROR);
            return;
        }
        if (s->eof)
            emit(s, PG_STREAM_EOF);
    }
}

static void stream_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct pg_stream *s = arg;
    if (what & (EV_READ | EV_CLOSED))
        s->readable = true;
    if (what & EV_CLOSED)
        s->peer_closed = true;
    if (what & EV_WRITE)
        s->writable = true;
    s->depth++;
    handle(s);
    s->depth--;
    if (s->dead && s->depth == 0)
        finalize(s);
}
