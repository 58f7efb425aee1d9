#include <string.h>

#include "proxy/filters/filters.h"
#include "proxy/http1.h"

bool pg_is_hop_by_hop(const struct pg_header *hd)
{
    switch (hd->id) {
    case PG_H_CONNECTION:
    case PG_H_KEEP_ALIVE:
    case PG_H_PROXY_CONNECTION:
    case PG_H_TE:
    case PG_H_TRAILER:
    case PG_H_TRANSFER_ENCODING:
    case PG_H_UPGRADE:
    case PG_H_PROXY_AUTHORIZATION:
    case PG_H_PROXY_AUTHENTICATE:
    case PG_H_CONTENT_LENGTH: /* framing is phiguard's to write */
        return true;
    default:
        return false;
    }
}

void pg_drop_hop_by_hop(struct pg_http_head *h)
{
    for (int i = 0; i < h->n_headers; i++)
        if (pg_is_hop_by_hop(&h->headers[i]))
            h->headers[i].drop = true;
    for (int i = 0; i < h->n_headers; i++) {
        const struct pg_header *conn = &h->headers[i];
        if (conn->id != PG_H_CONNECTION)
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
