#ifndef PHIGUARD_POLICY_SELECTOR_H
#define PHIGUARD_POLICY_SELECTOR_H
/* PHI field selectors: a JSONPath subset ($.a.b, [*], ..name), compiled
 * into steps, and matched against the position of a streaming JSON reader
 * (a stack of object keys and array positions).
 *
 * Two ways to match:
 *  - pg_selector_match: one selector against a whole position (tests,
 *    tools).
 *  - a cursor over the compiled set of a route's fields (pg_sel_set): the
 *    rewriter pushes a level when it enters a key or an array element and
 *    pops it when it leaves; each push is a key lookup and a table read,
 *    whatever the depth and the number of fields, and tells which field
 *    (if any) the value there is. When no selector can match below a point, the cursor
 *    says so, and the rewriter can pass that subtree through untouched. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

int pg_selector_compile(const char *text, struct pg_sel_step **steps, int *nsteps, char *why, size_t whylen);
void pg_selector_free(struct pg_sel_step *steps, int nsteps);
/* "Patient.identifier.value" for $.identifier[*].value on entity Patient;
 * "..name" becomes ".**.name". The envelope's associated data. */
char *pg_selector_logical_path(const char *entity, const struct pg_sel_step *steps, int nsteps);

/* One level of the reader's position: an object key, or an array index
 * (key NULL). */
struct pg_json_level {
    const char *key;
    size_t key_len;
};

/* True when the value at the position levels[0..depth) is selected. */
bool pg_selector_match(const struct pg_sel_step *steps, int nsteps, const struct pg_json_level *levels, int depth);

/* ---- the compiled set of one route and direction ----
 *
 * The fields' selectors make one NFA (a state per step of each field);
 * pg_sel_set_new turns it into a DFA over the keys the selectors name, so
 * that entering a level is a key lookup and a table read, whatever the
 * number of fields. */

#define PG_SEL_MAX_STATES 256  /* NFA states per set: each field takes its steps + 1 */
#define PG_SEL_MAX_DEPTH 64    /* levels a cursor tracks while a selector may still match */
#define PG_SEL_MAX_DFA 4096    /* DFA states per set ('..' steps multiply them) */

typedef struct {
    uint64_t w[PG_SEL_MAX_STATES / 64];
} pg_sel_states;

struct pg_sel_set {
    int nfields;
    int nstates;
    int nwords;                      /* words of a pg_sel_states that any state is in */
    const struct pg_sel_step **next; /* per NFA state: the step it waits for; NULL when it accepts */
    int *field;                      /* per NFA state: the field it belongs to */
    pg_sel_states start, accept;
    /* The DFA. Its symbols: each distinct key a step names, then any
     * other key, then an array element. State 0 has no NFA state (nothing
     * matches there or below); state 1 is the document root. */
    int nkeys, nsym, ndfa;
    const char **keys; /* per symbol below nkeys */
    size_t *keys_len;
    uint16_t *key_slots; /* open addressing by pg_sel_key_hash: symbol + 1, 0 empty */
    unsigned key_mask;
    uint16_t *goto_; /* ndfa * nsym: the state a level's key or element leads to */
    pg_sel_states *sets; /* per DFA state: its NFA states */
    int16_t *dfa_field;  /* per DFA state: the first field accepting there (file order), or -1 */
    bool *dfa_live;      /* per DFA state: an NFA state in it still waits for a step */
};

/* NULL when n is 0 or on failure (then *failed is set): allocation, or
 * selectors that combine into more than PG_SEL_MAX_DFA states (the policy
 * loader says which, pg_sel_set_dfa_states). The set points into fields,
 * which must outlive it. */
struct pg_sel_set *pg_sel_set_new(const struct pg_phi_field *fields, int n, bool *failed);
void pg_sel_set_free(struct pg_sel_set *s);
/* The DFA states the fields make, or -1 past PG_SEL_MAX_DFA (or out of
 * memory). */
int pg_sel_set_dfa_states(const struct pg_phi_field *fields, int n);

struct pg_sel_cursor {
    const struct pg_sel_set *set;
    int depth;      /* levels stored in st (st[0] is the document root) */
    int dead_depth; /* levels pushed below the last one where anything could match */
    uint16_t st[PG_SEL_MAX_DEPTH + 1]; /* DFA states */
};

/* At the document root. set may be NULL: nothing is ever selected. */
void pg_sel_cursor_init(struct pg_sel_cursor *c, const struct pg_sel_set *set);
/* Enter an object member (key, key_len) or, with key NULL, an array
 * element. -1 when the document is deeper than PG_SEL_MAX_DEPTH where a
 * selector could still match: the caller must fail closed (refuse the
 * body), since a PHI field might be below. */
int pg_sel_cursor_push_live(struct pg_sel_cursor *c, const char *key, size_t key_len);
/* The three calls the rewriter makes at every token: inline, so that
 * inside a subtree no selector reaches (most of a body) each is a counter
 * or a test. */
static inline int pg_sel_cursor_push(struct pg_sel_cursor *c, const char *key, size_t key_len)
{
    if (c->dead_depth > 0) {
        c->dead_depth++;
        return 0;
    }
    return pg_sel_cursor_push_live(c, key, key_len);
}

static inline void pg_sel_cursor_pop(struct pg_sel_cursor *c)
{
    if (c->dead_depth > 0)
        c->dead_depth--;
    else if (c->depth > 0)
        c->depth--;
}

/* The field selected at the current position (index into the fields the
 * set was built from; the first in file order when several select it), or
 * -1. */
static inline int pg_sel_cursor_field(const struct pg_sel_cursor *c)
{
    return c->dead_depth > 0 || !c->set ? -1 : c->set->dfa_field[c->st[c->depth]];
}
/* Every field selected at the current position, in file order, into out
 * (up to cap); returns how many there are. */
int pg_sel_cursor_fields(const struct pg_sel_cursor *c, int *out, int cap);
/* False when no selector can match here or below: skip the subtree. */
static inline bool pg_sel_cursor_live(const struct pg_sel_cursor *c)
{
    return c->dead_depth == 0 && c->set && c->set->dfa_live[c->st[c->depth]];
}

#endif
