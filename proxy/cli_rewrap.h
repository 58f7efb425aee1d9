#ifndef PHIGUARD_CLI_REWRAP_H
#define PHIGUARD_CLI_REWRAP_H
/* `phiguard keys rewrap`: re-encrypts every PHI envelope of exported JSON
 * or NDJSON (anywhere in each document) under the keyring's active key,
 * same mode, same field. The field is found by trying the policy's PHI
 * fields until one opens the envelope. Streams: memory stays flat. in and
 * out NULL: stdin and stdout; a named output is written whole or not at
 * all. 0, or 1 with the reason on stderr (never a value). */
int pg_cli_keys_rewrap(const char *keyring, const char *policy, const char *in, const char *out);

#endif
