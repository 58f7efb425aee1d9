#ifndef PHI_DETECTOR_OUTBUF_H
#define PHI_DETECTOR_OUTBUF_H
/* A bounded output buffer: writes past the capacity are dropped and
 * remembered, so a builder checks once at the end instead of after every
 * piece. */
#include <stdbool.h>
#include <stddef.h>

struct pd_out {
    char *data;
    size_t cap, len;
    bool full; /* something did not fit: the contents are not to be used */
};

void pd_out_init(struct pd_out *o, char *data, size_t cap);
void pd_out_put(struct pd_out *o, const char *s, size_t n);
void pd_out_str(struct pd_out *o, const char *s);
/* The unused space (after len), for a writer that fills it itself and then
 * calls pd_out_grew. */
char *pd_out_tail(struct pd_out *o, size_t *room);
void pd_out_grew(struct pd_out *o, size_t n);

#endif
