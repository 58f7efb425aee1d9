#ifndef PHIGUARD_UPSTREAM_FETCH_H
#define PHIGUARD_UPSTREAM_FETCH_H
/* A request phiguard itself sends the upstream app, on a connection of its
 * own, closed after: modification tracking fetches the resource as it was
 * before a change. The answer arrives once, on the worker's loop. */
#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

struct pg_worker;
struct pg_fetch;

struct pg_capture;

/* status: the app's status, or 0 when no answer came (connect failed,
 * timed out, malformed). The body went into the caller's capture (its
 * first bytes, length and hash). */
typedef void (*pg_fetch_done)(void *arg, int status);

/* head: a complete request head ("GET /x HTTP/1.1\r\n...\r\n\r\n"). NULL
 * when it cannot start (done is then not called). body must outlive the
 * fetch. */
struct pg_fetch *pg_fetch_start(struct pg_worker *w, const char *head, size_t head_len, struct pg_capture *body,
                                uint32_t timeout_ms, pg_fetch_done done, void *arg);
/* The requester left: done is never called, the connection closes. */
void pg_fetch_cancel(struct pg_fetch *f);

#endif
