#ifndef PHIGUARD_POLICY_PASSWORD_H
#define PHIGUARD_POLICY_PASSWORD_H
/* Argon2id password hashes in PHC string form
 * ($argon2id$v=19$m=65536,t=3,p=1$salt$hash).
 *
 * Hashing and verifying are slow on purpose (tens of milliseconds, 64 MiB):
 * callers on an event loop must run them on the work queue (proxy/workq.h),
 * never on the loop itself. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pg_argon2_params {
    uint32_t memory_kib; /* default 65536 (64 MiB) */
    uint32_t passes;     /* default 3 */
    uint32_t lanes;      /* default 1 */
};

extern const struct pg_argon2_params pg_argon2_defaults;

/* The weakest parameters phiguard accepts for stored hashes. */
bool pg_argon2_params_ok(const struct pg_argon2_params *p, char *why, size_t whylen);

/* A fresh random salt; out receives the PHC string. 0 or -1 (why says). */
int pg_password_hash(const char *password, size_t len, const struct pg_argon2_params *p, char *out, size_t outlen,
                     char *why, size_t whylen);
/* 1 when password matches phc, 0 when not, -1 when phc is not an Argon2id
 * PHC string phiguard accepts. Constant time in the password. */
int pg_password_verify(const char *phc, const char *password, size_t len);
/* Verifies against a fixed dummy hash of the same cost, so that a login
 * for a user who does not exist takes as long as one who does. Always 0. */
int pg_password_verify_dummy(const char *password, size_t len, const struct pg_argon2_params *p);
/* Parses the parameters of a PHC string: 0, or -1 when it is malformed. */
int pg_password_phc_params(const char *phc, struct pg_argon2_params *out);

/* The password rules: at least min_len characters (12 by default, the
 * floor), at most 1024 bytes, valid UTF-8, no NUL. 0, or -1 with why. */
int pg_password_acceptable(const char *password, size_t len, size_t min_len, char *why, size_t whylen);

#endif
