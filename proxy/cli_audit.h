#ifndef PHIGUARD_CLI_AUDIT_H
#define PHIGUARD_CLI_AUDIT_H
/* `phiguard keys audit-generate --private FILE --public FILE [--name NAME]`:
 * an Ed25519 key pair for signing audit checkpoints. argv[0] is "keys".
 * Also the key file readers the proxy (signing) and the verifier use. */
#include <openssl/evp.h>
#include <stddef.h>

#define PG_AUDIT_KEY_NAME "phiguard-audit"

int pg_cli_audit_keys(int argc, char **argv);

/* An Ed25519 key from a PEM file, or NULL with the reason in err. */
EVP_PKEY *pg_audit_key_read_private(const char *path, char *err, size_t errlen);
EVP_PKEY *pg_audit_key_read_public(const char *path, char *err, size_t errlen);

/* The C2SP note verifier key, "<name>+<key id hex>+<base64(0x01 || key)>",
 * the one line a verifier needs; malloc'd, NULL on failure. */
char *pg_audit_verifier_key(EVP_PKEY *key, const char *name);

#endif
