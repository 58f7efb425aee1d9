#include "policy/chain.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static void to_hex(const unsigned char md[32], char out[PG_HASH_HEX])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

static void sha256_hex(const void *prefix, size_t plen, const void *bytes, size_t len, char out[PG_HASH_HEX])
{
    unsigned char md[32];
    /* EVP_Digest cannot fail for SHA-256 in the default provider short of
     * memory exhaustion; a zero hash then can never match a real one. */
    memset(md, 0, sizeof md);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(ctx, prefix, plen) == 1 &&
        EVP_DigestUpdate(ctx, bytes, len) == 1)
        EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    to_hex(md, out);
}

void pg_chain_leaf_hash(const void *bytes, size_t len, char out[PG_HASH_HEX])
{
    static const unsigned char leaf = 0x00;
    sha256_hex(&leaf, 1, bytes, len, out);
}

struct pg_chain_hasher {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
};

struct pg_chain_hasher *pg_chain_hasher_new(void)
{
    struct pg_chain_hasher *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (!h->md || !h->ctx) {
        pg_chain_hasher_free(h);
        return NULL;
    }
    return h;
}

void pg_chain_hasher_free(struct pg_chain_hasher *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    free(h);
}

void pg_chain_hasher_leaf(struct pg_chain_hasher *h, const void *bytes, size_t len, char out[PG_HASH_HEX])
{
    static const unsigned char leaf = 0x00;
    unsigned char md[32];
    memset(md, 0, sizeof md); /* as in sha256_hex: a failure can never match a real hash */
    if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) == 1 && EVP_DigestUpdate(h->ctx, &leaf, 1) == 1 &&
        EVP_DigestUpdate(h->ctx, bytes, len) == 1)
        EVP_DigestFinal_ex(h->ctx, md, NULL);
    to_hex(md, out);
}

void pg_chain_genesis(const char *chain_id, char out[PG_HASH_HEX])
{
    static const char domain[] = "phiguard audit chain genesis v1";
    sha256_hex(domain, sizeof domain, chain_id, strlen(chain_id), out); /* the domain's NUL separates */
}

void pg_chain_session_hash(const char *session_id, char out[PG_HASH_HEX])
{
    sha256_hex("", 0, session_id, strlen(session_id), out);
}

int pg_chain_is_hash(const char *s)
{
    /* Checked for every record written and read: one table load a digit and
     * one branch for the whole hash. */
    static const unsigned char lower_hex[256] = {
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
        ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    };
    unsigned ok = 1;
    for (size_t i = 0; i < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!c)
            return 0; /* a short string: never read past its end */
        ok &= lower_hex[c];
    }
    return ok && s[64] == '\0';
}

void pg_chain_tip_genesis(struct pg_chain_tip *tip, const char *chain_id)
{
    tip->seq = 0;
    pg_chain_genesis(chain_id, tip->head);
}
