#include <string.h>

#include "proxy/filters/filters.h"
#include "proxy/http1.h"

bool pg_is_hop_by_hop(const struct pg_header *hd)
{
    static const char *const names[] = {
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-authorization", "proxy-authenticate", "content-length",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (pg_header_is(hd, names[i]))
            return true;
    return false;
}

void pg_drop_hop_by_hop(struct pg_http_head *h)
{
    for (int i = 0; i < h->n_headers; i++)
        if (pg_is_hop_by_hop(&h->headers[i]))
            h->headers[i].drop = true;
    for (int i = 0; i < h->n_headers; i++) {
        const struct pg_header *conn = &h->headers[i];
        if (!pg_header_is(conn, "connection"))
            continue;
        for (int j = 0; j < h->n_headers; j++) {
            struct pg_header *hd = &h->headers[j];
            char name[128];
            if (hd->drop || hd->name_len >= sizeof name)
                continue;
            memcpy(name, hd->name, hd->name_len);
            name[hd->name_len] = '\0';
            if (pg_http_list_has(conn->value, conn->value_len, name))
                hd->drop = true;
        }
    }
}
