#include "proxy/cli_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/checkpoint.h"

#define KEY_FILE_MAX 16384

static char *read_small_file(const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(KEY_FILE_MAX + 1);
    ssize_t n = buf ? read(fd, buf, KEY_FILE_MAX + 1) : -1;
    int e = errno;
    close(fd);
    if (n < 0 || n > KEY_FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(e) : "too large for a key file");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static EVP_PKEY *read_key(const char *path, int private_key, char *err, size_t errlen)
{
    size_t len;
    char *pem = read_small_file(path, &len, err, errlen);
    if (!pem)
        return NULL;
    EVP_PKEY *k = private_key ? pg_checkpoint_private_from_pem(pem, len) : pg_checkpoint_public_from_pem(pem, len);
    OPENSSL_cleanse(pem, len);
    free(pem);
    if (!k)
        snprintf(err, errlen, "%s: not an Ed25519 %s key in PEM", path, private_key ? "private" : "public");
    return k;
}

EVP_PKEY *pg_audit_key_read_private(const char *path, char *err, size_t errlen)
{
    return read_key(path, 1, err, errlen);
}

EVP_PKEY *pg_audit_key_read_public(const char *path, char *err, size_t errlen)
{
    return read_key(path, 0, err, errlen);
}

int pg_audit_config_keys(const struct pg_config *cfg, struct pg_checkpoint_key *keys, int max, char *err,
                         size_t errlen)
{
    if (!cfg->audit.signing_key_file) {
        snprintf(err, errlen, "audit.signing_key_file is not set");
        return -1;
    }
    EVP_PKEY *signer = max > 0 ? pg_audit_key_read_private(cfg->audit.signing_key_file, err, errlen) : NULL;
    if (!signer)
        return -1;
    keys[0] = (struct pg_checkpoint_key){.name = cfg->audit.key_name, .pub = signer};
    if (!cfg->audit.previous_public_keys)
        return 1;
    EVP_PKEY *earlier[64];
    int n = pg_audit_keys_read_public(cfg->audit.previous_public_keys, earlier, max - 1 < 64 ? max - 1 : 64, err,
                                      errlen);
    if (n < 0) {
        EVP_PKEY_free(signer);
        return -1;
    }
    for (int i = 0; i < n; i++)
        keys[1 + i] = (struct pg_checkpoint_key){.name = cfg->audit.key_name, .pub = earlier[i]};
    return 1 + n;
}

int pg_audit_keys_read_public(const char *path, EVP_PKEY **out, int max, char *err, size_t errlen)
{
    static const char begin[] = "-----BEGIN PUBLIC KEY-----";
    size_t len;
    char *pem = read_small_file(path, &len, err, errlen);
    if (!pem)
        return -1;
    int n = 0;
    bool bad = false;
    for (const char *p = strstr(pem, begin); p && !bad;) {
        const char *next = strstr(p + 1, begin);
        if (n == max) {
            snprintf(err, errlen, "%s: more than %d public keys", path, max);
            bad = true;
        } else if (!(out[n] = pg_checkpoint_public_from_pem(p, (size_t)((next ? next : pem + len) - p)))) {
            snprintf(err, errlen, "%s: key %d: not an Ed25519 public key in PEM", path, n + 1);
            bad = true;
        } else {
            n++;
        }
        p = next;
    }
    if (!bad && n == 0) {
        snprintf(err, errlen, "%s: not an Ed25519 public key in PEM", path);
        bad = true;
    }
    free(pem);
    if (!bad)
        return n;
    for (int i = 0; i < n; i++)
        EVP_PKEY_free(out[i]);
    return -1;
}

char *pg_audit_verifier_key(EVP_PKEY *key, const char *name)
{
    unsigned char raw[33] = {0x01};
    size_t n = 32;
    uint8_t id[4];
    if (!pg_checkpoint_key_name_ok(name) || pg_checkpoint_key_id(key, name, id) != 0 ||
        EVP_PKEY_get_raw_public_key(key, raw + 1, &n) != 1 || n != 32)
        return NULL;
    char b64[48];
    EVP_EncodeBlock((unsigned char *)b64, raw, sizeof raw);
    size_t len = strlen(name) + 1 + 8 + 1 + strlen(b64) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s+%02x%02x%02x%02x+%s", name, id[0], id[1], id[2], id[3], b64);
    return out;
}

/* Never overwrites: replacing a signing key is a rotation, done on purpose. */
static int write_new_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "phiguard: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int rc = 0, e = 0;
    if (w != (ssize_t)len) {
        rc = -1;
        e = w < 0 ? errno : ENOSPC; /* a short write of a few hundred bytes: the disk is full */
    } else if (fsync(fd) != 0) {
        rc = -1;
        e = errno;
    }
    close(fd);
    if (rc != 0) {
        fprintf(stderr, "phiguard: %s: %s\n", path, strerror(e));
        unlink(path);
    }
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: phiguard keys audit-generate --private FILE --public FILE [--name NAME]\n");
    return 2;
}

static int cmd_generate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"private", required_argument, NULL, 'k'},
        {"public", required_argument, NULL, 'p'},
        {"name", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *priv_path = NULL, *pub_path = NULL, *name = PG_AUDIT_KEY_NAME;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'k': priv_path = optarg; break;
        case 'p': pub_path = optarg; break;
        case 'n': name = optarg; break;
        default: return usage();
        }
    }
    if (optind != argc || !priv_path || !pub_path)
        return usage();
    if (!pg_checkpoint_key_name_ok(name)) {
        fprintf(stderr, "phiguard: key name \"%s\": use printable ASCII without spaces or '+'\n", name);
        return 2;
    }
    EVP_PKEY *key = pg_checkpoint_keygen();
    char *priv = key ? pg_checkpoint_private_pem(key) : NULL;
    char *pub = key ? pg_checkpoint_public_pem(key) : NULL;
    char *vkey = key ? pg_audit_verifier_key(key, name) : NULL;
    int rc = 1;
    if (!priv || !pub || !vkey)
        fprintf(stderr, "phiguard: generating an Ed25519 key failed\n");
    else if (write_new_file(priv_path, priv, 0600) == 0) {
        if (write_new_file(pub_path, pub, 0644) == 0) {
            printf("private key: %s\npublic key: %s\nverifier key: %s\n", priv_path, pub_path, vkey);
            rc = 0;
        } else {
            unlink(priv_path); /* half a pair is no use */
        }
    }
    if (priv)
        OPENSSL_cleanse(priv, strlen(priv));
    free(priv);
    free(pub);
    free(vkey);
    EVP_PKEY_free(key);
    return rc;
}

int pg_cli_audit_keys(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "audit-generate") == 0)
        return cmd_generate(argc - 1, argv + 1);
    return usage();
}
