/* libFuzzer target: the strict head scanner, both parsers and the chunked
 * decoder, on arbitrary bytes. The first byte picks the mode. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proxy/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 3;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    struct pg_http_limits lim = {.max_head_bytes = 8192, .max_headers = 64};
    if (mode < 2) {
        long head = pg_http1_scan_head(p, n, mode == 0, &lim);
        if (head > 0) {
            struct pg_http_head h;
            if (mode == 0)
                pg_http1_parse_request(p, (size_t)head, &lim, &h);
            else
                pg_http1_parse_response(p, (size_t)head, &lim, 1, &h);
            pg_http_head_free(&h);
        }
        return 0;
    }
    struct evbuffer *in = evbuffer_new();
    struct pg_chunked d = {0};
    /* Feed in two pieces so partial-input paths run too. */
    size_t cut = n / 2;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            evbuffer_add(in, p, cut);
        else
            evbuffer_add(in, p + cut, n - cut);
        for (;;) {
            size_t avail = 0;
            enum pg_chunked_result r = pg_chunked_next(&d, in, &avail);
            if (r != PG_CHUNKED_DATA)
                break;
            evbuffer_drain(in, avail);
            pg_chunked_consumed(&d, avail);
        }
    }
    evbuffer_free(in);
    return 0;
}
