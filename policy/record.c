#include "policy/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_tree.h>

void pg_canon_init(struct pg_canon *c)
{
    memset(c, 0, sizeof *c);
}

void pg_canon_free(struct pg_canon *c)
{
    free(c->buf);
    memset(c, 0, sizeof *c);
}

/* Room for n more bytes and the NUL; false (and failed set) when memory
 * ran out. */
static bool reserve(struct pg_canon *c, size_t n)
{
    if (c->failed)
        return false;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 1024; /* a request's record fits */
        while (cap < c->len + n + 1)
            cap *= 2;
        char *g = realloc(c->buf, cap);
        if (!g) {
            c->failed = true;
            return false;
        }
        c->buf = g;
        c->cap = cap;
    }
    return true;
}

static void put(struct pg_canon *c, const char *s, size_t n)
{
    if (!reserve(c, n))
        return;
    memcpy(c->buf + c->len, s, n);
    c->len += n;
    c->buf[c->len] = '\0';
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        if (s[0] == 0xE0)
            lo = 0xA0;
        if (s[0] == 0xED)
            hi = 0x9F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        if (s[0] == 0xF0)
            lo = 0x90;
        if (s[0] == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* 1 for the bytes a string holds as they are: printable ASCII but " and \.
 * One load per byte instead of four comparisons: most of a record is runs
 * of such bytes. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20: '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50: '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70: DEL */
};

/* The most a string of n bytes can take once quoted and escaped: \ufffd
 * (six bytes) for every byte. */
#define ESCAPED_MAX(n) (6 * (n) + 2)

/* RFC 8259 strings with one fixed choice of escapes: the two-character
 * forms for " \ \b \f \n \r \t, \u00XX for other controls and DEL, \ufffd
 * for each byte outside valid UTF-8, every other byte as it is. Writes at
 * p, which has room for ESCAPED_MAX(n); returns the end. */
static char *escape(char *p, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    for (size_t i = 0; i < n;) {
        size_t run = i;
        while (run < n && plain[(unsigned char)s[run]])
            run++;
        if (run > i) {
            memcpy(p, s + i, run - i);
            p += run - i;
            i = run;
            continue;
        }
        unsigned char ch = (unsigned char)s[i];
        char esc = 0;
        switch (ch) {
        case '"': esc = '"'; break;
        case '\\': esc = '\\'; break;
        case '\b': esc = 'b'; break;
        case '\f': esc = 'f'; break;
        case '\n': esc = 'n'; break;
        case '\r': esc = 'r'; break;
        case '\t': esc = 't'; break;
        default: break;
        }
        if (esc) {
            *p++ = '\\';
            *p++ = esc;
            i++;
        } else if (ch < 0x20 || ch == 0x7f) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[ch >> 4];
            p[5] = hex[ch & 15];
            p += 6;
            i++;
        } else {
            size_t k = utf8_len((const unsigned char *)s + i, n - i);
            if (k) {
                memcpy(p, s + i, k);
                p += k;
                i += k;
            } else {
                memcpy(p, "\\ufffd", 6);
                p += 6;
                i++;
            }
        }
    }
    *p++ = '"';
    return p;
}

static void put_string(struct pg_canon *c, const char *s, size_t n)
{
    if (!reserve(c, ESCAPED_MAX(n)))
        return;
    char *end = escape(c->buf + c->len, s, n);
    c->len = (size_t)(end - c->buf);
    c->buf[c->len] = '\0';
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

/* ---- The record ---- */

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

static void two_digits(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

int pg_record_format_time(int64_t time_us, char out[PG_RECORD_TIME_LEN])
{
    /* The date and time of day change once a second while records come by
     * the thousand: gmtime_r only when the second changes (per thread, as
     * each worker writes its own chain). */
    static _Thread_local int64_t cached_secs = -1;
    static _Thread_local char cached[20]; /* YYYY-MM-DDTHH:MM:SS */
    if (time_us < 0)
        return -1;
    int64_t secs = time_us / 1000000;
    if (secs != cached_secs) {
        time_t t = (time_t)secs;
        struct tm tm;
        if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999)
            return -1;
        int y = tm.tm_year + 1900;
        two_digits(cached, y / 100);
        two_digits(cached + 2, y % 100);
        cached[4] = '-';
        two_digits(cached + 5, tm.tm_mon + 1);
        cached[7] = '-';
        two_digits(cached + 8, tm.tm_mday);
        cached[10] = 'T';
        two_digits(cached + 11, tm.tm_hour);
        cached[13] = ':';
        two_digits(cached + 14, tm.tm_min);
        cached[16] = ':';
        two_digits(cached + 17, tm.tm_sec);
        cached_secs = secs;
    }
    memcpy(out, cached, 19);
    out[19] = '.';
    int us = (int)(time_us % 1000000);
    for (int i = 25; i >= 20; i--, us /= 10)
        out[i] = (char)('0' + us % 10);
    out[26] = 'Z';
    out[27] = '\0';
    return 0;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int pg_record_parse_time(const char *t, int64_t *time_us)
{
    int Y, M, D, h, m, s, us;
    if (strlen(t) != PG_RECORD_TIME_LEN - 1 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
        t[16] != ':' || t[19] != '.' || t[26] != 'Z')
        return -1;
    if (digits(t, 4, &Y) || digits(t + 5, 2, &M) || digits(t + 8, 2, &D) || digits(t + 11, 2, &h) ||
        digits(t + 14, 2, &m) || digits(t + 17, 2, &s) || digits(t + 20, 6, &us))
        return -1;
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || s > 59)
        return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = s};
    time_t secs = timegm(&tm);
    /* timegm normalises 31 February into March; a real date survives. */
    if (secs < 0 || tm.tm_mday != D || tm.tm_mon != M - 1)
        return -1;
    *time_us = (int64_t)secs * 1000000 + us;
    return 0;
}

/* The details sorted by key into sorted (room for ndetails), so their order
 * never depends on the caller; -1 with the reason in err when one is
 * incomplete or a key repeats. An insertion sort: records carry a few. */
static int sort_details(const struct pg_audit_record *r, const struct pg_audit_detail **sorted, char *err,
                        size_t errlen)
{
    for (size_t i = 0; i < r->ndetails; i++) {
        const struct pg_audit_detail *d = &r->details[i];
        if (!d->key || !d->value)
            return ERR("details[%zu] has no key or value", i);
        size_t j = i;
        for (; j > 0 && strcmp(sorted[j - 1]->key, d->key) > 0; j--)
            sorted[j] = sorted[j - 1];
        sorted[j] = d;
    }
    for (size_t i = 1; i < r->ndetails; i++)
        if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0)
            return ERR("details key \"%s\" given twice", sorted[i]->key);
    return 0;
}

static int check(const struct pg_audit_record *r, char *err, size_t errlen)
{
    if (r->seq < 1 || r->seq > INT64_MAX)
        return ERR("seq must be from 1 to 2^63-1");
    if (!r->writer || !*r->writer)
        return ERR("writer is required");
    if (!pg_chain_is_hash(r->prev))
        return ERR("prev must be 64 lower-case hex digits");
    if (r->epoch_prev && (r->seq != 1 || !r->epoch_prev->writer || !pg_chain_is_hash(r->epoch_prev->head) ||
                          r->epoch_prev->seq > INT64_MAX))
        return ERR("epoch_prev belongs on seq 1 and needs a writer and a head hash");
    if (!r->type || !*r->type)
        return ERR("type is required");
    if (!r->action || !strchr("CRUDE", r->action))
        return ERR("action must be one of C R U D E");
    if (r->outcome != 0 && r->outcome != 4 && r->outcome != 8 && r->outcome != 12)
        return ERR("outcome must be 0, 4, 8 or 12");
    if (r->http.status != 0 && (r->http.status < 100 || r->http.status > 599))
        return ERR("http status %d out of range", r->http.status);
    for (size_t i = 0; i < r->agent.nroles; i++)
        if (!r->agent.roles[i])
            return ERR("roles[%zu] is NULL", i);
    for (size_t i = 0; i < r->nphi; i++)
        if (!r->phi[i].field)
            return ERR("phi[%zu] has no field", i);
    return 0;
}

/* The record is written in one pass into room reserved beforehand, its
 * keys and punctuation as constant pieces: the generic member-by-member
 * writer above costs several times more per record. The order and the
 * escaping are the same as that writer's (tests/unit/test_record.c checks
 * the two against each other). */
struct out {
    char *p;
};

#define LIT(o, s) (memcpy((o)->p, s, sizeof s - 1), (o)->p += sizeof s - 1)

static void out_u64(struct out *o, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o->p++ = tmp[--n];
}

static void out_str(struct out *o, const char *s, size_t n)
{
    o->p = escape(o->p, s, n);
}

/* A string member after a comma; key is the literal ",\"name\":". */
#define OPT(o, key, v, n)                                                                                              \
    do {                                                                                                               \
        if (v) {                                                                                                       \
            LIT(o, key);                                                                                               \
            out_str(o, v, n);                                                                                          \
        }                                                                                                              \
    } while (0)

/* Members of agent: the first one written has no comma before it. */
static void agent_member(struct out *o, bool *first, const char *key, size_t klen, const char *v, size_t n)
{
    if (!v)
        return;
    if (!*first)
        *o->p++ = ',';
    *first = false;
    memcpy(o->p, key, klen);
    o->p += klen;
    out_str(o, v, n);
}

#define SLEN(v) ((v) ? strlen(v) : 0)
#define MAX_DETAILS_ON_STACK 16

int pg_record_write(const struct pg_audit_record *r, struct pg_canon *c, char *err, size_t errlen)
{
    char when[PG_RECORD_TIME_LEN];
    if (check(r, err, errlen) != 0)
        return -1;
    if (pg_record_format_time(r->time_us, when) != 0)
        return ERR("time is out of range");
    const struct pg_audit_detail *stack_sorted[MAX_DETAILS_ON_STACK];
    const struct pg_audit_detail **details = stack_sorted;
    if (r->ndetails > MAX_DETAILS_ON_STACK && !(details = malloc(r->ndetails * sizeof *details)))
        return ERR("out of memory");
    if (sort_details(r, details, err, errlen) != 0) {
        if (details != stack_sorted)
            free(details);
        return -1;
    }
    size_t writer_len = strlen(r->writer), type_len = strlen(r->type), subtype_len = SLEN(r->subtype);
    size_t user_len = SLEN(r->agent.user_id), username_len = SLEN(r->agent.username);
    size_t session_len = SLEN(r->agent.session_hash), ip_len = SLEN(r->agent.client_ip);
    size_t ua_len = SLEN(r->agent.user_agent), method_len = SLEN(r->http.method), route_len = SLEN(r->http.route);
    size_t path_len = SLEN(r->http.path), entity_len = SLEN(r->entity), rule_len = SLEN(r->rule);
    size_t request_len = SLEN(r->request_id);
    /* Every string at its worst (six bytes a byte), every key, every integer
     * at 20 digits. */
    size_t room = 512 + ESCAPED_MAX(writer_len) + ESCAPED_MAX(type_len) + ESCAPED_MAX(subtype_len) +
                  ESCAPED_MAX(user_len) + ESCAPED_MAX(username_len) + ESCAPED_MAX(session_len) + ESCAPED_MAX(ip_len) +
                  ESCAPED_MAX(ua_len) + ESCAPED_MAX(method_len) + ESCAPED_MAX(route_len) + ESCAPED_MAX(path_len) +
                  ESCAPED_MAX(entity_len) + ESCAPED_MAX(rule_len) + ESCAPED_MAX(request_len);
    if (r->epoch_prev)
        room += 128 + ESCAPED_MAX(strlen(r->epoch_prev->writer));
    for (size_t i = 0; i < r->agent.nroles; i++)
        room += 1 + ESCAPED_MAX(strlen(r->agent.roles[i]));
    for (size_t i = 0; i < r->nphi; i++)
        room += 48 + ESCAPED_MAX(strlen(r->phi[i].field));
    for (size_t i = 0; i < r->ndetails; i++)
        room += 2 + ESCAPED_MAX(strlen(details[i]->key)) + ESCAPED_MAX(strlen(details[i]->value));
    if (c->depth > 0 && c->need_comma[c->depth])
        room++;
    if (!reserve(c, room)) {
        if (details != stack_sorted)
            free(details);
        return ERR("out of memory");
    }
    struct out o = {c->buf + c->len};
    if (c->depth > 0) { /* a record inside something the caller writes */
        if (c->need_comma[c->depth])
            *o.p++ = ',';
        c->need_comma[c->depth] = true;
    }
    LIT(&o, "{\"seq\":");
    out_u64(&o, r->seq);
    LIT(&o, ",\"writer\":");
    out_str(&o, r->writer, writer_len);
    LIT(&o, ",\"prev\":\"");
    memcpy(o.p, r->prev, 64); /* hex: check() made sure */
    o.p += 64;
    *o.p++ = '"';
    if (r->epoch_prev) {
        LIT(&o, ",\"epoch_prev\":{\"writer\":");
        out_str(&o, r->epoch_prev->writer, strlen(r->epoch_prev->writer));
        LIT(&o, ",\"seq\":");
        out_u64(&o, r->epoch_prev->seq);
        LIT(&o, ",\"h\":\"");
        memcpy(o.p, r->epoch_prev->head, 64);
        o.p += 64;
        LIT(&o, "\"}");
    }
    LIT(&o, ",\"time\":\"");
    memcpy(o.p, when, PG_RECORD_TIME_LEN - 1); /* digits and punctuation only */
    o.p += PG_RECORD_TIME_LEN - 1;
    *o.p++ = '"';
    LIT(&o, ",\"type\":");
    out_str(&o, r->type, type_len);
    OPT(&o, ",\"subtype\":", r->subtype, subtype_len);
    LIT(&o, ",\"action\":\"");
    *o.p++ = r->action; /* one of C R U D E */
    LIT(&o, "\",\"outcome\":");
    out_u64(&o, (uint64_t)r->outcome);
    LIT(&o, ",\"agent\":{");
    bool first = true;
    agent_member(&o, &first, "\"user\":", 7, r->agent.user_id, user_len);
    agent_member(&o, &first, "\"username\":", 11, r->agent.username, username_len);
    if (r->agent.nroles) {
        if (!first)
            *o.p++ = ',';
        first = false;
        LIT(&o, "\"roles\":[");
        for (size_t i = 0; i < r->agent.nroles; i++) {
            if (i)
                *o.p++ = ',';
            out_str(&o, r->agent.roles[i], strlen(r->agent.roles[i]));
        }
        *o.p++ = ']';
    }
    agent_member(&o, &first, "\"session\":", 10, r->agent.session_hash, session_len);
    agent_member(&o, &first, "\"ip\":", 5, r->agent.client_ip, ip_len);
    agent_member(&o, &first, "\"user_agent\":", 13, r->agent.user_agent, ua_len);
    *o.p++ = '}';
    if (r->http.method || r->http.route || r->http.path || r->http.status) {
        LIT(&o, ",\"http\":{");
        first = true;
        agent_member(&o, &first, "\"method\":", 9, r->http.method, method_len);
        agent_member(&o, &first, "\"route\":", 8, r->http.route, route_len);
        agent_member(&o, &first, "\"path\":", 7, r->http.path, path_len);
        if (r->http.status) {
            if (!first)
                *o.p++ = ',';
            LIT(&o, "\"status\":");
            out_u64(&o, (uint64_t)r->http.status);
        }
        *o.p++ = '}';
    }
    OPT(&o, ",\"entity\":", r->entity, entity_len);
    OPT(&o, ",\"rule\":", r->rule, rule_len);
    OPT(&o, ",\"request\":", r->request_id, request_len);
    if (r->nphi) {
        LIT(&o, ",\"phi\":[");
        for (size_t i = 0; i < r->nphi; i++) {
            if (i)
                *o.p++ = ',';
            LIT(&o, "{\"field\":");
            out_str(&o, r->phi[i].field, strlen(r->phi[i].field));
            LIT(&o, ",\"count\":");
            out_u64(&o, r->phi[i].count);
            *o.p++ = '}';
        }
        *o.p++ = ']';
    }
    if (r->ndetails) {
        LIT(&o, ",\"details\":{");
        for (size_t i = 0; i < r->ndetails; i++) {
            if (i)
                *o.p++ = ',';
            out_str(&o, details[i]->key, strlen(details[i]->key));
            *o.p++ = ':';
            out_str(&o, details[i]->value, strlen(details[i]->value));
        }
        *o.p++ = '}';
    }
    *o.p++ = '}';
    if (details != stack_sorted)
        free(details);
    c->len = (size_t)(o.p - c->buf);
    c->buf[c->len] = '\0';
    return 0;
}

/* ---- Reading a stored record back ---- */

static yajl_val member_of(yajl_val obj, const char *key)
{
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    return NULL;
}

static int no_duplicates(yajl_val obj, const char *where, char *err, size_t errlen)
{
    for (size_t i = 0; i < obj->u.object.len; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(obj->u.object.keys[i], obj->u.object.keys[j]) == 0)
                return ERR("%s has the key \"%s\" twice", where, obj->u.object.keys[i]);
    return 0;
}

/* A string member: 0 with *out set (NULL when absent and optional), or -1. */
static int get_string(yajl_val obj, const char *key, bool required, const char **out, char *err, size_t errlen)
{
    yajl_val v = member_of(obj, key);
    *out = NULL;
    if (!v)
        return required ? ERR("\"%s\" is missing", key) : 0;
    if (!YAJL_IS_STRING(v))
        return ERR("\"%s\" is not a string", key);
    *out = YAJL_GET_STRING(v);
    return 0;
}

static int get_int(yajl_val obj, const char *key, bool required, int64_t lo, int64_t hi, int64_t *out, char *err,
                   size_t errlen)
{
    yajl_val v = member_of(obj, key);
    *out = 0;
    if (!v)
        return required ? ERR("\"%s\" is missing", key) : 0;
    if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < lo || YAJL_GET_INTEGER(v) > hi)
        return ERR("\"%s\" is not an integer from %lld to %lld", key, (long long)lo, (long long)hi);
    *out = YAJL_GET_INTEGER(v);
    return 0;
}

static int get_object(yajl_val obj, const char *key, yajl_val *out, char *err, size_t errlen)
{
    yajl_val v = member_of(obj, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!YAJL_IS_OBJECT(v))
        return ERR("\"%s\" is not an object", key);
    *out = v;
    return no_duplicates(v, key, err, errlen);
}

static int get_array(yajl_val obj, const char *key, yajl_val *out, char *err, size_t errlen)
{
    yajl_val v = member_of(obj, key);
    *out = NULL;
    if (v && !YAJL_IS_ARRAY(v))
        return ERR("\"%s\" is not an array", key);
    *out = v;
    return 0;
}

static int parse_agent(yajl_val root, struct pg_record_parsed *p, char *err, size_t errlen)
{
    struct pg_audit_record *r = &p->rec;
    yajl_val agent, roles;
    if (get_object(root, "agent", &agent, err, errlen) != 0)
        return -1;
    if (!agent)
        return ERR("\"agent\" is missing");
    if (get_string(agent, "user", false, &r->agent.user_id, err, errlen) ||
        get_string(agent, "username", false, &r->agent.username, err, errlen) ||
        get_string(agent, "session", false, &r->agent.session_hash, err, errlen) ||
        get_string(agent, "ip", false, &r->agent.client_ip, err, errlen) ||
        get_string(agent, "user_agent", false, &r->agent.user_agent, err, errlen) ||
        get_array(agent, "roles", &roles, err, errlen))
        return -1;
    if (!roles)
        return 0;
    p->roles = calloc(roles->u.array.len + 1, sizeof *p->roles);
    if (!p->roles)
        return ERR("out of memory");
    for (size_t i = 0; i < roles->u.array.len; i++) {
        if (!YAJL_IS_STRING(roles->u.array.values[i]))
            return ERR("roles[%zu] is not a string", i);
        p->roles[i] = YAJL_GET_STRING(roles->u.array.values[i]);
    }
    r->agent.roles = p->roles;
    r->agent.nroles = roles->u.array.len;
    return 0;
}

static int parse_http(yajl_val root, struct pg_audit_record *r, char *err, size_t errlen)
{
    yajl_val http;
    int64_t status;
    if (get_object(root, "http", &http, err, errlen) != 0)
        return -1;
    if (!http)
        return 0;
    if (get_string(http, "method", false, &r->http.method, err, errlen) ||
        get_string(http, "route", false, &r->http.route, err, errlen) ||
        get_string(http, "path", false, &r->http.path, err, errlen) ||
        get_int(http, "status", false, 100, 599, &status, err, errlen))
        return -1;
    r->http.status = (int)status;
    return 0;
}

static int parse_lists(yajl_val root, struct pg_record_parsed *p, char *err, size_t errlen)
{
    yajl_val phi, details;
    if (get_array(root, "phi", &phi, err, errlen) || get_object(root, "details", &details, err, errlen))
        return -1;
    if (phi && phi->u.array.len) {
        p->phi = calloc(phi->u.array.len, sizeof *p->phi);
        if (!p->phi)
            return ERR("out of memory");
        for (size_t i = 0; i < phi->u.array.len; i++) {
            yajl_val f = phi->u.array.values[i];
            int64_t count;
            if (!YAJL_IS_OBJECT(f))
                return ERR("phi[%zu] is not an object", i);
            if (get_string(f, "field", true, &p->phi[i].field, err, errlen) ||
                get_int(f, "count", true, 0, UINT32_MAX, &count, err, errlen))
                return -1;
            p->phi[i].count = (uint32_t)count;
        }
        p->rec.phi = p->phi;
        p->rec.nphi = phi->u.array.len;
    }
    if (details && details->u.object.len) {
        p->details = calloc(details->u.object.len, sizeof *p->details);
        if (!p->details)
            return ERR("out of memory");
        for (size_t i = 0; i < details->u.object.len; i++) {
            if (!YAJL_IS_STRING(details->u.object.values[i]))
                return ERR("details \"%s\" is not a string", details->u.object.keys[i]);
            p->details[i].key = details->u.object.keys[i];
            p->details[i].value = YAJL_GET_STRING(details->u.object.values[i]);
        }
        p->rec.details = p->details;
        p->rec.ndetails = details->u.object.len;
    }
    return 0;
}

static int parse_root(yajl_val root, struct pg_record_parsed *p, char *err, size_t errlen)
{
    struct pg_audit_record *r = &p->rec;
    const char *prev, *when, *action;
    int64_t seq, outcome;
    yajl_val link;
    if (!YAJL_IS_OBJECT(root))
        return ERR("the record is not a JSON object");
    if (no_duplicates(root, "the record", err, errlen) != 0)
        return -1;
    if (get_int(root, "seq", true, 1, INT64_MAX, &seq, err, errlen) ||
        get_string(root, "writer", true, &r->writer, err, errlen) ||
        get_string(root, "prev", true, &prev, err, errlen) || get_string(root, "time", true, &when, err, errlen) ||
        get_string(root, "type", true, &r->type, err, errlen) ||
        get_string(root, "subtype", false, &r->subtype, err, errlen) ||
        get_string(root, "action", true, &action, err, errlen) ||
        get_int(root, "outcome", true, 0, 12, &outcome, err, errlen) ||
        get_string(root, "entity", false, &r->entity, err, errlen) ||
        get_string(root, "rule", false, &r->rule, err, errlen) ||
        get_string(root, "request", false, &r->request_id, err, errlen))
        return -1;
    r->seq = (uint64_t)seq;
    if (!pg_chain_is_hash(prev))
        return ERR("\"prev\" is not a hash");
    memcpy(r->prev, prev, PG_HASH_HEX);
    if (pg_record_parse_time(when, &r->time_us) != 0)
        return ERR("\"time\" is not RFC 3339 UTC with microseconds");
    if (strlen(action) != 1 || !strchr("CRUDE", action[0]))
        return ERR("\"action\" is not one of C R U D E");
    r->action = action[0];
    if (outcome % 4 != 0)
        return ERR("\"outcome\" is not 0, 4, 8 or 12");
    r->outcome = (int)outcome;
    if (get_object(root, "epoch_prev", &link, err, errlen) != 0)
        return -1;
    if (link) {
        const char *head;
        int64_t lseq;
        if (get_string(link, "writer", true, &p->epoch_link.writer, err, errlen) ||
            get_int(link, "seq", true, 0, INT64_MAX, &lseq, err, errlen) ||
            get_string(link, "h", true, &head, err, errlen))
            return -1;
        if (!pg_chain_is_hash(head))
            return ERR("\"epoch_prev\".\"h\" is not a hash");
        p->epoch_link.seq = (uint64_t)lseq;
        memcpy(p->epoch_link.head, head, PG_HASH_HEX);
        r->epoch_prev = &p->epoch_link;
    }
    if (parse_agent(root, p, err, errlen) || parse_http(root, r, err, errlen) || parse_lists(root, p, err, errlen))
        return -1;
    return 0;
}

int pg_record_parse(const char *bytes, size_t len, struct pg_record_parsed *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (memchr(bytes, '\0', len))
        return ERR("the record holds a NUL byte");
    char *text = malloc(len + 1);
    if (!text)
        return ERR("out of memory");
    memcpy(text, bytes, len);
    text[len] = '\0';
    char why[128] = "";
    yajl_val root = yajl_tree_parse(text, why, sizeof why);
    free(text);
    if (!root) {
        why[strcspn(why, "\n")] = '\0';
        return ERR("not JSON: %s", why);
    }
    out->tree = root;
    if (parse_root(root, out, err, errlen) != 0) {
        pg_record_parsed_free(out);
        return -1;
    }
    return 0;
}

void pg_record_parsed_free(struct pg_record_parsed *p)
{
    yajl_tree_free(p->tree);
    free(p->roles);
    free(p->phi);
    free(p->details);
    memset(p, 0, sizeof *p);
}
