/* Test helper: a stand-in for the host's phi_seal/phi_open with the same
 * contract and the envelope's alphabet: "phi:v1:t1:r:" hex(field) "-"
 * hex(value). It opens only under the field it was sealed for, like the
 * real one, so tests can see the binding. */
#ifndef PHI_DETECTOR_TEST_FAKE_SEAL_H
#define PHI_DETECTOR_TEST_FAKE_SEAL_H
#include <stdio.h>
#include <string.h>

#define FAKE_PREFIX "phi:v1:t1:r:"

static int fake_seals, fake_opens, fake_open_failures;
static int fake_seal_fail; /* seal answers -1, as with no keyring */

static inline void fake_reset(void)
{
    fake_seals = fake_opens = fake_open_failures = fake_seal_fail = 0;
}

static inline size_t fake_hex(char *out, const char *s, size_t n)
{
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = h[(unsigned char)s[i] >> 4];
        out[2 * i + 1] = h[(unsigned char)s[i] & 15];
    }
    return 2 * n;
}

static inline long fake_seal(void *ctx, const char *field, const char *value, size_t len, char *out, size_t cap)
{
    (void)ctx;
    size_t need = strlen(FAKE_PREFIX) + 2 * strlen(field) + 1 + 2 * len;
    if (fake_seal_fail || need + 1 > cap)
        return -1;
    fake_seals++;
    size_t n = strlen(FAKE_PREFIX);
    memcpy(out, FAKE_PREFIX, n);
    n += fake_hex(out + n, field, strlen(field));
    out[n++] = '-';
    n += fake_hex(out + n, value, len);
    out[n] = 0;
    return (long)n;
}

static inline int fake_unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static inline long fake_open(void *ctx, const char *field, const char *env, size_t len, char *out, size_t cap)
{
    (void)ctx;
    fake_opens++;
    char want[1024];
    size_t n = strlen(FAKE_PREFIX);
    memcpy(want, FAKE_PREFIX, n);
    n += fake_hex(want + n, field, strlen(field));
    want[n++] = '-';
    if (len < n || memcmp(env, want, n) != 0 || (len - n) % 2 || (len - n) / 2 > cap) {
        fake_open_failures++;
        return -1;
    }
    size_t m = 0;
    for (size_t i = n; i < len; i += 2) {
        int hi = fake_unhex(env[i]), lo = fake_unhex(env[i + 1]);
        if (hi < 0 || lo < 0) {
            fake_open_failures++;
            return -1;
        }
        out[m++] = (char)(hi * 16 + lo);
    }
    return (long)m;
}
#endif
