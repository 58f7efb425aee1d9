#include "policy/scrub.h"

#include <string.h>

#include "policy/envelope.h"

static const char prefix[] = PG_ENVELOPE_PREFIX;
#define PREFIX_LEN (sizeof prefix - 1)

void pg_scrub_init(struct pg_scrub *s)
{
    memset(s, 0, sizeof *s);
}

/* What an envelope is made of after its prefix: a key id, ':', a mode,
 * ':', base64url. */
static bool envelope_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == ':';
}

uint32_t pg_scrub(struct pg_scrub *s, char *data, size_t len)
{
    uint32_t found = 0;
    size_t i = 0;
    while (i < len) {
        if (s->in_envelope) {
            while (i < len && envelope_char((unsigned char)data[i]))
                data[i++] = '*';
            if (i < len)
                s->in_envelope = false;
            continue;
        }
        if (s->matched == 0) {
            /* The common case: jump to the next 'p'. */
            const char *p = memchr(data + i, prefix[0], len - i);
            if (!p)
                return found;
            i = (size_t)(p - data);
        }
        if (data[i] == prefix[s->matched]) {
            i++;
            if (++s->matched == (int)PREFIX_LEN) {
                s->matched = 0;
                s->in_envelope = true;
                s->found++;
                found++;
            }
        } else {
            /* A mismatch: start again here ("pphi:v1:" must match). */
            s->matched = data[i] == prefix[0] ? 1 : 0;
            i++;
        }
    }
    return found;
}
