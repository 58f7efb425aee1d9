#include "policy/record.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pg_canon_init(struct pg_canon *c)
{
    memset(c, 0, sizeof *c);
}

void pg_canon_free(struct pg_canon *c)
{
    free(c->buf);
    memset(c, 0, sizeof *c);
}

static void put(struct pg_canon *c, const char *s, size_t n)
{
    if (c->failed)
        return;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 512;
        while (cap < c->len + n + 1)
            cap *= 2;
        char *g = realloc(c->buf, cap);
        if (!g) {
            c->failed = true;
            return;
        }
        c->buf = g;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, s, n);
    c->len += n;
    c->buf[c->len] = '\0';
}

/* RFC 8259 strings with one fixed choice of escapes: the two-character
 * forms for " \ \b \f \n \r \t, \u00XX for other controls and DEL, every
 * other byte as it is (UTF-8 passes through unchanged). */
static void put_string(struct pg_canon *c, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put(c, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        switch (ch) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        if (esc) {
            put(c, esc, 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            put(c, u, 6);
        } else {
            put(c, (const char *)&s[i], 1);
        }
    }
    put(c, "\"", 1);
}

static void member(struct pg_canon *c, const char *key)
{
    if (c->depth > 0 && c->need_comma[c->depth])
        put(c, ",", 1);
    if (c->depth > 0)
        c->need_comma[c->depth] = true;
    if (key) {
        put_string(c, key, strlen(key));
        put(c, ":", 1);
    }
}

static void open_(struct pg_canon *c, const char *key, const char *brace)
{
    member(c, key);
    put(c, brace, 1);
    if (c->depth + 1 >= (int)(sizeof c->need_comma / sizeof c->need_comma[0])) {
        c->failed = true;
        return;
    }
    c->depth++;
    c->need_comma[c->depth] = false;
}

static void close_(struct pg_canon *c, const char *brace)
{
    if (c->depth > 0)
        c->depth--;
    put(c, brace, 1);
}

void pg_canon_begin_object(struct pg_canon *c, const char *key) { open_(c, key, "{"); }
void pg_canon_end_object(struct pg_canon *c) { close_(c, "}"); }
void pg_canon_begin_array(struct pg_canon *c, const char *key) { open_(c, key, "["); }
void pg_canon_end_array(struct pg_canon *c) { close_(c, "]"); }

void pg_canon_string(struct pg_canon *c, const char *key, const char *value, size_t len)
{
    member(c, key);
    put_string(c, value, len);
}

void pg_canon_int(struct pg_canon *c, const char *key, int64_t value)
{
    char n[24];
    int k = snprintf(n, sizeof n, "%lld", (long long)value);
    member(c, key);
    put(c, n, (size_t)k);
}

void pg_canon_bool(struct pg_canon *c, const char *key, bool value)
{
    member(c, key);
    put(c, value ? "true" : "false", value ? 4 : 5);
}

void pg_canon_null(struct pg_canon *c, const char *key)
{
    member(c, key);
    put(c, "null", 4);
}

static void sha256_hex(const unsigned char *prefix, size_t plen, const char *bytes, size_t len, char out[PG_HASH_HEX])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, prefix, plen);
    EVP_DigestUpdate(ctx, bytes, len);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

void pg_record_hash(const char *bytes, size_t len, char out[PG_HASH_HEX])
{
    static const unsigned char leaf = 0x00;
    sha256_hex(&leaf, 1, bytes, len, out);
}

void pg_chain_genesis(const char *chain_id, char out[PG_HASH_HEX])
{
    static const unsigned char domain[] = "phiguard audit chain genesis v1";
    sha256_hex(domain, sizeof domain, chain_id, strlen(chain_id), out); /* the domain's NUL separates */
}
