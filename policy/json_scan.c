#include "policy/json_scan.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* One pass over the bytes, resumable at any of them: the grammar's state
 * (what may come next) and the state of a token cut by a piece's end (how
 * far into a string, number or literal, and what it needs next) are all
 * the scanner keeps. A token wholly inside one piece is reported from the
 * piece itself; one cut between pieces, or a string with escapes (which
 * is reported decoded), is gathered in the token buffer. */

#define HALT ((size_t)-1)

enum {
    S_START,     /* the first document's value */
    S_VALUE,     /* a value: after ':', after ',' in an array */
    S_ARR_FIRST, /* a value or ']' */
    S_OBJ_FIRST, /* a member's name or '}' */
    S_KEY,       /* a member's name, after ',' */
    S_COLON,
    S_AFTER, /* after a member or element: ',' or the close */
    S_DONE,  /* a document ended: whitespace, or with multiple_values the next one */
    S_FAILED,
    S_STOPPED,
};

enum { L_NONE, L_STRING, L_NUMBER, L_LITERAL };

/* How much of a string's text is gathered (see skim_add). */
enum { SKIM_NONE, SKIM_PREFIX, SKIM_DROP };

/* Inside a number: what was read last. */
enum { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

/* Inside a string: where in an escape. */
enum { E_NONE, E_BACKSLASH, E_HEX, E_WANT_BACKSLASH, E_WANT_U };

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static void *default_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static void default_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

void pg_json_scan_init(struct pg_json_scan *s, const struct pg_json_scan_options *opt, pg_json_event_fn event,
                       void *arg, const struct pg_json_alloc *alloc)
{
    memset(s, 0, sizeof *s);
    s->event = event;
    s->arg = arg;
    s->alloc = alloc ? *alloc : (struct pg_json_alloc){.malloc = default_malloc, .free = default_free};
    s->multiple = opt && opt->multiple_values;
    s->max_depth = opt && opt->max_depth && opt->max_depth <= PG_JSON_DEPTH_MAX ? opt->max_depth : PG_JSON_DEPTH_MAX;
    s->state = S_START;
}

void pg_json_scan_release(struct pg_json_scan *s)
{
    if (s->buf)
        s->alloc.free(s->alloc.ctx, s->buf);
    s->buf = NULL;
    s->buf_len = s->buf_cap = 0;
}

static size_t fault(struct pg_json_scan *s, size_t at, enum pg_json_fault f, const char *why)
{
    s->at = at;
    s->fault = f;
    s->why = why;
    return HALT;
}

/* A byte where the grammar allows none such. A vertical tab or form feed
 * is named: yajl (and so many a JSON reader) takes both for whitespace,
 * RFC 8259 does not, and a strict backend would refuse the body. */
static size_t unexpected(struct pg_json_scan *s, size_t i, unsigned char c, enum pg_json_fault f, const char *why)
{
    if (c == '\v' || c == '\f')
        return fault(s, i + 1, PG_JSON_FAULT_SYNTAX, "a vertical tab or form feed outside a string");
    return fault(s, i + 1, f, why);
}

static bool buf_grow(struct pg_json_scan *s, const unsigned char *p, size_t n);

/* A string a quiet scan will not report unless it starts with the prefix
 * needs no more of its text than that: its first prefix_len bytes are
 * gathered, and the rest only when they match (then all of it, since it
 * is reported). Long escaped text no selector reaches (a FHIR narrative)
 * then costs no buffer. */
static bool skim_add(struct pg_json_scan *s, const unsigned char *p, size_t n)
{
    if (s->skim == SKIM_DROP)
        return true;
    size_t room = s->prefix_len - s->buf_len;
    if (n < room)
        return buf_grow(s, p, n);
    if (!buf_grow(s, p, room))
        return false;
    if (memcmp(s->buf, s->prefix, s->prefix_len) != 0) {
        s->skim = SKIM_DROP;
        return true;
    }
    s->skim = SKIM_NONE;
    return buf_grow(s, p + room, n - room);
}

static inline bool buf_add(struct pg_json_scan *s, const unsigned char *p, size_t n)
{
    if (__builtin_expect(s->skim != SKIM_NONE, 0))
        return skim_add(s, p, n);
    return buf_grow(s, p, n);
}

static bool buf_grow(struct pg_json_scan *s, const unsigned char *p, size_t n)
{
    if (s->buf_len + n > s->buf_cap) {
        size_t cap = s->buf_cap ? s->buf_cap : 256;
        while (cap < s->buf_len + n)
            cap *= 2;
        char *b = s->alloc.malloc(s->alloc.ctx, cap);
        if (!b)
            return false;
        if (s->buf_len)
            memcpy(b, s->buf, s->buf_len);
        if (s->buf)
            s->alloc.free(s->alloc.ctx, s->buf);
        s->buf = b;
        s->buf_cap = cap;
    }
    if (n)
        memcpy(s->buf + s->buf_len, p, n);
    s->buf_len += n;
    return true;
}

/* Quiet: which events still go out (and end it). */
static bool heard(struct pg_json_scan *s, enum pg_json_event ev, const char *d, size_t n)
{
    bool out = (ev == PG_JSON_STRING && s->prefix && n >= s->prefix_len && !memcmp(d, s->prefix, s->prefix_len)) ||
               ((ev == PG_JSON_OBJECT_END || ev == PG_JSON_ARRAY_END) && s->depth < s->quiet_depth) ||
               (ev == PG_JSON_KEY && n > s->max_name);
    if (out)
        s->quiet = false;
    return out;
}

static __attribute__((noinline)) bool emit_quiet(struct pg_json_scan *s, enum pg_json_event ev, const char *d,
                                                 size_t n)
{
    if (!heard(s, ev, d, n))
        return true;
    s->waking = ev == PG_JSON_STRING;
    bool go_on = s->event(s->arg, ev, d, n) != 0;
    s->waking = false;
    return go_on;
}

/* Inline at each token's end (ev is then a constant): the quiet case out
 * of line. */
static inline __attribute__((always_inline)) bool emit(struct pg_json_scan *s, size_t end, enum pg_json_event ev,
                                                       const char *d, size_t n)
{
    s->at = end;
    if (ev == PG_JSON_KEY) {
        s->member_from = s->last_end;
        s->key_end = end;
    }
    s->prev_end = s->last_end;
    s->last_end = end;
    if (__builtin_expect(s->quiet, 0)) {
        /* What quiet holds back is known here without a call (ev is a
         * constant at most sites); what may go out is checked in full. */
        bool may = ev == PG_JSON_STRING ? s->prefix && n >= s->prefix_len && d[0] == s->prefix[0]
                   : ev == PG_JSON_KEY  ? n > s->max_name
                   : ev == PG_JSON_OBJECT_END || ev == PG_JSON_ARRAY_END ? s->depth < s->quiet_depth
                                                                        : false;
        return may ? emit_quiet(s, ev, d, n) : true;
    }
    return s->event(s->arg, ev, d, n) != 0;
}

void pg_json_scan_quiet(struct pg_json_scan *s, const char *prefix, size_t prefix_len, size_t max_name)
{
    s->quiet = true;
    s->max_name = max_name;
    s->quiet_depth = s->depth;
    s->prefix = prefix;
    s->prefix_len = prefix_len;
}

void pg_json_scan_loud(struct pg_json_scan *s)
{
    s->quiet = false;
}

static bool level_bit(const uint64_t *bits, unsigned level)
{
    unsigned l = level - 1;
    return (bits[l >> 6] >> (l & 63)) & 1;
}

bool pg_json_scan_level_is_array(const struct pg_json_scan *s, unsigned level)
{
    return level_bit(s->kinds, level);
}

bool pg_json_scan_level_has_prior(const struct pg_json_scan *s, unsigned level)
{
    return level_bit(s->prior, level);
}

static bool top_is_array(const struct pg_json_scan *s)
{
    unsigned l = s->depth - 1;
    return (s->kinds[l >> 6] >> (l & 63)) & 1;
}

static void value_done(struct pg_json_scan *s)
{
    s->state = s->depth ? S_AFTER : S_DONE;
}

/* The first byte of a multi-byte UTF-8 character: how many follow, and the
 * range of the next one (Unicode's table of well-formed sequences: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static bool utf8_lead(unsigned char c, uint8_t *need, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        *need = 1;
    else if (c == 0xE0)
        *need = 2, *lo = 0xA0;
    else if (c == 0xED)
        *need = 2, *hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF)
        *need = 2;
    else if (c == 0xF0)
        *need = 3, *lo = 0x90;
    else if (c == 0xF4)
        *need = 3, *hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3)
        *need = 3;
    else
        return false;
    return true;
}

bool pg_json_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        uint8_t need, lo, hi;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (!utf8_lead(s[i], &need, &lo, &hi) || n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++, lo = 0x80, hi = 0xBF)
            if (s[i + k] < lo || s[i + k] > hi)
                return false;
        i += need + 1u;
    }
    return true;
}

static bool plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Past the string bytes that need no look (printable ASCII but '"' and
 * '\\'): sixteen at a time with SSE2 (a signed compare with 0x20 flags the
 * control bytes and the high-bit ones at once), then eight at a time: a
 * word is plain unless a byte has its high bit set, is below 0x20, or
 * equals '"' or '\\' (the classic zero-byte tests; the lowest byte they
 * flag is always a true one). */
static inline __attribute__((always_inline)) size_t skip_plain(const unsigned char *p, size_t i, size_t n)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                   _mm_cmplt_epi8(v, space));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        if (m)
            return i + (unsigned)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i + 8 <= n) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');
        uint64_t m = (v | ((v - ONES * 0x20) & ~v) | ((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS;
        if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + ((unsigned)__builtin_ctzll(m) >> 3);
#else
            break;
#endif
        }
        i += 8;
    }
    while (i < n && plain(p[i]))
        i++;
    return i;
}

/* Past whitespace; indentation (runs of spaces) eight bytes at a time. */
static inline size_t skip_space(const unsigned char *p, size_t i, size_t n)
{
    if (i < n && p[i] > ' ') /* most tokens follow another directly */
        return i;
    while (i < n) {
        unsigned char c = p[i];
        if (c == ' ') {
            uint64_t v;
            if (i + 8 <= n && (memcpy(&v, p + i, 8), v == ONES * ' ')) {
                i += 8;
                continue;
            }
        } else if (c != '\n' && c != '\r' && c != '\t') {
            break;
        }
        i++;
    }
    return i;
}

static bool put_utf8(struct pg_json_scan *s, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_add(s, u, n);
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

static const char surrogate_alone[] = "a \\u surrogate escape is not half of a pair";

/* One byte of an escape (byte i of the piece): 0, or HALT. */
static size_t escape_byte(struct pg_json_scan *s, unsigned char c, size_t i)
{
    switch (s->sub) {
    case E_BACKSLASH: {
        unsigned char d;
        switch (c) {
        case '"': d = '"'; break;
        case '\\': d = '\\'; break;
        case '/': d = '/'; break;
        case 'b': d = '\b'; break;
        case 'f': d = '\f'; break;
        case 'n': d = '\n'; break;
        case 'r': d = '\r'; break;
        case 't': d = '\t'; break;
        case 'u':
            s->sub = E_HEX;
            s->code = 0;
            s->hex_digits = 0;
            return 0;
        default:
            return fault(s, i + 1, PG_JSON_FAULT_STRING, "an unknown escape in a string");
        }
        s->sub = E_NONE;
        return buf_add(s, &d, 1) ? 0 : fault(s, i + 1, PG_JSON_FAULT_MEMORY, "out of memory");
    }
    case E_HEX: {
        int h = hex_value(c);
        if (h < 0)
            return fault(s, i + 1, PG_JSON_FAULT_STRING, "a \\u escape needs four hex digits");
        s->code = s->code << 4 | (uint32_t)h;
        if (++s->hex_digits < 4)
            return 0;
        uint32_t cp = s->code;
        bool low = cp >= 0xDC00 && cp <= 0xDFFF;
        if (s->high) {
            if (!low)
                return fault(s, i + 1, PG_JSON_FAULT_SURROGATE, surrogate_alone);
            cp = 0x10000 + ((s->high - 0xD800) << 10) + (cp - 0xDC00);
            s->high = 0;
        } else if (cp >= 0xD800 && cp <= 0xDBFF) {
            s->high = cp;
            s->sub = E_WANT_BACKSLASH;
            return 0;
        } else if (low) {
            return fault(s, i + 1, PG_JSON_FAULT_SURROGATE, surrogate_alone);
        }
        s->sub = E_NONE;
        return put_utf8(s, cp) ? 0 : fault(s, i + 1, PG_JSON_FAULT_MEMORY, "out of memory");
    }
    case E_WANT_BACKSLASH:
        if (c != '\\')
            return fault(s, i + 1, PG_JSON_FAULT_SURROGATE, surrogate_alone);
        s->sub = E_WANT_U;
        return 0;
    default: /* E_WANT_U */
        if (c != 'u')
            return fault(s, i + 1, PG_JSON_FAULT_SURROGATE, surrogate_alone);
        s->sub = E_HEX;
        s->code = 0;
        s->hex_digits = 0;
        return 0;
    }
}

/* A string's bytes from i; its content began at start in this piece (0
 * when it began in an earlier one: it is in the buffer then). */
static size_t scan_string(struct pg_json_scan *s, const unsigned char *p, size_t i, size_t n, size_t start,
                          size_t seg /* bytes [seg, i) are content not yet in the buffer */)
{
    while (i < n) {
        if (s->sub == E_NONE && !s->u8_need) {
            i = skip_plain(p, i, n);
            if (i == n)
                break;
            unsigned char c = p[i];
            if (c == '"') {
                const char *d = (const char *)p + start;
                size_t dl = i - start;
                if (s->in_buf) {
                    if (!buf_add(s, p + seg, i - seg))
                        return fault(s, i + 1, PG_JSON_FAULT_MEMORY, "out of memory");
                    d = s->buf ? s->buf : "";
                    dl = s->buf_len;
                }
                s->lex = L_NONE;
                s->skim = SKIM_NONE;
                enum pg_json_event ev = s->is_key ? PG_JSON_KEY : PG_JSON_STRING;
                if (s->is_key)
                    s->state = S_COLON;
                else
                    value_done(s);
                return emit(s, i + 1, ev, d, dl) ? i + 1 : HALT;
            }
            if (c == '\\') {
                if (!buf_add(s, p + seg, i - seg))
                    return fault(s, i + 1, PG_JSON_FAULT_MEMORY, "out of memory");
                s->in_buf = true;
                s->sub = E_BACKSLASH;
                seg = ++i;
                continue;
            }
            if (c < 0x20)
                return fault(s, i + 1, PG_JSON_FAULT_STRING, "a control character in a string");
            if (!utf8_lead(c, &s->u8_need, &s->u8_lo, &s->u8_hi))
                return fault(s, i + 1, PG_JSON_FAULT_UTF8, "invalid UTF-8 in a string");
            i++;
            continue;
        }
        unsigned char c = p[i];
        if (s->u8_need) {
            if (c < s->u8_lo || c > s->u8_hi)
                return fault(s, i + 1, PG_JSON_FAULT_UTF8, "invalid UTF-8 in a string");
            s->u8_need--;
            s->u8_lo = 0x80;
            s->u8_hi = 0xBF;
            i++;
            continue;
        }
        if (escape_byte(s, c, i) == HALT)
            return HALT;
        seg = ++i;
    }
    /* The piece ended inside the string: what it held of it is kept. */
    if (!buf_add(s, p + seg, n - seg))
        return fault(s, n, PG_JSON_FAULT_MEMORY, "out of memory");
    s->in_buf = true;
    return n;
}

static bool number_may_end(uint8_t sub)
{
    return sub == N_ZERO || sub == N_INT || sub == N_FRAC || sub == N_EXP;
}

static bool digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* A number's bytes from i; it began at start in this piece (0: earlier,
 * in the buffer). It ends at the first byte that cannot continue it. */
static size_t scan_number(struct pg_json_scan *s, const unsigned char *p, size_t i, size_t n, size_t start)
{
    static const char want_digit[] = "a digit was expected in a number";
    for (; i < n; i++) {
        unsigned char c = p[i];
        switch (s->sub) {
        case N_MINUS:
            if (c == '0')
                s->sub = N_ZERO;
            else if (c >= '1' && c <= '9')
                s->sub = N_INT;
            else
                return fault(s, i + 1, PG_JSON_FAULT_NUMBER, want_digit);
            break;
        case N_INT:
            if (digit(c))
                break;
            /* fallthrough */
        case N_ZERO:
            if (c == '.')
                s->sub = N_DOT;
            else if (c == 'e' || c == 'E')
                s->sub = N_E;
            else
                goto end;
            break;
        case N_DOT:
            if (!digit(c))
                return fault(s, i + 1, PG_JSON_FAULT_NUMBER, want_digit);
            s->sub = N_FRAC;
            break;
        case N_FRAC:
            if (digit(c))
                break;
            if (c != 'e' && c != 'E')
                goto end;
            s->sub = N_E;
            break;
        case N_E:
            if (c == '+' || c == '-')
                s->sub = N_ESIGN;
            else if (digit(c))
                s->sub = N_EXP;
            else
                return fault(s, i + 1, PG_JSON_FAULT_NUMBER, want_digit);
            break;
        case N_ESIGN:
            if (!digit(c))
                return fault(s, i + 1, PG_JSON_FAULT_NUMBER, want_digit);
            s->sub = N_EXP;
            break;
        default: /* N_EXP */
            if (!digit(c))
                goto end;
        }
    }
    if (!buf_add(s, p + start, n - start))
        return fault(s, n, PG_JSON_FAULT_MEMORY, "out of memory");
    s->in_buf = true;
    return n;
end:;
    const char *d = (const char *)p + start;
    size_t dl = i - start;
    if (s->in_buf) {
        if (!buf_add(s, p + start, i - start))
            return fault(s, i, PG_JSON_FAULT_MEMORY, "out of memory");
        d = s->buf;
        dl = s->buf_len;
    }
    s->lex = L_NONE;
    value_done(s);
    return emit(s, i, PG_JSON_NUMBER, d, dl) ? i : HALT;
}

/* true, false or null from i; s->lit is what is still due. */
static size_t scan_literal(struct pg_json_scan *s, const unsigned char *p, size_t i, size_t n)
{
    for (; *s->lit; s->lit++, i++) {
        if (i == n)
            return n;
        if (p[i] != (unsigned char)*s->lit)
            return fault(s, i + 1, PG_JSON_FAULT_LITERAL, "not true, false or null");
    }
    s->lex = L_NONE;
    value_done(s);
    bool ok = s->sub == 2   ? emit(s, i, PG_JSON_NULL, "null", 4)
              : s->sub == 0 ? emit(s, i, PG_JSON_BOOL, "true", 4)
                            : emit(s, i, PG_JSON_BOOL, "false", 5);
    return ok ? i : HALT;
}

static inline __attribute__((always_inline)) size_t open_container(struct pg_json_scan *s, size_t i, bool array)
{
    if (s->depth >= s->max_depth)
        return fault(s, i + 1, PG_JSON_FAULT_DEPTH, "the document is nested too deeply");
    unsigned l = s->depth++;
    uint64_t bit = 1ull << (l & 63);
    if (array)
        s->kinds[l >> 6] |= bit;
    else
        s->kinds[l >> 6] &= ~bit;
    s->prior[l >> 6] &= ~bit;
    s->state = array ? S_ARR_FIRST : S_OBJ_FIRST;
    return emit(s, i + 1, array ? PG_JSON_ARRAY_START : PG_JSON_OBJECT_START, "", 0) ? i + 1 : HALT;
}

static inline __attribute__((always_inline)) size_t close_container(struct pg_json_scan *s, size_t i, bool array)
{
    s->depth--;
    value_done(s);
    return emit(s, i + 1, array ? PG_JSON_ARRAY_END : PG_JSON_OBJECT_END, "", 0) ? i + 1 : HALT;
}

static inline __attribute__((always_inline)) size_t start_string(struct pg_json_scan *s, const unsigned char *p,
                                                                  size_t i, size_t n, bool key)
{
    /* Most strings are plain and end in the piece: reported from it, with
     * none of the state a cut or an escape needs. */
    size_t j = skip_plain(p, i + 1, n);
    if (j < n && p[j] == '"') {
        if (key)
            s->state = S_COLON;
        else
            value_done(s);
        return emit(s, j + 1, key ? PG_JSON_KEY : PG_JSON_STRING, (const char *)p + i + 1, j - i - 1) ? j + 1
                                                                                                        : HALT;
    }
    s->lex = L_STRING;
    s->is_key = key;
    s->in_buf = false;
    s->buf_len = 0;
    /* Quiet, a name is reported by its length alone and a value by its
     * prefix. */
    s->skim = !s->quiet || key ? SKIM_NONE : s->prefix && s->prefix_len ? SKIM_PREFIX : SKIM_DROP;
    s->sub = E_NONE;
    s->u8_need = 0;
    s->high = 0;
    return scan_string(s, p, j, n, i + 1, i + 1);
}

static size_t value(struct pg_json_scan *s, const unsigned char *p, size_t i, size_t n)
{
    unsigned char c = p[i];
    switch (c) {
    case '{':
        return open_container(s, i, false);
    case '[':
        return open_container(s, i, true);
    case '"':
        return start_string(s, p, i, n, false);
    case 't':
    case 'f':
    case 'n':
        s->lex = L_LITERAL;
        s->sub = c == 't' ? 0 : c == 'f' ? 1 : 2;
        s->lit = c == 't' ? "rue" : c == 'f' ? "alse" : "ull";
        return scan_literal(s, p, i + 1, n);
    default:
        if (c != '-' && !digit(c))
            return unexpected(s, i, c, PG_JSON_FAULT_SYNTAX, "a value was expected");
        s->lex = L_NUMBER;
        s->in_buf = false;
        s->buf_len = 0;
        s->sub = c == '-' ? N_MINUS : c == '0' ? N_ZERO : N_INT;
        return scan_number(s, p, i + 1, n, i);
    }
}

/* The grammar, token by token, from byte i. */
static size_t structure(struct pg_json_scan *s, const unsigned char *p, size_t i, size_t n)
{
    while (i != HALT) {
        i = skip_space(p, i, n);
        if (i == n)
            return n;
        unsigned char c = p[i];
        switch (s->state) {
        case S_DONE:
            if (!s->multiple)
                return unexpected(s, i, c, PG_JSON_FAULT_TRAILING, "something follows the document");
            i = value(s, p, i, n);
            break;
        case S_ARR_FIRST:
            i = c == ']' ? close_container(s, i, true) : value(s, p, i, n);
            break;
        case S_START:
        case S_VALUE:
            i = value(s, p, i, n);
            break;
        case S_OBJ_FIRST:
            if (c == '}') {
                i = close_container(s, i, false);
                break;
            }
            /* fallthrough */
        case S_KEY:
        key:
            if (c != '"')
                return unexpected(s, i, c, PG_JSON_FAULT_SYNTAX, "an object member's name was expected");
            i = start_string(s, p, i, n, true);
            if (i == HALT || s->lex != L_NONE)
                break;
            /* The usual sequences go straight on (name, ':', value; ',' and
             * the next element) rather than round the loop and its switch. */
            i = skip_space(p, i, n);
            if (i == n)
                return n;
            c = p[i];
            /* fallthrough */
        case S_COLON:
            if (c != ':')
                return unexpected(s, i, c, PG_JSON_FAULT_SYNTAX, "':' was expected");
            s->state = S_VALUE;
            i = skip_space(p, i + 1, n);
            if (i == n)
                return n;
            i = value(s, p, i, n);
            break;
        default: { /* S_AFTER */
            bool array = top_is_array(s);
            if (c == ',') {
                s->state = array ? S_VALUE : S_KEY;
                unsigned l = s->depth - 1;
                s->prior[l >> 6] |= 1ull << (l & 63);
                i = skip_space(p, i + 1, n);
                if (i == n)
                    return n;
                if (!array) {
                    c = p[i];
                    goto key;
                }
                i = value(s, p, i, n);
            } else if (c == (array ? ']' : '}')) {
                i = close_container(s, i, array);
            } else {
                return unexpected(s, i, c, PG_JSON_FAULT_SYNTAX,
                                  array ? "',' or ']' was expected" : "',' or '}' was expected");
            }
        }
        }
    }
    return HALT;
}

static enum pg_json_status halted(struct pg_json_scan *s)
{
    if (s->fault != PG_JSON_FAULT_NONE) {
        s->state = S_FAILED;
        return PG_JSON_ERROR;
    }
    s->state = S_STOPPED;
    return PG_JSON_STOPPED;
}

enum pg_json_status pg_json_scan_feed(struct pg_json_scan *s, const char *data, size_t len)
{
    if (s->state == S_FAILED)
        return PG_JSON_ERROR;
    if (s->state == S_STOPPED)
        return PG_JSON_STOPPED;
    const unsigned char *p = (const unsigned char *)data;
    size_t i = 0;
    s->at = 0;
    switch (s->lex) {
    case L_STRING: i = scan_string(s, p, 0, len, 0, 0); break;
    case L_NUMBER: i = scan_number(s, p, 0, len, 0); break;
    case L_LITERAL: i = scan_literal(s, p, 0, len); break;
    }
    if (i != HALT && s->lex == L_NONE)
        i = structure(s, p, i, len);
    if (i == HALT)
        return halted(s);
    s->at = len;
    return PG_JSON_OK;
}

enum pg_json_status pg_json_scan_finish(struct pg_json_scan *s)
{
    if (s->state == S_FAILED)
        return PG_JSON_ERROR;
    if (s->state == S_STOPPED)
        return PG_JSON_STOPPED;
    s->at = 0;
    if (s->lex == L_NUMBER && number_may_end(s->sub)) {
        s->lex = L_NONE;
        value_done(s);
        if (!emit(s, 0, PG_JSON_NUMBER, s->buf, s->buf_len))
            return halted(s);
    }
    if (s->lex != L_NONE || s->state != S_DONE) {
        fault(s, 0, PG_JSON_FAULT_INCOMPLETE,
              s->state == S_START && s->lex == L_NONE ? "no JSON value" : "the input ended inside a document");
        return halted(s);
    }
    return PG_JSON_OK;
}

const char *pg_json_scan_error(const struct pg_json_scan *s)
{
    return s->why ? s->why : "no error";
}

void pg_json_scan_place(const struct pg_json_scan *s, struct pg_json_scan_place *p)
{
    bool object = s->depth && !top_is_array(s);
    /* The name is read from its end until the member's value is done
     * (then the state is S_AFTER, unless that value is being reported). */
    bool value_due = s->state == S_COLON || s->state == S_VALUE || (s->lex != L_NONE && !s->is_key) || s->waking;
    *p = (struct pg_json_scan_place){
        .depth = s->depth,
        .last_end = s->waking ? s->prev_end : s->last_end,
        .element_done = s->state == S_AFTER && !s->waking,
        .name_read = object && value_due,
        .member_from = s->member_from,
        .name_end = s->key_end,
    };
}

enum pg_json_fault pg_json_scan_fault(const struct pg_json_scan *s)
{
    return s->fault;
}
