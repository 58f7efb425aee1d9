#include "policy/selector.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

int pg_selector_compile(const char *text, struct pg_sel_step **steps, int *nsteps, char *why, size_t whylen)
{
    *steps = NULL;
    *nsteps = 0;
    if (text[0] != '$') {
        snprintf(why, whylen, "a selector starts with $ (e.g. $.name[*].family)");
        return -1;
    }
    size_t cap = strlen(text) + 1;
    struct pg_sel_step *out = calloc(cap, sizeof *out);
    if (!out) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    int n = 0;
    const char *p = text + 1;
    while (*p) {
        enum pg_sel_step_kind kind;
        if (p[0] == '[' && p[1] == '*' && p[2] == ']') {
            out[n++].kind = PG_SEL_ANY_INDEX;
            p += 3;
            continue;
        }
        if (p[0] == '.' && p[1] == '.') {
            kind = PG_SEL_DESCEND;
            p += 2;
        } else if (p[0] == '.') {
            kind = PG_SEL_KEY;
            p += 1;
        } else {
            snprintf(why, whylen, "unexpected '%c' at position %d: expected .key, ..key or [*]", *p,
                     (int)(p - text) + 1);
            goto fail;
        }
        const char *s = p;
        while (key_char(*p))
            p++;
        if (p == s) {
            snprintf(why, whylen, "expected a key name at position %d", (int)(s - text) + 1);
            goto fail;
        }
        out[n].kind = kind;
        out[n].key = strndup(s, (size_t)(p - s));
        if (!out[n].key) {
            snprintf(why, whylen, "out of memory");
            goto fail;
        }
        n++;
    }
    bool keyed = false;
    for (int i = 0; i < n; i++)
        keyed |= out[i].kind != PG_SEL_ANY_INDEX;
    if (!keyed) {
        snprintf(why, whylen, "%s selects the whole body or whole array elements; name a field", text);
        goto fail;
    }
    *steps = out;
    *nsteps = n;
    return 0;
fail:
    pg_selector_free(out, n);
    return -1;
}

void pg_selector_free(struct pg_sel_step *steps, int nsteps)
{
    for (int i = 0; i < nsteps; i++)
        free(steps[i].key);
    free(steps);
}

char *pg_selector_logical_path(const char *entity, const struct pg_sel_step *steps, int nsteps)
{
    size_t len = (entity ? strlen(entity) : 1) + 1;
    for (int i = 0; i < nsteps; i++)
        len += (steps[i].key ? strlen(steps[i].key) : 0) + 5;
    char *out = malloc(len);
    if (!out)
        return NULL;
    strcpy(out, entity ? entity : "$");
    for (int i = 0; i < nsteps; i++) {
        if (steps[i].kind == PG_SEL_ANY_INDEX)
            continue; /* indices are not part of a field's identity */
        strcat(out, steps[i].kind == PG_SEL_DESCEND ? ".**." : ".");
        strcat(out, steps[i].key);
    }
    return out;
}

static bool key_is(const char *key, size_t key_len, const char *want)
{
    return key && key_len == strlen(want) && memcmp(key, want, key_len) == 0;
}

/* Backtracking match of one selector; the cursor below is the fast way. */
static bool match_from(const struct pg_sel_step *steps, int nsteps, int si, const struct pg_json_level *levels,
                       int depth, int li)
{
    if (si == nsteps)
        return li == depth;
    if (li == depth)
        return false;
    const struct pg_sel_step *s = &steps[si];
    switch (s->kind) {
    case PG_SEL_KEY:
        return key_is(levels[li].key, levels[li].key_len, s->key) &&
               match_from(steps, nsteps, si + 1, levels, depth, li + 1);
    case PG_SEL_ANY_INDEX:
        return !levels[li].key && match_from(steps, nsteps, si + 1, levels, depth, li + 1);
    case PG_SEL_DESCEND:
        for (int k = li; k < depth; k++)
            if (key_is(levels[k].key, levels[k].key_len, s->key) &&
                match_from(steps, nsteps, si + 1, levels, depth, k + 1))
                return true;
        return false;
    }
    return false;
}

bool pg_selector_match(const struct pg_sel_step *steps, int nsteps, const struct pg_json_level *levels, int depth)
{
    return match_from(steps, nsteps, 0, levels, depth, 0);
}

/* ---- the compiled set: an NFA, one state per step of each field, made
 * into a DFA ----
 *
 * State s of a field "waits for" step s; the state after its last step
 * accepts. Entering a level moves every NFA state that the level satisfies
 * to the next one; a ..key state also stays where it is (any number of
 * levels may come before key); an accepting state goes nowhere (what is
 * inside a selected value is not another field). A set of NFA states is a
 * bitset. Keys that no step names all move the NFA alike, so the DFA's
 * alphabet is the named keys, "any other key" and "an array element", and
 * its states are the sets reachable from the root's, found breadth first
 * when the set is built. */

static void states_set(pg_sel_states *s, int i)
{
    s->w[i / 64] |= 1ULL << (i % 64);
}

/* Cheap, since it runs at every key of a live level: the length and three
 * of the bytes; the probe compares the whole key. */
static unsigned key_hash(const char *k, size_t n)
{
    uint32_t h = (uint32_t)n * 0x9E3779B1u;
    if (n) {
        h ^= (uint32_t)(unsigned char)k[0] * 0x85EBCA6Bu;
        h ^= (uint32_t)(unsigned char)k[n - 1] * 0xC2B2AE35u;
        h ^= (uint32_t)(unsigned char)k[n / 2] * 0x27D4EB2Fu;
    }
    return h ^ (h >> 15);
}

/* The symbol of a key (NULL: an array element). */
static inline int symbol_of(const struct pg_sel_set *s, const char *key, size_t len)
{
    if (!key)
        return s->nkeys + 1;
    for (unsigned i = key_hash(key, len) & s->key_mask;; i = (i + 1) & s->key_mask) {
        int slot = s->key_slots[i];
        if (!slot)
            return s->nkeys;
        int sym = slot - 1;
        if (s->keys_len[sym] == len && memcmp(s->keys[sym], key, len) == 0)
            return sym;
    }
}

static int add_key(struct pg_sel_set *s, const char *key)
{
    size_t len = strlen(key);
    int sym = symbol_of(s, key, len);
    if (sym < s->nkeys)
        return sym;
    unsigned i = key_hash(key, len) & s->key_mask;
    while (s->key_slots[i])
        i = (i + 1) & s->key_mask;
    s->keys[s->nkeys] = key;
    s->keys_len[s->nkeys] = len;
    s->key_slots[i] = (uint16_t)(++s->nkeys);
    return s->nkeys - 1;
}

/* The NFA states a level with symbol sym leads to from cur. */
static void nfa_step(const struct pg_sel_set *s, const int *sym_of, const pg_sel_states *cur, int sym,
                     pg_sel_states *next)
{
    memset(next, 0, sizeof *next);
    for (int w = 0; w < s->nwords; w++)
        for (uint64_t bits = cur->w[w]; bits; bits &= bits - 1) {
            int st = w * 64 + __builtin_ctzll(bits);
            const struct pg_sel_step *step = s->next[st];
            if (!step)
                continue;
            bool same = sym_of[st] == sym;
            switch (step->kind) {
            case PG_SEL_KEY:
                if (same)
                    states_set(next, st + 1);
                break;
            case PG_SEL_ANY_INDEX:
                if (sym == s->nkeys + 1)
                    states_set(next, st + 1);
                break;
            case PG_SEL_DESCEND:
                states_set(next, st);
                if (same)
                    states_set(next, st + 1);
                break;
            }
        }
}

static unsigned states_hash(const pg_sel_states *x, int nwords)
{
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int w = 0; w < nwords; w++)
        h = (h ^ x->w[w]) * 0x100000001B3ull;
    return (unsigned)(h ^ (h >> 29));
}

#define DFA_SLOTS (2 * PG_SEL_MAX_DFA) /* the build's lookup of sets already seen */

/* The DFA state holding exactly the NFA states x, added when new; -1 past
 * PG_SEL_MAX_DFA or out of memory. */
static int dfa_state(struct pg_sel_set *s, uint16_t *seen, const pg_sel_states *x, int *cap)
{
    unsigned i = states_hash(x, s->nwords) & (DFA_SLOTS - 1);
    for (; seen[i]; i = (i + 1) & (DFA_SLOTS - 1))
        if (!memcmp(&s->sets[seen[i] - 1], x, sizeof *x))
            return seen[i] - 1;
    if (s->ndfa == PG_SEL_MAX_DFA)
        return -1;
    if (s->ndfa == *cap) {
        int ncap = *cap * 2;
        pg_sel_states *sets = realloc(s->sets, (size_t)ncap * sizeof *sets);
        if (sets)
            s->sets = sets;
        uint16_t *go = realloc(s->goto_, (size_t)ncap * (size_t)s->nsym * sizeof *go);
        if (go)
            s->goto_ = go;
        int16_t *field = realloc(s->dfa_field, (size_t)ncap * sizeof *field);
        if (field)
            s->dfa_field = field;
        bool *live = realloc(s->dfa_live, (size_t)ncap * sizeof *live);
        if (live)
            s->dfa_live = live;
        if (!sets || !go || !field || !live)
            return -1;
        *cap = ncap;
    }
    int id = s->ndfa++;
    s->sets[id] = *x;
    int field = -1;
    bool live = false;
    for (int w = 0; w < s->nwords; w++) {
        uint64_t hit = x->w[w] & s->accept.w[w];
        if (hit && field < 0) /* NFA states are numbered in file order */
            field = s->field[w * 64 + __builtin_ctzll(hit)];
        live |= (x->w[w] & ~s->accept.w[w]) != 0;
    }
    s->dfa_field[id] = (int16_t)field;
    s->dfa_live[id] = live;
    seen[i] = (uint16_t)(id + 1);
    return id;
}

static bool build_dfa(struct pg_sel_set *s)
{
    int *sym_of = calloc((size_t)s->nstates, sizeof *sym_of);
    s->keys = calloc((size_t)s->nstates, sizeof *s->keys);
    s->keys_len = calloc((size_t)s->nstates, sizeof *s->keys_len);
    unsigned slots = 16;
    while (slots < 4u * (unsigned)s->nstates)
        slots *= 2;
    s->key_slots = calloc(slots, sizeof *s->key_slots);
    s->key_mask = slots - 1;
    uint16_t *seen = calloc(DFA_SLOTS, sizeof *seen);
    bool ok = sym_of && s->keys && s->keys_len && s->key_slots && seen;
    for (int st = 0; ok && st < s->nstates; st++)
        sym_of[st] = s->next[st] && s->next[st]->key ? add_key(s, s->next[st]->key) : -1;
    s->nsym = s->nkeys + 2;
    int cap = 16;
    s->sets = malloc((size_t)cap * sizeof *s->sets);
    s->goto_ = malloc((size_t)cap * (size_t)s->nsym * sizeof *s->goto_);
    s->dfa_field = malloc((size_t)cap * sizeof *s->dfa_field);
    s->dfa_live = malloc((size_t)cap * sizeof *s->dfa_live);
    ok = ok && s->sets && s->goto_ && s->dfa_field && s->dfa_live;
    pg_sel_states none = {{0}}, next;
    ok = ok && dfa_state(s, seen, &none, &cap) == 0 && dfa_state(s, seen, &s->start, &cap) == 1;
    for (int d = 0; ok && d < s->ndfa; d++)
        for (int sym = 0; ok && sym < s->nsym; sym++) {
            nfa_step(s, sym_of, &s->sets[d], sym, &next);
            int to = dfa_state(s, seen, &next, &cap);
            ok = to >= 0;
            if (ok)
                s->goto_[(size_t)d * (size_t)s->nsym + (size_t)sym] = (uint16_t)to;
        }
    free(sym_of);
    free(seen);
    return ok;
}

static struct pg_sel_set *set_build(const struct pg_phi_field *fields, int n)
{
    int nstates = 0;
    for (int i = 0; i < n; i++)
        nstates += fields[i].nsteps + 1;
    if (nstates > PG_SEL_MAX_STATES)
        return NULL;
    struct pg_sel_set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->next = calloc((size_t)nstates, sizeof *s->next);
    s->field = calloc((size_t)nstates, sizeof *s->field);
    if (!s->next || !s->field) {
        pg_sel_set_free(s);
        return NULL;
    }
    s->nfields = n;
    s->nstates = nstates;
    s->nwords = (nstates + 63) / 64;
    int at = 0;
    for (int i = 0; i < n; i++) {
        states_set(&s->start, at);
        for (int k = 0; k <= fields[i].nsteps; k++, at++) {
            s->field[at] = i;
            s->next[at] = k < fields[i].nsteps ? &fields[i].steps[k] : NULL;
            if (k == fields[i].nsteps)
                states_set(&s->accept, at);
        }
    }
    if (!build_dfa(s)) {
        pg_sel_set_free(s);
        return NULL;
    }
    return s;
}

struct pg_sel_set *pg_sel_set_new(const struct pg_phi_field *fields, int n, bool *failed)
{
    *failed = false;
    if (n == 0)
        return NULL;
    struct pg_sel_set *s = set_build(fields, n);
    *failed = s == NULL;
    return s;
}

int pg_sel_set_dfa_states(const struct pg_phi_field *fields, int n)
{
    if (n == 0)
        return 0;
    struct pg_sel_set *s = set_build(fields, n);
    int states = s ? s->ndfa : -1;
    pg_sel_set_free(s);
    return states;
}

void pg_sel_set_free(struct pg_sel_set *s)
{
    if (!s)
        return;
    free(s->next);
    free(s->field);
    free(s->keys);
    free(s->keys_len);
    free(s->key_slots);
    free(s->goto_);
    free(s->sets);
    free(s->dfa_field);
    free(s->dfa_live);
    free(s);
}

void pg_sel_cursor_init(struct pg_sel_cursor *c, const struct pg_sel_set *set)
{
    c->set = set;
    c->depth = 0;
    c->dead_depth = 0;
    c->st[0] = set ? 1 : 0;
}

int pg_sel_cursor_push_live(struct pg_sel_cursor *c, const char *key, size_t key_len)
{
    const struct pg_sel_set *set = c->set;
    uint16_t to = set ? set->goto_[(size_t)c->st[c->depth] * (size_t)set->nsym + (size_t)symbol_of(set, key, key_len)]
                      : 0;
    if (to == 0) {
        c->dead_depth++; /* nothing can match here or below: no level to store */
        return 0;
    }
    if (c->depth == PG_SEL_MAX_DEPTH)
        return -1;
    c->st[++c->depth] = to;
    return 0;
}

int pg_sel_cursor_fields(const struct pg_sel_cursor *c, int *out, int cap)
{
    if (c->dead_depth > 0 || !c->set)
        return 0;
    const pg_sel_states *here = &c->set->sets[c->st[c->depth]];
    int n = 0;
    for (int w = 0; w < c->set->nwords; w++)
        for (uint64_t hit = here->w[w] & c->set->accept.w[w]; hit; hit &= hit - 1) {
            int f = c->set->field[w * 64 + __builtin_ctzll(hit)];
            bool seen = false;
            for (int i = 0; i < n && i < cap; i++)
                seen = seen || out[i] == f;
            if (!seen && n++ < cap)
                out[n - 1] = f;
        }
    return n;
}
