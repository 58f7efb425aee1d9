#ifndef PHIGUARD_POLICY_CHECKPOINT_H
#define PHIGUARD_POLICY_CHECKPOINT_H
/* Signed checkpoints of an audit chain, as C2SP signed notes in the style
 * of tlog-checkpoint:
 *
 *     <origin: the chain>\n<count>\n<base64 head hash>\ntime <UTC µs>\n
 *     \n
 *     — <key name> <base64(key id[4] || Ed25519 signature[64])>\n
 *
 * A verifier needs only the public key and can forge nothing. Keys move as
 * PEM text; reading and writing key files is the caller's (no I/O here). */
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/chain.h"

struct pg_checkpoint {
    char origin[128];       /* the chain */
    uint64_t count;         /* records in the chain; the head is record number count */
    char head[PG_HASH_HEX]; /* h of that record (the genesis value when count is 0) */
    int64_t time_us;        /* UTC microseconds */
};

/* A key a verifier trusts, under the name that appears in notes. */
struct pg_checkpoint_key {
    const char *name;
    EVP_PKEY *pub;
};

enum pg_checkpoint_status {
    PG_CHECKPOINT_OK = 0,
    PG_CHECKPOINT_MALFORMED,     /* not a checkpoint note */
    PG_CHECKPOINT_UNKNOWN_KEY,   /* no signature by a trusted key name and key id */
    PG_CHECKPOINT_BAD_SIGNATURE, /* a trusted key's signature does not verify */
};

EVP_PKEY *pg_checkpoint_keygen(void);
/* The C2SP key id: SHA-256(name || 0x0A || 0x01 || public key)[0:4]. */
int pg_checkpoint_key_id(EVP_PKEY *key, const char *keyname, uint8_t id[4]);
/* Key names: non-empty, printable ASCII without spaces or '+' (C2SP). */
bool pg_checkpoint_key_name_ok(const char *keyname);

/* PEM text (PKCS#8 for the private key, SubjectPublicKeyInfo for the
 * public one), malloc'd; NULL on failure. */
char *pg_checkpoint_private_pem(EVP_PKEY *key);
char *pg_checkpoint_public_pem(EVP_PKEY *key);
/* An Ed25519 key from PEM text, or NULL (not PEM, or another algorithm). */
EVP_PKEY *pg_checkpoint_private_from_pem(const char *pem, size_t len);
EVP_PKEY *pg_checkpoint_public_from_pem(const char *pem, size_t len);

/* Writes the signed note into out; 0, or -1 (bad input, or out too small). */
int pg_checkpoint_sign(EVP_PKEY *priv, const char *keyname, const struct pg_checkpoint *cp, char *out, size_t outlen);
/* Verifies a note against the trusted keys. cp is filled whenever the body
 * parses (so a caller can report what a bad note claimed), even when the
 * signature fails; only PG_CHECKPOINT_OK vouches for it. */
enum pg_checkpoint_status pg_checkpoint_verify(const struct pg_checkpoint_key *keys, size_t nkeys, const char *note,
                                               struct pg_checkpoint *cp);
const char *pg_checkpoint_status_text(enum pg_checkpoint_status s);

#endif
