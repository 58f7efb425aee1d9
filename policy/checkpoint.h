#ifndef PHIGUARD_POLICY_CHECKPOINT_H
#define PHIGUARD_POLICY_CHECKPOINT_H
/* Signed checkpoints of an audit chain, as C2SP signed notes
 * (tlog-checkpoint style): the chain's name, its record count, its head
 * hash and the time, signed with Ed25519. A verifier needs only the public
 * key and can forge nothing. */
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

struct pg_checkpoint {
    char origin[128];   /* the chain */
    uint64_t count;     /* records in the chain */
    char head[65];      /* hex hash of the last record */
    int64_t time_us;    /* UTC microseconds */
};

EVP_PKEY *pg_checkpoint_keygen(void);
/* The C2SP key id: SHA-256(name || 0x0A || 0x01 || public key)[0:4]. */
int pg_checkpoint_key_id(EVP_PKEY *key, const char *keyname, uint8_t id[4]);
/* Writes the signed note; 0 or -1. */
int pg_checkpoint_sign(EVP_PKEY *priv, const char *keyname, const struct pg_checkpoint *cp, char *out, size_t outlen);
/* Parses and verifies a note with the public key: 0 and cp filled, or -1
 * (malformed, another key, or a bad signature). */
int pg_checkpoint_verify(EVP_PKEY *pub, const char *keyname, const char *note, struct pg_checkpoint *cp);

#endif
