#ifndef PHIGUARD_POLICY_SCRUB_H
#define PHIGUARD_POLICY_SCRUB_H
/* Stray PHI envelopes in a response no rewriter reads (a JSON answer on a
 * route without PHI fields, with phi.scan_responses: json): the body is
 * searched for "phi:v1:" as it passes, and what follows it (key id, mode,
 * ciphertext: the characters an envelope is made of) is overwritten with
 * '*' in place. The length does not change, so the response keeps its
 * framing and needs no JSON parse; what the client gets of an envelope is
 * its prefix and stars. A prefix split across pieces is found: the state
 * carries over. Pure. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pg_scrub {
    int matched;     /* bytes of "phi:v1:" matched at the end of the last piece */
    bool in_envelope; /* masking: the last piece ended inside an envelope */
    uint32_t found;  /* envelopes found so far */
};

void pg_scrub_init(struct pg_scrub *s);
/* Masks in place the envelopes in data; returns how many began here. */
uint32_t pg_scrub(struct pg_scrub *s, char *data, size_t len);

#endif
