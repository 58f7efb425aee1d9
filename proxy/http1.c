#include "proxy/http1.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/units.h"

#define CHUNK_LINE_MAX 4096
#define TRAILER_MAX 8192

/* RFC 9110 §5.6.2 tchar, as a table: it is asked for every byte of every
 * field name. */
static const bool tchar_table[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
    ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static bool is_tchar(unsigned char c)
{
    return tchar_table[c];
}

struct known_header {
    const char *name;
    uint8_t len;
    uint8_t id;
};

#define KH(n, i) {n, sizeof n - 1, i}
static const struct known_header known_headers[] = {
    KH("connection", PG_H_CONNECTION),
    KH("content-length", PG_H_CONTENT_LENGTH),
    KH("transfer-encoding", PG_H_TRANSFER_ENCODING),
    KH("host", PG_H_HOST),
    KH("upgrade", PG_H_UPGRADE),
    KH("expect", PG_H_EXPECT),
    KH("keep-alive", PG_H_KEEP_ALIVE),
    KH("proxy-connection", PG_H_PROXY_CONNECTION),
    KH("te", PG_H_TE),
    KH("trailer", PG_H_TRAILER),
    KH("proxy-authorization", PG_H_PROXY_AUTHORIZATION),
    KH("proxy-authenticate", PG_H_PROXY_AUTHENTICATE),
    KH("x-forwarded-for", PG_H_X_FORWARDED_FOR),
    KH("x-forwarded-proto", PG_H_X_FORWARDED_PROTO),
    KH("x-forwarded-host", PG_H_X_FORWARDED_HOST),
    KH("forwarded", PG_H_FORWARDED),
    KH("x-real-ip", PG_H_X_REAL_IP),
    KH("x-request-id", PG_H_X_REQUEST_ID),
    KH("server", PG_H_SERVER),
    KH("x-powered-by", PG_H_X_POWERED_BY),
    KH("strict-transport-security", PG_H_STRICT_TRANSPORT_SECURITY),
    KH("x-content-type-options", PG_H_X_CONTENT_TYPE_OPTIONS),
    KH("x-frame-options", PG_H_X_FRAME_OPTIONS),
    KH("content-security-policy", PG_H_CONTENT_SECURITY_POLICY),
    KH("referrer-policy", PG_H_REFERRER_POLICY),
    KH("authorization", PG_H_AUTHORIZATION),
    KH("cookie", PG_H_COOKIE),
    KH("content-type", PG_H_CONTENT_TYPE),
    KH("content-encoding", PG_H_CONTENT_ENCODING),
    KH("accept", PG_H_ACCEPT),
    KH("user-agent", PG_H_USER_AGENT),
};

enum pg_header_id pg_header_id_of(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof known_headers / sizeof known_headers[0]; i++)
        if (known_headers[i].len == len && strncasecmp(known_headers[i].name, name, len) == 0)
            return (enum pg_header_id)known_headers[i].id;
    return PG_H_OTHER;
}

/* field-value octets: VCHAR, obs-text, SP, HTAB. */
static bool is_field_vchar(unsigned char c)
{
    return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* One header (or trailer) field line, without its CRLF. */
static int check_field_line(const char *p, size_t n)
{
    if (n == 0)
        return -400;
    if (is_ows(p[0]))
        return -400; /* obs-fold, or whitespace before the name */
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == n || p[i] != ':')
        return -400; /* no name, no colon, or whitespace before the colon */
    for (i++; i < n; i++)
        if (!is_field_vchar((unsigned char)p[i]))
            return -400;
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_version(const char *p, size_t n)
{
    return n == 8 && memcmp(p, "HTTP/", 5) == 0 && is_digit(p[5]) && p[6] == '.' && is_digit(p[7]);
}

static int check_request_line(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i == n || p[i] != ' ')
        return -400;
    size_t t = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
        i++;
    if (i == t || i == n || p[i] != ' ')
        return -400;
    i++;
    return is_version(p + i, n - i) ? 0 : -400;
}

static int check_status_line(const char *p, size_t n)
{
    if (n < 12 || !is_version(p, 8) || p[8] != ' ' || !is_digit(p[9]) || !is_digit(p[10]) ||
        !is_digit(p[11]))
        return -400;
    if (n == 12)
        return 0;
    if (p[12] != ' ')
        return -400;
    for (size_t i = 13; i < n; i++)
        if (!is_field_vchar((unsigned char)p[i]))
            return -400;
    return 0;
}

long pg_http1_scan_head(const char *buf, size_t len, bool is_request, const struct pg_http_limits *lim)
{
    size_t pos = 0;
    if (is_request) /* RFC 9112 §2.2: ignore empty lines before a request-line */
        while (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n')
            pos += 2;
    int lines = 0;
    while (pos < len) {
        /* Lines end at LF (memchr, not a byte loop: heads carry long
         * tokens). A CR anywhere but before that LF is a bare CR, which
         * the line checks below refuse as a control byte. */
        const char *lf = memchr(buf + pos, '\n', len - pos);
        if (!lf) {
            const char *cr = memchr(buf + pos, '\r', len - pos);
            if (cr && cr + 1 < buf + len)
                return -400; /* bare CR: no LF follows it */
            break;
        }
        size_t i = (size_t)(lf - buf);
        if (i == pos || buf[i - 1] != '\r')
            return -400; /* bare LF */
        i--; /* at the CR */
        size_t n = i - pos;
        int rc;
        if (lines == 0)
            rc = is_request ? check_request_line(buf + pos, n) : check_status_line(buf + pos, n);
        else if (n == 0)
            return i + 2 > lim->max_head_bytes ? -431 : (long)(i + 2);
        else
            rc = check_field_line(buf + pos, n);
        if (rc)
            return rc;
        if (lines > lim->max_headers)
            return -431;
        lines++;
        pos = i + 2;
        if (pos > lim->max_head_bytes)
            return -431;
    }
    if (len >= lim->max_head_bytes)
        return -431;
    return 0;
}

/* ---- http-parser over a complete, pre-scanned head ---- */

struct parse_ctx {
    struct pg_http_head *h;
    const struct pg_http_limits *lim;
    int too_many;
    bool in_value;
};

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct parse_ctx *c = p->data;
    if (c->h->target)
        c->h->target_len += n; /* contiguous input: extend */
    else {
        c->h->target = at;
        c->h->target_len = n;
    }
    return 0;
}

static int on_status(http_parser *p, const char *at, size_t n)
{
    struct parse_ctx *c = p->data;
    if (!c->h->reason)
        c->h->reason = at;
    c->h->reason_len = (size_t)(at + n - c->h->reason);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct parse_ctx *c = p->data;
    struct pg_http_head *h = c->h;
    if (h->n_headers > 0 && !c->in_value) {
        h->headers[h->n_headers - 1].name_len += (uint32_t)n;
        return 0;
    }
    if (h->n_headers >= c->lim->max_headers) {
        c->too_many = 1;
        return 1;
    }
    if (h->n_headers == h->cap_headers) {
        int cap = h->cap_headers ? h->cap_headers * 2 : 16;
        struct pg_header *g = realloc(h->headers, (size_t)cap * sizeof *g);
        if (!g)
            return 1;
        h->headers = g;
        h->cap_headers = cap;
    }
    h->headers[h->n_headers++] = (struct pg_header){.name = at, .name_len = (uint32_t)n, .value = at + n};
    c->in_value = false;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct parse_ctx *c = p->data;
    struct pg_header *hd = &c->h->headers[c->h->n_headers - 1];
    if (!c->in_value) {
        hd->value = at;
        hd->value_len = 0;
        c->in_value = true;
    }
    hd->value_len = (uint32_t)(at + n - hd->value);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    (void)p;
    return 1; /* bodies are framed by the proxy, not by http-parser */
}

static const http_parser_settings head_settings = {
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
};

static void trim_ows(struct pg_header *hd)
{
    /* An empty value leaves value pointing past the colon, never NULL. */
    while (hd->value_len && is_ows(hd->value[0])) {
        hd->value++;
        hd->value_len--;
    }
    while (hd->value_len && is_ows(hd->value[hd->value_len - 1]))
        hd->value_len--;
}

bool pg_header_is(const struct pg_header *hd, const char *name)
{
    size_t n = strlen(name);
    return hd->name_len == n && strncasecmp(hd->name, name, n) == 0;
}

struct pg_header *pg_http_find_id(struct pg_http_head *h, enum pg_header_id id)
{
    for (int i = 0; i < h->n_headers; i++)
        if (h->headers[i].id == id)
            return &h->headers[i];
    return NULL;
}

struct pg_header *pg_http_find(struct pg_http_head *h, const char *name)
{
    for (int i = 0; i < h->n_headers; i++)
        if (pg_header_is(&h->headers[i], name))
            return &h->headers[i];
    return NULL;
}

/* Calls fn for each element of a comma-separated list, OWS trimmed, empty
 * elements skipped (RFC 9110 §5.6.1). Stops early when fn returns true. */
static bool list_each(const char *v, size_t len, bool (*fn)(const char *, size_t, void *), void *arg)
{
    size_t i = 0;
    while (i < len) {
        size_t s = i;
        while (i < len && v[i] != ',')
            i++;
        size_t e = i;
        while (s < e && is_ows(v[s]))
            s++;
        while (e > s && is_ows(v[e - 1]))
            e--;
        if (e > s && fn(v + s, e - s, arg))
            return true;
        i++;
    }
    return false;
}

static bool token_equals(const char *t, size_t n, void *arg)
{
    const char *want = arg;
    return strlen(want) == n && strncasecmp(t, want, n) == 0;
}

bool pg_http_list_has(const char *value, size_t len, const char *token)
{
    return list_each(value, len, token_equals, (void *)token);
}

struct te_state {
    int count;
    bool last_chunked;
    bool chunked_before_last;
};

static bool te_token(const char *t, size_t n, void *arg)
{
    struct te_state *s = arg;
    if (s->last_chunked)
        s->chunked_before_last = true;
    s->last_chunked = (n == 7 && strncasecmp(t, "chunked", 7) == 0);
    s->count++;
    return false;
}

static int parse_content_length(const struct pg_header *hd, uint64_t *out)
{
    if (hd->value_len == 0 || hd->value_len > 18)
        return -1;
    uint64_t v = 0;
    for (uint32_t i = 0; i < hd->value_len; i++) {
        if (!is_digit(hd->value[i]))
            return -1;
        v = v * 10 + (uint64_t)(hd->value[i] - '0');
    }
    *out = v;
    return 0;
}


/* The path part of an origin-form target must name one resource without
 * ambiguity, because routes and permissions are decided on it: dot
 * segments, encoded slashes or backslashes and encoded NULs are refused,
 * so that the backend cannot resolve a path the policy did not see. */
static int check_origin_path(const char *p, size_t n)
{
    if (n == 0 || p[0] != '/')
        return -1;
    size_t seg = 1;
    for (size_t i = 1; i <= n; i++) {
        if (i == n || p[i] == '/') {
            /* Decode the segment just ended to look for "." and "..". */
            size_t k = 0, j = seg;
            bool only_dots = true;
            while (j < i && k < 3) {
                char c = p[j];
                if (c == '%') { /* hex digits already validated */
                    c = (char)(pg_hex_digit((unsigned char)p[j + 1]) * 16 + pg_hex_digit((unsigned char)p[j + 2]));
                    j += 3;
                } else {
                    j++;
                }
                k++;
                if (c != '.')
                    only_dots = false;
            }
            if (j == i && only_dots && (k == 1 || k == 2))
                return -1;
            seg = i + 1;
            continue;
        }
        char c = p[i];
        if (c == '\\')
            return -1;
        if (c == '%') {
            if (i + 2 >= n || pg_hex_digit((unsigned char)p[i + 1]) < 0 || pg_hex_digit((unsigned char)p[i + 2]) < 0)
                return -1;
            int v = pg_hex_digit((unsigned char)p[i + 1]) * 16 + pg_hex_digit((unsigned char)p[i + 2]);
            if (v == 0 || v == '/' || v == '\\')
                return -1;
        }
    }
    return 0;
}

static bool check_host_value(const char *v, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c) ||
              strchr("-._~:[]%!$&'()*+,;=", c)))
            return false;
    }
    return true;
}

static int run_parser(const char *buf, size_t len, const struct pg_http_limits *lim, enum http_parser_type type,
                      struct pg_http_head *out, http_parser *hp)
{
    memset(out, 0, sizeof *out);
    out->buf = malloc(len ? len : 1);
    if (!out->buf)
        return 500;
    memcpy(out->buf, buf, len);
    out->len = len;
    out->is_request = type == HTTP_REQUEST;

    struct parse_ctx ctx = {.h = out, .lim = lim};
    http_parser_init(hp, type);
    hp->data = &ctx;
    size_t skip = 0;
    if (type == HTTP_REQUEST)
        while (skip + 1 < len && out->buf[skip] == '\r' && out->buf[skip + 1] == '\n')
            skip += 2;
    size_t done = http_parser_execute(hp, &head_settings, out->buf + skip, len - skip);
    if (ctx.too_many)
        return 431;
    if (HTTP_PARSER_ERRNO(hp) == HPE_HEADER_OVERFLOW)
        return 431;
    if (HTTP_PARSER_ERRNO(hp) != HPE_OK || done != len - skip)
        return 400;
    for (int i = 0; i < out->n_headers; i++) {
        trim_ows(&out->headers[i]);
        out->headers[i].id = (uint8_t)pg_header_id_of(out->headers[i].name, out->headers[i].name_len);
    }
    out->major = hp->http_major;
    out->minor = hp->http_minor;
    return 0;
}

struct framing {
    int n_cl, n_te, n_host;
    uint64_t cl;
    bool cl_conflict, cl_bad;
    struct te_state te;
    bool conn_close, conn_keep_alive, conn_upgrade;
    struct pg_header *host, *upgrade, *expect;
};

static void collect_framing(struct pg_http_head *h, struct framing *f)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < h->n_headers; i++) {
        struct pg_header *hd = &h->headers[i];
        switch (hd->id) {
        case PG_H_CONTENT_LENGTH: {
            uint64_t v = 0;
            if (parse_content_length(hd, &v) != 0)
                f->cl_bad = true;
            else if (f->n_cl && v != f->cl)
                f->cl_conflict = true;
            f->cl = v;
            f->n_cl++;
            break;
        }
        case PG_H_TRANSFER_ENCODING:
            list_each(hd->value, hd->value_len, te_token, &f->te);
            f->n_te++;
            break;
        case PG_H_CONNECTION:
            f->conn_close |= pg_http_list_has(hd->value, hd->value_len, "close");
            f->conn_keep_alive |= pg_http_list_has(hd->value, hd->value_len, "keep-alive");
            f->conn_upgrade |= pg_http_list_has(hd->value, hd->value_len, "upgrade");
            break;
        case PG_H_HOST:
            f->host = hd;
            f->n_host++;
            break;
        case PG_H_UPGRADE:
            f->upgrade = hd;
            break;
        case PG_H_EXPECT:
            f->expect = hd;
            break;
        default:
            break;
        }
    }
}

int pg_http1_parse_request(const char *buf, size_t len, const struct pg_http_limits *lim,
                           struct pg_http_head *out)
{
    http_parser hp;
    int rc = run_parser(buf, len, lim, HTTP_REQUEST, out, &hp);
    if (rc)
        return rc;
    if (out->major != 1 || out->minor > 1)
        return 505;
    out->method = (int)hp.method;
    out->method_name = http_method_str((enum http_method)hp.method);
    if (!out->target)
        return 400;
    bool asterisk = out->target_len == 1 && out->target[0] == '*';
    if (asterisk ? out->method != HTTP_OPTIONS : out->target[0] != '/')
        return 400; /* only origin-form (and OPTIONS *) reaches a reverse proxy */
    const char *q = memchr(out->target, '?', out->target_len);
    out->path_len = q ? (size_t)(q - out->target) : out->target_len;
    if (!asterisk && check_origin_path(out->target, out->path_len) != 0)
        return 400;

    struct framing f;
    collect_framing(out, &f);
    if (f.cl_bad || f.cl_conflict)
        return 400;
    if (f.n_te) {
        /* Only a lone "chunked" is accepted: any other coding could be
         * read differently by the backend (request smuggling). */
        if (out->minor == 0 || f.n_cl || f.te.count != 1 || !f.te.last_chunked)
            return 400;
        out->body = PG_BODY_CHUNKED;
    } else if (f.n_cl && f.cl > 0) {
        out->body = PG_BODY_LENGTH;
        out->content_length = f.cl;
    } else {
        out->body = PG_BODY_NONE;
    }
    if (f.n_host > 1 || (out->minor == 1 && f.n_host == 0))
        return 400;
    if (f.host) {
        if (!check_host_value(f.host->value, f.host->value_len))
            return 400;
        out->host = f.host->value;
        out->host_len = f.host->value_len;
    }
    out->keep_alive = out->minor == 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
    out->upgrade = f.conn_upgrade && f.upgrade && f.upgrade->value_len > 0;
    if (f.expect) {
        if (f.expect->value_len == 12 && strncasecmp(f.expect->value, "100-continue", 12) == 0)
            out->expect_continue = out->minor == 1;
        else
            return 417;
    }
    return 0;
}

int pg_http1_parse_response(const char *buf, size_t len, const struct pg_http_limits *lim,
                            int request_method, struct pg_http_head *out)
{
    http_parser hp;
    int rc = run_parser(buf, len, lim, HTTP_RESPONSE, out, &hp);
    if (rc)
        return rc;
    if (out->major != 1 || out->minor > 1)
        return 400;
    out->status = (int)hp.status_code;
    if (out->status < 100 || out->status > 599)
        return 400;
    if (out->reason && out->reason_len == 0)
        out->reason = NULL;

    struct framing f;
    collect_framing(out, &f);
    if (f.cl_bad || f.cl_conflict || (f.n_te && f.n_cl))
        return 400;
    if (f.n_te && (f.te.count != 1 || !f.te.last_chunked))
        return 400; /* codings other than chunked cannot be re-framed */
    out->keep_alive = out->minor == 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
    out->upgrade = out->status == 101;
    if (out->status < 200 || out->status == 204 || out->status == 304 || request_method == HTTP_HEAD) {
        out->body = PG_BODY_NONE;
        out->content_length = f.cl;
    } else if (f.n_te) {
        out->body = PG_BODY_CHUNKED;
    } else if (f.n_cl) {
        out->body = f.cl ? PG_BODY_LENGTH : PG_BODY_NONE;
        out->content_length = f.cl;
    } else {
        out->body = PG_BODY_UNTIL_CLOSE;
        out->keep_alive = false;
    }
    return 0;
}

void pg_http_head_free(struct pg_http_head *h)
{
    free(h->buf);
    free(h->headers);
    memset(h, 0, sizeof *h);
}

/* ---- chunked framing ---- */

enum { CH_SIZE, CH_DATA, CH_DATA_CRLF, CH_TRAILER, CH_DONE };

/* Copies the next line (through LF) out of in; returns its length without
 * CRLF, -2 when incomplete, -1 when malformed or longer than max. */
static long next_line(struct evbuffer *in, char *line, size_t max)
{
    struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);
    if (lf.pos < 0)
        return evbuffer_get_length(in) > max ? -1 : -2;
    size_t n = (size_t)lf.pos + 1;
    if (n > max || n < 2)
        return -1;
    evbuffer_copyout(in, line, n);
    if (line[n - 2] != '\r')
        return -1;
    if (memchr(line, '\r', n - 2))
        return -1;
    return (long)(n - 2);
}

static size_t skip_bws(const char *p, size_t i, size_t n)
{
    while (i < n && is_ows(p[i]))
        i++;
    return i;
}

static int check_chunk_ext(const char *p, size_t i, size_t n)
{
    for (;;) {
        if (i == n)
            return 0;
        i = skip_bws(p, i, n); /* BWS only in front of a ';' */
        if (i == n || p[i] != ';')
            return -1;
        i = skip_bws(p, i + 1, n);
        size_t s = i;
        while (i < n && is_tchar((unsigned char)p[i]))
            i++;
        if (i == s)
            return -1;
        i = skip_bws(p, i, n);
        if (i < n && p[i] == '=') {
            i = skip_bws(p, i + 1, n);
            if (i < n && p[i] == '"') {
                for (i++; i < n && p[i] != '"'; i++) {
                    if (p[i] == '\\')
                        i++;
                    if (i >= n || !is_field_vchar((unsigned char)p[i]))
                        return -1;
                }
                if (i >= n)
                    return -1;
                i++;
            } else {
                s = i;
                while (i < n && is_tchar((unsigned char)p[i]))
                    i++;
                if (i == s)
                    return -1;
            }
        }
    }
}

enum pg_chunked_result pg_chunked_next(struct pg_chunked *d, struct evbuffer *in, size_t *avail)
{
    char line[CHUNK_LINE_MAX];
    for (;;) {
        switch (d->state) {
        case CH_SIZE: {
            long n = next_line(in, line, sizeof line);
            if (n == -2)
                return PG_CHUNKED_MORE;
            if (n < 0)
                return PG_CHUNKED_ERROR;
            uint64_t size = 0;
            long i = 0;
            while (i < n && pg_hex_digit((unsigned char)line[i]) >= 0) {
                if (i >= 15)
                    return PG_CHUNKED_ERROR; /* would overflow any sane limit */
                size = size * 16 + (uint64_t)pg_hex_digit((unsigned char)line[i]);
                i++;
            }
            if (i == 0 || check_chunk_ext(line, (size_t)i, (size_t)n) != 0)
                return PG_CHUNKED_ERROR;
            evbuffer_drain(in, (size_t)n + 2);
            d->chunk_left = size;
            d->state = size ? CH_DATA : CH_TRAILER;
            break;
        }
        case CH_DATA: {
            size_t have = evbuffer_get_length(in);
            if (have == 0)
                return PG_CHUNKED_MORE;
            *avail = have < d->chunk_left ? have : (size_t)d->chunk_left;
            return PG_CHUNKED_DATA;
        }
        case CH_DATA_CRLF: {
            if (evbuffer_get_length(in) < 2)
                return PG_CHUNKED_MORE;
            char crlf[2];
            evbuffer_copyout(in, crlf, 2);
            if (crlf[0] != '\r' || crlf[1] != '\n')
                return PG_CHUNKED_ERROR;
            evbuffer_drain(in, 2);
            d->state = CH_SIZE;
            break;
        }
        case CH_TRAILER: {
            long n = next_line(in, line, sizeof line);
            if (n == -2)
                return PG_CHUNKED_MORE;
            if (n < 0)
                return PG_CHUNKED_ERROR;
            d->trailer_bytes += (size_t)n + 2;
            if (d->trailer_bytes > TRAILER_MAX)
                return PG_CHUNKED_ERROR;
            if (n > 0 && check_field_line(line, (size_t)n) != 0)
                return PG_CHUNKED_ERROR;
            evbuffer_drain(in, (size_t)n + 2);
            if (n == 0) {
                d->state = CH_DONE;
                return PG_CHUNKED_DONE;
            }
            break;
        }
        default:
            return PG_CHUNKED_DONE;
        }
    }
}

void pg_chunked_consumed(struct pg_chunked *d, size_t n)
{
    d->chunk_left -= n;
    if (d->chunk_left == 0)
        d->state = CH_DATA_CRLF;
}

void pg_chunk_begin(struct evbuffer *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char hdr[24];
    size_t i = sizeof hdr;
    hdr[--i] = '\n';
    hdr[--i] = '\r';
    do {
        hdr[--i] = hex[n & 15];
        n >>= 4;
    } while (n);
    evbuffer_add(out, hdr + i, sizeof hdr - i);
}

/* Formatting without printf: these run for every response. */
static size_t fmt_u64(char *end, uint64_t v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return (size_t)(end - p);
}

void pg_http_add_status_line(struct evbuffer *out, int status, const char *reason, size_t reason_len)
{
    char line[16] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + status / 100 % 10);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    evbuffer_add(out, line, 13);
    if (!reason) {
        reason = pg_http_reason(status);
        reason_len = strlen(reason);
    }
    evbuffer_add(out, reason, reason_len);
    evbuffer_add(out, "\r\n", 2);
}

void pg_http_add_kept_headers(struct evbuffer *out, const struct pg_http_head *h)
{
    for (int i = 0; i < h->n_headers; i++) {
        const struct pg_header *hd = &h->headers[i];
        if (hd->drop)
            continue;
        evbuffer_add(out, hd->name, hd->name_len);
        evbuffer_add(out, ": ", 2);
        evbuffer_add(out, hd->value, hd->value_len);
        evbuffer_add(out, "\r\n", 2);
    }
}

void pg_http_add_content_length(struct evbuffer *out, uint64_t n)
{
    char buf[48] = "Content-Length: ";
    char digits[24];
    size_t k = fmt_u64(digits + sizeof digits, n);
    memcpy(buf + 16, digits + sizeof digits - k, k);
    memcpy(buf + 16 + k, "\r\n", 2);
    evbuffer_add(out, buf, 16 + k + 2);
}

void pg_chunk_end(struct evbuffer *out)
{
    evbuffer_add(out, "\r\n", 2);
}

void pg_chunk_last(struct evbuffer *out)
{
    evbuffer_add(out, "0\r\n\r\n", 5);
}

const char *pg_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

const char *pg_http_query_value(const struct pg_http_head *h, const char *name, size_t *len)
{
    if (h->path_len >= h->target_len)
        return NULL;
    const char *s = h->target + h->path_len + 1, *end = h->target + h->target_len;
    size_t n = strlen(name);
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - s) > n && memcmp(s, name, n) == 0 && s[n] == '=') {
            *len = (size_t)(stop - s) - n - 1;
            return s + n + 1;
        }
        s = stop + 1;
    }
    return NULL;
}
