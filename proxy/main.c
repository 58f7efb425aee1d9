/* The phiguard command line: one binary, several subcommands. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/cli_audit.h"
#include "proxy/cli_audit_read.h"
#include "proxy/cli_inject.h"
#include "proxy/cli_keys.h"
#include "proxy/cli_policy.h"
#include "proxy/addr.h"
#include "proxy/cli_user.h"
#include "proxy/config.h"
#include "proxy/server.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: phiguard <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve -c FILE [--upstream ADDR]\n"
            "                         run the proxy with the configuration FILE (--upstream\n"
            "                         overrides upstream.address)\n"
            "  config check FILE      validate a configuration file and exit\n"
            "  policy check FILE      validate an access policy (every error, with line:column)\n"
            "  policy test FILE TESTS run a policy's test cases\n"
            "  policy explain [-p FILE] --role ROLE METHOD PATH\n"
            "                         which rule decides, and why\n"
            "  policy diff OLD NEW    what each role gains or loses\n"
            "  user hash [--stdin]    a password (12+ characters) to its Argon2id PHC string\n"
            "  user check FILE        validate a users file\n"
            "  keys audit-generate --private FILE --public FILE [--name NAME]\n"
            "                         an Ed25519 key pair for signing audit checkpoints\n"
            "  keys generate --keyring FILE [--id ID]\n"
            "  keys rotate --keyring FILE [--id ID]\n"
            "                         the PHI keyring: a new one, or a new active key\n"
            "  keys retire --keyring FILE --id ID\n"
            "                         drop an old key once what it sealed is rewrapped\n"
            "  keys rewrap --keyring FILE --policy POLICY [-i IN] [-o OUT]\n"
            "                         re-encrypt every PHI envelope of exported JSON / NDJSON\n"
            "                         under the active key\n"
            "  audit verify -c FILE --public KEY [--chain CHAIN]\n"
            "                         verify every audit chain in Redis (exit 0 only when all do)\n"
            "  audit verify --input EXPORT --public KEY [-c FILE] [--chain CHAIN]\n"
            "                         verify an export file (audit export --checkpoints), no Redis\n"
            "  audit export -c FILE [--since T] [--until T] [--format json|fhir] [--checkpoints]\n"
            "                         the trail as JSON lines (with the signed checkpoints: a\n"
            "                         backup that verifies on its own), or a FHIR R4 Bundle\n"
            "  audit disclosures -c FILE --patient Patient/ID [--since T] [--until T]\n"
            "                         who accessed one patient's records (accounting of disclosures)\n"
            "  audit trim -c FILE --before DATE [--public OLDKEY]\n"
            "                         drop records older than DATE, down to a signed checkpoint (retention)\n"
            "  inject -f FILE         Kubernetes manifests with the phiguard sidecar added to pod\n"
            "                         templates annotated phiguard.io/inject: \"true\" (printed as\n"
            "                         JSON documents, which are YAML; inject --help)\n"
            "  inject-webhook --listen ADDR --cert FILE --key FILE\n"
            "                         the same as an AdmissionReview v1 mutating webhook (HTTPS)\n"
            "\n"
            "options:\n"
            "  -h, --help             show this help\n"
            "  -V, --version          show the version\n"
            "\n"
            "Signals while serving: SIGHUP reloads the TLS certificate and key,\n"
            "SIGTERM stops accepting and drains in-flight requests, then exits 0.\n");
}

static int load_config(const char *file, struct pg_config *cfg)
{
    char err[8192];
    if (pg_config_load(file, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s", err);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        return -1;
    }
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    const char *file = NULL, *upstream = NULL;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"upstream", required_argument, NULL, 'u'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:u:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            file = optarg;
            break;
        case 'u':
            upstream = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!file || optind != argc) {
        fprintf(stderr, "phiguard serve: -c FILE is required\n");
        return 2;
    }
    struct pg_config cfg;
    if (load_config(file, &cfg) != 0)
        return 2;
    /* The injected sidecar names its app's port here (phiguard.io/
     * upstream-port), so one ConfigMap serves apps on different ports. */
    char err[256];
    if (upstream && pg_addr_parse(upstream, &cfg.upstream.addr, err, sizeof err) != 0) {
        fprintf(stderr, "phiguard serve: --upstream %s: %s\n", upstream, err);
        pg_config_free(&cfg);
        return 2;
    }
    int rc = pg_server_run(&cfg);
    pg_config_free(&cfg);
    return rc;
}

static int cmd_config(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "usage: phiguard config check FILE\n");
        return 2;
    }
    struct pg_config cfg;
    if (load_config(argv[2], &cfg) != 0)
        return 1;
    pg_config_free(&cfg);
    printf("%s: ok\n", argv[2]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("phiguard %s\n", PHIGUARD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(argc - 1, argv + 1);
    if (strcmp(cmd, "policy") == 0)
        return pg_cli_policy(argc - 1, argv + 1);
    if (strcmp(cmd, "user") == 0)
        return pg_cli_user(argc - 1, argv + 1);
    if (strcmp(cmd, "keys") == 0)
        return argc >= 3 && pg_cli_is_phi_keys(argv[2]) ? pg_cli_phi_keys(argc - 1, argv + 1)
                                                        : pg_cli_audit_keys(argc - 1, argv + 1);
    if (strcmp(cmd, "inject") == 0)
        return pg_cli_inject(argc - 1, argv + 1);
    if (strcmp(cmd, "inject-webhook") == 0)
        return pg_cli_inject_webhook(argc - 1, argv + 1);
    if (strcmp(cmd, "audit") == 0)
        return pg_cli_audit_read(argc - 1, argv + 1);
    fprintf(stderr, "phiguard: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
