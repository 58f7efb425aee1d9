#ifndef PHIGUARD_CLI_AUDIT_READ_H
#define PHIGUARD_CLI_AUDIT_READ_H
/* `phiguard audit verify|export|disclosures -c FILE ...`: the audit trail
 * read back from Redis. argv[0] is "audit". */
int pg_cli_audit_read(int argc, char **argv);

#endif
