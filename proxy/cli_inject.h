#ifndef PHIGUARD_CLI_INJECT_H
#define PHIGUARD_CLI_INJECT_H
/* `phiguard inject -f FILE`: the manifests of FILE with the sidecar added
 * to each pod template annotated phiguard.io/inject: "true", printed as a
 * YAML stream of JSON documents. `phiguard inject-webhook`: the same as an
 * AdmissionReview v1 mutating webhook over HTTPS. Both build the change
 * with policy/inject.c. argv[0] is the command's name. */
int pg_cli_inject(int argc, char **argv);
int pg_cli_inject_webhook(int argc, char **argv);
#endif
