#include "policy/checkpoint.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

EVP_PKEY *pg_checkpoint_keygen(void)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (ctx && EVP_PKEY_keygen_init(ctx) == 1)
        EVP_PKEY_keygen(ctx, &k);
    EVP_PKEY_CTX_free(ctx);
    return k;
}

int pg_checkpoint_key_id(EVP_PKEY *key, const char *keyname, uint8_t id[4])
{
    unsigned char pub[32];
    size_t publen = sizeof pub;
    if (EVP_PKEY_get_raw_public_key(key, pub, &publen) != 1 || publen != 32)
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

static int hex_to_raw(const char *hex, unsigned char out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return hex[64] == '\0' ? 0 : -1;
}

/* The signed body: origin, count, base64 head, and a time line. */
static int body(const struct pg_checkpoint *cp, char *out, size_t outlen)
{
    unsigned char raw[32];
    char b64[64];
    if (strchr(cp->origin, '\n') || hex_to_raw(cp->head, raw) != 0)
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
    if (n < 0 || pg_checkpoint_key_id(priv, keyname, blob) != 0)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
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

int pg_checkpoint_verify(EVP_PKEY *pub, const char *keyname, const char *note, struct pg_checkpoint *cp)
{
    const char *sep = strstr(note, "\n\n");
    if (!sep || strlen(note) > 2048)
        return -1;
    size_t body_len = (size_t)(sep - note) + 1;
    char line[256];
    int n = snprintf(line, sizeof line, "\u2014 %s ", keyname);
    const char *sig = sep + 2;
    if (n < 0 || strncmp(sig, line, (size_t)n) != 0)
        return -1;
    sig += n;
    size_t b64len = strcspn(sig, "\n");
    if (b64len != 92 || sig[b64len] != '\n')
        return -1;
    unsigned char blob[72];
    if (EVP_DecodeBlock(blob, (const unsigned char *)sig, (int)b64len) != 69)
        return -1; /* 68 bytes and one of padding */
    uint8_t id[4];
    if (pg_checkpoint_key_id(pub, keyname, id) != 0 || CRYPTO_memcmp(id, blob, 4) != 0)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) == 1 &&
             EVP_DigestVerify(ctx, blob + 4, 64, (const unsigned char *)note, body_len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    /* Parse what was signed. */
    char origin[128], b64[64];
    uint64_t count;
    int64_t t;
    char text[600];
    memcpy(text, note, body_len);
    text[body_len] = '\0';
    if (sscanf(text, "%127[^\n]\n%" SCNu64 "\n%63[^\n]\ntime %" SCNd64 "\n", origin, &count, b64, &t) != 4)
        return -1;
    unsigned char raw[36];
    if (EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64)) != 33)
        return -1;
    snprintf(cp->origin, sizeof cp->origin, "%s", origin);
    cp->count = count;
    cp->time_us = t;
    for (int i = 0; i < 32; i++)
        snprintf(cp->head + 2 * i, 3, "%02x", raw[i]);
    return 0;
}
