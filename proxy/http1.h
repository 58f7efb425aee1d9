#ifndef PHIGUARD_HTTP1_H
#define PHIGUARD_HTTP1_H
/* HTTP/1.1 message heads and body framing, strict (RFC 9112).
 *
 * A head is first scanned byte by byte by our own strict scanner (line
 * endings, control bytes, obs-fold, field-name syntax), then handed to
 * http-parser for the request/status line and the header callbacks; the
 * framing rules (Content-Length, Transfer-Encoding, Host) are checked on
 * the resulting header list. Bodies are not run through http-parser: the
 * proxy frames them itself so that unmodified bodies move between buffers
 * without copies, and chunked framing is decoded by pg_chunked below. */
#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pg_body_kind {
    PG_BODY_NONE,
    PG_BODY_LENGTH,
    PG_BODY_CHUNKED,
    PG_BODY_UNTIL_CLOSE, /* responses only */
};

/* Fields the proxy itself acts on, recognised once at parse time so that
 * filters compare small integers instead of names. */
enum pg_header_id {
    PG_H_OTHER = 0,
    PG_H_CONNECTION,
    PG_H_CONTENT_LENGTH,
    PG_H_TRANSFER_ENCODING,
    PG_H_HOST,
    PG_H_UPGRADE,
    PG_H_EXPECT,
    PG_H_KEEP_ALIVE,
    PG_H_PROXY_CONNECTION,
    PG_H_TE,
    PG_H_TRAILER,
    PG_H_PROXY_AUTHORIZATION,
    PG_H_PROXY_AUTHENTICATE,
    PG_H_X_FORWARDED_FOR,
    PG_H_X_FORWARDED_PROTO,
    PG_H_X_FORWARDED_HOST,
    PG_H_FORWARDED,
    PG_H_X_REAL_IP,
    PG_H_X_REQUEST_ID,
    PG_H_SERVER,
    PG_H_X_POWERED_BY,
    PG_H_STRICT_TRANSPORT_SECURITY,
    PG_H_X_CONTENT_TYPE_OPTIONS,
    PG_H_X_FRAME_OPTIONS,
    PG_H_CONTENT_SECURITY_POLICY,
    PG_H_REFERRER_POLICY,
    PG_H_AUTHORIZATION,
    PG_H_COOKIE,
    PG_H_CONTENT_TYPE,
    PG_H_CONTENT_ENCODING,
    PG_H_ACCEPT,
    PG_H_USER_AGENT,
    PG_H__COUNT
};

struct pg_header {
    const char *name;
    const char *value; /* OWS trimmed; not NUL-terminated */
    uint32_t name_len;
    uint32_t value_len;
    uint8_t id; /* enum pg_header_id */
    bool drop;  /* set by filters: not forwarded */
};

struct pg_http_head {
    char *buf; /* owned copy of the raw head; every pointer below is into it */
    size_t len;
    bool is_request;
    int method; /* enum http_method (http_parser.h) */
    const char *method_name;
    const char *target; /* request target, not NUL-terminated */
    size_t target_len;
    size_t path_len; /* target up to '?' */
    int status;
    const char *reason;
    size_t reason_len;
    unsigned short major, minor;
    struct pg_header *headers;
    int n_headers, cap_headers;
    /* Derived by the framing checks. */
    enum pg_body_kind body;
    uint64_t content_length;
    bool keep_alive;      /* what the sender asked for */
    bool upgrade;         /* request: Connection: upgrade + Upgrade */
    bool expect_continue; /* request: Expect: 100-continue */
    const char *host;     /* request: the Host value */
    size_t host_len;
};

struct pg_http_limits {
    size_t max_head_bytes;
    int max_headers;
};

/* Scans buf for a complete head. Returns its length (through the blank
 * line) when complete, 0 when more bytes are needed, or -status (-400,
 * -431) when it can never become valid. Leading CRLFs before a request
 * line are counted in the length and ignored by the parser. */
long pg_http1_scan_head(const char *buf, size_t len, bool is_request, const struct pg_http_limits *lim);

/* Parses the complete head of len bytes (as found by pg_http1_scan_head).
 * For a response, request_method is the request's method (HEAD changes
 * framing). Returns 0, or an HTTP status: 400 bad request, 431 too many
 * headers, 501 unknown transfer coding, 505 version. */
int pg_http1_parse_request(const char *buf, size_t len, const struct pg_http_limits *lim,
                           struct pg_http_head *out);
int pg_http1_parse_response(const char *buf, size_t len, const struct pg_http_limits *lim,
                            int request_method, struct pg_http_head *out);
void pg_http_head_free(struct pg_http_head *h);

struct pg_header *pg_http_find(struct pg_http_head *h, const char *name);
struct pg_header *pg_http_find_id(struct pg_http_head *h, enum pg_header_id id);
enum pg_header_id pg_header_id_of(const char *name, size_t len);
bool pg_header_is(const struct pg_header *hd, const char *name);
/* The raw (still percent-encoded) value of query parameter name in a
 * request head's target, or NULL; *len its length. */
const char *pg_http_query_value(const struct pg_http_head *h, const char *name, size_t *len);
/* True when the comma-separated value list contains token (case-insensitive). */
bool pg_http_list_has(const char *value, size_t len, const char *token);

/* Chunked framing decoder, strict: hex sizes without overflow, chunk
 * extensions syntax-checked and dropped, CRLF after each chunk's data,
 * trailer fields syntax-checked and dropped. */
struct pg_chunked {
    int state;
    uint64_t chunk_left;
    size_t trailer_bytes;
};

enum pg_chunked_result {
    PG_CHUNKED_ERROR = -1,
    PG_CHUNKED_MORE = 0, /* need more input */
    PG_CHUNKED_DATA = 1, /* *avail data bytes of the current chunk lead in */
    PG_CHUNKED_DONE = 2, /* last chunk and trailers consumed */
};

/* Consumes framing bytes from in. On PG_CHUNKED_DATA the caller takes up to
 * *avail bytes from the front of in and reports them with
 * pg_chunked_consumed before calling again. */
enum pg_chunked_result pg_chunked_next(struct pg_chunked *d, struct evbuffer *in, size_t *avail);
void pg_chunked_consumed(struct pg_chunked *d, size_t n);

/* Writes the framing of one chunk of n bytes around data moved by the
 * caller: pg_chunk_begin, the data, pg_chunk_end. */
void pg_chunk_begin(struct evbuffer *out, size_t n);
void pg_chunk_end(struct evbuffer *out);
void pg_chunk_last(struct evbuffer *out);

const char *pg_http_reason(int status);
/* "HTTP/1.1 <status> <reason>\r\n"; reason NULL: the standard phrase. */
void pg_http_add_status_line(struct evbuffer *out, int status, const char *reason, size_t reason_len);
/* Every header of h that no filter marked drop, as "Name: value\r\n". */
void pg_http_add_kept_headers(struct evbuffer *out, const struct pg_http_head *h);
/* "Content-Length: <n>\r\n" */
void pg_http_add_content_length(struct evbuffer *out, uint64_t n);

#endif
