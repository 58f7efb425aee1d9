#ifndef PHIGUARD_POLICY_JSON_SCAN_H
#define PHIGUARD_POLICY_JSON_SCAN_H
/* A strict RFC 8259 JSON scanner that takes a body in pieces cut anywhere
 * and reports its tokens as events: the streaming rewriter's reader
 * (policy/rewrite.c), for requests and responses alike. Everything is
 * checked: the grammar, string escapes (a \u surrogate must come in a high
 * and low pair), UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF), the number grammar and a nesting limit. Whitespace is the four
 * characters RFC 8259 names.
 *
 * It is phiguard's own rather than yajl's lexer for speed (issue 6's
 * response target): plain string bytes are checked sixteen at a time
 * (SSE2; eight elsewhere), runs of spaces eight at a time, and a string
 * inside one piece without escapes is reported from the piece itself.
 * yajl stays the oracle: tests/fuzz/fuzz_json_scan.c checks that both take
 * the same documents with the same tokens, where yajl's looser rules (\v
 * and \f as whitespace, lax UTF-8, lone surrogates, a token cut by the end
 * of the input after a complete document) are not involved.
 *
 * Memory: the struct itself (no allocation while every token lies inside
 * one piece and has no escapes), plus one buffer for a token cut between
 * pieces or a string with escapes, through the caller's allocator.
 * Errors are fixed text: nothing of the input is ever quoted. Pure: no
 * I/O. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_JSON_DEPTH_MAX 1024

enum pg_json_event {
    PG_JSON_NULL,
    PG_JSON_BOOL,   /* data "true" or "false" */
    PG_JSON_NUMBER, /* data the number's text */
    PG_JSON_STRING, /* data the decoded UTF-8 content */
    PG_JSON_KEY,    /* an object member's name, decoded */
    PG_JSON_OBJECT_START,
    PG_JSON_OBJECT_END,
    PG_JSON_ARRAY_START,
    PG_JSON_ARRAY_END,
};

/* data is valid during the call only. Returns nonzero to go on, 0 to stop
 * the scan (the feed then returns PG_JSON_STOPPED). */
typedef int (*pg_json_event_fn)(void *arg, enum pg_json_event ev, const char *data, size_t len);

/* Where the token buffer comes from (NULL: malloc's). It grows by a new
 * block, a copy and a free of the old one, so an allocator that wipes
 * what it frees leaves no copy of a value behind. */
struct pg_json_alloc {
    void *(*malloc)(void *ctx, size_t n);
    void (*free)(void *ctx, void *p);
    void *ctx;
};

struct pg_json_scan_options {
    bool multiple_values; /* a stream of documents; as in yajl's stream mode, nothing needs to
                             separate two but what keeps two numbers apart */
    unsigned max_depth;   /* containers open at once; 0 or above PG_JSON_DEPTH_MAX: PG_JSON_DEPTH_MAX */
};

enum pg_json_status {
    PG_JSON_OK,
    PG_JSON_ERROR,   /* the input is not JSON: pg_json_scan_error() says why */
    PG_JSON_STOPPED, /* the event function stopped it */
};

/* What kind of fault stopped a scan (tests and the differential fuzzer
 * tell them apart; the message is for people). */
enum pg_json_fault {
    PG_JSON_FAULT_NONE,
    PG_JSON_FAULT_SYNTAX,    /* a byte where the grammar allows none such */
    PG_JSON_FAULT_STRING,    /* a control character or a bad escape in a string */
    PG_JSON_FAULT_SURROGATE, /* a \u surrogate not in a high-low pair */
    PG_JSON_FAULT_UTF8,      /* invalid UTF-8 in a string */
    PG_JSON_FAULT_NUMBER,    /* a digit missing in a number */
    PG_JSON_FAULT_LITERAL,   /* not true, false or null */
    PG_JSON_FAULT_DEPTH,     /* nested deeper than max_depth */
    PG_JSON_FAULT_TRAILING,  /* something after the document */
    PG_JSON_FAULT_INCOMPLETE, /* the input ended inside a document, or held none */
    PG_JSON_FAULT_MEMORY,
};

/* The scanner's state, to be embedded (no allocation of its own). Fields
 * are private to policy/json_scan.c. */
struct pg_json_scan {
    pg_json_event_fn event;
    void *arg;
    struct pg_json_alloc alloc;
    bool multiple;
    unsigned max_depth, depth;
    uint64_t kinds[PG_JSON_DEPTH_MAX / 64]; /* a set bit: that level is an array */
    uint64_t prior[PG_JSON_DEPTH_MAX / 64]; /* a set bit: that level's current element follows another */
    /* Quiet (pg_json_scan_quiet): events held back until the container
     * open at quiet_depth closes, but for strings starting with prefix. */
    bool quiet, waking; /* waking: reporting the string that ended quiet */
    unsigned quiet_depth;
    const char *prefix;
    size_t prefix_len, max_name;
    size_t last_end, prev_end, member_from, key_end; /* in the current piece; see pg_json_scan_place */
    uint8_t state;                         /* what the grammar wants next */
    uint8_t lex;                           /* the token in progress, cut by a piece's end */
    uint8_t sub;                           /* where inside it */
    bool is_key, in_buf;
    uint8_t skim; /* quiet: how much of a string's text is kept */
    uint8_t u8_need, u8_lo, u8_hi; /* UTF-8: continuation bytes still due, the next one's range */
    uint8_t hex_digits;
    uint32_t code, high; /* a \u escape being read; a high surrogate waiting for its low half */
    const char *lit;     /* the rest of the literal being read */
    char *buf;
    size_t buf_len, buf_cap;
    size_t at; /* in the current piece: just past the last token (the error's byte) */
    enum pg_json_fault fault;
    const char *why;
};

void pg_json_scan_init(struct pg_json_scan *s, const struct pg_json_scan_options *opt, pg_json_event_fn event,
                       void *arg, const struct pg_json_alloc *alloc);
/* The next piece of the input. Events for every token completed in it
 * (a number only once the byte after it is seen). */
enum pg_json_status pg_json_scan_feed(struct pg_json_scan *s, const char *data, size_t len);
/* The input ended: a last number is reported; PG_JSON_OK when a complete
 * document (with multiple_values, at least one) was read. */
enum pg_json_status pg_json_scan_finish(struct pg_json_scan *s);
/* In the current piece: during an event, the offset just past its token;
 * after an error, just past the byte at fault. */
static inline size_t pg_json_scan_offset(const struct pg_json_scan *s)
{
    return s->at; /* inline: the rewriter asks at every token */
}
const char *pg_json_scan_error(const struct pg_json_scan *s);
enum pg_json_fault pg_json_scan_fault(const struct pg_json_scan *s);
/* Frees the token buffer (not wiped: the allocator may wipe). */
void pg_json_scan_release(struct pg_json_scan *s);

/* Quiet: from now until the container open at the current depth (one
 * that was just reported) closes, the scanner reports nothing but that
 * close, value strings whose decoded text starts with prefix (NULL: none)
 * and member names longer than max_name. It still checks every byte.
 * Reporting any of those ends it; so does pg_json_scan_loud(), though a
 * string begun while quiet is then reported with the whole of its text
 * only if that starts with prefix (quiet keeps no more of it). For a
 * caller that keeps its own picture of the document and needs none inside
 * a subtree (the rewriter, where no selector reaches). */
void pg_json_scan_quiet(struct pg_json_scan *s, const char *prefix, size_t prefix_len, size_t max_name);
void pg_json_scan_loud(struct pg_json_scan *s);

/* Where a scan stands, for a caller waking from quiet within the piece it
 * began in (every offset is in the current piece): the depth; the end of
 * the last token (a string, number, literal or bracket; ':' and ',' are
 * not tokens here), or while the string that woke it is reported, of the
 * one before; and whether the innermost level is an object whose
 * current member's name has been read (its value not yet done, or being
 * reported), with where that member began (the end of the token before
 * its name) and the name's end. */
struct pg_json_scan_place {
    unsigned depth;
    size_t last_end;
    bool element_done; /* the innermost level's current element has ended (not the one reported) */
    bool name_read;
    size_t member_from, name_end;
};
void pg_json_scan_place(const struct pg_json_scan *s, struct pg_json_scan_place *p);
/* Level 1 is the document's outermost container, up to the depth. */
bool pg_json_scan_level_is_array(const struct pg_json_scan *s, unsigned level);
/* An element of that level came before its current one. */
bool pg_json_scan_level_has_prior(const struct pg_json_scan *s, unsigned level);

/* s is valid UTF-8 by the same rules the scanner applies to strings. */
bool pg_json_utf8_valid(const char *s, size_t n);

#endif
