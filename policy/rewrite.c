#include "policy/rewrite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <openssl/crypto.h>
#include <yajl/yajl_parse.h>

#include "policy/envelope.h"

/* yajl's generator refuses to open a 128th level; a body deeper than this
 * is refused before it gets there (and yajl's parser stack stays small). */
#define MAX_DEPTH 100
#define OUT_CAP 16384
#define DEFAULT_MAX_VALUE (1u << 20)

struct level {
    char kind; /* 'm' object, 'a' array */
    int field; /* the selected container this level is inside (kept), or -1 */
};

struct pg_rewriter {
    const struct pg_sel_set *set;
    struct pg_rw_options opt;
    pg_rw_value_fn value;
    pg_rw_write_fn write;
    void *arg;
    yajl_handle y;
    yajl_gen g;
    yajl_alloc_funcs alloc;
    struct pg_sel_cursor cur;
    struct level stack[MAX_DEPTH];
    int depth;
    int skip; /* >0: levels open inside a removed or replaced container */
    /* A member's key waits here until its value is known to stay. */
    char *key;
    size_t key_len, key_cap;
    bool key_pending;
    char *scratch;
    size_t scratch_cap;
    char *out;
    size_t out_len;
    bool write_failed, failed, in_feed;
    int bom; /* leading UTF-8 byte order mark bytes matched; -1 once past it */
    uint64_t consumed, chunk_start;
    size_t held, peak;
    char err[160];
};

/* ---- accounting: every byte the rewriter (and yajl for it) holds ---- */

struct block {
    size_t size;
    size_t pad; /* keeps what follows aligned for any type */
};

static void *acct_malloc(void *ctx, size_t sz)
{
    struct pg_rewriter *rw = ctx;
    struct block *b = malloc(sizeof *b + sz);
    if (!b)
        return NULL;
    b->size = sz;
    rw->held += sz;
    if (rw->held > rw->peak)
        rw->peak = rw->held;
    return b + 1;
}

static void acct_free(void *ctx, void *p)
{
    struct pg_rewriter *rw = ctx;
    if (!p)
        return;
    struct block *b = (struct block *)p - 1;
    rw->held -= b->size;
    OPENSSL_cleanse(p, b->size); /* tokens, keys and replacements held PHI */
    free(b);
}

static void *acct_realloc(void *ctx, void *p, size_t sz)
{
    struct pg_rewriter *rw = ctx;
    if (!p)
        return acct_malloc(ctx, sz);
    struct block *b = (struct block *)p - 1;
    size_t old = b->size;
    struct block *nb = realloc(b, sizeof *nb + sz);
    if (!nb)
        return NULL;
    nb->size = sz;
    rw->held = rw->held - old + sz;
    if (rw->held > rw->peak)
        rw->peak = rw->held;
    return nb + 1;
}

/* Grows *buf to at least need bytes (geometrically, so a run of growing
 * values costs few reallocations). */
static int reserve(struct pg_rewriter *rw, char **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    char *p = acct_realloc(rw, *buf, n);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
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

static void print(void *ctx, const char *s, size_t len)
{
    struct pg_rewriter *rw = ctx;
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
}

static int gen_ok(struct pg_rewriter *rw, yajl_gen_status st)
{
    if (rw->write_failed)
        return fail(rw, "the output could not be written");
    if (st != yajl_gen_status_ok)
        return fail(rw, st == yajl_gen_invalid_string ? "a replacement string is not valid UTF-8"
                                                       : "the output could not be generated");
    return 1;
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
        yajl_gen_reset(rw->g, "\n");
    return gen_ok(rw, yajl_gen_status_ok);
}

static int emit_key(struct pg_rewriter *rw)
{
    if (!rw->key_pending)
        return 1;
    rw->key_pending = false;
    return gen_ok(rw, yajl_gen_string(rw->g, (const unsigned char *)rw->key, rw->key_len));
}

/* A removed value: its key goes with it; a removed root becomes null. */
static int drop(struct pg_rewriter *rw)
{
    rw->key_pending = false;
    return rw->depth ? 1 : gen_ok(rw, yajl_gen_null(rw->g));
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

static int emit_token(struct pg_rewriter *rw, const struct pg_rw_token *t)
{
    if (t->len > t->cap)
        return fail(rw, "a replacement is longer than its buffer");
    switch (t->type) {
    case 's': {
        yajl_gen_config(rw->g, yajl_gen_validate_utf8, 1);
        yajl_gen_status st = yajl_gen_string(rw->g, (const unsigned char *)t->data, t->len);
        yajl_gen_config(rw->g, yajl_gen_validate_utf8, 0);
        return gen_ok(rw, st);
    }
    case 'n':
        if (!json_number(t->data, t->len))
            return fail(rw, "a replacement number is not a JSON number");
        return gen_ok(rw, yajl_gen_number(rw->g, t->data, t->len));
    case 'b':
        if (t->len == 4 && !memcmp(t->data, "true", 4))
            return gen_ok(rw, yajl_gen_bool(rw->g, 1));
        if (t->len == 5 && !memcmp(t->data, "false", 5))
            return gen_ok(rw, yajl_gen_bool(rw->g, 0));
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
    if (reserve(rw, &rw->scratch, &rw->scratch_cap, 2 * len + 256) != 0)
        return fail(rw, "out of memory");
    *tok = (struct pg_rw_token){.type = 0, .data = rw->scratch, .cap = rw->scratch_cap, .len = 0};
    struct pg_rw_value v = {.field = field, .type = type, .data = data, .len = len};
    *act = rw->value(rw->arg, &v, tok);
    if (*act == PG_RW_FAIL)
        return fail(rw, "a PHI value was refused");
    return 1;
}

/* ---- yajl callbacks ---- */

static int scalar(struct pg_rewriter *rw, char type, const char *data, size_t len)
{
    if (rw->skip)
        return 1;
    int field;
    if (!begin_value(rw, &field))
        return 0;
    bool selected = type != 0 && field >= 0;
    bool stray = !selected && type == 's' && rw->opt.scan_envelopes && pg_envelope_is(data, len);
    enum pg_rw_action act = PG_RW_KEEP;
    struct pg_rw_token tok;
    if ((selected || stray) && !offer(rw, selected ? field : -1, type, data, len, &act, &tok))
        return 0;
    int ok;
    if (act == PG_RW_REMOVE) {
        ok = drop(rw);
    } else if (!emit_key(rw)) {
        return 0;
    } else if (act == PG_RW_REPLACE) {
        ok = emit_token(rw, &tok);
    } else {
        switch (type) {
        case 's': ok = gen_ok(rw, yajl_gen_string(rw->g, (const unsigned char *)data, len)); break;
        case 'n': ok = gen_ok(rw, yajl_gen_number(rw->g, data, len)); break;
        case 'b': ok = gen_ok(rw, yajl_gen_bool(rw->g, data[0] == 't')); break;
        default: ok = gen_ok(rw, yajl_gen_null(rw->g)); break;
        }
    }
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
        rw->skip = 1;
        if (act == PG_RW_REMOVE)
            return drop(rw);
        return emit_key(rw) && emit_token(rw, &tok);
    }
    if (!emit_key(rw))
        return 0;
    rw->stack[rw->depth++] = (struct level){.kind = kind, .field = field};
    return gen_ok(rw, kind == 'm' ? yajl_gen_map_open(rw->g) : yajl_gen_array_open(rw->g));
}

static int close_container(struct pg_rewriter *rw, char kind)
{
    if (rw->skip) {
        if (--rw->skip)
            return 1;
        return end_value(rw);
    }
    rw->depth--;
    if (!gen_ok(rw, kind == 'm' ? yajl_gen_map_close(rw->g) : yajl_gen_array_close(rw->g)))
        return 0;
    return end_value(rw);
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, 'm');
}

static int on_end_map(void *ctx)
{
    return close_container(ctx, 'm');
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, 'a');
}

static int on_end_array(void *ctx)
{
    return close_container(ctx, 'a');
}

static int on_map_key(void *ctx, const unsigned char *key, size_t len)
{
    struct pg_rewriter *rw = ctx;
    if (rw->skip)
        return 1;
    if (pg_sel_cursor_push(&rw->cur, (const char *)key, len) != 0)
        return fail(rw, "the document is too deep for the PHI selectors");
    int inherited = parent_field(rw);
    int field = inherited >= 0 ? inherited : pg_sel_cursor_field(&rw->cur);
    if (field < 0 && !rw->opt.scan_envelopes) /* nothing here can be removed: no need to hold the key */
        return gen_ok(rw, yajl_gen_string(rw->g, key, len));
    if (len > rw->opt.max_value_bytes)
        return fail(rw, "an object key is longer than the rewriter's limit");
    if (reserve(rw, &rw->key, &rw->key_cap, len + 1) != 0)
        return fail(rw, "out of memory");
    memcpy(rw->key, key, len);
    rw->key_len = len;
    rw->key_pending = true;
    return 1;
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
    struct pg_rewriter *rw = calloc(1, sizeof *rw);
    if (!rw)
        return NULL;
    rw->held = rw->peak = sizeof *rw;
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
    rw->out = acct_malloc(rw, OUT_CAP);
    rw->y = yajl_alloc(&callbacks, &rw->alloc, rw);
    rw->g = yajl_gen_alloc(&rw->alloc);
    if (!rw->out || !rw->y || !rw->g || !yajl_gen_config(rw->g, yajl_gen_print_callback, print, rw)) {
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

static int parse(struct pg_rewriter *rw, const char *data, size_t len)
{
    rw->chunk_start = rw->consumed;
    rw->in_feed = true;
    yajl_status st = yajl_parse(rw->y, (const unsigned char *)data, len);
    if (st == yajl_status_ok) {
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
    yajl_status st = yajl_complete_parse(rw->y);
    if (st != yajl_status_ok) {
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
    if (rw->g)
        yajl_gen_free(rw->g);
    acct_free(rw, rw->scratch);
    acct_free(rw, rw->key);
    acct_free(rw, rw->out);
    free(rw);
}
