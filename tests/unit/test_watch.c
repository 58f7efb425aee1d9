/* File change notification (proxy/watch.c): one callback per burst, for
 * writes, renames over the file, and Kubernetes-style "..data" swaps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/watch.h"

struct ctx {
    struct event_base *base;
    char dir[64], file[96], other[96];
    int calls;
};

static void changed(void *arg)
{
    struct ctx *c = arg;
    c->calls++;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void run_for_ms(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void test_burst_of_writes_gives_one_call(void **state)
{
    (void)state;
    struct ctx c = {.base = event_base_new()};
    strcpy(c.dir, "/tmp/pg-watch-XXXXXX");
    assert_non_null(mkdtemp(c.dir));
    snprintf(c.file, sizeof c.file, "%s/policy.yaml", c.dir);
    snprintf(c.other, sizeof c.other, "%s/unrelated.txt", c.dir);
    write_file(c.file, "v1");
    const char *paths[] = {c.file, NULL};
    struct pg_watch *w = pg_watch_new(c.base, paths, changed, &c);
    assert_non_null(w);

    write_file(c.other, "noise"); /* another file in the same directory */
    run_for_ms(c.base, 400);
    assert_int_equal(c.calls, 0);

    write_file(c.file, "v2");
    write_file(c.file, "v3");
    run_for_ms(c.base, 500);
    assert_int_equal(c.calls, 1);

    /* An editor's save: write a temporary file, rename it over. */
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/.policy.yaml.swp", c.dir);
    write_file(tmp, "v4");
    rename(tmp, c.file);
    run_for_ms(c.base, 500);
    assert_int_equal(c.calls, 2);

    pg_watch_free(w);
    unlink(c.file);
    unlink(c.other);
    rmdir(c.dir);
    event_base_free(c.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_of_writes_gives_one_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
