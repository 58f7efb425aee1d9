#ifndef PHI_DETECTOR_TOKEN_H
#define PHI_DETECTOR_TOKEN_H
/* An envelope embedded in free text:
 *
 *     [ssn:phi:v1:k2:r:AbC...]
 *
 * The envelope is made of base64url and ':', so the text around it could
 * run on into it ("...6789-see"); the brackets, outside that alphabet, say
 * where it ends, and the label names the pattern, which is part of the
 * field the envelope is bound to (a phone number's envelope relabelled as
 * an SSN's does not open). A token is found by its "phi:v1:": one with the
 * label and both brackets is well formed, anything else holding
 * "phi:v1:" is a stray envelope (masked, never shown). Pure. */
#include "match.h"
#include "outbuf.h"

#define PD_ENVELOPE_PREFIX "phi:v1:"

struct pd_token {
    size_t start, end;         /* the whole token, brackets included */
    size_t env_start, env_end; /* the envelope inside */
    int kind;                  /* its label's kind; -1: not a well-formed token */
};

/* The next token (or stray envelope) at or after pos; false when none. */
bool pd_token_next(const char *text, size_t len, size_t pos, struct pd_token *t);
/* Does the text hold "phi:v1:" anywhere? */
bool pd_token_any(const char *text, size_t len);
/* "[<kind>:" and "]": what goes before and after the envelope. */
void pd_token_write_head(struct pd_out *o, enum pd_kind k);
void pd_token_write_tail(struct pd_out *o);

#endif
