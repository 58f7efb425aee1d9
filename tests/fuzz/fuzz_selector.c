/* libFuzzer target: PHI field selectors as a policy author writes them,
 * compiled and then driving the streaming rewriter over a body. The input
 * is up to six selector lines, a blank line, then the body.
 *
 * Never a crash or a leak, whatever the selectors; and two properties of
 * the rewriter under any selectors:
 *   - replacing every selected value is idempotent: the output, rewritten
 *     again with the same selectors, comes out byte for byte the same
 *     (a value the policy sealed is found again where it was put);
 *   - whatever is kept, replaced or removed, the output is valid JSON
 *     (the rewriter takes it whole with no selector at all). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/rewrite.h"
#include "policy/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 6

struct buf {
    char *p;
    size_t len, cap;
};

static int append(void *arg, const char *d, size_t n)
{
    struct buf *b = arg;
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2 + 64;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    return 0;
}

static enum pg_rw_action replace_all(void *arg, const struct pg_rw_value *v, struct pg_rw_token *t)
{
    (void)arg, (void)v;
    t->type = 's';
    memcpy(t->data, "X", 1);
    t->len = 1;
    return PG_RW_REPLACE;
}

/* Field i is kept, replaced by a number, or removed, by i % 3. */
static enum pg_rw_action mixed(void *arg, const struct pg_rw_value *v, struct pg_rw_token *t)
{
    (void)arg;
    switch (v->field % 3) {
    case 0: return PG_RW_KEEP;
    case 1:
        t->type = 'n';
        memcpy(t->data, "-1.5e3", 6);
        t->len = 6;
        return PG_RW_REPLACE;
    default: return PG_RW_REMOVE;
    }
}

static int rewrite(const struct pg_sel_set *set, pg_rw_value_fn fn, const char *body, size_t len, struct buf *out)
{
    struct pg_rw_options opt = {.multiple_values = true};
    struct pg_rewriter *rw = pg_rewriter_new(set, &opt, fn, append, out);
    if (!rw)
        return -1;
    int rc = pg_rewriter_feed(rw, body, len);
    if (rc == 0)
        rc = pg_rewriter_finish(rw);
    pg_rewriter_free(rw);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pg_phi_field fields[MAX_FIELDS];
    int n = 0;
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        p += len + (nl != NULL);
        if (len == 0)
            break; /* the body follows */
        if (n == MAX_FIELDS || len > 256)
            continue;
        char text[257], why[128];
        memcpy(text, p - len - (nl != NULL), len);
        text[len] = '\0';
        struct pg_phi_field *f = &fields[n];
        memset(f, 0, sizeof *f);
        if (pg_selector_compile(text, &f->steps, &f->nsteps, why, sizeof why) != 0) {
            if (memchr(why, '\0', sizeof why) == NULL)
                __builtin_trap();
            continue;
        }
        f->logical_path = pg_selector_logical_path("Patient", f->steps, f->nsteps);
        if (!f->logical_path || strncmp(f->logical_path, "Patient", 7) != 0)
            __builtin_trap();
        n++;
    }
    const char *body = p;
    size_t blen = (size_t)(end - p);
    bool failed = false;
    struct pg_sel_set *set = n ? pg_sel_set_new(fields, n, &failed) : NULL;
    if (n && !set) {
        if (!failed)
            __builtin_trap();
        goto done;
    }

    struct buf once = {0}, twice = {0}, kept = {0}, again = {0};
    if (rewrite(set, replace_all, body, blen, &once) == 0) {
        if (rewrite(set, replace_all, once.p, once.len, &twice) != 0 || twice.len != once.len ||
            (once.len && memcmp(once.p, twice.p, once.len) != 0))
            __builtin_trap();
    }
    if (rewrite(set, mixed, body, blen, &kept) == 0) {
        if (rewrite(NULL, replace_all, kept.p, kept.len, &again) != 0)
            __builtin_trap();
    }
    free(once.p);
    free(twice.p);
    free(kept.p);
    free(again.p);
    pg_sel_set_free(set);
done:
    for (int i = 0; i < n; i++) {
        pg_selector_free(fields[i].steps, fields[i].nsteps);
        free(fields[i].logical_path);
    }
    return 0;
}
