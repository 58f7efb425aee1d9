#include "proxy/cli_user.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "policy/password.h"
#include "policy/users.h"

/* Reads one line without echo when stdin is a terminal. */
static ssize_t read_secret(const char *prompt, char *buf, size_t len)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    ssize_t n = -1;
    if (fgets(buf, (int)len, stdin)) {
        n = (ssize_t)strcspn(buf, "\r\n");
        buf[n] = '\0';
    }
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    return n;
}

static int cmd_hash(int argc, char **argv)
{
    size_t min_len = 12;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--min-length") && i + 1 < argc) {
            min_len = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--stdin") != 0) {
            fprintf(stderr, "usage: phiguard user hash [--stdin] [--min-length N]\n");
            return 2;
        }
    }
    char pw[1100], again[1100], why[200];
    ssize_t n = read_secret("Password: ", pw, sizeof pw);
    if (n < 0) {
        fprintf(stderr, "phiguard user hash: no password given\n");
        return 1;
    }
    int rc = 1;
    if (pg_password_acceptable(pw, (size_t)n, min_len, why, sizeof why) != 0) {
        fprintf(stderr, "phiguard user hash: %s\n", why);
        goto out;
    }
    if (isatty(STDIN_FILENO)) {
        ssize_t m = read_secret("Again: ", again, sizeof again);
        if (m != n || CRYPTO_memcmp(pw, again, (size_t)n) != 0) {
            fprintf(stderr, "phiguard user hash: the two entries differ\n");
            goto out;
        }
    }
    char phc[256];
    if (pg_password_hash(pw, (size_t)n, &pg_argon2_defaults, phc, sizeof phc, why, sizeof why) != 0) {
        fprintf(stderr, "phiguard user hash: %s\n", why);
        goto out;
    }
    printf("%s\n", phc);
    rc = 0;
out:
    OPENSSL_cleanse(pw, sizeof pw);
    OPENSSL_cleanse(again, sizeof again);
    return rc;
}

static int cmd_check(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: phiguard user check FILE\n");
        return 2;
    }
    struct pg_policy_errors errs = {0};
    struct pg_users *u = pg_users_load(argv[1], &errs);
    for (int i = 0; i < errs.count; i++)
        fprintf(stderr, "%s\n", errs.items[i]);
    pg_policy_errors_free(&errs);
    if (!u)
        return 1;
    printf("%s: ok (%d users)\n", argv[1], u->count);
    pg_users_unref(u);
    return 0;
}

int pg_cli_user(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "hash"))
        return cmd_hash(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "check"))
        return cmd_check(argc - 1, argv + 1);
    fprintf(stderr, "usage: phiguard user hash [--stdin] [--min-length N]\n"
                    "       phiguard user check FILE\n");
    return 2;
}
