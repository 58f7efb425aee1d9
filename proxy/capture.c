#include "proxy/capture.h"

#include <openssl/crypto.h>

int pg_capture_init(struct pg_capture *c, size_t cap)
{
    c->cap = cap;
    c->total = 0;
    c->kept = evbuffer_new();
    c->sha = EVP_MD_CTX_new();
    if (!c->kept || !c->sha || EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL) != 1) {
        pg_capture_free(c);
        return -1;
    }
    return 0;
}

void pg_capture_free(struct pg_capture *c)
{
    if (c->kept)
        evbuffer_free(c->kept);
    EVP_MD_CTX_free(c->sha);
    c->kept = NULL;
    c->sha = NULL;
}

void pg_capture_add(struct pg_capture *c, const void *data, size_t n)
{
    if (!c->sha || !n)
        return;
    EVP_DigestUpdate(c->sha, data, n);
    size_t have = evbuffer_get_length(c->kept);
    if (have < c->cap)
        evbuffer_add(c->kept, data, n < c->cap - have ? n : c->cap - have);
    c->total += n;
}

void pg_capture_add_buffer(struct pg_capture *c, struct evbuffer *from, size_t n)
{
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(from, &pos, 0, EVBUFFER_PTR_SET);
    while (n > 0) {
        struct evbuffer_iovec v[4];
        int nv = evbuffer_peek(from, (ev_ssize_t)n, &pos, v, 4);
        if (nv <= 0)
            return;
        for (int i = 0; i < nv && n > 0; i++) {
            size_t take = v[i].iov_len < n ? v[i].iov_len : n;
            pg_capture_add(c, v[i].iov_base, take);
            n -= take;
            evbuffer_ptr_set(from, &pos, take, EVBUFFER_PTR_ADD);
        }
    }
}

bool pg_capture_truncated(const struct pg_capture *c)
{
    return c->total > c->cap;
}

void pg_capture_sha256(struct pg_capture *c, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int len = 0;
    hex[0] = '\0';
    if (!c->sha || EVP_DigestFinal_ex(c->sha, md, &len) != 1 || len != 32)
        return;
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}
