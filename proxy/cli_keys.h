#ifndef PHIGUARD_CLI_KEYS_H
#define PHIGUARD_CLI_KEYS_H
/* `phiguard keys phi-generate|phi-rotate --keyring FILE [--id ID]`: the
 * PHI keyring (policy/keyring.h). argv[0] is "keys". */
int pg_cli_phi_keys(int argc, char **argv);

#endif
