#include "policy/password.h"

#include <argon2.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SALT_LEN 16
#define HASH_LEN 32
#define MAX_PASSWORD 1024

const struct pg_argon2_params pg_argon2_defaults = {.memory_kib = 65536, .passes = 3, .lanes = 1};

bool pg_argon2_params_ok(const struct pg_argon2_params *p, char *why, size_t whylen)
{
    /* The floor follows RFC 9106 §4's second recommendation (64 MiB, t=3). */
    if (p->memory_kib < 65536 || p->passes < 3 || p->lanes < 1 || p->lanes > 16 || p->memory_kib > 4194304 ||
        p->passes > 64) {
        snprintf(why, whylen, "Argon2id parameters must be at least m=65536 (64 MiB), t=3, p=1 "
                              "(and at most 4 GiB, 64 passes, 16 lanes)");
        return false;
    }
    return true;
}

int pg_password_hash(const char *password, size_t len, const struct pg_argon2_params *p, char *out, size_t outlen,
                     char *why, size_t whylen)
{
    if (!pg_argon2_params_ok(p, why, whylen))
        return -1;
    unsigned char salt[SALT_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1) {
        snprintf(why, whylen, "no random bytes for the salt");
        return -1;
    }
    int rc = argon2id_hash_encoded(p->passes, p->memory_kib, p->lanes, password, len, salt, sizeof salt, HASH_LEN,
                                   out, outlen);
    if (rc != ARGON2_OK) {
        snprintf(why, whylen, "argon2: %s", argon2_error_message(rc));
        return -1;
    }
    return 0;
}

int pg_password_phc_params(const char *phc, struct pg_argon2_params *out)
{
    unsigned v, m, t, p;
    int consumed = 0;
    if (!phc || sscanf(phc, "$argon2id$v=%u$m=%u,t=%u,p=%u$%n", &v, &m, &t, &p, &consumed) != 4 || consumed == 0)
        return -1;
    if (v != ARGON2_VERSION_13)
        return -1;
    /* salt$hash: base64 without padding, both present. */
    const char *salt = phc + consumed, *dollar = strchr(salt, '$');
    if (!dollar || dollar == salt || !dollar[1] || strchr(dollar + 1, '$'))
        return -1;
    for (const char *c = salt; *c; c++)
        if (!(*c == '$' || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '+' || *c == '/'))
            return -1;
    out->memory_kib = m;
    out->passes = t;
    out->lanes = p;
    return 0;
}

int pg_password_verify(const char *phc, const char *password, size_t len)
{
    struct pg_argon2_params p;
    char why[160];
    if (pg_password_phc_params(phc, &p) != 0 || !pg_argon2_params_ok(&p, why, sizeof why))
        return -1;
    int rc = argon2id_verify(phc, password, len);
    if (rc == ARGON2_OK)
        return 1;
    return rc == ARGON2_VERIFY_MISMATCH ? 0 : -1;
}

int pg_password_verify_dummy(const char *password, size_t len, const struct pg_argon2_params *p)
{
    /* A hash of nothing anyone can type, with the live cost parameters:
     * computing it costs exactly what a real verification costs. */
    static const unsigned char salt[SALT_LEN] = "phiguard-dummy!";
    unsigned char hash[HASH_LEN];
    argon2id_hash_raw(p->passes, p->memory_kib, p->lanes, password, len, salt, sizeof salt, hash, sizeof hash);
    return 0;
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || i + k > n || (k == 2 && c < 0xC2))
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        i += k;
    }
    return true;
}

int pg_password_acceptable(const char *password, size_t len, size_t min_len, char *why, size_t whylen)
{
    if (min_len < 12)
        min_len = 12; /* the floor: a configuration may raise it, never lower it */
    if (len > MAX_PASSWORD) {
        snprintf(why, whylen, "passwords are at most %d bytes", MAX_PASSWORD);
        return -1;
    }
    if (memchr(password, '\0', len) || !valid_utf8((const unsigned char *)password, len)) {
        snprintf(why, whylen, "a password must be valid UTF-8 text");
        return -1;
    }
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)password[i] & 0xC0) != 0x80;
    if (chars < min_len) {
        snprintf(why, whylen, "a password needs at least %zu characters (this one has %zu)", min_len, chars);
        return -1;
    }
    return 0;
}
