#ifndef PHIGUARD_BODY_XFORM_H
#define PHIGUARD_BODY_XFORM_H
/* A JSON body rewritten in passing (issue 6): bytes taken from an
 * evbuffer, decoded when they came gzip- or deflate-encoded (zlib), run
 * through the streaming PHI rewriter (policy/rewrite.h), and appended to
 * another evbuffer, as one HTTP chunk per call when asked. Used for
 * request bodies on their way to the upstream and response bodies on their
 * way to the client. Decoded bytes count against a limit, so a small
 * compressed body cannot expand without bound. */
#include <event2/buffer.h>
#include <stdbool.h>
#include <stdint.h>

#include "policy/rewrite.h"

enum pg_body_coding { PG_CODING_IDENTITY, PG_CODING_GZIP, PG_CODING_DEFLATE };

/* The coding a Content-Encoding value names (absent, "identity", "gzip",
 * "x-gzip", "deflate"); -1 for anything else, including a list of two. */
int pg_body_coding_of(const char *value, size_t len);

struct pg_body_xform;

struct pg_body_xform *pg_body_xform_new(const struct pg_sel_set *set, const struct pg_rw_options *opt,
                                        pg_rw_value_fn value, void *arg, enum pg_body_coding coding,
                                        uint64_t max_decoded);
/* Takes n bytes from the front of in. 0, or -1 when the body is refused
 * (pg_body_xform_status says how to answer). */
int pg_body_xform_feed(struct pg_body_xform *x, struct evbuffer *in, size_t n, struct evbuffer *out, bool chunk);
/* The body ended. 0 when it was complete and valid. */
int pg_body_xform_finish(struct pg_body_xform *x, struct evbuffer *out, bool chunk);
/* A value function refuses the body with its own answer (before it returns
 * PG_RW_FAIL); the first refusal is the one reported. */
void pg_body_xform_refuse(struct pg_body_xform *x, int status, const char *code, const char *reason);
/* After a failure: 400 (not JSON, bad encoding), 413 (too large), 500. */
int pg_body_xform_status(const struct pg_body_xform *x);
/* After a failure: the error code phiguard answers with ("invalid_json",
 * "bad_content_encoding", "payload_too_large", "phi_unavailable"). */
const char *pg_body_xform_code(const struct pg_body_xform *x);
/* After a failure: the rewriter's or zlib's reason; never input bytes. */
const char *pg_body_xform_reason(const struct pg_body_xform *x);
uint64_t pg_body_xform_decoded(const struct pg_body_xform *x);
void pg_body_xform_free(struct pg_body_xform *x);

#endif
