#ifndef PHIGUARD_CLI_USER_H
#define PHIGUARD_CLI_USER_H
/* `phiguard user hash`: a password to the Argon2id PHC string an admin puts
 * in the users file. argv[0] is "user". */
int pg_cli_user(int argc, char **argv);
#endif
