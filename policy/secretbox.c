#include "policy/secretbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/units.h"

#define VERSION 0x01
#define NONCE_LEN 12
#define TAG_LEN 16
#define HEADER_LEN (1 + NONCE_LEN)

/* EVP takes int lengths; secrets are tiny, so anything near INT_MAX is a bug. */
static bool len_ok(size_t n)
{
    return n <= (size_t)INT_MAX - PG_SECRETBOX_OVERHEAD;
}

/* A GCM context keyed and given the associated data: the version byte,
 * then the caller's aad. enc: 1 to seal, 0 to open. */
static EVP_CIPHER_CTX *gcm_begin(const unsigned char *key, const unsigned char *nonce, int enc, const void *aad,
                                 size_t aadlen)
{
    static const unsigned char version = VERSION;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n;
    if (ctx && EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, enc, NULL) == 1 &&
        EVP_CipherUpdate(ctx, NULL, &n, &version, 1) == 1 &&
        (aadlen == 0 || EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1))
        return ctx;
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
}

static bool gcm_update(EVP_CIPHER_CTX *ctx, const unsigned char *in, size_t len, unsigned char *out)
{
    int n;
    return len == 0 || (EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 && (size_t)n == len);
}

int pg_secretbox_seal(const unsigned char key[32], const void *aad, size_t aadlen, const void *pt, size_t ptlen,
                      unsigned char *out, size_t outcap)
{
    if (!len_ok(ptlen) || !len_ok(aadlen) || outcap < ptlen + PG_SECRETBOX_OVERHEAD)
        return -1;
    unsigned char *nonce = out + 1, *ct = out + HEADER_LEN, *tag = ct + ptlen, final[TAG_LEN];
    out[0] = VERSION;
    if (RAND_bytes(nonce, NONCE_LEN) != 1)
        return -1;
    EVP_CIPHER_CTX *ctx = gcm_begin(key, nonce, 1, aad, aadlen);
    if (!ctx)
        return -1;
    int n;
    bool ok = gcm_update(ctx, pt, ptlen, ct) && EVP_EncryptFinal_ex(ctx, final, &n) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, ptlen + PG_SECRETBOX_OVERHEAD);
        return -1;
    }
    return (int)(ptlen + PG_SECRETBOX_OVERHEAD);
}

int pg_secretbox_open(const unsigned char key[32], const void *aad, size_t aadlen, const unsigned char *blob,
                      size_t bloblen, unsigned char *out, size_t outcap)
{
    if (bloblen < PG_SECRETBOX_OVERHEAD || !len_ok(bloblen) || !len_ok(aadlen) || blob[0] != VERSION)
        return -1;
    size_t ctlen = bloblen - PG_SECRETBOX_OVERHEAD;
    if (outcap < ctlen)
        return -1;
    const unsigned char *tag = blob + HEADER_LEN + ctlen;
    EVP_CIPHER_CTX *ctx = gcm_begin(key, blob + 1, 0, aad, aadlen);
    if (!ctx)
        return -1;
    unsigned char tagcopy[TAG_LEN], final[TAG_LEN];
    memcpy(tagcopy, tag, TAG_LEN); /* the ctrl takes a non-const pointer */
    int n;
    bool ok = gcm_update(ctx, blob + HEADER_LEN, ctlen, out) &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tagcopy) == 1 &&
              EVP_DecryptFinal_ex(ctx, final, &n) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        /* Decryption ran before the tag was checked: wipe what it wrote. */
        OPENSSL_cleanse(out, ctlen);
        return -1;
    }
    return (int)ctlen;
}

/* ---- key files ---- */

#define KEY_FILE_MAX 65 /* 64 hex characters and a newline */


static bool decode_hex(const unsigned char *s, unsigned char key[32])
{
    for (size_t i = 0; i < 32; i++) {
        int hi = pg_hex_digit((unsigned char)s[2 * i]), lo = pg_hex_digit((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        key[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* 44 characters of standard base64: 43 digits (258 bits, the last two
 * zero) and one '='. Strict, so that one key has one spelling. */
static bool decode_b64(const unsigned char *s, unsigned char key[32])
{
    unsigned acc = 0, bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < 43; i++) {
        int d = b64_digit(s[i]);
        if (d < 0)
            return false;
        acc = (acc << 6 | (unsigned)d) & 0xfff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            key[o++] = (unsigned char)(acc >> bits);
        }
    }
    return s[43] == '=' && (acc & ((1u << bits) - 1)) == 0;
}

static int key_parse(const unsigned char *buf, size_t n, unsigned char key[32], const char *path, char *why,
                     size_t whylen)
{
    if ((n == 33 || n == 45 || n == 65) && buf[n - 1] == '\n')
        n--;
    bool ok = false;
    if (n == 32) {
        memcpy(key, buf, 32);
        ok = true;
    } else if (n == 64) {
        ok = decode_hex(buf, key);
    } else if (n == 44) {
        ok = decode_b64(buf, key);
    } else {
        snprintf(why, whylen, "%s: a key is 32 raw bytes, 64 hex or 44 base64 characters (this file has %s%zu bytes)",
                 path, n > KEY_FILE_MAX ? "more than " : "", n > KEY_FILE_MAX ? (size_t)KEY_FILE_MAX : n);
        return -1;
    }
    if (!ok) {
        OPENSSL_cleanse(key, 32);
        snprintf(why, whylen, "%s: not valid %s", path, n == 64 ? "hex" : "base64");
        return -1;
    }
    return 0;
}

/* Reads at most cap bytes; reading cap bytes means the file is too long. */
static ssize_t read_all(int fd, unsigned char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* The mode is checked on the open descriptor, so the file read is the
 * file checked (a symlink, as Kubernetes mounts secrets, is followed). */
static ssize_t key_read(const char *path, unsigned char *buf, size_t cap, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) != 0)
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(why, whylen, "%s: not a regular file", path);
    else if (st.st_mode & 077)
        snprintf(why, whylen, "%s: key file is readable by group or others (mode %04o; make it 0600 or 0400)", path,
                 (unsigned)(st.st_mode & 07777));
    else if ((n = read_all(fd, buf, cap)) < 0)
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
    close(fd);
    return n;
}

int pg_secretbox_key_load(const char *path, unsigned char key[32], char *why, size_t whylen)
{
    unsigned char buf[KEY_FILE_MAX + 1];
    ssize_t n = key_read(path, buf, sizeof buf, why, whylen);
    int rc = n < 0 ? -1 : key_parse(buf, (size_t)n, key, path, why, whylen);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}
