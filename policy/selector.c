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

/* ---- the compiled set: a small NFA, one state per step of each field ----
 *
 * State s of a field "waits for" step s; the state after its last step
 * accepts. Entering a level moves every live state that the level
 * satisfies to the next one; a ..key state also stays where it is (any
 * number of levels may come before key). A set of states is a bitset, so a
 * level costs a pass over the live states only. */

static void states_set(pg_sel_states *s, int i)
{
    s->w[i / 64] |= 1ULL << (i % 64);
}

struct pg_sel_set *pg_sel_set_new(const struct pg_phi_field *fields, int n, bool *failed)
{
    *failed = false;
    int nstates = 0;
    for (int i = 0; i < n; i++)
        nstates += fields[i].nsteps + 1;
    if (n == 0)
        return NULL;
    struct pg_sel_set *s = calloc(1, sizeof *s);
    if (!s || nstates > PG_SEL_MAX_STATES) {
        free(s);
        *failed = true;
        return NULL;
    }
    s->next = calloc((size_t)nstates, sizeof *s->next);
    s->key_len = calloc((size_t)nstates, sizeof *s->key_len);
    s->field = calloc((size_t)nstates, sizeof *s->field);
    if (!s->next || !s->key_len || !s->field) {
        pg_sel_set_free(s);
        *failed = true;
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
            s->key_len[at] = s->next[at] && s->next[at]->key ? strlen(s->next[at]->key) : 0;
            if (k == fields[i].nsteps)
                states_set(&s->accept, at);
        }
    }
    return s;
}

void pg_sel_set_free(struct pg_sel_set *s)
{
    if (!s)
        return;
    free(s->next);
    free(s->key_len);
    free(s->field);
    free(s);
}

/* What the rewriter asks of the level just entered, worked out once: the
 * first field accepting there (in file order), and whether any state still
 * waits for a step (accepting ones do not look further down). */
static uint64_t len_bit(size_t n)
{
    return 1ull << (n < 63 ? n : 63);
}

static void summarize_level(struct pg_sel_cursor *c)
{
    const pg_sel_states *cur = &c->st[c->depth];
    int field = -1;
    bool live = false, any_key = false;
    uint64_t key_lens = 0;
    for (int w = 0; c->set && w < c->set->nwords; w++) {
        uint64_t hit = cur->w[w] & c->set->accept.w[w];
        if (hit && field < 0)
            field = c->set->field[w * 64 + __builtin_ctzll(hit)];
        uint64_t waiting = cur->w[w] & ~c->set->accept.w[w];
        if (waiting)
            live = true;
        for (; waiting; waiting &= waiting - 1) {
            int s = w * 64 + __builtin_ctzll(waiting);
            const struct pg_sel_step *step = c->set->next[s];
            if (step && step->kind == PG_SEL_KEY)
                key_lens |= len_bit(c->set->key_len[s]);
            else if (step && step->kind == PG_SEL_DESCEND)
                any_key = true;
        }
    }
    c->field[c->depth] = (int16_t)field;
    c->live[c->depth] = live;
    c->key_lens[c->depth] = key_lens;
    c->any_key[c->depth] = any_key;
}

void pg_sel_cursor_init(struct pg_sel_cursor *c, const struct pg_sel_set *set)
{
    c->set = set;
    c->depth = 0;
    c->dead_depth = 0;
    memset(&c->st[0], 0, sizeof c->st[0]);
    if (set)
        c->st[0] = set->start;
    summarize_level(c);
}

int pg_sel_cursor_push_live(struct pg_sel_cursor *c, const char *key, size_t key_len)
{
    const pg_sel_states *cur = &c->st[c->depth];
    if (!c->live[c->depth] ||
        (key && !c->any_key[c->depth] && !(c->key_lens[c->depth] & len_bit(key_len)))) {
        c->dead_depth++; /* nothing can match below: no level to store */
        return 0;
    }
    if (c->depth == PG_SEL_MAX_DEPTH)
        return -1;
    pg_sel_states next = {{0}};
    const struct pg_sel_set *set = c->set;
    for (int w = 0; w < set->nwords; w++) {
        for (uint64_t bits = cur->w[w]; bits; bits &= bits - 1) {
            int s = w * 64 + __builtin_ctzll(bits);
            const struct pg_sel_step *step = set->next[s];
            if (!step)
                continue; /* accepted above: what is inside a selected value is not another field */
            /* The lengths first: most keys differ from a step's in length. */
            bool same = key && key_len == set->key_len[s] && memcmp(key, step->key, key_len) == 0;
            switch (step->kind) {
            case PG_SEL_KEY:
                if (same)
                    states_set(&next, s + 1);
                break;
            case PG_SEL_ANY_INDEX:
                if (!key)
                    states_set(&next, s + 1);
                break;
            case PG_SEL_DESCEND:
                states_set(&next, s);
                if (same)
                    states_set(&next, s + 1);
                break;
            }
        }
    }
    c->st[++c->depth] = next;
    summarize_level(c);
    return 0;
}

int pg_sel_cursor_fields(const struct pg_sel_cursor *c, int *out, int cap)
{
    if (c->dead_depth > 0 || !c->set)
        return 0;
    int n = 0;
    for (int w = 0; w < c->set->nwords; w++)
        for (uint64_t hit = c->st[c->depth].w[w] & c->set->accept.w[w]; hit; hit &= hit - 1) {
            int f = c->set->field[w * 64 + __builtin_ctzll(hit)];
            bool seen = false;
            for (int i = 0; i < n && i < cap; i++)
                seen = seen || out[i] == f;
            if (!seen && n++ < cap)
                out[n - 1] = f;
        }
    return n;
}
