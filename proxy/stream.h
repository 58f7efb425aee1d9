#ifndef PHIGUARD_STREAM_H
#define PHIGUARD_STREAM_H
/* A non-blocking byte stream over a socket, plain or TLS, with an input and
 * an output buffer.
 *
 * Why not libevent's bufferevents: a socket bufferevent only writes when
 * the loop reports the socket writable, so every response costs an extra
 * loop pass and two epoll_ctl calls per direction. A stream registers its
 * socket once, edge-triggered, for reading and writing, writes as soon as
 * bytes are queued, and reads until the kernel has no more: a proxied
 * request then costs about as many system calls as it does in nginx. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <sys/socket.h>

enum {
    PG_STREAM_CONNECTED = 1, /* TCP connect or TLS handshake completed */
    PG_STREAM_EOF = 2,       /* the peer closed its side (TLS: close_notify or FIN) */
    PG_STREAM_ERROR = 4,     /* I/O or TLS failure; errno-like code in s->error */
};

struct pg_stream;
typedef void (*pg_stream_cb)(struct pg_stream *s, void *arg);
typedef void (*pg_stream_event_cb)(struct pg_stream *s, int what, void *arg);

struct pg_stream {
    struct event ev;
    int fd;
    SSL *ssl;
    struct evbuffer *in, *out;
    size_t read_high; /* reading pauses while this much input is unconsumed */
    int error;        /* errno, or -1 for a TLS failure */
    unsigned long ssl_error; /* the OpenSSL error behind a TLS failure */
    pg_stream_cb on_read, on_drain; /* on_drain: the output buffer emptied */
    pg_stream_event_cb on_event;
    void *arg;
    /* State. */
    bool readable, writable; /* the kernel said so since our last EAGAIN */
    bool reading;            /* the owner wants input */
    bool connecting, handshaking, handshake_started, open;
    bool eof, failed, write_shut;
    bool peer_closed;        /* EPOLLRDHUP seen: the peer sent its FIN */
    bool ssl_write_wants_read;
    int ssl_retry_len;       /* an SSL_write to retry with the same length */
    int depth;               /* callbacks of this stream on the stack */
    bool dead;               /* freed while a callback ran: free on unwind */
};

/* A TLS server stream over an accepted socket; the handshake starts at once.
 * Takes ownership of fd and ssl. NULL on allocation failure (fd and ssl
 * are then freed). */
struct pg_stream *pg_stream_accept_tls(struct event_base *base, int fd, SSL *ssl);
/* A plain stream connecting to sa. Output may be queued before the
 * connection completes. NULL when the socket cannot be created. */
struct pg_stream *pg_stream_connect(struct event_base *base, const struct sockaddr *sa, socklen_t len);

void pg_stream_setcb(struct pg_stream *s, pg_stream_cb on_read, pg_stream_cb on_drain, pg_stream_event_cb on_event,
                     void *arg);
void pg_stream_read_enable(struct pg_stream *s);
void pg_stream_read_disable(struct pg_stream *s);
/* Writes what is queued in s->out now, as far as the kernel takes it; the
 * rest goes when the socket is writable again. Call it after queueing. */
void pg_stream_flush(struct pg_stream *s);
/* Sends TLS close_notify (if TLS) and, when fin, a FIN at once; reading
 * goes on. */
void pg_stream_shutdown_write(struct pg_stream *s, bool fin);
/* Closes the socket and frees the stream (deferred when called from one of
 * its own callbacks). */
void pg_stream_free(struct pg_stream *s);

#endif
