#ifndef PHIGUARD_CLI_KEYS_H
#define PHIGUARD_CLI_KEYS_H
/* `phiguard keys generate|rotate --keyring FILE [--id ID]` and `keys
 * rewrap` (proxy/cli_rewrap.h): the PHI keyring (policy/keyring.h).
 * phi-generate and phi-rotate are the same commands' older names. argv[0]
 * is "keys". */
#include <stdbool.h>

/* True when `keys SUB` is one of these (the others are the audit keys'). */
bool pg_cli_is_phi_keys(const char *sub);
int pg_cli_phi_keys(int argc, char **argv);

#endif
