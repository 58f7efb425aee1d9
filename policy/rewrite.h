#ifndef PHIGUARD_POLICY_REWRITE_H
#define PHIGUARD_POLICY_REWRITE_H
/* The streaming JSON rewriter (issue 6): walks a JSON body as its bytes
 * arrive (read by policy/json_scan.h, phiguard's own strict scanner) and
 * re-emits it, replacing or removing only the values a route's PHI
 * selectors pick. Memory stays flat as the body grows: the
 * rewriter holds the token being read, a scratch buffer for one value and
 * its position (the selector cursor), never the document.
 *
 * What is not replaced or removed goes out byte for byte, as it came:
 * whitespace, string escapes, number text. A replacement is written in
 * place of the value's bytes (a string escaped as JSON needs). A removed
 * object member takes its key, its colon and one comma with it, a removed
 * array element its place and one comma; the whitespace around them stays.
 * A leading byte order mark is dropped. A stream of documents
 * (multiple_values) goes out one per line, without whitespace between
 * tokens.
 *
 * Selected positions: a scalar at a selected position goes to the value
 * function. A selected object or array is offered whole first (type 'o' or
 * 'a', no data): the function may remove it, or keep it, and then every
 * scalar inside it goes to the function under the same field. null is never
 * offered (it holds nothing). With scan_envelopes, a string outside every
 * selected field that is a PHI envelope (policy/envelope.h) is offered too,
 * with field -1, so an envelope never leaves unnoticed.
 *
 * Errors never quote the input: a message names the kind of fault and the
 * byte offset, nothing of a value (PHI must not reach a log line). Pure: no
 * I/O; output goes to the caller's write function. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/selector.h"

struct pg_rw_value {
    int field;        /* index into the set's fields; -1: a stray envelope (scan_envelopes) */
    char type;        /* 's' string, 'n' number, 'b' boolean; 'o' / 'a': a selected container */
    const char *data; /* a string's decoded UTF-8 bytes, a number's text, "true" / "false"; NULL for o/a */
    size_t len;
    /* The reader's position: every field selecting it, not only the
     * first (pg_sel_cursor_fields), for a caller whose fields overlap
     * (a plugin's beside the policy's). */
    const struct pg_sel_cursor *cursor;
};

/* The replacement a value function writes: into data (the rewriter's
 * scratch, cap >= pg_rw_room(options, value length) bytes) len bytes of type 's' (a
 * string's content, which the rewriter escapes), 'n' (a JSON number's
 * text, checked before it is emitted) or 'b' ("true" or "false"). */
struct pg_rw_token {
    char type;
    char *data;
    size_t cap, len;
};

enum pg_rw_action {
    PG_RW_KEEP,    /* emit the value as it came (a container: descend into it) */
    PG_RW_REPLACE, /* emit the token instead */
    PG_RW_REMOVE,  /* drop it: an object member goes with its key, an array element
                      with its place; a removed document root becomes null */
    PG_RW_FAIL,    /* stop: the body cannot be passed (the caller fails closed) */
};

typedef enum pg_rw_action (*pg_rw_value_fn)(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out);
/* Appends output bytes; 0, or -1 to stop the rewriter. */
typedef int (*pg_rw_write_fn)(void *arg, const char *data, size_t len);

struct pg_rw_options {
    bool scan_envelopes;    /* offer stray envelopes with field -1 */
    bool multiple_values;   /* a stream of documents (NDJSON: one per line on output) */
    size_t max_value_bytes; /* a value offered to the function may be at most this long; 0: 1 MiB */
    /* The function's room for a replacement, per byte of the value (see
     * pg_rw_room); 0: 2. More only where a function needs it (plugins'
     * body hooks): the scratch is wiped whole after each body. */
    unsigned room_per_byte;
};

/* The scratch a value of len bytes gets: 2 * len + 256, or with a larger
 * room_per_byte k, max(2 * len + 256, min(k * len + 256, max_value_bytes))
 * (a short value may grow k-fold, none costs more than twice its length
 * or the value limit). */
size_t pg_rw_room(const struct pg_rw_options *opt, size_t len);

struct pg_rewriter;

/* set may be NULL (nothing selected: with scan_envelopes, only stray
 * envelopes are offered). set must outlive the rewriter. NULL on
 * allocation failure. */
struct pg_rewriter *pg_rewriter_new(const struct pg_sel_set *set, const struct pg_rw_options *opt,
                                    pg_rw_value_fn value, pg_rw_write_fn write, void *arg);
/* The next bytes of the body. 0, or -1 when the body is refused (invalid
 * JSON, too deep for the cursor, a value over max_value_bytes, a function
 * that failed, a write that failed); the rewriter then takes no more. */
int pg_rewriter_feed(struct pg_rewriter *rw, const char *data, size_t len);
/* The body ended: 0 when it was complete, valid JSON (every output byte
 * has then been written), -1 otherwise. */
int pg_rewriter_finish(struct pg_rewriter *rw);
/* Why the last call failed: fixed text and a byte offset, never input. */
const char *pg_rewriter_error(const struct pg_rewriter *rw);
/* Input bytes taken so far (inside a value function: up to the end of the
 * value offered). */
uint64_t pg_rewriter_consumed(const struct pg_rewriter *rw);
/* The most memory the rewriter (with its scanner) has held at once, in
 * bytes: what a body costs, whatever its length (a token cut between two
 * feeds is held until it ends, by the scanner and by the rewriter). */
size_t pg_rewriter_peak_bytes(const struct pg_rewriter *rw);
void pg_rewriter_free(struct pg_rewriter *rw);

#endif
