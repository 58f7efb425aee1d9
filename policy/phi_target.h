#ifndef PHIGUARD_POLICY_PHI_TARGET_H
#define PHIGUARD_POLICY_PHI_TARGET_H
/* Searchable PHI in a request target (issue 6): GET /fhir/Patient?identifier=123-45-6789
 * reaches the unmodified backend as ?identifier=phi:v1:k2:d:..., the form
 * its records hold, so its equality lookup still finds them. Query
 * parameters are listed in a route's phi.query, path segments ({param}) in
 * phi.path. Pure: the caller gives the keyring. */
#include <stddef.h>

#include "policy/keyring.h"
#include "policy/policy.h"

enum pg_phi_target_result {
    PG_PHI_TARGET_SAME,    /* nothing to rewrite: *out is NULL */
    PG_PHI_TARGET_NEW,     /* *out holds the new target (malloc'd, NUL-terminated) */
    PG_PHI_TARGET_REFUSE,  /* the target cannot be rewritten safely: answer 400 with *why */
    PG_PHI_TARGET_FAILED,  /* out of memory or sealing failed: answer 500 */
};

/* target: path?query as received (path_len bytes of path). Query values:
 * each comma-separated value (FHIR's "or") is percent-decoded, sealed in
 * mode d under every key of the ring (pg_phi_query_value), and written
 * back percent-encoded. A listed parameter with a FHIR modifier
 * (identifier:contains=...) is refused: a modifier cannot match
 * ciphertext, and sending it on would put plaintext in the backend's
 * logs. Path segments are sealed under the active key only (one segment
 * can name one value). */
enum pg_phi_target_result pg_phi_target_rewrite(const struct pg_policy *p, const struct pg_route *r,
                                                const struct pg_keyring *ring, const char *target, size_t target_len,
                                                size_t path_len, char **out, size_t *out_len, const char **why);

#endif
