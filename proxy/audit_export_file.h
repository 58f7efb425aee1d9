#ifndef PHIGUARD_AUDIT_EXPORT_FILE_H
#define PHIGUARD_AUDIT_EXPORT_FILE_H
/* An `audit export --checkpoints` file read back into the chains the
 * verifier takes, so that `audit verify --input FILE` checks a backup with
 * no Redis (docs/operations.md). The file holds one JSON text a line: a
 * record as stored (its h is the leaf hash of the line's bytes), or
 * {"chain":...,"checkpoint":...}, a signed note of that chain. */
#include "proxy/audit_reader.h"

/* Loads every chain of the file, or only that one, in file order. 0, or -1
 * with the reason (and the line) in rd->err. */
int pg_audit_reader_load_export(struct pg_audit_reader *rd, const char *path, const char *only);

/* The checkpoint line of an export, without its newline; NULL when out of
 * memory. Free it. */
char *pg_audit_export_checkpoint_line(const char *chain, const char *note, size_t *len);

#endif
