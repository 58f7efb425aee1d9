/* Request headers phase: what of the client's head may reach the upstream.
 * Hop-by-hop fields go; client-sent forwarding and request-id fields are
 * replaced by ours, since the upstream trusts whatever phiguard sends. */
#include <string.h>

#include "proxy/conn.h"
#include "proxy/filters/filters.h"
#include "proxy/request.h"
#include "proxy/worker.h"

static bool valid_request_id(const char *v, size_t n)
{
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static enum pg_filter_result headers_run(struct pg_request *req)
{
    struct pg_http_head *h = &req->head;
    pg_drop_hop_by_hop(h);
    for (int i = 0; i < h->n_headers; i++) {
        struct pg_header *hd = &h->headers[i];
        switch (hd->id) {
        case PG_H_X_FORWARDED_FOR:
        case PG_H_X_FORWARDED_PROTO:
        case PG_H_X_FORWARDED_HOST:
        case PG_H_FORWARDED:
        case PG_H_X_REAL_IP:
        case PG_H_EXPECT: /* 100-continue is answered by phiguard */
            hd->drop = true;
            break;
        case PG_H_X_REQUEST_ID:
            hd->drop = true;
            if (valid_request_id(hd->value, hd->value_len)) {
                memcpy(req->id, hd->value, hd->value_len);
                req->id[hd->value_len] = '\0';
            }
            break;
        default:
            break;
        }
    }
    struct evbuffer *add = req->up_add_headers;
    pg_add_header(add, "X-Forwarded-For", req->conn->client_ip, strlen(req->conn->client_ip));
    pg_add_header(add, "X-Forwarded-Proto", "https", 5);
    if (h->host) {
        pg_add_header(add, "X-Forwarded-Host", h->host, h->host_len);
    } else {
        /* An HTTP/1.0 request may come without Host; the upstream is
         * spoken to in HTTP/1.1, which requires one. */
        const struct pg_addr *up = &req->worker->cfg->upstream.addr;
        const char *name = up->is_unix ? "localhost" : up->text;
        pg_add_header(add, "Host", name, strlen(name));
    }
    pg_add_header(add, "X-Request-Id", req->id, strlen(req->id));
    return PG_NEXT;
}

const struct pg_filter pg_filter_headers = {
    .name = "headers",
    .phase = PG_PHASE_HEADERS,
    .run = headers_run,
};
