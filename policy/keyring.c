#include "policy/keyring.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Standard base64 of exactly 32 bytes (44 characters, one '=' pad). */
static int secret_of(const char *b64, size_t len, unsigned char out[32])
{
    unsigned char buf[48];
    if (len != 44)
        return -1;
    int n = EVP_DecodeBlock(buf, (const unsigned char *)b64, 44);
    if (n != 33 || b64[43] != '=' || b64[42] == '=')
        return -1; /* EVP_DecodeBlock counts the pad: 33 means 32 bytes */
    memcpy(out, buf, 32);
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

int pg_keyring_parse(const char *name, const char *text, size_t len, struct pg_keyring *out,
                     struct pg_policy_errors *errs)
{
    memset(out, 0, sizeof *out);
    out->active = -1;
    int before = pg_policy_errors_total(errs), line = 0;
    char active[128] = "";
    int active_line = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        line++;
        char buf[256];
        size_t n = (size_t)(stop - p);
        p = nl ? nl + 1 : end;
        if (n >= sizeof buf) {
            pg_policy_errors_add(errs, "%s:%d: line too long", name, line);
            continue;
        }
        memcpy(buf, stop - n, n);
        buf[n] = '\0';
        if (n && buf[n - 1] == '\r')
            buf[--n] = '\0';
        if (!n || buf[0] == '#')
            continue;
        char a[128], b[128], extra;
        int f = sscanf(buf, "%127s %127s %c", a, b, &extra);
        if (f != 2) {
            pg_policy_errors_add(errs, "%s:%d: expected \"active ID\" or \"ID BASE64-KEY\"", name, line);
            continue;
        }
        if (!strcmp(a, "active")) {
            if (active[0])
                pg_policy_errors_add(errs, "%s:%d: a second active line", name, line);
            snprintf(active, sizeof active, "%s", b);
            active_line = line;
            continue;
        }
        if (out->n == PG_KEYRING_MAX) {
            pg_policy_errors_add(errs, "%s:%d: more than %d keys", name, line, PG_KEYRING_MAX);
            continue;
        }
        unsigned char secret[32];
        if (secret_of(b, strlen(b), secret) != 0) {
            pg_policy_errors_add(errs, "%s:%d: key %s: expected 32 bytes in base64 (openssl rand -base64 32)", name,
                                 line, a);
            continue;
        }
        bool dup = false;
        for (int i = 0; i < out->n; i++)
            dup |= !strcmp(out->keys[i].kid, a);
        if (dup || pg_phi_key_init(&out->keys[out->n], a, secret) != 0)
            pg_policy_errors_add(errs, "%s:%d: key id '%s': %s", name, line, a,
                                 dup ? "given twice" : "expected 1 to 32 of A-Z a-z 0-9 - _");
        else
            out->n++;
        OPENSSL_cleanse(secret, sizeof secret);
    }
    for (int i = 0; i < out->n && active[0]; i++)
        if (!strcmp(out->keys[i].kid, active))
            out->active = i;
    if (!active[0])
        pg_policy_errors_add(errs, "%s: no \"active ID\" line", name);
    else if (out->active < 0)
        pg_policy_errors_add(errs, "%s:%d: the active key '%s' is not listed", name, active_line, active);
    if (pg_policy_errors_total(errs) != before) {
        pg_keyring_wipe(out);
        return -1;
    }
    return 0;
}

void pg_keyring_wipe(struct pg_keyring *k)
{
    OPENSSL_cleanse(k, sizeof *k);
    k->active = -1;
}
