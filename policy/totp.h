#ifndef PHIGUARD_POLICY_TOTP_H
#define PHIGUARD_POLICY_TOTP_H
/* Time-based one-time passwords (RFC 6238 over liboath): 30 s steps, a
 * window of ±1 step, 6 digits, HMAC-SHA1 (what authenticator apps expect),
 * and each step usable once. */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PG_TOTP_STEP 30
#define PG_TOTP_WINDOW 1
#define PG_TOTP_SECRET_LEN 20

enum pg_totp_result {
    PG_TOTP_OK = 0,     /* *matched_step is the step to store as used */
    PG_TOTP_BAD = 1,    /* wrong, malformed, or outside the window */
    PG_TOTP_REPLAY = 2, /* right code, but its step (or a later one) was already used */
};

/* last_used_step: the step of the last accepted code for this user (0:
 * none). A code is accepted only for a step after it, so no code works
 * twice, even within its window. The comparison is constant time. */
enum pg_totp_result pg_totp_check(const uint8_t *secret, size_t secret_len, const char *code, time_t now,
                                  uint64_t last_used_step, uint64_t *matched_step);
/* The code for now (digits 6 to 8); 0 or -1. */
int pg_totp_generate(const uint8_t *secret, size_t secret_len, time_t now, unsigned digits, char out[9]);
int pg_totp_new_secret(uint8_t out[PG_TOTP_SECRET_LEN]);
/* RFC 4648 base32 without padding, as authenticator apps take it. */
int pg_totp_base32(const uint8_t *secret, size_t len, char *out, size_t outlen);
/* otpauth://totp/ISSUER:ACCOUNT?secret=..&issuer=..&algorithm=SHA1&digits=6&period=30 */
int pg_totp_uri(const char *issuer, const char *account, const char *base32, char *out, size_t outlen);

#endif
