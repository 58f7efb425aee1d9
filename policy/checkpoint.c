#include "policy/checkpoint.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTE_MAX 4096

EVP_PKEY *pg_checkpoint_keygen(void)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (ctx && EVP_PKEY_keygen_init(ctx) == 1)
        EVP_PKEY_keygen(ctx, &k);
    EVP_PKEY_CTX_free(ctx);
    return k;
}

bool pg_checkpoint_key_name_ok(const char *keyname)
{
    if (!*keyname || strlen(keyname) > 100)
        return false;
    for (const char *p = keyname; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '+')
            return false;
    return true;
}

int pg_checkpoint_key_id(EVP_PKEY *key, const char *keyname, uint8_t id[4])
{
    unsigned char pub[32];
    size_t publen = sizeof pub;
    if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 || EVP_PKEY_get_raw_public_key(key, pub, &publen) != 1 ||
        publen != 32)
        return -1;
    unsigned char md[32];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const unsigned char sep[2] = {0x0A, 0x01};
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, keyname, strlen(keyname)) &&
             EVP_DigestUpdate(ctx, sep, 2) && EVP_DigestUpdate(ctx, pub, 32) && EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    memcpy(id, md, 4);
    return 0;
}

static char *bio_text(BIO *bio, int ok)
{
    char *data = NULL;
    long n = ok ? BIO_get_mem_data(bio, &data) : 0;
    char *out = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (out) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(bio);
    return out;
}

char *pg_checkpoint_private_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    return bio ? bio_text(bio, PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) : NULL;
}

char *pg_checkpoint_public_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    return bio ? bio_text(bio, PEM_write_bio_PUBKEY(bio, key)) : NULL;
}

static EVP_PKEY *only_ed25519(EVP_PKEY *k)
{
    if (k && EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

EVP_PKEY *pg_checkpoint_private_from_pem(const char *pem, size_t len)
{
    BIO *bio = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return only_ed25519(k);
}

EVP_PKEY *pg_checkpoint_public_from_pem(const char *pem, size_t len)
{
    BIO *bio = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
    EVP_PKEY *k = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return only_ed25519(k);
}

static int hex_to_raw(const char *hex, unsigned char out[32])
{
    if (!pg_chain_is_hash(hex))
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10);
        unsigned lo = (unsigned)(hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10);
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* The signed body: origin, count, base64 head, and a time line. */
static int body(const struct pg_checkpoint *cp, char *out, size_t outlen)
{
    unsigned char raw[32];
    char b64[48];
    if (!cp->origin[0] || strchr(cp->origin, '\n') || hex_to_raw(cp->head, raw) != 0 || cp->time_us < 0)
        return -1;
    EVP_EncodeBlock((unsigned char *)b64, raw, 32);
    int n = snprintf(out, outlen, "%s\n%" PRIu64 "\n%s\ntime %" PRId64 "\n", cp->origin, cp->count, b64, cp->time_us);
    return n > 0 && (size_t)n < outlen ? n : -1;
}

int pg_checkpoint_sign(EVP_PKEY *priv, const char *keyname, const struct pg_checkpoint *cp, char *out, size_t outlen)
{
    char text[512];
    int n = body(cp, text, sizeof text);
    uint8_t blob[68];
    size_t siglen = 64;
    if (n < 0 || !pg_checkpoint_key_name_ok(keyname) || pg_checkpoint_key_id(priv, keyname, blob) != 0)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* Ed25519 signs the message itself: no digest, one shot. */
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, priv) == 1 &&
             EVP_DigestSign(ctx, blob + 4, &siglen, (unsigned char *)text, (size_t)n) == 1 && siglen == 64;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    char b64[100];
    EVP_EncodeBlock((unsigned char *)b64, blob, sizeof blob);
    int m = snprintf(out, outlen, "%s\n\u2014 %s %s\n", text, keyname, b64);
    return m > 0 && (size_t)m < outlen ? 0 : -1;
}

/* A decimal without sign, spaces or leading zeros. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Splits off the next line (without its newline); -1 when none is left. */
static int next_line(const char **p, const char *end, const char **line, size_t *len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        return -1;
    *line = *p;
    *len = (size_t)(nl - *p);
    *p = nl + 1;
    return 0;
}

static int parse_body(const char *text, size_t len, struct pg_checkpoint *cp)
{
    const char *p = text, *end = text + len, *line;
    size_t n;
    uint64_t t;
    unsigned char raw[36];
    memset(cp, 0, sizeof *cp);
    if (next_line(&p, end, &line, &n) != 0 || n == 0 || n >= sizeof cp->origin)
        return -1;
    memcpy(cp->origin, line, n);
    if (next_line(&p, end, &line, &n) != 0 || parse_u64(line, n, UINT64_MAX, &cp->count) != 0)
        return -1;
    if (next_line(&p, end, &line, &n) != 0 || n != 44 || line[43] != '=' || line[42] == '=' ||
        EVP_DecodeBlock(raw, (const unsigned char *)line, 44) != 33)
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf(cp->head + 2 * i, 3, "%02x", raw[i]);
    if (next_line(&p, end, &line, &n) != 0 || n < 6 || memcmp(line, "time ", 5) != 0 ||
        parse_u64(line + 5, n - 5, INT64_MAX, &t) != 0)
        return -1;
    cp->time_us = (int64_t)t;
    return p == end ? 0 : -1;
}

static enum pg_checkpoint_status check_line(const struct pg_checkpoint_key *key, const char *line, size_t n,
                                            const char *text, size_t text_len)
{
    static const char dash[] = "\u2014 ";
    size_t dl = sizeof dash - 1, kl = strlen(key->name);
    unsigned char blob[72];
    uint8_t id[4];
    if (n != dl + kl + 1 + 92 || memcmp(line, dash, dl) != 0 || memcmp(line + dl, key->name, kl) != 0 ||
        line[dl + kl] != ' ')
        return PG_CHECKPOINT_UNKNOWN_KEY;
    const char *b64 = line + dl + kl + 1;
    /* 68 bytes encode to 92 characters with one '=' of padding. */
    if (b64[91] != '=' || b64[90] == '=' || EVP_DecodeBlock(blob, (const unsigned char *)b64, 92) != 69)
        return PG_CHECKPOINT_MALFORMED;
    if (pg_checkpoint_key_id(key->pub, key->name, id) != 0 || CRYPTO_memcmp(id, blob, 4) != 0)
        return PG_CHECKPOINT_UNKNOWN_KEY;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pub) == 1 &&
             EVP_DigestVerify(ctx, blob + 4, 64, (const unsigned char *)text, text_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? PG_CHECKPOINT_OK : PG_CHECKPOINT_BAD_SIGNATURE;
}

enum pg_checkpoint_status pg_checkpoint_verify(const struct pg_checkpoint_key *keys, size_t nkeys, const char *note,
                                               struct pg_checkpoint *cp)
{
    size_t len = strnlen(note, NOTE_MAX + 1);
    const char *sep = len <= NOTE_MAX ? strstr(note, "\n\n") : NULL;
    memset(cp, 0, sizeof *cp);
    if (!sep || parse_body(note, (size_t)(sep - note) + 1, cp) != 0)
        return PG_CHECKPOINT_MALFORMED;
    size_t text_len = (size_t)(sep - note) + 1;
    const char *p = sep + 2, *end = note + len, *line;
    size_t n;
    enum pg_checkpoint_status best = PG_CHECKPOINT_UNKNOWN_KEY;
    int lines = 0;
    while (p < end) {
        if (next_line(&p, end, &line, &n) != 0 || n == 0)
            return PG_CHECKPOINT_MALFORMED;
        lines++;
        for (size_t k = 0; k < nkeys; k++) {
            enum pg_checkpoint_status s = check_line(&keys[k], line, n, note, text_len);
            if (s == PG_CHECKPOINT_OK)
                return s;
            if (s != PG_CHECKPOINT_UNKNOWN_KEY)
                best = s;
        }
    }
    return lines ? best : PG_CHECKPOINT_MALFORMED;
}

const char *pg_checkpoint_status_text(enum pg_checkpoint_status s)
{
    switch (s) {
    case PG_CHECKPOINT_OK: return "verified";
    case PG_CHECKPOINT_MALFORMED: return "not a checkpoint note";
    case PG_CHECKPOINT_UNKNOWN_KEY: return "not signed by a trusted key";
    case PG_CHECKPOINT_BAD_SIGNATURE: return "signature does not verify";
    }
    return "unknown";
}
