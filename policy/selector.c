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
        n++;
    }
    if (n == 0) {
        snprintf(why, whylen, "$ alone selects the whole body; name a field");
        goto fail;
    }
    if (out[n - 1].kind == PG_SEL_ANY_INDEX && n == 1) {
        snprintf(why, whylen, "$[*] selects whole array elements; name a field");
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

static bool key_is(const struct pg_json_level *l, const char *key)
{
    return l->key && l->key_len == strlen(key) && memcmp(l->key, key, l->key_len) == 0;
}

/* Backtracking match; paths are shallow, so the cost stays small. */
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
        return key_is(&levels[li], s->key) && match_from(steps, nsteps, si + 1, levels, depth, li + 1);
    case PG_SEL_ANY_INDEX:
        return !levels[li].key && match_from(steps, nsteps, si + 1, levels, depth, li + 1);
    case PG_SEL_DESCEND:
        for (int k = li; k < depth; k++)
            if (key_is(&levels[k], s->key) && match_from(steps, nsteps, si + 1, levels, depth, k + 1))
                return true;
        return false;
    }
    return false;
}

bool pg_selector_match(const struct pg_sel_step *steps, int nsteps, const struct pg_json_level *levels, int depth)
{
    return match_from(steps, nsteps, 0, levels, depth, 0);
}
