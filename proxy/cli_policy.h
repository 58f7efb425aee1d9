#ifndef PHIGUARD_CLI_POLICY_H
#define PHIGUARD_CLI_POLICY_H
/* `phiguard policy check|test|explain|diff`: tools for the admins who
 * write the policy. argv[0] is "policy". */
int pg_cli_policy(int argc, char **argv);
#endif
