#include "proxy/cli_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/keyring.h"
#include "proxy/cli_rewrap.h"
#include "proxy/secret_file.h"

static int usage(void)
{
    fprintf(stderr, "usage: phiguard keys generate --keyring FILE [--id ID]\n"
                    "       phiguard keys rotate --keyring FILE [--id ID]\n"
                    "       phiguard keys retire --keyring FILE --id ID\n"
                    "       phiguard keys rewrap --keyring FILE --policy POLICY [-i IN] [-o OUT]\n");
    return 2;
}

/* A new random 256-bit secret as the keyring line "ID BASE64\n". */
static int key_line(const char *id, char *line, size_t cap)
{
    unsigned char secret[32], b64[48];
    if (RAND_bytes(secret, sizeof secret) != 1)
        return -1;
    EVP_EncodeBlock(b64, secret, sizeof secret);
    OPENSSL_cleanse(secret, sizeof secret);
    int n = snprintf(line, cap, "%s %s\n", id, b64);
    OPENSSL_cleanse(b64, sizeof b64);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Writes text to path through a temporary file (mode 0600, fsync,
 * rename), so a reader sees the old keyring or the new one, never half. */
static int replace_file(const char *path, const char *text, int exclusive)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        fprintf(stderr, "phiguard keys: %s: %s\n", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return 1;
    }
    close(fd);
    if (exclusive ? link(tmp, path) != 0 : rename(tmp, path) != 0) {
        fprintf(stderr, "phiguard keys: %s: %s\n", path,
                exclusive && errno == EEXIST ? "exists already (rotate it instead)" : strerror(errno));
        unlink(tmp);
        return 1;
    }
    if (exclusive)
        unlink(tmp);
    return 0;
}

static int generate(const char *path, const char *id)
{
    char line[128], text[256];
    if (key_line(id, line, sizeof line) != 0)
        return 1;
    snprintf(text, sizeof text,
             "# phiguard PHI keyring: every key decrypts, the active one encrypts (docs/phi.md)\nactive %s\n%s", id,
             line);
    int rc = replace_file(path, text, 1);
    OPENSSL_cleanse(text, sizeof text);
    OPENSSL_cleanse(line, sizeof line);
    if (!rc)
        printf("%s: new keyring, active key %s\n", path, id);
    return rc;
}

/* The keyring file's text and its parse; NULL having said why. */
static char *read_ring(const char *path, size_t *len, struct pg_keyring *ring)
{
    char why[256];
    char *text = pg_secret_file_read(path, 65536, len, why, sizeof why);
    if (!text) {
        fprintf(stderr, "phiguard keys: %s: %s\n", path, why);
        return NULL;
    }
    struct pg_policy_errors errs = {0};
    if (pg_keyring_parse(path, text, *len, ring, &errs) != 0) {
        for (int i = 0; i < errs.count; i++)
            fprintf(stderr, "%s\n", errs.items[i]);
        pg_policy_errors_free(&errs);
        OPENSSL_cleanse(text, *len);
        free(text);
        return NULL;
    }
    return text;
}

/* Writes out as the keyring at path only if it parses: never a keyring
 * that cannot be read. Its key count, or -1. */
static int write_ring(const char *path, const char *out)
{
    struct pg_keyring check;
    struct pg_policy_errors errs = {0};
    int n = -1;
    if (pg_keyring_parse(path, out, strlen(out), &check, &errs) != 0) {
        for (int i = 0; i < errs.count; i++)
            fprintf(stderr, "%s\n", errs.items[i]);
    } else if (replace_file(path, out, 0) == 0) {
        n = check.n;
    }
    pg_keyring_wipe(&check);
    pg_policy_errors_free(&errs);
    return n;
}

static int rotate(const char *path, const char *want_id)
{
    size_t len = 0;
    struct pg_keyring ring;
    char *text = read_ring(path, &len, &ring);
    if (!text)
        return 1;
    int rc = 1;
    char id[PG_ENVELOPE_KID_MAX + 1];
    for (int k = ring.n + 1; !want_id; k++) { /* the first free k<N> */
        snprintf(id, sizeof id, "k%d", k);
        bool used = false;
        for (int i = 0; i < ring.n; i++)
            used |= !strcmp(ring.keys[i].kid, id);
        if (!used)
            break;
    }
    if (want_id)
        snprintf(id, sizeof id, "%s", want_id);
    /* Every line stays; the active line names the new key, added last. */
    size_t cap = len + 256;
    char *out = malloc(cap), line[128];
    if (!out || key_line(id, line, sizeof line) != 0) {
        free(out);
        goto out;
    }
    size_t used = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl + 1 : end) - p);
        if (n >= 7 && !strncmp(p, "active ", 7))
            used += (size_t)snprintf(out + used, cap - used, "active %s\n", id);
        else
            memcpy(out + used, p, n), used += n;
        if (!nl && n && used < cap)
            out[used++] = '\n';
        p += n;
    }
    snprintf(out + used, cap - used, "%s", line);
    int n = write_ring(path, out);
    if (n > 0) {
        printf("%s: added %s and made it active (%d keys)\n", path, id, n);
        rc = 0;
    }
    OPENSSL_cleanse(out, cap);
    OPENSSL_cleanse(line, sizeof line);
    free(out);
out:
    pg_keyring_wipe(&ring);
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

/* Drops a key that no longer encrypts, once what it sealed has been
 * rewrapped (docs/operations.md): what is still sealed under it cannot be
 * opened afterwards, so the active key is refused. */
static int retire(const char *path, const char *id)
{
    size_t len = 0;
    struct pg_keyring ring;
    char *text = read_ring(path, &len, &ring);
    if (!text)
        return 1;
    int rc = 1, found = -1;
    for (int i = 0; i < ring.n; i++)
        if (!strcmp(ring.keys[i].kid, id))
            found = i;
    char *out = found >= 0 && found != ring.active ? malloc(len + 2) : NULL;
    if (found < 0) {
        fprintf(stderr, "phiguard keys: %s: no key %s\n", path, id);
    } else if (found == ring.active) {
        fprintf(stderr, "phiguard keys: %s: %s is the active key (rotate first, then rewrap)\n", path, id);
    } else if (out) {
        /* Every line but the key's own ("ID SECRET"). */
        size_t used = 0, idlen = strlen(id);
        for (const char *p = text, *end = text + len; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = (size_t)((nl ? nl + 1 : end) - p);
            if (!(n > idlen && !strncmp(p, id, idlen) && (p[idlen] == ' ' || p[idlen] == '\t')))
                memcpy(out + used, p, n), used += n;
            p += n;
        }
        out[used] = '\0';
        int left = write_ring(path, out);
        if (left > 0) {
            printf("%s: removed %s (%d keys left)\n", path, id, left);
            rc = 0;
        }
        OPENSSL_cleanse(out, len + 2);
    }
    free(out);
    pg_keyring_wipe(&ring);
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

bool pg_cli_is_phi_keys(const char *sub)
{
    static const char *const subs[] = {"generate", "rotate", "retire", "rewrap", "phi-generate", "phi-rotate", NULL};
    for (int i = 0; subs[i]; i++)
        if (!strcmp(sub, subs[i]))
            return true;
    return false;
}

int pg_cli_phi_keys(int argc, char **argv)
{
    static const struct option opts[] = {{"keyring", required_argument, NULL, 'k'},
                                         {"id", required_argument, NULL, 'I'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"in", required_argument, NULL, 'i'},
                                         {"out", required_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    if (argc < 2)
        return usage();
    /* phi-generate and phi-rotate: the names before issue 6 settled them. */
    const char *sub = !strncmp(argv[1], "phi-", 4) ? argv[1] + 4 : argv[1];
    const char *path = NULL, *id = NULL, *policy = NULL, *in = NULL, *out = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc - 1, argv + 1, "i:o:", opts, NULL)) != -1) {
        switch (ch) {
        case 'k': path = optarg; break;
        case 'I': id = optarg; break;
        case 'p': policy = optarg; break;
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        default: return usage();
        }
    }
    if (!path || optind != argc - 1)
        return usage();
    bool rewrap = !strcmp(sub, "rewrap");
    if (rewrap ? id != NULL || !policy : policy || in || out)
        return usage();
    if (rewrap)
        return pg_cli_keys_rewrap(path, policy, in, out);
    if (!strcmp(sub, "generate"))
        return generate(path, id ? id : "k1");
    if (!strcmp(sub, "rotate"))
        return rotate(path, id);
    if (!strcmp(sub, "retire"))
        return id ? retire(path, id) : usage();
    return usage();
}
