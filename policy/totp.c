#include "policy/totp.h"

#include <liboath/oath.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;

static void init_oath(void)
{
    oath_init();
}

struct candidate {
    const char *code;
    size_t len;
};

/* liboath's comparison callback: 0 on a match. Constant time, so the
 * timing of a refusal says nothing about how close a guess was. */
static int compare_code(void *handle, const char *test_otp)
{
    const struct candidate *c = handle;
    return strlen(test_otp) == c->len && CRYPTO_memcmp(test_otp, c->code, c->len) == 0 ? 0 : 1;
}

enum pg_totp_result pg_totp_check(const uint8_t *secret, size_t secret_len, const char *code, time_t now,
                                  uint64_t last_used_step, uint64_t *matched_step)
{
    pthread_once(&oath_once, init_oath);
    size_t len = strlen(code);
    if (len != 6)
        return PG_TOTP_BAD;
    for (size_t i = 0; i < len; i++)
        if (code[i] < '0' || code[i] > '9')
            return PG_TOTP_BAD;
    struct candidate c = {code, len};
    int pos = 0;
    uint64_t counter = 0;
    int rc = oath_totp_validate3_callback((const char *)secret, secret_len, now, PG_TOTP_STEP, 0, 6, PG_TOTP_WINDOW,
                                          &pos, &counter, compare_code, &c);
    if (rc < 0)
        return PG_TOTP_BAD;
    if (counter <= last_used_step)
        return PG_TOTP_REPLAY;
    *matched_step = counter;
    return PG_TOTP_OK;
}

int pg_totp_generate(const uint8_t *secret, size_t secret_len, time_t now, unsigned digits, char out[9])
{
    pthread_once(&oath_once, init_oath);
    if (digits < 6 || digits > 8)
        return -1;
    return oath_totp_generate2((const char *)secret, secret_len, now, PG_TOTP_STEP, 0, digits, 0, out) == OATH_OK
               ? 0
               : -1;
}

int pg_totp_new_secret(uint8_t out[PG_TOTP_SECRET_LEN])
{
    return RAND_bytes(out, PG_TOTP_SECRET_LEN) == 1 ? 0 : -1;
}

int pg_totp_base32(const uint8_t *secret, size_t len, char *out, size_t outlen)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    size_t need = (len * 8 + 4) / 5 + 1, o = 0;
    if (outlen < need)
        return -1;
    uint32_t buffer = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        buffer = (buffer << 8) | secret[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(buffer << (5 - bits)) & 31];
    out[o] = '\0';
    return 0;
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static size_t pct(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return o;
}

int pg_totp_uri(const char *issuer, const char *account, const char *base32, char *out, size_t outlen)
{
    char i[256], a[256];
    pct(issuer, i, sizeof i);
    pct(account, a, sizeof a);
    int n = snprintf(out, outlen, "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=%d", i, a,
                     base32, i, PG_TOTP_STEP);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}
