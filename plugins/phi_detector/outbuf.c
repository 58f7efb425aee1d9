#include "outbuf.h"

#include <string.h>

void pd_out_init(struct pd_out *o, char *data, size_t cap)
{
    *o = (struct pd_out){.data = data, .cap = cap};
}

void pd_out_put(struct pd_out *o, const char *s, size_t n)
{
    if (o->full || n > o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
}

void pd_out_str(struct pd_out *o, const char *s)
{
    pd_out_put(o, s, strlen(s));
}

char *pd_out_tail(struct pd_out *o, size_t *room)
{
    *room = o->full ? 0 : o->cap - o->len;
    return o->data + o->len;
}

void pd_out_grew(struct pd_out *o, size_t n)
{
    if (o->full || n > o->cap - o->len)
        o->full = true;
    else
        o->len += n;
}
