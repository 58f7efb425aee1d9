#ifndef PHIGUARD_FUZZ_OUT_H
#define PHIGUARD_FUZZ_OUT_H
/* The rewriter's output, collected by the fuzz targets that compare it. */
#include <stdlib.h>
#include <string.h>

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
#endif
