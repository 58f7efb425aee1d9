/* libFuzzer target: the login body parser (the first thing an anonymous
 * client's bytes reach) and the redirect-target check. The first byte picks
 * the content type. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/credentials.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const char *const types[] = {"application/json", "application/x-www-form-urlencoded",
                                        "application/json; charset=utf-8", "text/plain"};
    const char *ct = types[data[0] % 4];
    struct pg_login_form f;
    const char *why = NULL;
    if (pg_login_form_parse(ct, strlen(ct), (const char *)data + 1, size - 1, &f, &why) == 0) {
        /* Every field is a NUL-terminated string within its buffer. */
        if (strlen(f.username) >= sizeof f.username || strlen(f.next) >= sizeof f.next ||
            f.password_len >= sizeof f.password)
            __builtin_trap();
        (void)pg_login_next_safe(f.next);
    } else if (!why) {
        __builtin_trap(); /* a refusal always says why */
    }
    pg_login_form_clear(&f);
    return 0;
}
