#include "policy/rewrite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/envelope.h"
#include "policy/json_scan.h"

/* How the output is made: the input's own bytes, copied verbatim in runs,
 * except where a value is replaced or removed. The scanner
 * (policy/json_scan.h) still reads and validates every byte; inside an
 * event, pg_json_scan_offset() is the offset just past the token the event
 * is for, and what lies between the previous token and this one can only
 * be whitespace and at most one ',' or ':'. So each event knows the bytes
 * of its token and of the gap before it.
 *
 * Removal: an object member goes with its key, its colon and one comma, an
 * array element with its place and one comma: a removed element takes the
 * comma before it, and a kept element drops the comma before it when
 * nothing before it in its container was kept (its predecessors were all
 * removed, and one of them had no comma to take). Until a member's fate
 * is known (its key is read before its value), what would go out for it
 * (comma, whitespace, key, colon) waits in pend.
 *
 * Quiet subtrees: inside a container no selector reaches (most of a
 * body), the scanner reports nothing but a stray envelope, a name over the
 * limit and the container's close; its bytes go out in the run. On such an
 * event, and at every piece's end, the rewriter wakes: the levels, cursor
 * and pending member it would have had are made up from where the scanner
 * stands (everything since was kept, nothing was offered), and the events
 * go on as usual.
 *
 * A token cut by the end of a piece: its first bytes wait in carry until
 * the event for it comes with the next piece (the scanner holds the same
 * bytes, decoded, meanwhile). Bytes inside a removed or replaced container
 * are never held. */

/* The position stack below is fixed: the scanner refuses a body deeper
 * than this. */
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
    struct pg_json_scan scan;
    struct pg_sel_cursor cur;
    struct level stack[MAX_DEPTH];
    int depth;
    int skip; /* >0: levels open inside a removed or replaced container */
    /* The piece being read: bytes before at are done with; [run_from,
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
    /* The scanner is quiet inside the innermost container on the stack (no
     * selector reaches into it): until it reports something, nothing of it
     * is held, and the stack and cursor inside it are made up on waking. */
    bool quiet;
    int bom; /* leading UTF-8 byte order mark bytes matched; -1 once past it */
    uint64_t consumed, chunk_start;
    size_t held, peak;
    char err[160];
};

/* ---- accounting: every byte the rewriter (and its scanner) holds ---- */

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

/* The scanner's token buffer (it held PHI) is wiped whole: what of it was
 * used is the scanner's to know. */
static void acct_free(void *ctx, void *p)
{
    if (!p)
        return;
    struct block *b = (struct block *)p - 1;
    account(ctx, b->size, 0);
    wipe(p, b->size);
    free(b);
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
    return rw->in_feed ? rw->chunk_start + pg_json_scan_offset(&rw->scan) : rw->consumed;
}

static int fail(struct pg_rewriter *rw, const char *what)
{
    if (!rw->failed)
        snprintf(rw->err, sizeof rw->err, "%s at byte %llu", what, (unsigned long long)offset_now(rw));
    rw->failed = true;
    return 0; /* what an event function returns to stop the scan */
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
static inline int put_chunk(struct pg_rewriter *rw, size_t from, size_t to)
{
    if (from == to)
        return 1;
    if (!rw->pending && rw->run_to == from) { /* most tokens: the run grows */
        rw->run_to = to;
        return 1;
    }
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

/* Just past the current event's token in the piece. */
static size_t token_end(const struct pg_rewriter *rw)
{
    size_t off = rw->in_feed ? pg_json_scan_offset(&rw->scan) : 0;
    return off < rw->chunk_len ? off : rw->chunk_len;
}

/* The bytes from at (the gap, then the token) up to to, verbatim, after
 * what went before them. */
static inline int put_token(struct pg_rewriter *rw, size_t from, size_t to)
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

/* The event's token is done with. */
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
        size_t c = no_comma ? rw->pend_from + lead_space(rw->chunk + rw->pend_from, rw->run_to - rw->pend_from) : 0;
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
        if (!pg_json_utf8_valid(t->data, t->len))
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

size_t pg_rw_room(const struct pg_rw_options *opt, size_t len)
{
    size_t base = 2 * len + 256;
    size_t k = opt ? opt->room_per_byte : 0;
    if (k <= 2 || len > (SIZE_MAX - 256) / k)
        return base;
    size_t limit = opt->max_value_bytes ? opt->max_value_bytes : DEFAULT_MAX_VALUE;
    size_t wide = k * len + 256 < limit ? k * len + 256 : limit;
    return wide > base ? wide : base;
}

/* Asks the value function; *act gets its answer and tok the replacement. */
static int offer(struct pg_rewriter *rw, int field, char type, const char *data, size_t len,
                 enum pg_rw_action *act, struct pg_rw_token *tok)
{
    if (len > rw->opt.max_value_bytes)
        return fail(rw, "a PHI value is longer than the rewriter's limit");
    if (buf_reserve(rw, &rw->scratch, pg_rw_room(&rw->opt, len)) != 0)
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

/* ---- the scanner's events ---- */

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

static __attribute__((noinline)) int scalar(struct pg_rewriter *rw, char type, const char *data, size_t len)
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

static __attribute__((noinline)) int open_container(struct pg_rewriter *rw, char kind)
{
    /* No depth check: the scanner refuses a level past MAX_DEPTH first. */
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
    /* Nothing inside can be selected: the scanner need report only an
     * envelope (a stray), a name over the limit and the close. A stream
     * of documents drops whitespace token by token, so it is never quiet. */
    if (field < 0 && !pg_sel_cursor_live(&rw->cur) && !rw->opt.multiple_values) {
        pg_json_scan_quiet(&rw->scan, rw->opt.scan_envelopes ? PG_ENVELOPE_PREFIX : NULL,
                           sizeof PG_ENVELOPE_PREFIX - 1, rw->opt.scan_envelopes ? rw->opt.max_value_bytes : SIZE_MAX);
        rw->quiet = true;
    }
    return 1;
}

static __attribute__((noinline)) int close_container(struct pg_rewriter *rw)
{
    if (rw->skip) {
        if (--rw->skip)
            return 1;
        token_done(rw, token_end(rw)); /* all of it, up to its close, dropped */
        return end_value(rw);
    }
    if (!compact_gap(rw))
        return 0;
    if (rw->pending) /* a comma before a close: the scanner refuses that first */
        return fail(rw, "invalid JSON (a separator before a close)");
    size_t to = token_end(rw);
    if (!put_token(rw, rw->at, to))
        return 0;
    token_done(rw, to);
    rw->depth--;
    return end_value(rw);
}

/* Wakes from quiet: the stack, the cursor and the run are brought to where
 * they would be had every event since been reported (all of them kept:
 * nothing inside is selected, and no envelope was seen, or the scan would
 * have woken). at_name: for the member name just reported, which is then
 * taken as usual. */
static void wake(struct pg_rewriter *rw, bool at_name)
{
    rw->quiet = false;
    struct pg_json_scan_place pl;
    pg_json_scan_place(&rw->scan, &pl);
    int from = rw->depth, to = (int)pl.depth;
    for (int l = from; l <= to; l++) {
        /* A level holding the next one has kept that element; the innermost
         * has kept one if one came before the current one, or the current
         * one is done. */
        bool kept = l < to || pg_json_scan_level_has_prior(&rw->scan, (unsigned)l) || pl.element_done;
        if (l > from)
            rw->stack[l - 1] = (struct level){
                .kind = pg_json_scan_level_is_array(&rw->scan, (unsigned)l) ? 'a' : 'm', .field = -1};
        rw->stack[l - 1].kept_any = kept;
        if (l < to)
            pg_sel_cursor_push(&rw->cur, NULL, 0); /* the next level's place: dead here */
    }
    rw->depth = to;
    if (at_name) {
        put_chunk(rw, rw->at, pl.member_from);
        rw->at = pl.member_from;
    } else if (pl.name_read) { /* as member_key leaves it */
        pg_sel_cursor_push(&rw->cur, NULL, 0);
        put_chunk(rw, rw->at, pl.member_from);
        if (rw->opt.scan_envelopes)
            start_pending(rw, pl.member_from, false);
        else
            rw->stack[to - 1].kept_any = true;
        put_chunk(rw, pl.member_from, pl.name_end);
        rw->at = pl.name_end;
    } else {
        put_chunk(rw, rw->at, pl.last_end);
        rw->at = pl.last_end;
    }
}

static __attribute__((noinline)) int member_key(struct pg_rewriter *rw, const char *key, size_t len)
{
    if (rw->skip)
        return 1;
    if (!compact_gap(rw))
        return 0;
    size_t to = token_end(rw);
    if (pg_sel_cursor_push(&rw->cur, key, len) != 0)
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

/* The handlers above stay out of line (noinline): the dispatch is then a
 * jump to one of them, not one large function saving every register for
 * whichever path it takes. */
static int on_event(void *arg, enum pg_json_event ev, const char *data, size_t len)
{
    struct pg_rewriter *rw = arg;
    if (rw->quiet) /* the end of the quiet container needs nothing made up */
        ev == PG_JSON_OBJECT_END || ev == PG_JSON_ARRAY_END ? (void)(rw->quiet = false) : wake(rw, ev == PG_JSON_KEY);
    switch (ev) {
    case PG_JSON_NULL: return scalar(rw, 0, NULL, 0);
    case PG_JSON_BOOL: return scalar(rw, 'b', data, len);
    case PG_JSON_NUMBER: return scalar(rw, 'n', data, len);
    case PG_JSON_STRING: return scalar(rw, 's', data, len);
    case PG_JSON_KEY: return member_key(rw, data, len);
    case PG_JSON_OBJECT_START: return open_container(rw, 'm');
    case PG_JSON_ARRAY_START: return open_container(rw, 'a');
    case PG_JSON_OBJECT_END:
    case PG_JSON_ARRAY_END: return close_container(rw);
    }
    return fail(rw, "the body was refused");
}

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
    pg_sel_cursor_init(&rw->cur, set);
    struct pg_json_scan_options so = {.multiple_values = rw->opt.multiple_values, .max_depth = MAX_DEPTH};
    struct pg_json_alloc alloc = {.malloc = acct_malloc, .free = acct_free, .ctx = rw};
    pg_json_scan_init(&rw->scan, &so, on_event, rw, &alloc);
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
    if (rw->quiet) { /* never quiet across pieces: what waits is worked out here */
        wake(rw, false);
        pg_json_scan_loud(&rw->scan);
    }
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
    enum pg_json_status st = pg_json_scan_feed(&rw->scan, data, len);
    if (st == PG_JSON_OK && piece_end(rw)) {
        rw->in_feed = false;
        rw->consumed += len;
        return 0;
    }
    if (st == PG_JSON_ERROR && !rw->failed) {
        char what[120]; /* the scanner's text is fixed: no input */
        snprintf(what, sizeof what, "invalid JSON (%s)", pg_json_scan_error(&rw->scan));
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
    /* A last number ends here (the scanner waits for the byte after one);
     * its bytes are all in carry. */
    enum pg_json_status st = pg_json_scan_finish(&rw->scan);
    if (st != PG_JSON_OK || rw->failed) {
        if (!rw->failed)
            fail(rw, st == PG_JSON_ERROR ? "incomplete JSON: the body ended" : "the body was refused");
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
    pg_json_scan_release(&rw->scan);
    buf_free(rw, &rw->scratch);
    buf_free(rw, &rw->carry);
    buf_free(rw, &rw->pend);
    /* Only what was written of the output buffer (replacements held PHI). */
    wipe(rw->out, rw->out_high);
    free(rw);
}
