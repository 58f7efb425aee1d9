#ifndef PHIGUARD_CONN_H
#define PHIGUARD_CONN_H
/* A client connection over a TLS stream (proxy/stream.h): handshake, reading request
 * heads, timeouts, watermarks, half-close, lingering close, and the tunnel
 * after a protocol upgrade. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

struct pg_worker;
struct pg_request;
struct pg_stream;

enum pg_conn_state {
    PG_CONN_HANDSHAKE,
    PG_CONN_IDLE,    /* between requests */
    PG_CONN_HEAD,    /* part of a request head has arrived */
    PG_CONN_REQUEST, /* a request is being served */
    PG_CONN_TUNNEL,  /* upgraded: bytes relayed both ways */
    PG_CONN_CLOSING, /* flushing, then lingering until the client closes */
};

struct pg_conn {
    struct pg_worker *worker;
    struct pg_conn *prev, *next;
    struct pg_stream *s;
    int fd;
    enum pg_conn_state state;
    struct event *timer;
    struct event *kick; /* start the next pipelined request from a fresh callback */
    struct pg_request *req;
    char client_ip[64];
    char peer_cn[128]; /* subject CN of a verified client certificate, or "" */
    uint64_t requests;
    bool client_eof;      /* the client closed its side (half-close) */
    bool shutdown_sent;   /* close_notify and FIN sent while lingering */
    bool read_paused;     /* client reading paused: the upstream side is full */
    bool ip_counted;      /* counted in the worker's per-address table */
    bool linger;          /* the client may still be sending: read before closing */
    size_t head_seen;     /* bytes of a partial head already known to hold no new line */
};

void pg_conn_accept(struct pg_worker *w, int fd, const struct sockaddr *sa, int salen);

/* The request ended: go idle (or serve the next pipelined request), or
 * close when keep_client is false. */
void pg_conn_request_finished(struct pg_conn *c, bool keep);
/* Hands the bytes staged in buf to TLS in one piece: one record and one
 * write for a small response instead of one per fragment. buf is emptied. */
void pg_conn_send(struct pg_conn *c, struct evbuffer *buf);
/* Queues bytes for the client and writes them now if the socket takes them. */
void pg_conn_write(struct pg_conn *c, const void *data, size_t len);
/* Flush what is queued, then close. */
void pg_conn_close(struct pg_conn *c);
/* Close at once, dropping queued output (an aborted response). */
void pg_conn_abort(struct pg_conn *c);
/* Stop / resume reading from the client (backpressure). */
void pg_conn_pause_read(struct pg_conn *c);
void pg_conn_resume_read(struct pg_conn *c);
/* Re-arms the connection timer for the state it is in. */
void pg_conn_arm_timer(struct pg_conn *c);
/* The upstream answered 101: relay bytes both ways from now on. */
void pg_conn_start_tunnel(struct pg_conn *c);
/* Draining: close when idle, else after the current response. */
void pg_conn_drain(struct pg_conn *c);

#endif
