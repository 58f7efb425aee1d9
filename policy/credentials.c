#include "policy/credentials.h"

#include <openssl/crypto.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "policy/units.h"

static const char WHY_TYPE[] = "unsupported content type (use application/json or "
                               "application/x-www-form-urlencoded)";
static const char WHY_MALFORMED[] = "malformed body";
static const char WHY_NOT_OBJECT[] = "malformed body: not a JSON object";
static const char WHY_NOT_STRING[] = "a field is not a string";
static const char WHY_TOO_LONG[] = "a field is too long";
static const char WHY_TWICE[] = "a field is given twice";
static const char WHY_NUL[] = "a field contains a NUL byte";
static const char WHY_ESCAPE[] = "invalid percent escape";
static const char WHY_MEMORY[] = "out of memory";

struct field {
    const char *name;
    unsigned bit;
    size_t offset, cap;
};

#define FIELD(member, bit) {#member, bit, offsetof(struct pg_login_form, member), sizeof(((struct pg_login_form *)0)->member)}
static const struct field fields[] = {
    FIELD(username, PG_FORM_USERNAME), FIELD(password, PG_FORM_PASSWORD), FIELD(code, PG_FORM_CODE),
    FIELD(mfa_token, PG_FORM_MFA_TOKEN), FIELD(next, PG_FORM_NEXT), FIELD(user, PG_FORM_USER),
};
#undef FIELD

static const struct field *field_named(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strlen(fields[i].name) == len && memcmp(fields[i].name, name, len) == 0)
            return &fields[i];
    return NULL;
}

/* Checks common to both encodings, once a known field's value is decoded:
 * len is its whole length, even where less of it was kept. */
static int field_check(const struct field *f, size_t len, bool nul, const char **why)
{
    if (nul)
        *why = WHY_NUL;
    else if (len >= f->cap)
        *why = WHY_TOO_LONG;
    else
        return 0;
    return -1;
}

static void field_done(struct pg_login_form *out, const struct field *f, size_t len)
{
    ((char *)out + f->offset)[len] = '\0';
    out->present |= f->bit;
    if (f->bit == PG_FORM_PASSWORD)
        out->password_len = len;
}

static int field_set(struct pg_login_form *out, const struct field *f, const char *v, size_t len, const char **why)
{
    if (field_check(f, len, memchr(v, '\0', len) != NULL, why) != 0)
        return -1;
    memcpy((char *)out + f->offset, v, len);
    field_done(out, f, len);
    return 0;
}

/* ---- Content-Type ---- */

enum body_kind { BODY_UNSUPPORTED, BODY_JSON, BODY_FORM };

/* ASCII only: a locale must not change what a media type means. */
static bool ascii_ieq(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)b[i])
            return false;
    }
    return true;
}

static enum body_kind body_kind(const char *ct, size_t n)
{
    if (!ct)
        return BODY_UNSUPPORTED;
    const char *semi = memchr(ct, ';', n);
    size_t start = 0, end = semi ? (size_t)(semi - ct) : n;
    while (start < end && (ct[start] == ' ' || ct[start] == '\t'))
        start++;
    while (end > start && (ct[end - 1] == ' ' || ct[end - 1] == '\t'))
        end--;
    if (ascii_ieq(ct + start, end - start, "application/json"))
        return BODY_JSON;
    if (ascii_ieq(ct + start, end - start, "application/x-www-form-urlencoded"))
        return BODY_FORM;
    return BODY_UNSUPPORTED;
}

/* ---- application/x-www-form-urlencoded ---- */


struct decoded {
    size_t len; /* the whole decoded length, even past what was kept */
    bool nul;
};

/* Decodes s[0..n) keeping at most cap bytes in dst (dst may be NULL when
 * cap is 0: the value is only validated). -1 on an invalid escape. */
static int form_decode(const char *s, size_t n, char *dst, size_t cap, struct decoded *d)
{
    d->len = 0;
    d->nul = false;
    for (size_t i = 0; i < n; i++, d->len++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = n - i >= 3 ? pg_hex_digit((unsigned char)s[i + 1]) : -1;
            int lo = n - i >= 3 ? pg_hex_digit((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        d->nul |= c == 0;
        if (d->len < cap)
            dst[d->len] = (char)c;
    }
    return 0;
}

/* One "name=value" pair (or "name", whose value is empty). An empty pair,
 * as in "a&&b", has an empty name, matches no field, and is skipped. */
static int form_pair(const char *p, size_t n, struct pg_login_form *out, const char **why)
{
    const char *eq = memchr(p, '=', n);
    size_t name_len = eq ? (size_t)(eq - p) : n;
    const char *value = eq ? eq + 1 : p + n;
    size_t value_len = n - name_len - (eq ? 1 : 0);
    char name[16];
    struct decoded dn, dv;
    if (form_decode(p, name_len, name, sizeof name, &dn) != 0) {
        *why = WHY_ESCAPE;
        return -1;
    }
    const struct field *f = !dn.nul && dn.len < sizeof name ? field_named(name, dn.len) : NULL;
    if (f && (out->present & f->bit)) {
        *why = WHY_TWICE;
        return -1;
    }
    char *dst = f ? (char *)out + f->offset : NULL;
    if (form_decode(value, value_len, dst, f ? f->cap : 0, &dv) != 0) {
        *why = WHY_ESCAPE;
        return -1;
    }
    if (!f)
        return 0;
    if (field_check(f, dv.len, dv.nul, why) != 0)
        return -1;
    field_done(out, f, dv.len);
    return 0;
}

static int parse_form(const char *body, size_t len, struct pg_login_form *out, const char **why)
{
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        if (form_pair(body + i, end - i, out, why) != 0)
            return -1;
        i = end + 1;
    }
    return 0;
}

/* ---- application/json ---- */

/* yajl's callbacks see the whole document; only the top-level object's
 * members matter, and only those named in fields[] are kept. Every value
 * in the top-level object follows its key, so key is always current. */
struct json_state {
    struct pg_login_form *out;
    const char **why;
    size_t depth;            /* 1 inside the top-level object */
    const struct field *key; /* the known member whose value comes next */
};

static int json_fail(struct json_state *s, const char *why)
{
    *s->why = why;
    return 0; /* yajl stops with yajl_status_client_canceled */
}

/* Any value but a string: refused at the top or for a known member (key
 * is only ever set in the top-level object, see on_map_key). */
static int json_other(struct json_state *s)
{
    if (s->depth == 0)
        return json_fail(s, WHY_NOT_OBJECT);
    if (s->key)
        return json_fail(s, WHY_NOT_STRING);
    return 1;
}

static int on_null(void *ctx)
{
    return json_other(ctx);
}

static int on_boolean(void *ctx, int b)
{
    (void)b;
    return json_other(ctx);
}

static int on_number(void *ctx, const char *n, size_t len)
{
    (void)n;
    (void)len;
    return json_other(ctx);
}

static int on_string(void *ctx, const unsigned char *v, size_t len)
{
    struct json_state *s = ctx;
    if (s->depth == 0)
        return json_fail(s, WHY_NOT_OBJECT);
    /* Deeper down key is NULL: a known member's value cannot nest. */
    return !s->key || field_set(s->out, s->key, (const char *)v, len, s->why) == 0;
}

static int on_start(void *ctx)
{
    struct json_state *s = ctx;
    if (s->depth > 0 && json_other(s) == 0)
        return 0;
    s->depth++;
    return 1;
}

static int on_start_array(void *ctx)
{
    struct json_state *s = ctx;
    return s->depth == 0 ? json_fail(s, WHY_NOT_OBJECT) : on_start(s);
}

static int on_end(void *ctx)
{
    struct json_state *s = ctx;
    s->depth--;
    return 1;
}

static int on_map_key(void *ctx, const unsigned char *k, size_t len)
{
    struct json_state *s = ctx;
    if (s->depth != 1)
        return 1;
    s->key = field_named((const char *)k, len);
    if (s->key && (s->out->present & s->key->bit))
        return json_fail(s, WHY_TWICE);
    return 1;
}

static const yajl_callbacks json_callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

static int parse_json(const char *body, size_t len, struct pg_login_form *out, const char **why)
{
    struct json_state s = {.out = out, .why = why};
    yajl_handle h = yajl_alloc(&json_callbacks, NULL, &s);
    if (!h) {
        *why = WHY_MEMORY;
        return -1;
    }
    *why = NULL;
    yajl_status st = yajl_parse(h, (const unsigned char *)body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    if (st == yajl_status_ok)
        return 0;
    if (!*why) /* a syntax error, not one of ours */
        *why = WHY_MALFORMED;
    return -1;
}

int pg_login_form_parse(const char *content_type, size_t ct_len, const char *body, size_t len,
                        struct pg_login_form *out, const char **why)
{
    pg_login_form_clear(out);
    static const char empty[1] = "";
    if (!body)
        body = len == 0 ? empty : NULL;
    enum body_kind kind = body_kind(content_type, ct_len);
    int rc = -1;
    if (kind == BODY_UNSUPPORTED)
        *why = WHY_TYPE;
    else if (!body)
        *why = WHY_MALFORMED;
    else
        rc = kind == BODY_JSON ? parse_json(body, len, out, why) : parse_form(body, len, out, why);
    if (rc != 0)
        pg_login_form_clear(out); /* no half-parsed password left behind */
    return rc;
}

void pg_login_form_clear(struct pg_login_form *f)
{
    OPENSSL_cleanse(f, sizeof *f);
}

bool pg_login_next_safe(const char *next)
{
    /* "//host" and "/\host" are both taken by browsers as another host;
     * anything not starting with "/" may carry a scheme (https:,
     * javascript:). Control characters and non-ASCII are refused because
     * browsers strip or re-encode them, turning a harmless-looking path
     * into one of the above. */
    if (!next || next[0] != '/' || next[1] == '/')
        return false;
    for (const unsigned char *c = (const unsigned char *)next; *c; c++)
        if (*c == '\\' || *c < 0x20 || *c >= 0x7f)
            return false;
    return true;
}
