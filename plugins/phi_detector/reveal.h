#ifndef PHI_DETECTOR_REVEAL_H
#define PHI_DETECTOR_REVEAL_H
/* The way out: the embedded envelopes of a text opened for a reader (one
 * holding the read permission), masked for everyone else. A token that does
 * not open, and a stray envelope (no label or bracket), become "***" for
 * all. For a non-reader, identifiers stored in clear (before the plugin
 * was configured, or written around it) are masked too. */
#include <stdbool.h>

#include "config.h"
#include "outbuf.h"

/* Opens envelope[0..len) bound to field_path into out[cap]: the plaintext's
 * length, or -1 (the host has logged and counted it). */
typedef long (*pd_open_fn)(void *ctx, const char *field_path, const char *envelope, size_t len, char *out,
                           size_t cap);

struct pd_reveal_counts {
    unsigned opened; /* shown in clear to a reader */
    unsigned masked; /* tokens and clear identifiers masked for a non-reader */
    unsigned failed; /* tokens that did not open */
    unsigned stray;  /* envelopes that were not well-formed tokens */
};

/* false when the result does not fit o (never for a well-formed input: what
 * comes out is shorter). */
bool pd_reveal(const struct pd_config *c, const char *field_name, bool reader, pd_open_fn open, void *ctx,
               const char *text, size_t len, struct pd_out *o, struct pd_reveal_counts *counts);

#endif
