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

static void put(struct pg_canon *c, const char *s, size_t n)
{
    if (c->failed)
        return;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 1024; /* a request's record fits */
        while (cap < c->len + n + 1)
            cap *= 2;
        char *g = realloc(c->buf, cap);
        if (!g) {
            c->failed = true;
            return;
        }
        c->buf = g;
        c->cap = cap;
    }
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

/* RFC 8259 strings with one fixed choice of escapes: the two-character
 * forms for " \ \b \f \n \r \t, \u00XX for other controls and DEL, \ufffd
 * for each byte outside valid UTF-8, every other byte as it is. */
static void put_string(struct pg_canon *c, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put(c, "\"", 1);
    for (size_t i = 0; i < n;) {
        /* A run of printable ASCII needing no escape goes in one copy: most
         * of a record is such runs. */
        size_t run = i;
        while (run < n && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x7f && s[run] != '"' &&
               s[run] != '\\')
            run++;
        if (run > i) {
            put(c, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        switch (ch) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        if (esc) {
            put(c, esc, 2);
            i++;
        } else if (ch < 0x20 || ch == 0x7f) {
            char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            put(c, u, 6);
            i++;
        } else {
            size_t k = utf8_len((const unsigned char *)s + i, n - i);
            if (k) {
                put(c, s + i, k);
                i += k;
            } else {
                put(c, "\\ufffd", 6);
                i++;
            }
        }
    }
    put(c, "\"", 1);
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

int pg_record_format_time(int64_t time_us, char out[PG_RECORD_TIME_LEN])
{
    if (time_us < 0)
        return -1;
    time_t secs = (time_t)(time_us / 1000000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 > 9999)
        return -1;
    int n = snprintf(out, PG_RECORD_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(time_us % 1000000));
    return n == PG_RECORD_TIME_LEN - 1 ? 0 : -1;
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

static void opt_string(struct pg_canon *c, const char *key, const char *value)
{
    if (value)
        pg_canon_string(c, key, value, strlen(value));
}

static int by_key(const void *a, const void *b)
{
    const struct pg_audit_detail *x = *(const struct pg_audit_detail *const *)a;
    const struct pg_audit_detail *y = *(const struct pg_audit_detail *const *)b;
    return strcmp(x->key, y->key);
}

/* The details sorted by key, so their order never depends on the caller;
 * NULL with the reason in err when one is incomplete or a key repeats. */
static const struct pg_audit_detail **sorted_details(const struct pg_audit_record *r, char *err, size_t errlen)
{
    const struct pg_audit_detail **sorted = malloc((r->ndetails ? r->ndetails : 1) * sizeof *sorted);
    if (!sorted) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < r->ndetails; i++) {
        if (!r->details[i].key || !r->details[i].value) {
            free(sorted);
            snprintf(err, errlen, "details[%zu] has no key or value", i);
            return NULL;
        }
        sorted[i] = &r->details[i];
    }
    qsort(sorted, r->ndetails, sizeof *sorted, by_key);
    for (size_t i = 1; i < r->ndetails; i++) {
        if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0) {
            snprintf(err, errlen, "details key \"%s\" given twice", sorted[i]->key);
            free(sorted);
            return NULL;
        }
    }
    return sorted;
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

int pg_record_write(const struct pg_audit_record *r, struct pg_canon *c, char *err, size_t errlen)
{
    char when[PG_RECORD_TIME_LEN];
    if (check(r, err, errlen) != 0)
        return -1;
    if (pg_record_format_time(r->time_us, when) != 0)
        return ERR("time is out of range");
    const struct pg_audit_detail **details = sorted_details(r, err, errlen);
    if (!details)
        return -1;
    const char action[2] = {r->action, '\0'};
    pg_canon_begin_object(c, NULL);
    pg_canon_int(c, "seq", (int64_t)r->seq);
    opt_string(c, "writer", r->writer);
    opt_string(c, "prev", r->prev);
    if (r->epoch_prev) {
        pg_canon_begin_object(c, "epoch_prev");
        opt_string(c, "writer", r->epoch_prev->writer);
        pg_canon_int(c, "seq", (int64_t)r->epoch_prev->seq);
        opt_string(c, "h", r->epoch_prev->head);
        pg_canon_end_object(c);
    }
    opt_string(c, "time", when);
    opt_string(c, "type", r->type);
    opt_string(c, "subtype", r->subtype);
    opt_string(c, "action", action);
    pg_canon_int(c, "outcome", r->outcome);
    pg_canon_begin_object(c, "agent");
    opt_string(c, "user", r->agent.user_id);
    opt_string(c, "username", r->agent.username);
    if (r->agent.nroles) {
        pg_canon_begin_array(c, "roles");
        for (size_t i = 0; i < r->agent.nroles; i++)
            opt_string(c, NULL, r->agent.roles[i]);
        pg_canon_end_array(c);
    }
    opt_string(c, "session", r->agent.session_hash);
    opt_string(c, "ip", r->agent.client_ip);
    opt_string(c, "user_agent", r->agent.user_agent);
    pg_canon_end_object(c);
    if (r->http.method || r->http.route || r->http.path || r->http.status) {
        pg_canon_begin_object(c, "http");
        opt_string(c, "method", r->http.method);
        opt_string(c, "route", r->http.route);
        opt_string(c, "path", r->http.path);
        if (r->http.status)
            pg_canon_int(c, "status", r->http.status);
        pg_canon_end_object(c);
    }
    opt_string(c, "entity", r->entity);
    opt_string(c, "rule", r->rule);
    opt_string(c, "request", r->request_id);
    if (r->nphi) {
        pg_canon_begin_array(c, "phi");
        for (size_t i = 0; i < r->nphi; i++) {
            pg_canon_begin_object(c, NULL);
            opt_string(c, "field", r->phi[i].field);
            pg_canon_int(c, "count", r->phi[i].count);
            pg_canon_end_object(c);
        }
        pg_canon_end_array(c);
    }
    if (r->ndetails) {
        pg_canon_begin_object(c, "details");
        for (size_t i = 0; i < r->ndetails; i++)
            pg_canon_string(c, details[i]->key, details[i]->value, strlen(details[i]->value));
        pg_canon_end_object(c);
    }
    free(details);
    pg_canon_end_object(c);
    if (c->failed)
        return ERR("out of memory");
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
