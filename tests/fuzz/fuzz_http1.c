/* libFuzzer target: the HTTP/1.1 parsing path on arbitrary bytes, both
 * directions. The first byte b picks the mode (b % 3) and a variant
 * (b / 3):
 *   0  a request head, then its body through the chunked decoder when it
 *      is chunked, then the head as the proxy forwards it, which must
 *      parse again to the same framing (else the backend could read a
 *      different message than phiguard checked: request smuggling);
 *   1  a response head to a request whose method the variant picks (HEAD
 *      and CONNECT change framing), its body, and the same re-framing
 *      check;
 *   2  the chunked decoder alone, fed in two pieces cut where the variant
 *      says, so partial-input paths run too. */
#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proxy/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct pg_http_limits lim = {.max_head_bytes = 8192, .max_headers = 64};

/* Runs a chunked body through the decoder, cut in two at cut. */
static enum pg_chunked_result decode_chunked(const char *p, size_t n, size_t cut)
{
    struct evbuffer *in = evbuffer_new();
    struct pg_chunked d = {0};
    enum pg_chunked_result r = PG_CHUNKED_MORE;
    if (cut > n)
        cut = n;
    for (int pass = 0; pass < 2 && r != PG_CHUNKED_ERROR && r != PG_CHUNKED_DONE; pass++) {
        if (pass == 0)
            evbuffer_add(in, p, cut);
        else
            evbuffer_add(in, p + cut, n - cut);
        for (;;) {
            size_t avail = 0;
            r = pg_chunked_next(&d, in, &avail);
            if (r != PG_CHUNKED_DATA)
                break;
            if (avail == 0 || avail > evbuffer_get_length(in))
                __builtin_trap(); /* data it does not have */
            evbuffer_drain(in, avail);
            pg_chunked_consumed(&d, avail);
        }
    }
    evbuffer_free(in);
    return r;
}

/* Hop-by-hop fields the proxy's filters drop before forwarding; it then
 * writes the framing it decided on itself (proxy/upstream.c). */
static void drop_hop_by_hop(struct pg_http_head *h)
{
    for (int i = 0; i < h->n_headers; i++)
        switch (h->headers[i].id) {
        case PG_H_CONNECTION:
        case PG_H_CONTENT_LENGTH:
        case PG_H_TRANSFER_ENCODING:
        case PG_H_KEEP_ALIVE:
        case PG_H_PROXY_CONNECTION:
        case PG_H_TE:
        case PG_H_TRAILER:
        case PG_H_UPGRADE:
            h->headers[i].drop = true;
            break;
        default:
            break;
        }
}

/* The head as forwarded, parsed again: the same framing, or a trap. */
static void check_reframed(struct pg_http_head *h, int request_method)
{
    if (h->minor != 1 || h->upgrade || (h->body != PG_BODY_LENGTH && h->body != PG_BODY_CHUNKED))
        return;
    drop_hop_by_hop(h);
    struct evbuffer *out = evbuffer_new();
    if (h->is_request) {
        evbuffer_add(out, h->method_name, strlen(h->method_name));
        evbuffer_add(out, " ", 1);
        evbuffer_add(out, h->target, h->target_len);
        evbuffer_add(out, " HTTP/1.1\r\n", 11);
    } else {
        pg_http_add_status_line(out, h->status, h->reason, h->reason_len);
    }
    pg_http_add_kept_headers(out, h);
    if (h->body == PG_BODY_LENGTH)
        pg_http_add_content_length(out, h->content_length);
    else
        evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
    evbuffer_add(out, "\r\n", 2);
    size_t len = evbuffer_get_length(out);
    const char *buf = (const char *)evbuffer_pullup(out, -1);
    struct pg_http_limits roomy = {.max_head_bytes = 2 * lim.max_head_bytes, .max_headers = lim.max_headers};
    if (pg_http1_scan_head(buf, len, h->is_request, &roomy) != (long)len)
        __builtin_trap();
    struct pg_http_head again;
    int rc = h->is_request ? pg_http1_parse_request(buf, len, &roomy, &again)
                           : pg_http1_parse_response(buf, len, &roomy, request_method, &again);
    if (rc != 0 || again.body != h->body || again.content_length != h->content_length ||
        (h->is_request && (again.target_len != h->target_len || memcmp(again.target, h->target, h->target_len))))
        __builtin_trap();
    pg_http_head_free(&again);
    evbuffer_free(out);
}

static void message(bool is_request, unsigned variant, const char *p, size_t n)
{
    static const int methods[] = {HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_CONNECT};
    int request_method = methods[variant % 4];
    long head = pg_http1_scan_head(p, n, is_request, &lim);
    if (head <= 0)
        return;
    if ((size_t)head > n)
        __builtin_trap();
    struct pg_http_head h;
    int rc = is_request ? pg_http1_parse_request(p, (size_t)head, &lim, &h)
                        : pg_http1_parse_response(p, (size_t)head, &lim, request_method, &h);
    if (rc == 0) {
        if (is_request) {
            size_t qlen = 0;
            const char *q = pg_http_query_value(&h, "_id", &qlen);
            if (q && (q < h.target || q + qlen > h.target + h.target_len))
                __builtin_trap();
            if (h.body == PG_BODY_UNTIL_CLOSE || h.path_len > h.target_len)
                __builtin_trap();
        }
        if (h.body == PG_BODY_CHUNKED)
            decode_chunked(p + head, n - (size_t)head, (n - (size_t)head) / 2);
        check_reframed(&h, request_method);
    }
    pg_http_head_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0] % 3, variant = data[0] / 3;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    if (mode < 2)
        message(mode == 0, variant, p, n);
    else
        decode_chunked(p, n, variant ? variant - 1 : n / 2);
    return 0;
}
