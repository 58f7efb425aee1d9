#ifndef PHIGUARD_REQUEST_BODY_H
#define PHIGUARD_REQUEST_BODY_H
/* A small request body that phiguard reads whole and answers itself (a
 * login form), instead of streaming it to the upstream. */
#include <stddef.h>

struct pg_request;

/* status 0: the body is in req->local_body. PG_BODY_HELD: more than
 * req->local_body_hold bytes are held and the rest is still coming (the
 * caller streams it on). Otherwise the HTTP status to answer with (400 bad
 * framing or a body req->body_xform refused, 413 too large); the request
 * is still the caller's to answer. With req->body_xform set, what is held
 * is the transform's output. */
#define PG_BODY_HELD 1
typedef void (*pg_body_done_fn)(struct pg_request *req, int status);

/* Starts reading up to max bytes; done runs once, possibly from inside
 * this call when the body is already here. */
void pg_request_read_body(struct pg_request *req, size_t max, pg_body_done_fn done);
/* The client sent more bytes (called by the connection). */
void pg_request_body_readable(struct pg_request *req);

#endif
