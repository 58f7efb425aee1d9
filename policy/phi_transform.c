#include "policy/phi_transform.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "policy/envelope.h"

#define MASK_LEN (sizeof PG_PHI_MASK_TEXT - 1)
#define SMALL 512 /* values up to this many bytes are normalised on the stack */

size_t pg_phi_normalize(enum pg_phi_normalize n, const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (n == PG_NORM_DIGITS && (c < '0' || c > '9'))
            continue;
        if (n == PG_NORM_LOWER && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[o++] = c;
    }
    return o;
}

static bool can_read(const struct pg_phi_pass *p, const struct pg_phi_field *f)
{
    int i = f->read_perm;
    return i >= 0 && i < PG_POLICY_MAX_PERMS && (p->perms.w[i / 64] >> (i % 64) & 1);
}

/* ---- request: seal ---- */

/* Normalised (strings of a searchable field) and sealed into out. */
static long seal(const struct pg_phi_key *k, const struct pg_phi_field *f, char type, const char *value, size_t len,
                 char *out, size_t cap)
{
    char mode = f->searchable ? 'd' : 'r';
    if (!f->searchable || f->normalize == PG_NORM_NONE || type != 's')
        return pg_envelope_seal(k, mode, f->logical_path, type, value, len, out, cap);
    char small[SMALL], *norm = len <= sizeof small ? small : malloc(len);
    if (!norm)
        return -1;
    size_t n = pg_phi_normalize(f->normalize, value, len, norm);
    long rc = pg_envelope_seal(k, mode, f->logical_path, type, norm, n, out, cap);
    OPENSSL_cleanse(norm, len);
    if (norm != small)
        free(norm);
    return rc;
}

enum pg_rw_action pg_phi_seal_value(void *pass, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    struct pg_phi_pass *p = pass;
    /* An envelope where the client writes, selected or not, is ciphertext
     * it could not have made: refused. */
    if (v->field < 0 || v->field >= p->nfields) {
        if (v->field < 0)
            p->tally[p->nfields].failed++;
        return PG_RW_FAIL;
    }
    if (v->type == 'o' || v->type == 'a')
        return PG_RW_KEEP;
    const struct pg_phi_field *f = &p->fields[v->field];
    if ((v->type == 's' && pg_envelope_is(v->data, v->len)) || !f->logical_path || p->ring->active < 0 ||
        p->ring->active >= p->ring->n) {
        p->tally[v->field].failed++;
        return PG_RW_FAIL;
    }
    long n = seal(&p->ring->keys[p->ring->active], f, v->type, v->data, v->len, out->data, out->cap);
    if (n < 0) {
        p->tally[v->field].failed++;
        return PG_RW_FAIL;
    }
    out->type = 's';
    out->len = (size_t)n;
    p->tally[v->field].sealed++;
    return PG_RW_REPLACE;
}

/* ---- response: reveal or mask ---- */

/* The bytes of the last n code points of s (continuation bytes are
 * 10xxxxxx), or len when s has n or fewer. */
static size_t tail_bytes(const char *s, size_t len, int n)
{
    size_t i = len;
    for (int seen = 0; i > 0;) {
        i--;
        if (((unsigned char)s[i] & 0xC0) != 0x80 && ++seen == n)
            return len - i;
    }
    return len;
}

/* "***", or "***" and the last N characters of the plaintext (in out or
 * elsewhere); what is not kept of a plaintext in out is wiped. */
static enum pg_rw_action mask(const struct pg_phi_field *f, const char *plain, size_t len, struct pg_rw_token *out)
{
    size_t keep = 0;
    if (f && f->others == PG_PHI_MASK && f->mask_keep_last > 0) {
        keep = tail_bytes(plain, len, f->mask_keep_last);
        if (keep == len)
            keep = 0; /* N or fewer characters: showing them would show it all */
    }
    if (keep)
        memmove(out->data + MASK_LEN, plain + len - keep, keep);
    memcpy(out->data, PG_PHI_MASK_TEXT, MASK_LEN);
    out->type = 's';
    out->len = MASK_LEN + keep;
    if (plain == out->data && len > out->len)
        OPENSSL_cleanse(out->data + out->len, len - out->len);
    return PG_RW_REPLACE;
}

/* What a requester without the read permission gets. */
static enum pg_rw_action for_others(struct pg_phi_tally *t, const struct pg_phi_field *f, const char *plain,
                                    size_t len, struct pg_rw_token *out)
{
    if (f->others == PG_PHI_REDACT) {
        t->removed++;
        if (plain == out->data)
            OPENSSL_cleanse(out->data, len);
        return PG_RW_REMOVE;
    }
    t->masked++;
    return mask(f, plain, len, out);
}

enum pg_rw_action pg_phi_reveal_value(void *pass, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    struct pg_phi_pass *p = pass;
    if (v->field < 0 || v->field >= p->nfields) {
        p->tally[p->nfields].masked++;
        return mask(NULL, NULL, 0, out);
    }
    const struct pg_phi_field *f = &p->fields[v->field];
    struct pg_phi_tally *t = &p->tally[v->field];
    bool reader = can_read(p, f);
    if (v->type == 'o' || v->type == 'a') {
        if (!reader && f->others == PG_PHI_REDACT) {
            t->removed++;
            return PG_RW_REMOVE;
        }
        return PG_RW_KEEP;
    }
    if (v->type != 's' || !pg_envelope_is(v->data, v->len)) {
        t->plain++;
        return reader ? PG_RW_KEEP : for_others(t, f, v->data, v->len, out);
    }
    char type = 0;
    size_t n = 0;
    enum pg_envelope_result r =
        f->logical_path ? pg_envelope_open(p->ring->keys, (size_t)p->ring->n, f->logical_path, v->data, v->len, &type,
                                           out->data, out->cap, &n)
                        : PG_ENVELOPE_MALFORMED;
    if (r != PG_ENVELOPE_OK) {
        t->failed++;
        t->masked++;
        return mask(NULL, NULL, 0, out);
    }
    if (!reader)
        return for_others(t, f, out->data, n, out);
    t->opened++;
    out->type = type;
    out->len = n;
    return PG_RW_REPLACE;
}

/* ---- search: a query value as the backend stores it ---- */

/* One alternative ("value" or "system|value"), sealed under every key,
 * appended to out at *at; -1 when it does not fit or does not seal. */
static int query_alternative(const struct pg_keyring *ring, const struct pg_phi_field *f, const char *s, size_t len,
                             char *out, size_t cap, size_t *at)
{
    const char *bar = NULL;
    for (size_t i = len; i > 0 && !bar; i--)
        if (s[i - 1] == '|')
            bar = s + i - 1;
    size_t syslen = bar ? (size_t)(bar - s) + 1 : 0; /* with its '|' */
    const char *value = s + syslen;
    size_t vlen = len - syslen;
    if (bar && vlen == 0) { /* "system|": any value of a system; nothing to seal */
        if (*at + len >= cap)
            return -1;
        memcpy(out + *at, s, len);
        *at += len;
        return 0;
    }
    char small[SMALL], *norm = vlen <= sizeof small ? small : malloc(vlen);
    if (!norm)
        return -1;
    size_t nlen = pg_phi_normalize(f->normalize, value, vlen, norm);
    int rc = 0;
    for (int i = 0; i < ring->n && rc == 0; i++) {
        /* The active key first: what is written now matches at once. */
        int k = i == 0 ? ring->active : i <= ring->active ? i - 1 : i;
        size_t need = (i ? 1 : 0) + syslen;
        if (*at + need >= cap) {
            rc = -1;
            break;
        }
        if (i)
            out[(*at)++] = ',';
        memcpy(out + *at, s, syslen);
        *at += syslen;
        long n = pg_envelope_seal(&ring->keys[k], 'd', f->logical_path, 's', norm, nlen, out + *at, cap - *at);
        if (n < 0)
            rc = -1;
        else
            *at += (size_t)n;
    }
    OPENSSL_cleanse(norm, vlen);
    if (norm != small)
        free(norm);
    return rc;
}

long pg_phi_query_value(const struct pg_keyring *ring, const struct pg_phi_field *field, const char *value,
                        size_t len, char *out, size_t cap)
{
    if (!cap || !field->searchable || !field->logical_path || ring->n < 1 || ring->active < 0 ||
        ring->active >= ring->n)
        return -1;
    size_t at = 0;
    /* FHIR search reads a comma as "or": each alternative is its own value. */
    for (size_t start = 0;;) {
        const char *comma = memchr(value + start, ',', len - start);
        size_t end = comma ? (size_t)(comma - value) : len;
        if (start) {
            if (at + 1 >= cap)
                goto fail;
            out[at++] = ',';
        }
        if (query_alternative(ring, field, value + start, end - start, out, cap, &at) != 0)
            goto fail;
        if (!comma)
            break;
        start = end + 1;
    }
    out[at] = '\0';
    return (long)at;
fail:
    OPENSSL_cleanse(out, cap);
    out[0] = '\0';
    return -1;
}
