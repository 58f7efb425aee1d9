#ifndef PHIGUARD_UPSTREAM_H
#define PHIGUARD_UPSTREAM_H
/* Connections to the upstream app: a per-worker keep-alive pool, the
 * request sent with its body streamed as it arrives, the response relayed
 * with backpressure both ways, 502 and 504. */
#include <event2/event.h>
#include <stdbool.h>

struct pg_worker;
struct pg_request;
struct pg_stream;

struct pg_upconn {
    struct pg_worker *worker;
    struct pg_upconn *next; /* in the worker's idle list */
    struct pg_stream *s;
    struct event *idle_timer; /* while pooled */
    struct pg_request *req; /* NULL while idle in the pool */
    bool connected;
    bool reused;
    bool got_data; /* any byte of a response arrived */
    bool paused_client; /* we paused client reading because our output is full */
    bool fin_pending;   /* tunnel: send FIN once the output is flushed */
};

/* Starts the exchange for req (which passed the request phases). Answers
 * 502 itself when no connection can be made. */
void pg_upstream_start(struct pg_request *req);
/* Client -> upstream: moves request body bytes now in the client's input. */
void pg_upstream_pump_request(struct pg_request *req);
/* Upstream -> client: moves response bytes (after backpressure lifts). */
void pg_upstream_pump_response(struct pg_request *req);
/* The request is going away before the exchange completed: close the
 * upstream connection (it cannot be reused mid-message). */
void pg_upstream_abort(struct pg_request *req);
/* A response held before its head went to the client (a plugin's
 * response_headers hook suspended) goes on. */
void pg_upstream_release_held(struct pg_request *req);
/* Tunnel relays after an upgrade. */
void pg_upstream_tunnel_to_upstream(struct pg_request *req);
/* Tunnel: the client half-closed; pass the FIN on after the queued bytes. */
void pg_upstream_shutdown_write(struct pg_upconn *u);
/* Frees the worker's pooled connections. */
void pg_upstream_pool_clear(struct pg_worker *w);

#endif
