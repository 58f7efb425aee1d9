#ifndef PHI_DETECTOR_REDACT_H
#define PHI_DETECTOR_REDACT_H
/* The way in: every match in a text replaced by an embedded envelope
 * (token.h), sealed for the field's name plus the pattern's kind
 * ("Observation.note.text#ssn"), or by its mask. Everything between the
 * matches is copied as it is. */
#include <stdbool.h>

#include "config.h"
#include "outbuf.h"

/* Seals value[0..len) for field_path into out[cap]: the envelope's length,
 * or -1 (the plugin's glue calls the host's phi_seal). */
typedef long (*pd_seal_fn)(void *ctx, const char *field_path, const char *value, size_t len, char *out, size_t cap);

struct pd_counts {
    unsigned n[PD_KINDS];
};

enum pd_redact_status {
    PD_REDACT_OK,
    PD_REDACT_NO_ROOM,     /* the result does not fit the output */
    PD_REDACT_SEAL_FAILED, /* the host could not seal (no keyring) */
};

/* seal NULL: masks, whatever the configured action. counts may be NULL.
 * On an error, o holds nothing usable. */
enum pd_redact_status pd_redact(const struct pd_config *c, const char *field_name, pd_seal_fn seal, void *ctx,
                                const char *text, size_t len, struct pd_out *o, struct pd_counts *counts);
/* "<name>#<kind>": the field an embedded envelope is bound to. -1 when it
 * does not fit cap. */
int pd_field_path(char *out, size_t cap, const char *field_name, enum pd_kind k);

#endif
