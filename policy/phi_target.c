#include "policy/phi_target.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "policy/phi_transform.h"
#include "policy/units.h"

#define VALUE_MAX 1024   /* one decoded searchable value */
#define SEALED_MAX 16384 /* its sealed form under every key */

struct out_buf {
    char *s;
    size_t len, cap;
    bool failed;
};

static void put(struct out_buf *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap ? o->cap * 2 : 256) + n;
        char *s2 = realloc(o->s, cap);
        if (!s2) {
            o->failed = true;
            return;
        }
        o->s = s2;
        o->cap = cap;
    }
    memcpy(o->s + o->len, s, n);
    o->len += n;
    o->s[o->len] = '\0';
}

/* Percent-decoding; '+' is a space in a query (HTML form encoding, which
 * servers apply to query strings). -1 on a bad escape. */
static long pct_decode(const char *s, size_t n, bool plus_space, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k + 1 >= cap)
            return -1;
        if (s[i] == '%') {
            int hi = i + 2 < n ? pg_hex_digit((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? pg_hex_digit((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            out[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[k++] = plus_space && s[i] == '+' ? ' ' : s[i];
        }
    }
    out[k] = '\0';
    return (long)k;
}

/* Sealed values hold [A-Za-z0-9_:-], ',' between alternatives, and the
 * system of a token; everything else is escaped. */
static void put_encoded(struct out_buf *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~:/,", c)) {
            put(o, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            put(o, e, 3);
        }
    }
}

static const struct pg_phi_field *field_of(const struct pg_policy *p, const struct pg_phi_query *q)
{
    return q->field ? pg_policy_find_field(p, q->field) : NULL;
}

/* One raw value (still encoded): sealed and appended, encoded. */
static enum pg_phi_target_result seal_one(const struct pg_keyring *ring, const struct pg_phi_field *f, const char *raw,
                                          size_t n, bool plus_space, struct out_buf *o, const char **why)
{
    char value[VALUE_MAX], sealed[SEALED_MAX];
    long len = pct_decode(raw, n, plus_space, value, sizeof value);
    if (len < 0) {
        *why = "a searchable value has a bad percent escape or is too long";
        return PG_PHI_TARGET_REFUSE;
    }
    long sl = pg_phi_query_value(ring, f, value, (size_t)len, sealed, sizeof sealed);
    OPENSSL_cleanse(value, sizeof value);
    if (sl < 0)
        return PG_PHI_TARGET_FAILED;
    put_encoded(o, sealed, (size_t)sl);
    return PG_PHI_TARGET_NEW;
}

static const struct pg_phi_query *listed(const struct pg_phi_query *qs, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (qs[i].param && strlen(qs[i].param) == len && memcmp(qs[i].param, name, len) == 0)
            return &qs[i];
    return NULL;
}

static enum pg_phi_target_result rewrite_query(const struct pg_policy *p, const struct pg_route *r,
                                               const struct pg_keyring *ring, const char *q, size_t n,
                                               struct out_buf *o, bool *changed, const char **why)
{
    const char *end = q + n;
    for (const char *s = q; s <= end;) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(stop - s));
        const char *name_end = eq ? eq : stop;
        /* Compared decoded, as the backend will read it: an escaped name
         * must not slip past. */
        char name[256];
        long nl = pct_decode(s, (size_t)(name_end - s), true, name, sizeof name);
        if (nl < 0) {
            *why = "a query parameter name has a bad percent escape or is too long";
            return PG_PHI_TARGET_REFUSE;
        }
        const char *colon = memchr(name, ':', (size_t)nl);
        const struct pg_phi_query *pq = listed(r->phi_query, r->nphi_query, name, (size_t)((colon ? colon : name + nl) - name));
        if (pq && colon) {
            *why = "a searchable PHI parameter cannot take a search modifier";
            return PG_PHI_TARGET_REFUSE;
        }
        const struct pg_phi_field *f = pq ? field_of(p, pq) : NULL;
        if (pq && !f)
            return PG_PHI_TARGET_FAILED;
        if (!f || !eq) {
            put(o, s, (size_t)(stop - s));
        } else {
            put(o, s, (size_t)(eq + 1 - s));
            for (const char *v = eq + 1; v <= stop;) {
                const char *comma = memchr(v, ',', (size_t)(stop - v));
                const char *vend = comma ? comma : stop;
                if (vend > v) {
                    enum pg_phi_target_result rc = seal_one(ring, f, v, (size_t)(vend - v), true, o, why);
                    if (rc != PG_PHI_TARGET_NEW)
                        return rc;
                }
                if (!comma)
                    break;
                put(o, ",", 1);
                v = comma + 1;
            }
            *changed = true;
        }
        if (!amp)
            break;
        put(o, "&", 1);
        s = amp + 1;
    }
    return PG_PHI_TARGET_NEW;
}

/* The index of {param} among the pattern's segments. */
static int segment_of(const char *pattern, const char *param)
{
    int seg = -1;
    size_t n = strlen(param);
    for (const char *s = pattern; *s; s++) {
        if (*s != '/')
            continue;
        seg++;
        if (s[1] == '{' && strncmp(s + 2, param, n) == 0 && s[2 + n] == '}' && (s[3 + n] == '/' || !s[3 + n]))
            return seg;
    }
    return -1;
}

static enum pg_phi_target_result rewrite_path(const struct pg_policy *p, const struct pg_route *r,
                                              const struct pg_keyring *ring, const char *path, size_t n,
                                              struct out_buf *o, bool *changed, const char **why)
{
    /* One segment names one value: the active key alone. */
    struct pg_keyring *one = calloc(1, sizeof *one);
    if (!one)
        return PG_PHI_TARGET_FAILED;
    one->n = 1;
    one->keys[0] = ring->keys[ring->active];
    enum pg_phi_target_result rc = PG_PHI_TARGET_NEW;
    int seg = -1;
    const char *end = path + n;
    for (const char *s = path; s < end && rc == PG_PHI_TARGET_NEW;) {
        const char *next = memchr(s + 1, '/', (size_t)(end - s - 1));
        const char *stop = next ? next : end;
        seg++;
        const struct pg_phi_query *pq = NULL;
        for (int i = 0; i < r->nphi_path && !pq; i++)
            if (r->phi_path[i].param && segment_of(r->pattern, r->phi_path[i].param) == seg)
                pq = &r->phi_path[i];
        const struct pg_phi_field *f = pq ? field_of(p, pq) : NULL;
        put(o, "/", 1);
        if (f && stop > s + 1) {
            rc = seal_one(one, f, s + 1, (size_t)(stop - s - 1), false, o, why);
            *changed = true;
        } else {
            if (pq && !f)
                rc = PG_PHI_TARGET_FAILED;
            put(o, s + 1, (size_t)(stop - s - 1));
        }
        s = stop;
    }
    pg_keyring_wipe(one);
    free(one);
    return rc;
}

enum pg_phi_target_result pg_phi_target_rewrite(const struct pg_policy *p, const struct pg_route *r,
                                                const struct pg_keyring *ring, const char *target, size_t target_len,
                                                size_t path_len, char **out, size_t *out_len, const char **why)
{
    *out = NULL;
    *out_len = 0;
    *why = NULL;
    if (r->nphi_query == 0 && r->nphi_path == 0)
        return PG_PHI_TARGET_SAME;
    if (!ring || ring->n == 0)
        return PG_PHI_TARGET_FAILED;
    struct out_buf o = {0};
    bool changed = false;
    enum pg_phi_target_result rc = PG_PHI_TARGET_NEW;
    if (r->nphi_path)
        rc = rewrite_path(p, r, ring, target, path_len, &o, &changed, why);
    else
        put(&o, target, path_len);
    if (rc == PG_PHI_TARGET_NEW && path_len < target_len) {
        put(&o, "?", 1);
        if (r->nphi_query)
            rc = rewrite_query(p, r, ring, target + path_len + 1, target_len - path_len - 1, &o, &changed, why);
        else
            put(&o, target + path_len + 1, target_len - path_len - 1);
    }
    if (rc == PG_PHI_TARGET_NEW && o.failed)
        rc = PG_PHI_TARGET_FAILED;
    if (rc != PG_PHI_TARGET_NEW || !changed) {
        if (o.s)
            OPENSSL_cleanse(o.s, o.cap);
        free(o.s);
        return rc == PG_PHI_TARGET_NEW ? PG_PHI_TARGET_SAME : rc;
    }
    *out = o.s;
    *out_len = o.len;
    return PG_PHI_TARGET_NEW;
}
