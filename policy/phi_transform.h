#ifndef PHIGUARD_POLICY_PHI_TRANSFORM_H
#define PHIGUARD_POLICY_PHI_TRANSFORM_H
/* What phiguard puts in place of one PHI value (issue 6): the value
 * functions the streaming rewriter (policy/rewrite.h) calls, one per
 * direction, and the rewriting of searchable query values. Pure: keys come
 * from the caller's keyring.
 *
 * Request (client to upstream), pg_phi_seal_value: every selected string,
 * number or boolean becomes an envelope under the keyring's active key:
 * mode 'd' (AES-256-SIV) when the field is searchable, after its
 * normalisation (digits, lower), mode 'r' (AES-256-GCM) otherwise. A value
 * that already is an envelope is refused (PG_RW_FAIL): a client must not
 * plant ciphertext it cannot read. Containers are descended into.
 *
 * Response (upstream to client), pg_phi_reveal_value:
 *  - an envelope that opens: to a requester holding the field's read
 *    permission, the original token (type restored); to others, the field's
 *    `others` action: mask ("***", or "***" and the last N characters of the
 *    plaintext for mask lastN), or redact (removed);
 *  - an envelope that does not open (unknown key, bad tag, malformed, moved
 *    from another field): "***" for everyone, counted as failed;
 *  - a plain value (stored before phiguard, or made by the app): kept for a
 *    reader, masked or removed for others;
 *  - a selected container: removed whole when the field's action is redact
 *    and the requester cannot read; otherwise descended into;
 *  - a stray envelope (field -1): "***", counted as stray.
 * A field whose action is deny is refused before the request is forwarded
 * (the proxy's job); should one reach this function for a requester who
 * cannot read it, it is masked. */
#include <stddef.h>
#include <stdint.h>

#include "policy/keyring.h"
#include "policy/policy.h"
#include "policy/rewrite.h"

#define PG_PHI_MASK_TEXT "***"

/* Per field: what happened to its values in one body. */
struct pg_phi_tally {
    uint32_t sealed;  /* request: encrypted */
    uint32_t opened;  /* response: decrypted for a reader */
    uint32_t masked;  /* response: masked (a non-reader, or a failed envelope) */
    uint32_t removed; /* response: redacted */
    uint32_t failed;  /* response: an envelope that did not open */
    uint32_t plain;   /* response: a value that was not an envelope */
};

struct pg_phi_pass {
    const struct pg_keyring *ring;
    const struct pg_phi_field *fields; /* the route's fields of this direction, as the set was built */
    int nfields;
    pg_permset perms;            /* response: what the requester holds */
    struct pg_phi_tally *tally;  /* nfields + 1 entries, zeroed by the caller; [nfields] counts strays */
};

enum pg_rw_action pg_phi_seal_value(void *pass, const struct pg_rw_value *v, struct pg_rw_token *out);
enum pg_rw_action pg_phi_reveal_value(void *pass, const struct pg_rw_value *v, struct pg_rw_token *out);

/* Normalises a searchable value (digits: keep only 0-9; lower: ASCII lower
 * case). Returns the length written to out (cap >= len), never fails. */
size_t pg_phi_normalize(enum pg_phi_normalize n, const char *in, size_t len, char *out);

/* A searchable query value (already percent-decoded) for field, as the
 * backend stores it: normalised and sealed in mode 'd' under every key of
 * the ring, the active key first, joined by commas (FHIR search reads a
 * comma as "or", so a lookup matches records written under an older key
 * during a rotation). A FHIR token "system|value" keeps its system and
 * seals only the value. Writes a NUL-terminated string; returns its
 * length, or -1 (cap too small, or sealing failed). The caller
 * percent-encodes the result for the query string. */
long pg_phi_query_value(const struct pg_keyring *ring, const struct pg_phi_field *field, const char *value,
                        size_t len, char *out, size_t cap);

#endif
