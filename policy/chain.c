#include "policy/chain.h"

#include <openssl/evp.h>
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
    size_t i = 0;
    for (; i < 64; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return s[i] == '\0';
}

void pg_chain_tip_genesis(struct pg_chain_tip *tip, const char *chain_id)
{
    tip->seq = 0;
    pg_chain_genesis(chain_id, tip->head);
}
