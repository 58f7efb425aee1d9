#include "policy/rewrite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "policy/envelope.h"

/* How the output is made: the input's own bytes, copied verbatim in runs,
 * except where a value is replaced or removed. yajl still reads (and
 * validates) every byte; inside a callback, yajl_get_bytes_consumed() is
 * the offset just past the token the callback is for, and what lies
 * between the previous token and this one can only be whitespace and at
 * most one ',' or ':'. So each callback knows the bytes of its token and
 * of the gap before it.
 *
 * Removal: an object member goes with its key, its colon and one comma, an
 * array element with its place and one comma: a removed element takes the
 * comma before it, and a kept element drops the comma before it when
 * nothing before it in its container was kept (its predecessors were all
 * removed, and one of them had no comma to take). Until a member's fate
 * is known (its key is read before its value), what would go out for it
 * (comma, whitespace, key, colon) waits in pend.
 *
 * A token cut by the end of a piece: its first bytes wait in carry until
 * the callback for it comes with the next piece (yajl's lexer holds the
 * same bytes meanwhile). Bytes inside a removed or replaced container are
 * never held. */

/* yajl's parser stack stays small, and the position stack below is fixed:
 * a body deeper than this is refused. */
#define MAX_DEPTH 100
#define OUT_CAP 16384
#define DEFAULT_MAX_VALUE (1u << 20)

struct level {
    char kind; /* 'm' object, 'a' array */
    bool kept_any; /* a member or element of it went out: the next one keeps its comma */
    int field; /* the selected container this level is inside (kept), or -1 */
};

struct buf {
    char *data;
    size_t len, cap;
    size_t high; /* the most bytes it has held: what is wiped at the end */
};

struct pg_rewriter {
    const struct pg_sel_set *set;
    struct pg_rw_options opt;
    pg_rw_value_fn value;
    pg_rw_write_fn write;
    void *arg;
    yajl_handle y;
    yajl_alloc_funcs alloc;
    struct pg_sel_cursor cur;
    struct level stack[MAX_DEPTH];
    int depth;
    int skip; /* >0: levels open inside a removed or replaced container */
    /* The piece yajl is reading: bytes before at are done with; [run_from,
     * run_to) are to be copied to the output as they are. */
    const char *chunk;
    size_t chunk_len, at, run_from, run_to;
    struct buf carry; /* the start of a token cut by the end of a piece */
    /* An element whose fate is not known yet, as it would go out: while it
     * is all in the piece, the bytes [pend_from, run_to) of the run (no
     * copy); once the piece ends, in pend. */
    struct buf pend;
    bool pending;  /* output goes to the pending element */
    bool in_piece; /* ... which is in the run, from pend_from */
    size_t pend_from;
    struct buf scratch;
    char *out; /* OUT_CAP bytes, in the rewriter's own block */
    size_t out_len, out_high;
    bool write_failed, failed, in_feed;
    int bom; /* leading UTF-8 byte order mark bytes matched; -1 once past it */
    uint64_t consumed, chunk_start;
    size_t held, peak;
    char err[160];
};

/* ---- accounting: every byte the rewriter (and yajl for it) holds ---- */

/* Wiping: explicit_bzero is a memset the compiler may not drop, at
 * memset's speed (OPENSSL_cleanse writes a word at a time). */
static void wipe(void *p, size_t n)
{
    if (n)
        explicit_bzero(p, n);
}

struct block {
    size_t size;
    size_t pad; /* keeps what follows aligned for any type */
};

static void account(struct pg_rewriter *rw, size_t old, size_t now)
{
    rw->held = rw->held - old + now;
    if (rw->held > rw->peak)
        rw->peak = rw->held;
}

static void *acct_malloc(void *ctx, size_t sz)
{
    struct block *b = malloc(sizeof *b + sz);
    if (!b)
        return NULL;
    b->size = sz;
    account(ctx, 0, sz);
    return b + 1;
}

/* yajl's blocks (its token and string buffers held PHI) are wiped whole:
 * what of them was used is yajl's to know. */
static void acct_free(void *ctx, void *p)
{
    if (!p)
        return;
    struct block *b = (struct block *)p - 1;
    account(ctx, b->size, 0);
    wipe(p, b->size);
    free(b);
}

static void *acct_realloc(void *ctx, void *p, size_t sz)
{
    if (!p)
        return acct_malloc(ctx, sz);
    struct block *b = (struct block *)p - 1;
    size_t old = b->size;
    struct block *nb = realloc(b, sizeof *nb + sz);
    if (!nb)
        return NULL;
    nb->size = sz;
    account(ctx, old, sz);
    return nb + 1;
}

/* The rewriter's own buffers know how much of them was ever written: only
 * that is wiped. */
static void buf_free(struct pg_rewriter *rw, struct buf *b)
{
    if (!b->data)
        return;
    wipe(b->data, b->high);
    struct block *blk = (struct block *)b->data - 1;
    account(rw, blk->size, 0);
    free(blk);
    *b = (struct buf){0};
}

/* Grows b to hold at least need bytes (geometrically, so a run of growing
 * values costs few reallocations). Growing moves the bytes: the old block
 * is wiped as it goes. */
static int buf_reserve(struct pg_rewriter *rw, struct buf *b, size_t need)
{
    if (b->cap >= need)
        return 0;
    size_t n = b->cap ? b->cap : 256;
    while (n < need)
        n *= 2;
    char *p = acct_malloc(rw, n);
    if (!p)
        return -1;
    if (b->len)
        memcpy(p, b->data, b->len);
    size_t len = b->len;
    buf_free(rw, b);
    b->data = p;
    b->cap = n;
    b->len = b->high = len;
    return 0;
}

static int buf_add(struct pg_rewriter *rw, struct buf *b, const char *s, size_t n)
{
    if (b->len + n > b->cap && buf_reserve(rw, b, b->len + n) != 0)
        return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    if (b->len > b->high)
        b->high = b->len;
    return 0;
}

/* ---- errors: fixed text and an offset, never a byte of the input ---- */

static uint64_t offset_now(const struct pg_rewriter *rw)
{
    return rw->in_feed ? rw->chunk_start + yajl_get_bytes_consumed(rw->y) : rw->consumed;
}

static int fail(struct pg_rewriter *rw, const char *what)
{
    if (!rw->failed)
        snprintf(rw->err, sizeof rw->err, "%s at byte %llu", what, (unsigned long long)offset_now(rw));
    rw->failed = true;
    return 0; /* what a yajl callback returns to stop the parse */
}

/* ---- output: buffered, so the caller's write sees few, large pieces ---- */

static void flush(struct pg_rewriter *rw)
{
    if (rw->out_len && !rw->write_failed && rw->write(rw->arg, rw->out, rw->out_len) != 0)
        rw->write_failed = true;
    rw->out_len = 0;
}

static void print(struct pg_rewriter *rw, const char *s, size_t len)
{
    if (rw->write_failed)
        return;
    if (rw->out_len + len > OUT_CAP)
        flush(rw);
    if (len > OUT_CAP) {
        if (rw->write(rw->arg, s, len) != 0)
            rw->write_failed = true;
        return;
    }
    memcpy(rw->out + rw->out_len, s, len);
    rw->out_len += len;
    if (rw->out_len > rw->out_high)
        rw->out_high = rw->out_len;
}

static void flush_run(struct pg_rewriter *rw)
{
    if (rw->run_to > rw->run_from)
        print(rw, rw->chunk + rw->run_from, rw->run_to - rw->run_from);
    rw->run_from = rw->run_to = 0;
}

/* The pending element leaves the run for pend (the piece is about to go,
 * or what follows is not contiguous); what came before it stays in the
 * run. */
static int pend_to_buffer(struct pg_rewriter *rw)
{
    rw->in_piece = false;
    rw->pend.len = 0;
    size_t n = rw->run_to - rw->pend_from;
    rw->run_to = rw->pend_from;
    if (n && buf_add(rw, &rw->pend, rw->chunk + rw->pend_from, n) != 0)
        return fail(rw, "out of memory");
    return 1;
}

/* An element whose fate is open starts at byte at of the piece (its comma,
 * or its key), or, with cut, in carry. */
static void start_pending(struct pg_rewriter *rw, size_t at, bool cut)
{
    rw->pending = true;
    rw->pend.len = 0;
    /* A stream of documents drops whitespace: what waits is not one span. */
    rw->in_piece = !cut && !rw->opt.multiple_values;
    if (rw->in_piece) {
        if (rw->run_to != at) {
            flush_run(rw);
            rw->run_from = rw->run_to = at;
        }
        rw->pend_from = at;
    }
}

/* Bytes that are not the piece's own, in order after what the run holds. */
static void put(struct pg_rewriter *rw, const char *s, size_t n)
{
    flush_run(rw);
    print(rw, s, n);
}

/* Bytes [from, to) of the piece, verbatim: to the pending element, or to
 * the run (one copy for a whole stretch of kept input). */
static int put_chunk(struct pg_rewriter *rw, size_t from, size_t to)
{
    if (from == to)
        return 1;
    if (rw->pending) {
        if (rw->in_piece && rw->run_to == from) {
            rw->run_to = to;
            return 1;
        }
        if (rw->in_piece && !pend_to_buffer(rw))
            return 0;
        return buf_add(rw, &rw->pend, rw->chunk + from, to - from) == 0 ? 1 : fail(rw, "out of memory");
    }
    if (rw->run_to != from) {
        flush_run(rw);
        rw->run_from = from;
    }
    rw->run_to = to;
    return 1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* The gap from at to the next token (or the piece's end): whitespace, kept
 * (dropped for a stream of documents: one per line), and at most one ','
 * or ':'. A comma starts the next element, whose fate is not known yet.
 * Returns where the token starts. */
static size_t gap(struct pg_rewriter *rw)
{
    const char *c = rw->chunk;
    size_t i = rw->at, n = rw->chunk_len, from = i;
    bool compact = rw->opt.multiple_values;
    for (; i < n; i++) {
        if (is_space(c[i])) {
            if (compact) {
                put_chunk(rw, from, i);
                from = i + 1;
            }
        } else if (c[i] == ',') {
            put_chunk(rw, from, i);
            start_pending(rw, i, false);
            from = i;
        } else if (c[i] != ':') {
            break;
        }
    }
    put_chunk(rw, from, i);
    rw->at = i;
    return i;
}

#define NONE ((size_t)-1)

/* The gap from at before the current token, read but not put: where the
 * token starts, and where its comma is (NONE: none). A token carried from
 * an earlier piece has no gap left: that went out at the piece's end. */
static size_t scan_gap(const struct pg_rewriter *rw, size_t *comma)
{
    *comma = NONE;
    if (rw->carry.len)
        return 0;
    const char *c = rw->chunk;
    size_t i = rw->at, n = rw->chunk_len;
    for (; i < n; i++) {
        if (c[i] == ',')
            *comma = i;
        else if (c[i] != ':' && !is_space(c[i]))
            break;
    }
    return i;
}

/* Just past the current callback's token in the piece. */
static size_t token_end(const struct pg_rewriter *rw)
{
    size_t off = rw->in_feed ? yajl_get_bytes_consumed(rw->y) : 0;
    return off < rw->chunk_len ? off : rw->chunk_len;
}

/* The bytes from at (the gap, then the token) up to to, verbatim, after
 * what went before them. */
static int put_token(struct pg_rewriter *rw, size_t from, size_t to)
{
    if (rw->carry.len) {
        if (rw->pending) {
            if (rw->in_piece && !pend_to_buffer(rw))
                return 0;
            if (buf_add(rw, &rw->pend, rw->carry.data, rw->carry.len) != 0)
                return fail(rw, "out of memory");
        } else {
            put(rw, rw->carry.data, rw->carry.len);
        }
    }
    return put_chunk(rw, from, to);
}

/* The callback's token is done with. */
static void token_done(struct pg_rewriter *rw, size_t end)
{
    rw->at = end;
    rw->carry.len = 0;
}

static size_t lead_space(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_space(s[i]))
        i++;
    return i;
}

/* The pending element stays: what waited for it goes out, but for its
 * comma when no_comma. */
static void keep_pending(struct pg_rewriter *rw, bool no_comma)
{
    rw->pending = false;
    if (rw->in_piece) { /* already in the run */
        size_t c = rw->pend_from + lead_space(rw->chunk + rw->pend_from, rw->run_to - rw->pend_from);
        if (no_comma && c < rw->run_to && rw->chunk[c] == ',') {
            size_t to = rw->run_to;
            rw->run_to = c;
            flush_run(rw);
            rw->run_from = c + 1;
            rw->run_to = to;
        }
    } else {
        size_t c = lead_space(rw->pend.data, rw->pend.len);
        if (no_comma && c < rw->pend.len && rw->pend.data[c] == ',') {
            put(rw, rw->pend.data, c);
            put(rw, rw->pend.data + c + 1, rw->pend.len - c - 1);
        } else {
            put(rw, rw->pend.data, rw->pend.len);
        }
    }
    rw->pend.len = 0;
    rw->in_piece = false;
}

/* The element the current token starts, is or ends (an object member's
 * value: its key came first) stays. What waited for it goes out, and the
 * comma before it unless nothing before it in its container went out
 * (its predecessors were all removed). The caller then puts from at. */
static int keep_element(struct pg_rewriter *rw)
{
    struct level *l = rw->depth ? &rw->stack[rw->depth - 1] : NULL;
    bool no_comma = l && !l->kept_any;
    if (rw->pending) {
        keep_pending(rw, no_comma);
    } else if (no_comma) {
        size_t comma;
        scan_gap(rw, &comma);
        if (comma != NONE) {
            if (!put_chunk(rw, rw->at, comma))
                return 0;
            rw->at = comma + 1;
        }
    }
    if (l)
        l->kept_any = true;
    return 1;
}

/* The element goes, with its comma, key and colon; the whitespace before
 * them stays. A removed document root becomes null. */
static void remove_element(struct pg_rewriter *rw)
{
    if (rw->pending) {
        if (rw->in_piece) {
            rw->run_to = rw->pend_from + lead_space(rw->chunk + rw->pend_from, rw->run_to - rw->pend_from);
        } else {
            put(rw, rw->pend.data, lead_space(rw->pend.data, rw->pend.len));
        }
        rw->pending = false;
        rw->in_piece = false;
        rw->pend.len = 0;
        return;
    }
    size_t comma, t = scan_gap(rw, &comma);
    put_chunk(rw, rw->at, comma != NONE ? comma : t);
    if (!rw->depth)
        put(rw, "null", 4);
}

/* ---- position ---- */

static int parent_field(const struct pg_rewriter *rw)
{
    return rw->depth ? rw->stack[rw->depth - 1].field : -1;
}

/* The field of the value about to start (an array element enters its
 * level here; an object member entered it at its key). */
static int begin_value(struct pg_rewriter *rw, int *field)
{
    if (rw->depth && rw->stack[rw->depth - 1].kind == 'a' && pg_sel_cursor_push(&rw->cur, NULL, 0) != 0)
        return fail(rw, "the document is too deep for the PHI selectors");
    int inherited = parent_field(rw);
    *field = inherited >= 0 ? inherited : pg_sel_cursor_field(&rw->cur);
    return 1;
}

static int end_value(struct pg_rewriter *rw)
{
    if (rw->depth) {
        pg_sel_cursor_pop(&rw->cur);
        return 1;
    }
    if (rw->opt.multiple_values)
        put(rw, "\n", 1);
    return 1;
}

/* RFC 8259 number grammar: a replacement number is checked before it goes out. */
static bool json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return false;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

/* UTF-8 as the parser takes it (yajl checks a lead byte and its
 * continuation bytes): whatever a body could carry in can go back out. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t more = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 4;
        if (more == 4 || n - i - 1 < more)
            return false;
        for (size_t k = 1; k <= more; k++)
            if ((s[i + k] >> 6) != 0x2)
                return false;
        i += more + 1;
    }
    return true;
}

/* A replacement string's content, escaped as JSON wants: '"', '\\' and the
 * control characters; everything else (UTF-8 included) as it is, copied in
 * runs. */
static void put_escaped(struct pg_rewriter *rw, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(rw, s + run, i - run);
        run = i + 1;
        char e[6] = {'\\', 0};
        size_t el = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            el = 6;
        }
        put(rw, e, el);
    }
    put(rw, s + run, n - run);
}

static int emit_token(struct pg_rewriter *rw, const struct pg_rw_token *t)
{
    if (t->len > t->cap)
        return fail(rw, "a replacement is longer than its buffer");
    switch (t->type) {
    case 's':
        if (!utf8_ok((const unsigned char *)t->data, t->len))
            return fail(rw, "a replacement string is not valid UTF-8");
        put(rw, "\"", 1);
        put_escaped(rw, t->data, t->len);
        put(rw, "\"", 1);
        return 1;
    case 'n':
        if (!json_number(t->data, t->len))
            return fail(rw, "a replacement number is not a JSON number");
        put(rw, t->data, t->len);
        return 1;
    case 'b':
        if ((t->len == 4 && !memcmp(t->data, "true", 4)) || (t->len == 5 && !memcmp(t->data, "false", 5))) {
            put(rw, t->data, t->len);
            return 1;
        }
        return fail(rw, "a replacement boolean is neither true nor false");
    }
    return fail(rw, "a replacement has no JSON type");
}

/* Asks the value function; *act gets its answer and tok the replacement. */
static int offer(struct pg_rewriter *rw, int field, char type, const char *data, size_t len,
                 enum pg_rw_action *act, struct pg_rw_token *tok)
{
    if (len > rw->opt.max_value_bytes)
        return fail(rw, "a PHI value is longer than the rewriter's limit");
    if (buf_reserve(rw, &rw->scratch, 2 * len + 256) != 0)
        return fail(rw, "out of memory");
    /* The function may write anywhere in the scratch: all of it is wiped. */
    rw->scratch.high = rw->scratch.cap;
    *tok = (struct pg_rw_token){.type = 0, .data = rw->scratch.data, .cap = rw->scratch.cap, .len = 0};
    struct pg_rw_value v = {.field = field, .type = type, .data = data, .len = len, .cursor = &rw->cur};
    *act = rw->value(rw->arg, &v, tok);
    if (*act == PG_RW_FAIL)
        return fail(rw, "a PHI value was refused");
    return 1;
}

/* ---- yajl callbacks ---- */

/* A stream of documents drops whitespace between tokens: there the gap
 * goes out (less its whitespace) before anything else; otherwise it goes
 * with the token, as it came, unless something changes there. */
static int compact_gap(struct pg_rewriter *rw)
{
    if (rw->opt.multiple_values && !rw->carry.len)
        gap(rw);
    return !rw->failed;
}

/* The replacement of the current token: the gap before it stays. */
static int replace_token(struct pg_rewriter *rw, const struct pg_rw_token *tok)
{
    size_t comma, t = scan_gap(rw, &comma);
    return keep_element(rw) && put_chunk(rw, rw->at, t) && emit_token(rw, tok);
}

static int scalar(struct pg_rewriter *rw, char type, const char *data, size_t len)
{
    if (rw->skip)
        return 1;
    if (!compact_gap(rw))
        return 0;
    size_t to = token_end(rw);
    int field;
    if (!begin_value(rw, &field))
        return 0;
    bool selected = type != 0 && field >= 0;
    bool stray = !selected && type == 's' && rw->opt.scan_envelopes && pg_envelope_is(data, len);
    enum pg_rw_action act = PG_RW_KEEP;
    struct pg_rw_token tok;
    if ((selected || stray) && !offer(rw, selected ? field : -1, type, data, len, &act, &tok))
        return 0;
    int ok = 1;
    if (act == PG_RW_REMOVE)
        remove_element(rw);
    else if (act == PG_RW_REPLACE)
        ok = replace_token(rw, &tok);
    else
        ok = keep_element(rw) && put_token(rw, rw->at, to);
    token_done(rw, to);
    return ok && end_value(rw);
}

static int on_null(void *ctx)
{
    return scalar(ctx, 0, NULL, 0);
}

static int on_boolean(void *ctx, int b)
{
    return b ? scalar(ctx, 'b', "true", 4) : scalar(ctx, 'b', "false", 5);
}

static int on_number(void *ctx, const char *s, size_t len)
{
    return scalar(ctx, 'n', s, len);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    return scalar(ctx, 's', (const char *)s, len);
}

static int open_container(struct pg_rewriter *rw, char kind)
{
    if (rw->depth + rw->skip >= MAX_DEPTH)
        return fail(rw, "the document is nested too deeply");
    if (rw->skip) {
        rw->skip++;
        return 1;
    }
    if (!compact_gap(rw))
        return 0;
    size_t to = token_end(rw);
    int field;
    if (!begin_value(rw, &field))
        return 0;
    bool offered = field >= 0 && parent_field(rw) < 0;
    enum pg_rw_action act = PG_RW_KEEP;
    struct pg_rw_token tok;
    if (offered && !offer(rw, field, kind == 'm' ? 'o' : 'a', NULL, 0, &act, &tok))
        return 0;
    if (act == PG_RW_REMOVE || act == PG_RW_REPLACE) {
        /* Its contents are read and dropped; the value ends at its close. */
        int ok = 1;
        if (act == PG_RW_REMOVE)
            remove_element(rw);
        else
            ok = replace_token(rw, &tok);
        rw->skip = 1;
        token_done(rw, to);
        return ok;
    }
    if (!keep_element(rw) || !put_token(rw, rw->at, to))
        return 0;
    token_done(rw, to);
    rw->stack[rw->depth++] = (struct level){.kind = kind, .field = field};
    return 1;
}

static int close_container(struct pg_rewriter *rw)
{
    if (rw->skip) {
        if (--rw->skip)
            return 1;
        token_done(rw, token_end(rw)); /* all of it, up to its close, dropped */
        return end_value(rw);
    }
    if (!compact_gap(rw))
        return 0;
    if (rw->pending) /* a comma before a close: yajl refuses that first */
        return fail(rw, "invalid JSON (a separator before a close)");
    size_t to = token_end(rw);
    if (!put_token(rw, rw->at, to))
        return 0;
    token_done(rw, to);
    rw->depth--;
    return end_value(rw);
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, 'm');
}

static int on_end_map(void *ctx)
{
    return close_container(ctx);
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, 'a');
}

static int on_end_array(void *ctx)
{
    return close_container(ctx);
}

static int on_map_key(void *ctx, const unsigned char *key, size_t len)
{
    struct pg_rewriter *rw = ctx;
    if (rw->skip)
        return 1;
    if (!compact_gap(rw))
        return 0;
    size_t to = token_end(rw);
    if (pg_sel_cursor_push(&rw->cur, (const char *)key, len) != 0)
        return fail(rw, "the document is too deep for the PHI selectors");
    int inherited = parent_field(rw);
    int field = inherited >= 0 ? inherited : pg_sel_cursor_field(&rw->cur);
    if (field < 0 && !rw->opt.scan_envelopes) {
        if (!keep_element(rw)) /* nothing here can be removed: the member stays */
            return 0;
    } else {
        if (len > rw->opt.max_value_bytes)
            return fail(rw, "an object key is longer than the rewriter's limit");
        /* Its comma (or, first, its key) and what follows wait for its
         * value; a comma seen at a piece's end already waits. */
        if (!rw->pending)
            start_pending(rw, rw->at, rw->carry.len > 0);
    }
    int ok = put_token(rw, rw->at, to);
    token_done(rw, to);
    return ok;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

/* ---- the interface ---- */

struct pg_rewriter *pg_rewriter_new(const struct pg_sel_set *set, const struct pg_rw_options *opt,
                                    pg_rw_value_fn value, pg_rw_write_fn write, void *arg)
{
    /* One block for the rewriter and its output buffer; the buffer is not
     * cleared (only what is written to it is ever read, or wiped). */
    struct pg_rewriter *rw = malloc(sizeof *rw + OUT_CAP);
    if (!rw)
        return NULL;
    memset(rw, 0, sizeof *rw);
    rw->out = (char *)(rw + 1);
    rw->held = rw->peak = sizeof *rw + OUT_CAP;
    rw->set = set;
    if (opt)
        rw->opt = *opt;
    if (!rw->opt.max_value_bytes)
        rw->opt.max_value_bytes = DEFAULT_MAX_VALUE;
    rw->value = value;
    rw->write = write;
    rw->arg = arg;
    rw->alloc = (yajl_alloc_funcs){.malloc = acct_malloc, .realloc = acct_realloc, .free = acct_free, .ctx = rw};
    pg_sel_cursor_init(&rw->cur, set);
    rw->y = yajl_alloc(&callbacks, &rw->alloc, rw);
    if (!rw->y) {
        pg_rewriter_free(rw);
        return NULL;
    }
    if (rw->opt.multiple_values)
        yajl_config(rw->y, yajl_allow_multiple_values, 1);
    return rw;
}

/* RFC 8259 lets a reader ignore a leading byte order mark; many FHIR
 * files carry one. Returns the bytes of data that belong to it. */
static size_t skip_bom(struct pg_rewriter *rw, const char *data, size_t len, const char **held, size_t *nheld)
{
    static const char bom[] = "\xEF\xBB\xBF";
    size_t i = 0;
    *nheld = 0;
    while (rw->bom >= 0 && i < len) {
        if (data[i] != bom[rw->bom]) {
            /* Not a mark after all: what matched so far is input. */
            *held = bom;
            *nheld = (size_t)rw->bom;
            rw->bom = -1;
            break;
        }
        i++;
        if (++rw->bom == 3)
            rw->bom = -1;
    }
    return i;
}

/* The piece has been read: what follows its last token is dealt with now
 * (the piece is gone after this), so that nothing but the start of a cut
 * token waits for the next one. */
static int piece_end(struct pg_rewriter *rw)
{
    if (rw->skip) { /* inside a dropped container: nothing to keep */
        rw->at = rw->chunk_len;
    } else if (rw->carry.len) { /* one token through the whole piece */
        if (buf_add(rw, &rw->carry, rw->chunk, rw->chunk_len) != 0)
            return fail(rw, "out of memory");
    } else {
        size_t t = gap(rw);
        if (t < rw->chunk_len && buf_add(rw, &rw->carry, rw->chunk + t, rw->chunk_len - t) != 0)
            return fail(rw, "out of memory");
    }
    if (rw->pending && rw->in_piece && !pend_to_buffer(rw))
        return 0;
    flush_run(rw);
    rw->chunk = NULL;
    rw->chunk_len = rw->at = 0;
    return !rw->failed;
}

static int parse(struct pg_rewriter *rw, const char *data, size_t len)
{
    rw->chunk_start = rw->consumed;
    rw->chunk = data;
    rw->chunk_len = len;
    rw->at = rw->run_from = rw->run_to = 0;
    rw->in_feed = true;
    yajl_status st = yajl_parse(rw->y, (const unsigned char *)data, len);
    if (st == yajl_status_ok && piece_end(rw)) {
        rw->in_feed = false;
        rw->consumed += len;
        return 0;
    }
    if (st == yajl_status_error && !rw->failed) {
        unsigned char *why = yajl_get_error(rw->y, 0, NULL, 0); /* not verbose: fixed text, no input */
        char what[120];
        size_t n = why ? strcspn((char *)why, "\n") : 0;
        snprintf(what, sizeof what, "invalid JSON (%.*s)", (int)n, why ? (char *)why : "");
        if (why)
            yajl_free_error(rw->y, why);
        fail(rw, what);
    } else {
        fail(rw, "the body was refused");
    }
    rw->consumed = offset_now(rw);
    rw->in_feed = false;
    rw->chunk = NULL;
    rw->chunk_len = rw->run_from = rw->run_to = 0;
    return -1;
}

int pg_rewriter_feed(struct pg_rewriter *rw, const char *data, size_t len)
{
    if (rw->failed)
        return -1;
    const char *held = NULL;
    size_t nheld = 0, skip = skip_bom(rw, data, len, &held, &nheld);
    rw->consumed += skip;
    rw->consumed -= nheld; /* a prefix that was no mark after all is parsed below, as input */
    if ((nheld && parse(rw, held, nheld) != 0) || (len > skip && parse(rw, data + skip, len - skip) != 0)) {
        rw->out_len = 0;
        return -1;
    }
    flush(rw);
    if (rw->write_failed) {
        fail(rw, "the output could not be written");
        return -1;
    }
    return 0;
}

int pg_rewriter_finish(struct pg_rewriter *rw)
{
    if (rw->failed)
        return -1;
    if (rw->consumed == 0 && rw->bom <= 0) {
        fail(rw, "empty body");
        return -1;
    }
    if (rw->bom > 0) { /* the body ended inside what looked like a mark */
        rw->consumed -= (uint64_t)rw->bom;
        if (parse(rw, "\xEF\xBB\xBF", (size_t)rw->bom) != 0)
            return -1;
    }
    /* A last number ends here (yajl waits for the byte after one); its
     * bytes are all in carry. */
    yajl_status st = yajl_complete_parse(rw->y);
    if (st != yajl_status_ok || rw->failed) {
        if (!rw->failed)
            fail(rw, st == yajl_status_error ? "incomplete JSON: the body ended"
                                             : "the body was refused");
        rw->out_len = 0;
        return -1;
    }
    flush(rw);
    if (rw->write_failed) {
        fail(rw, "the output could not be written");
        return -1;
    }
    return 0;
}

const char *pg_rewriter_error(const struct pg_rewriter *rw)
{
    return rw->err[0] ? rw->err : "no error";
}

uint64_t pg_rewriter_consumed(const struct pg_rewriter *rw)
{
    return offset_now(rw);
}

size_t pg_rewriter_peak_bytes(const struct pg_rewriter *rw)
{
    return rw->peak;
}

void pg_rewriter_free(struct pg_rewriter *rw)
{
    if (!rw)
        return;
    if (rw->y)
        yajl_free(rw->y);
    buf_free(rw, &rw->scratch);
    buf_free(rw, &rw->carry);
    buf_free(rw, &rw->pend);
    /* Only what was written of the output buffer (replacements held PHI). */
    wipe(rw->out, rw->out_high);
    free(rw);
}
