#ifndef PHIGUARD_CAPTURE_H
#define PHIGUARD_CAPTURE_H
/* A copy of a message body kept for the audit trail (modification
 * tracking): its first bytes up to a cap, its full length and its SHA-256,
 * so a body too long to keep is still pinned down by its hash. */
#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

struct pg_capture {
    struct evbuffer *kept;
    size_t cap;
    uint64_t total;
    EVP_MD_CTX *sha;
};

int pg_capture_init(struct pg_capture *c, size_t cap);
void pg_capture_free(struct pg_capture *c);
void pg_capture_add(struct pg_capture *c, const void *data, size_t n);
/* The first n bytes of from, which stays as it is. */
void pg_capture_add_buffer(struct pg_capture *c, struct evbuffer *from, size_t n);
bool pg_capture_truncated(const struct pg_capture *c);
/* Ends the hash: hex of SHA-256 over every byte added. */
void pg_capture_sha256(struct pg_capture *c, char hex[65]);

#endif
