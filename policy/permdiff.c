#include "policy/permdiff.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct out {
    char *buf;
    size_t len, used;
    bool full;
};

#define CLOSING_ROOM 24 /* ,{"truncated":true}] and the NUL */

/* Appends s when it fits with room for the closing text; else marks full. */
static void add(struct out *o, const char *s)
{
    size_t n = strlen(s);
    if (o->full || o->used + n + CLOSING_ROOM > o->len) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->used, s, n + 1);
    o->used += n;
}

/* The closing text, into the room add always leaves. */
static void close_with(struct out *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o->buf + o->used, s, n + 1);
    o->used += n;
}

static void list(struct out *o, const char *key, const struct pg_policy *names, const pg_permset *a,
                 const pg_permset *b)
{
    /* Permissions in a and not in b, by name (indices differ between policies). */
    char tmp[160];
    snprintf(tmp, sizeof tmp, ",\"%s\":[", key);
    add(o, tmp);
    bool first = true;
    for (int i = 0; i < names->nperms; i++) {
        if (!pg_permset_has(a, i) || (b && pg_permset_has(b, i)))
            continue;
        snprintf(tmp, sizeof tmp, "%s\"%s\"", first ? "" : ",", names->perm_names[i]);
        add(o, tmp);
        first = false;
    }
    add(o, "]");
}

/* The permissions of role r of p expressed in q's indices. */
static void translate(const struct pg_policy *p, const pg_permset *in, const struct pg_policy *q, pg_permset *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; q && i < p->nperms; i++) {
        int k = pg_permset_has(in, i) ? pg_policy_perm_index(q, p->perm_names[i]) : -1;
        if (k >= 0)
            out->w[k / 64] |= 1ull << (k % 64);
    }
}

static bool same(const pg_permset *a, const pg_permset *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* One role's element, whole or not at all. */
static void role(struct out *o, bool *first, const char *name, const struct pg_policy *np, const pg_permset *now,
                 const pg_permset *before)
{
    if (o->full)
        return;
    size_t mark = o->used;
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s{\"role\":\"%s\"", *first ? "" : ",", name);
    add(o, tmp);
    list(o, "gained", np, now, before);
    list(o, "lost", np, before, now);
    add(o, "}");
    if (o->full) {
        o->used = mark;
        o->buf[mark] = '\0';
        return;
    }
    *first = false;
}

size_t pg_policy_perm_changes(const struct pg_policy *old_p, const struct pg_policy *new_p, char *buf, size_t len)
{
    struct out o = {.buf = buf, .len = len};
    if (len < 32)
        return 0;
    buf[0] = '\0';
    add(&o, "[");
    bool first = true;
    pg_permset none = {0};
    for (int r = 0; r < new_p->nroles; r++) {
        const struct pg_role *nr = &new_p->roles[r];
        int k = old_p ? pg_policy_role_index(old_p, nr->name) : -1;
        pg_permset before;
        if (k >= 0)
            translate(old_p, &old_p->roles[k].effective, new_p, &before);
        if (k >= 0 && same(&before, &nr->effective))
            continue;
        if (!old_p)
            continue; /* the first policy: nothing changed */
        role(&o, &first, nr->name, new_p, &nr->effective, k >= 0 ? &before : &none);
    }
    for (int r = 0; old_p && r < old_p->nroles; r++) {
        const struct pg_role *orl = &old_p->roles[r];
        if (pg_policy_role_index(new_p, orl->name) >= 0)
            continue;
        /* A removed role: everything it had is lost, named in the old policy's terms. */
        role(&o, &first, orl->name, old_p, &none, &orl->effective);
    }
    if (o.full)
        close_with(&o, first ? "{\"truncated\":true}" : ",{\"truncated\":true}");
    close_with(&o, "]");
    return o.used;
}
