/* The loaders' error list, and their one file read. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

void pg_policy_errors_add(struct pg_policy_errors *e, const char *fmt, ...)
{
    /* A hostile file can produce an error per byte; the first ones are
     * what an admin reads, the rest only need counting. */
    if (e->count >= PG_POLICY_MAX_ERRORS) {
        e->dropped++;
        return;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (e->count == e->cap) {
        int cap = e->cap ? e->cap * 2 : 16;
        char **g = realloc(e->items, (size_t)cap * sizeof *g);
        if (!g) {
            e->dropped++;
            return;
        }
        e->items = g;
        e->cap = cap;
    }
    e->items[e->count] = strdup(buf);
    if (e->items[e->count])
        e->count++;
    else
        e->dropped++;
}

int pg_policy_errors_total(const struct pg_policy_errors *e)
{
    return e->count + e->dropped;
}

void pg_policy_errors_free(struct pg_policy_errors *e)
{
    for (int i = 0; i < e->count; i++)
        free(e->items[i]);
    free(e->items);
    memset(e, 0, sizeof *e);
}

char *pg_policy_read_file(const char *file, size_t max, size_t *len, struct pg_policy_errors *errs)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        pg_policy_errors_add(errs, "%s:1:1: cannot open: %s", file, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    bool failed = !buf || ferror(f);
    fclose(f);
    if (failed || n > max) {
        pg_policy_errors_add(errs, "%s:1:1: %s", file, failed ? "cannot read" : "the file is too large");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}
