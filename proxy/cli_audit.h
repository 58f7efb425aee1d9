#ifndef PHIGUARD_CLI_AUDIT_H
#define PHIGUARD_CLI_AUDIT_H
/* `phiguard keys audit-generate --private FILE --public FILE [--name NAME]`:
 * an Ed25519 key pair for signing audit checkpoints. argv[0] is "keys".
 * Also the key file readers the proxy (signing) and the verifier use. */
#include <openssl/evp.h>
#include <stddef.h>

#include "policy/checkpoint.h"
#include "proxy/config.h"

#define PG_AUDIT_KEY_NAME "phiguard-audit"

int pg_cli_audit_keys(int argc, char **argv);

/* An Ed25519 key from a PEM file, or NULL with the reason in err. */
EVP_PKEY *pg_audit_key_read_private(const char *path, char *err, size_t errlen);
EVP_PKEY *pg_audit_key_read_public(const char *path, char *err, size_t errlen);
/* Every Ed25519 public key of a PEM file (one, or several concatenated: the
 * earlier signing keys of a rotation) into out[]; their count (>= 1), or -1
 * with the reason in err and nothing left to free. */
int pg_audit_keys_read_public(const char *path, EVP_PKEY **out, int max, char *err, size_t errlen);

/* The keys that verify a configuration's checkpoints: the public half of
 * audit.signing_key_file, then each of audit.previous_public_keys (the
 * earlier keys, after a rotation), named audit.key_name. Their count, or
 * -1 with the reason in err and nothing left to free; free each .pub. */
int pg_audit_config_keys(const struct pg_config *cfg, struct pg_checkpoint_key *keys, int max, char *err,
                         size_t errlen);

/* The C2SP note verifier key, "<name>+<key id hex>+<base64(0x01 || key)>",
 * the one line a verifier needs; malloc'd, NULL on failure. */
char *pg_audit_verifier_key(EVP_PKEY *key, const char *name);

#endif
