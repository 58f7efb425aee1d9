/* libFuzzer target, differential: phiguard's JSON scanner (policy/json_scan.c)
 * against yajl, configured as the rewriter used to configure it (comments
 * off, UTF-8 checked, multiple values when the rewriter takes a stream).
 *
 *   - The scanner takes a body whole and in random pieces alike: the same
 *     events, the same verdict.
 *   - What the scanner takes, yajl takes, with the same events (strings
 *     decoded the same).
 *   - What yajl takes and the scanner refuses is only what RFC 8259 and
 *     Unicode rule out and yajl lets by: invalid UTF-8 (checked here by
 *     decoding, not by the scanner's range table), a \u surrogate not in a
 *     pair, \v or \f as whitespace.
 *   - The rewriter with no selectors gives back exactly its input.
 *
 * The first byte picks single document or stream and the piece sizes; the
 * rest is the body. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "fuzz_out.h"
#include "policy/json_scan.h"
#include "policy/rewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct log {
    unsigned char *buf;
    size_t len, cap;
    /* The scanner's runs only: where the last complete document ended. */
    const struct pg_json_scan *scan;
    size_t piece_at, depth, last_doc_end;
};

static void log_add(struct log *l, int ev, const void *d, size_t n)
{
    size_t need = l->len + 1 + sizeof n + n;
    if (need > l->cap) {
        size_t cap = need * 2;
        unsigned char *b = realloc(l->buf, cap);
        if (!b)
            abort();
        l->buf = b;
        l->cap = cap;
    }
    l->buf[l->len++] = (unsigned char)ev;
    memcpy(l->buf + l->len, &n, sizeof n);
    l->len += sizeof n;
    if (n)
        memcpy(l->buf + l->len, d, n);
    l->len += n;
}

static bool log_equal(const struct log *a, const struct log *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->buf, b->buf, a->len) == 0);
}

/* ---- yajl ---- */

static int y_null(void *ctx)
{
    log_add(ctx, PG_JSON_NULL, "null", 4);
    return 1;
}

static int y_bool(void *ctx, int b)
{
    log_add(ctx, PG_JSON_BOOL, b ? "true" : "false", b ? 4 : 5);
    return 1;
}

static int y_number(void *ctx, const char *s, size_t n)
{
    log_add(ctx, PG_JSON_NUMBER, s, n);
    return 1;
}

static int y_string(void *ctx, const unsigned char *s, size_t n)
{
    log_add(ctx, PG_JSON_STRING, s, n);
    return 1;
}

static int y_key(void *ctx, const unsigned char *s, size_t n)
{
    log_add(ctx, PG_JSON_KEY, s, n);
    return 1;
}

static int y_start_map(void *ctx)
{
    log_add(ctx, PG_JSON_OBJECT_START, "", 0);
    return 1;
}

static int y_end_map(void *ctx)
{
    log_add(ctx, PG_JSON_OBJECT_END, "", 0);
    return 1;
}

static int y_start_array(void *ctx)
{
    log_add(ctx, PG_JSON_ARRAY_START, "", 0);
    return 1;
}

static int y_end_array(void *ctx)
{
    log_add(ctx, PG_JSON_ARRAY_END, "", 0);
    return 1;
}

static const yajl_callbacks y_callbacks = {
    .yajl_null = y_null,
    .yajl_boolean = y_bool,
    .yajl_number = y_number,
    .yajl_string = y_string,
    .yajl_start_map = y_start_map,
    .yajl_map_key = y_key,
    .yajl_end_map = y_end_map,
    .yajl_start_array = y_start_array,
    .yajl_end_array = y_end_array,
};

static bool yajl_takes(const uint8_t *body, size_t len, bool multiple, struct log *l)
{
    yajl_handle y = yajl_alloc(&y_callbacks, NULL, l);
    if (!y)
        abort();
    if (multiple)
        yajl_config(y, yajl_allow_multiple_values, 1);
    bool ok = yajl_parse(y, body, len) == yajl_status_ok && yajl_complete_parse(y) == yajl_status_ok;
    yajl_free(y);
    return ok;
}

/* ---- the scanner ---- */

static int s_event(void *arg, enum pg_json_event ev, const char *d, size_t n)
{
    struct log *l = arg;
    log_add(l, ev, d, n);
    if (ev == PG_JSON_OBJECT_START || ev == PG_JSON_ARRAY_START)
        l->depth++;
    else if (ev == PG_JSON_OBJECT_END || ev == PG_JSON_ARRAY_END)
        l->depth--;
    if (l->depth == 0 && ev != PG_JSON_KEY)
        l->last_doc_end = l->piece_at + pg_json_scan_offset(l->scan);
    return 1;
}

/* *fault_at: the faulty byte's offset in the body, 1-based. */
static enum pg_json_fault scan(const uint8_t *body, size_t len, bool multiple, unsigned seed, struct log *l,
                               size_t *fault_at)
{
    struct pg_json_scan s;
    struct pg_json_scan_options opt = {.multiple_values = multiple};
    pg_json_scan_init(&s, &opt, s_event, l, NULL);
    l->scan = &s;
    enum pg_json_status st = PG_JSON_OK;
    for (size_t at = 0; at < len && st == PG_JSON_OK;) {
        size_t piece = len - at;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            piece = 1 + (seed >> 16) % 23;
            if (piece > len - at)
                piece = len - at;
        }
        l->piece_at = at;
        st = pg_json_scan_feed(&s, (const char *)body + at, piece);
        if (pg_json_scan_offset(&s) > piece)
            __builtin_trap();
        *fault_at = at + pg_json_scan_offset(&s);
        at += piece;
    }
    if (st == PG_JSON_OK) {
        l->piece_at = len; /* a last number is reported at the end */
        st = pg_json_scan_finish(&s);
        *fault_at = len;
    }
    enum pg_json_fault f = pg_json_scan_fault(&s);
    if ((st == PG_JSON_OK) != (f == PG_JSON_FAULT_NONE) || st == PG_JSON_STOPPED)
        __builtin_trap();
    if (f != PG_JSON_FAULT_NONE && !strcmp(pg_json_scan_error(&s), "no error"))
        __builtin_trap();
    pg_json_scan_release(&s);
    return f;
}

/* ---- what RFC 8259 refuses and yajl lets by ---- */

/* Strict UTF-8 by decoding: the code point must need the length it was
 * written in, and be neither a surrogate nor above U+10FFFF. */
static bool utf8_strict(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], more, cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            more = 1, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            more = 2, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            more = 3, cp = c & 0x07;
        else
            return false;
        if (n - i - 1 < more)
            return false;
        for (unsigned k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const unsigned least[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < least[more] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return false;
        i += more + 1;
    }
    return true;
}

static bool has_surrogate_escape(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++)
        if (s[i] == '\\' && s[i + 1] == 'u' && (s[i + 2] | 0x20) == 'd' && strchr("89abcdefABCDEF", s[i + 3]) &&
            s[i + 3])
            return true;
    return false;
}


static bool has_byte(const uint8_t *s, size_t n, uint8_t b)
{
    return memchr(s, b, n) != NULL;
}

static size_t opens(const uint8_t *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '[' || s[i] == '{';
    return k;
}

/* yajl takes a document followed by the start of a string or of true,
 * false or null, cut by the end of the body: its lexer reports "more
 * needed" rather than trailing garbage, and nothing completes the token at
 * the end. The scanner refuses the first byte of it. */
static bool cut_token_after(const uint8_t *body, size_t len, size_t fault_at)
{
    if (fault_at == 0 || !strchr("\"tfn", body[fault_at - 1]) || !body[fault_at - 1])
        return false;
    struct log l = {0};
    size_t at;
    enum pg_json_fault f = scan(body + fault_at - 1, len - (fault_at - 1), false, 0, &l, &at);
    /* yajl's lexer checks no surrogates and only loosely UTF-8 there. */
    bool cut = l.len == 0 && (f == PG_JSON_FAULT_INCOMPLETE ||
                              (f == PG_JSON_FAULT_UTF8 && !utf8_strict(body, len)) ||
                              (f == PG_JSON_FAULT_SURROGATE && has_surrogate_escape(body, len)));
    free(l.buf);
    return cut;
}

/* The same in a stream: after the last whole document, whitespace, then
 * the start of a string or literal. */
static bool cut_token_at_end(const uint8_t *body, size_t len, const struct log *l)
{
    size_t i = l->last_doc_end;
    if (!l->len)
        return false;
    while (i < len && strchr(" \t\r\n", body[i]) && body[i])
        i++;
    return i < len && cut_token_after(body, len, i + 1);
}

static bool lax_only(enum pg_json_fault f, const uint8_t *body, size_t len, size_t fault_at, bool multiple,
                     const struct log *l)
{
    switch (f) {
    case PG_JSON_FAULT_INCOMPLETE: return multiple && cut_token_at_end(body, len, l);
    case PG_JSON_FAULT_UTF8: return !utf8_strict(body, len);
    case PG_JSON_FAULT_SURROGATE: return has_surrogate_escape(body, len);
    case PG_JSON_FAULT_SYNTAX: return has_byte(body, len, '\v') || has_byte(body, len, '\f');
    case PG_JSON_FAULT_TRAILING:
        return has_byte(body, len, '\v') || has_byte(body, len, '\f') || cut_token_after(body, len, fault_at);
    case PG_JSON_FAULT_DEPTH: return opens(body, len) >= PG_JSON_DEPTH_MAX;
    default: return false;
    }
}

/* ---- the rewriter, nothing selected ---- */

static int write_fn(void *arg, const char *d, size_t n)
{
    return fuzz_out_append(arg, d, n);
}

static enum pg_rw_action never(void *arg, const struct pg_rw_value *v, struct pg_rw_token *t)
{
    (void)arg, (void)v, (void)t;
    __builtin_trap(); /* nothing is selected and no envelope is looked for */
}

static void rewriter_is_identity(const uint8_t *body, size_t len, unsigned seed, bool scanner_took)
{
    struct fuzz_out o = {0};
    struct pg_rw_options opt = {0};
    struct pg_rewriter *rw = pg_rewriter_new(NULL, &opt, never, write_fn, &o);
    if (!rw)
        abort();
    int rc = fuzz_feed_pieces(rw, body, len, seed, 61);
    pg_rewriter_free(rw);
    /* An empty body is the rewriter's own refusal, and so is a document
     * deeper than its position stack (100 levels). */
    if (len && (rc == 0) != scanner_took && !(rc != 0 && opens(body, len) >= 100))
        __builtin_trap();
    if (rc == 0 && (o.len != len || memcmp(o.buf, body, len) != 0))
        __builtin_trap();
    free(o.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool multiple = data[0] & 1;
    unsigned seed = data[0] | 0x100u;
    const uint8_t *body = data + 1;
    size_t len = size - 1;

    struct log whole = {0}, pieces = {0}, y = {0};
    size_t fault_at = 0, fault_at_pieces = 0;
    enum pg_json_fault f = scan(body, len, multiple, 0, &whole, &fault_at);
    if (scan(body, len, multiple, seed, &pieces, &fault_at_pieces) != f || fault_at_pieces != fault_at)
        __builtin_trap();
    bool took = f == PG_JSON_FAULT_NONE;
    if (!log_equal(&whole, &pieces))
        __builtin_trap();
    bool yajl_took = yajl_takes(body, len, multiple, &y);
    if (took && (!yajl_took || !log_equal(&whole, &y)))
        __builtin_trap();
    if (!took && yajl_took && !lax_only(f, body, len, fault_at, multiple, &whole))
        __builtin_trap();
    if (!multiple && !(len && body[0] == 0xEF))
        rewriter_is_identity(body, len, seed, took);
    free(whole.buf);
    free(pieces.buf);
    free(y.buf);
    return 0;
}
