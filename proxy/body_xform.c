#include "proxy/body_xform.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "proxy/http1.h"

/* The largest piece fed contiguously (see pg_body_xform_feed). */
#define PULLUP_MAX 16384

#define INFLATE_BUF 16384

struct pg_body_xform {
    struct pg_rewriter *rw;
    enum pg_body_coding coding;
    z_stream z;
    bool z_open, z_ended;
    uint64_t fed, decoded, max_decoded;
    pg_rw_value_fn value;  /* the caller's, with its argument: the rewriter has one for both */
    void *value_arg;
    struct evbuffer *sink;   /* where the rewriter's output goes during one call */
    struct evbuffer *staged; /* a chunk's bytes before its size is written; made on first use */
    int status;
    const char *code, *reason;
};

int pg_body_coding_of(const char *value, size_t len)
{
    if (!value || len == 0)
        return PG_CODING_IDENTITY;
    static const struct {
        const char *name;
        int coding;
    } names[] = {{"identity", PG_CODING_IDENTITY}, {"gzip", PG_CODING_GZIP}, {"x-gzip", PG_CODING_GZIP},
                 {"deflate", PG_CODING_DEFLATE}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && strncasecmp(value, names[i].name, len) == 0)
            return names[i].coding;
    return -1;
}

/* The rewriter gathers its output itself and writes it in runs. */
static int write_out(void *arg, const char *data, size_t len)
{
    struct pg_body_xform *x = arg;
    return evbuffer_add(x->sink, data, len);
}

static enum pg_rw_action value_of(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    struct pg_body_xform *x = arg;
    return x->value(x->value_arg, v, out);
}

struct pg_body_xform *pg_body_xform_new(const struct pg_sel_set *set, const struct pg_rw_options *opt,
                                        pg_rw_value_fn value, void *arg, enum pg_body_coding coding,
                                        uint64_t max_decoded)
{
    struct pg_body_xform *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->coding = coding;
    x->max_decoded = max_decoded;
    x->value = value;
    x->value_arg = arg;
    x->rw = pg_rewriter_new(set, opt, value_of, write_out, x);
    if (!x->rw) {
        free(x);
        return NULL;
    }
    if (coding != PG_CODING_IDENTITY) {
        /* 16 + MAX_WBITS: a gzip wrapper; MAX_WBITS: the zlib wrapper that
         * the "deflate" coding names (RFC 9110 §8.4.1.2). */
        if (inflateInit2(&x->z, coding == PG_CODING_GZIP ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) {
            pg_rewriter_free(x->rw);
            free(x);
            return NULL;
        }
        x->z_open = true;
    }
    return x;
}

static int fail(struct pg_body_xform *x, int status, const char *code, const char *reason)
{
    if (!x->status) {
        x->status = status;
        x->code = code;
        x->reason = reason;
    }
    return -1;
}

void pg_body_xform_refuse(struct pg_body_xform *x, int status, const char *code, const char *reason)
{
    fail(x, status, code, reason);
}

static int feed_rewriter(struct pg_body_xform *x, const char *data, size_t len)
{
    if (len && pg_rewriter_feed(x->rw, data, len) != 0)
        return fail(x, 400, "invalid_json", pg_rewriter_error(x->rw));
    return 0;
}

static int rewrite(struct pg_body_xform *x, const char *data, size_t len)
{
    x->decoded += len;
    if (x->decoded > x->max_decoded)
        return fail(x, 413, "payload_too_large", "the decoded body is over limits.max_body_bytes");
    return feed_rewriter(x, data, len);
}

static int inflate_piece(struct pg_body_xform *x, const unsigned char *data, size_t len)
{
    unsigned char buf[INFLATE_BUF];
    x->z.next_in = (unsigned char *)data;
    x->z.avail_in = (uInt)len;
    while (x->z.avail_in > 0) {
        if (x->z_ended) {
            /* Concatenated gzip members are one body (RFC 1952 §2.2). */
            if (x->coding != PG_CODING_GZIP || inflateReset(&x->z) != Z_OK)
                return fail(x, 400, "bad_content_encoding", "bytes after the end of the deflate stream");
            x->z_ended = false;
        }
        x->z.next_out = buf;
        x->z.avail_out = sizeof buf;
        int rc = inflate(&x->z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return fail(x, 400, "bad_content_encoding", "the body does not decode (gzip/deflate)");
        size_t got = sizeof buf - x->z.avail_out;
        if (got && rewrite(x, (const char *)buf, got) != 0)
            return -1;
        if (rc == Z_STREAM_END)
            x->z_ended = true;
        else if (rc == Z_BUF_ERROR && got == 0)
            break;
    }
    return 0;
}

static void frame(struct evbuffer *staged, struct evbuffer *out, bool chunk)
{
    size_t n = evbuffer_get_length(staged);
    if (!n)
        return;
    if (chunk)
        pg_chunk_begin(out, n);
    evbuffer_add_buffer(out, staged);
    if (chunk)
        pg_chunk_end(out);
}

/* Output of one call goes to a staging buffer first when it is chunked:
 * the chunk size must be known before its bytes. */
static struct evbuffer *begin_call(struct pg_body_xform *x, struct evbuffer *out, bool chunk)
{
    if (chunk && !x->staged)
        x->staged = evbuffer_new();
    x->sink = chunk ? x->staged : out;
    return x->sink;
}

static int end_call(struct pg_body_xform *x, struct evbuffer *out, bool chunk, int rc)
{
    if (chunk) {
        if (rc == 0)
            frame(x->sink, out, true);
        else
            evbuffer_drain(x->sink, evbuffer_get_length(x->sink));
    }
    x->sink = NULL;
    return rc;
}

int pg_body_xform_feed(struct pg_body_xform *x, struct evbuffer *in, size_t n, struct evbuffer *out, bool chunk)
{
    if (x->status)
        return -1;
    if (!begin_call(x, out, chunk))
        return fail(x, 500, "internal_error", "out of memory");
    int rc = 0;
    size_t left = n;
    x->fed += n;
    /* A small piece spread over several of the buffer's segments is made
     * contiguous first: copying a few KiB costs less than the rewriter's
     * carrying a token cut between two feeds. */
    if (n <= PULLUP_MAX && evbuffer_get_contiguous_space(in) < n)
        evbuffer_pullup(in, (ev_ssize_t)n);
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
    while (left > 0 && rc == 0) {
        struct evbuffer_iovec v[8];
        int nv = evbuffer_peek(in, (ev_ssize_t)left, &pos, v, 8);
        if (nv <= 0)
            break;
        for (int i = 0; i < nv && left > 0 && rc == 0; i++) {
            size_t take = v[i].iov_len < left ? v[i].iov_len : left;
            rc = x->z_open ? inflate_piece(x, v[i].iov_base, take) : rewrite(x, v[i].iov_base, take);
            left -= take;
            evbuffer_ptr_set(in, &pos, take, EVBUFFER_PTR_ADD);
        }
    }
    evbuffer_drain(in, n);
    return end_call(x, out, chunk, rc);
}

int pg_body_xform_finish(struct pg_body_xform *x, struct evbuffer *out, bool chunk)
{
    if (x->status)
        return -1;
    if (!begin_call(x, out, chunk))
        return fail(x, 500, "internal_error", "out of memory");
    int rc = 0;
    if (x->fed == 0)
        ; /* no body at all: nothing to rewrite */
    else if (x->z_open && !x->z_ended)
        rc = fail(x, 400, "bad_content_encoding", "the encoded body ended early");
    else if (pg_rewriter_finish(x->rw) != 0)
        rc = fail(x, 400, "invalid_json", pg_rewriter_error(x->rw));
    return end_call(x, out, chunk, rc);
}

int pg_body_xform_status(const struct pg_body_xform *x)
{
    return x->status ? x->status : 500;
}

const char *pg_body_xform_code(const struct pg_body_xform *x)
{
    return x->code ? x->code : "internal_error";
}

const char *pg_body_xform_reason(const struct pg_body_xform *x)
{
    return x->reason ? x->reason : "";
}

uint64_t pg_body_xform_decoded(const struct pg_body_xform *x)
{
    return x->decoded;
}

void pg_body_xform_free(struct pg_body_xform *x)
{
    if (!x)
        return;
    if (x->z_open)
        inflateEnd(&x->z);
    if (x->staged)
        evbuffer_free(x->staged);
    pg_rewriter_free(x->rw);
    free(x);
}
