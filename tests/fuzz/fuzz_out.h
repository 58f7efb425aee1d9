#ifndef PHIGUARD_FUZZ_OUT_H
#define PHIGUARD_FUZZ_OUT_H
/* The rewriter's input in pieces and its output, for the fuzz targets
 * that compare it. */
#include <stdlib.h>
#include <string.h>

#include "policy/rewrite.h"

struct fuzz_out {
    char *buf;
    size_t len, cap;
};

/* A pg_rw_write_fn body: 0, or -1 when memory runs out. */
static inline int fuzz_out_append(struct fuzz_out *o, const char *d, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = (o->len + n) * 2;
        char *b = realloc(o->buf, cap);
        if (!b)
            return -1;
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, d, n);
    o->len += n;
    return 0;
}

/* Feeds body in pieces of 1 to max_piece bytes drawn from seed (a cut
 * may fall anywhere), then finishes: the rewriter's result. */
static inline int fuzz_feed_pieces(struct pg_rewriter *rw, const unsigned char *body, size_t len, unsigned seed,
                                   unsigned max_piece)
{
    int rc = 0;
    for (size_t at = 0; at < len && rc == 0;) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = 1 + (seed >> 16) % max_piece;
        if (piece > len - at)
            piece = len - at;
        rc = pg_rewriter_feed(rw, (const char *)body + at, piece);
        at += piece;
    }
    return rc == 0 ? pg_rewriter_finish(rw) : rc;
}
#endif
