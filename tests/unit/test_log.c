/* JSON lines on stderr (proxy/log.c): escaping, and lines that stay valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/log.h"

static void test_escape(void **state)
{
    (void)state;
    char out[64];
    const char in[] = "a\"b\\c\nd\x01";
    pg_json_escape(in, sizeof in - 1, out, sizeof out);
    assert_string_equal(out, "a\\\"b\\\\c\\u000ad\\u0001");
    /* Truncation never splits an escape. */
    pg_json_escape("\"\"\"\"", 4, out, 6);
    assert_string_equal(out, "\\\"\\\"");
}

/* Captures what the logger writes to stderr between start and stop. */
static char *capture(void (*emit)(void))
{
    char path[] = "/tmp/pg-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    pg_log_start(PG_LOG_INFO);
    emit();
    pg_log_stop();
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)n + 1);
    pread(fd, buf, (size_t)n, 0);
    close(fd);
    unlink(path);
    return buf;
}

static void emit_lines(void)
{
    pg_log(PG_LOG_DEBUG, "hidden", NULL);
    pg_log(PG_LOG_INFO, "shown", "\"n\":%d", 7);
    char big[20000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pg_log(PG_LOG_WARN, "long", "\"a\":1,\"b\":\"%s\"", big);
}

static void test_levels_and_truncation(void **state)
{
    (void)state;
    char *out = capture(emit_lines);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "\"level\":\"info\",\"msg\":\"shown\",\"n\":7}\n"));
    /* The over-long line is cut at a member boundary and still closes. */
    char *line = strstr(out, "\"msg\":\"long\"");
    assert_non_null(line);
    char *end = strchr(line, '\n');
    assert_non_null(end);
    assert_memory_equal(end - 18, ",\"truncated\":true}", 18);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_levels_and_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
