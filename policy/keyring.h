#ifndef PHIGUARD_POLICY_KEYRING_H
#define PHIGUARD_POLICY_KEYRING_H
/* The PHI keyring (a Kubernetes Secret in production): text, one key per
 * line, and the id of the key that encrypts:
 *
 *     # comments and blank lines are ignored
 *     active k2
 *     k1 <base64 of 32 random bytes>
 *     k2 <base64 of 32 random bytes>
 *
 * Every listed key decrypts; rotation adds a key and makes it active. Pure:
 * the caller reads and writes the file. */
#include <stddef.h>

#include "policy/envelope.h"
#include "policy/policy.h"

#define PG_KEYRING_MAX 64

struct pg_keyring {
    struct pg_phi_key keys[PG_KEYRING_MAX];
    int n;
    int active; /* index into keys */
};

/* Parses the file's text; 0, or -1 with every error as NAME:LINE: what. */
int pg_keyring_parse(const char *name, const char *text, size_t len, struct pg_keyring *out,
                     struct pg_policy_errors *errs);
void pg_keyring_wipe(struct pg_keyring *k);

#endif
