#include "redact.h"

#include <stdio.h>

#include "scan.h"
#include "token.h"

int pd_field_path(char *out, size_t cap, const char *field_name, enum pd_kind k)
{
    int n = snprintf(out, cap, "%s#%s", field_name, pd_kind_name(k));
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The longest envelope the host makes of len bytes (docs/phi.md): prefix,
 * a key id of up to 32, the mode, and base64url of nonce, type byte,
 * value and tag; its NUL after. */
static size_t envelope_max(size_t len)
{
    return sizeof PD_ENVELOPE_PREFIX - 1 + 32 + 3 + (12 + 1 + len + 16 + 2) / 3 * 4 + 1;
}

static enum pd_redact_status seal_match(const char *field_name, pd_seal_fn seal, void *ctx, const char *value,
                                        size_t len, enum pd_kind k, struct pd_out *o)
{
    char path[PD_FIELD_NAME_MAX + 16];
    if (pd_field_path(path, sizeof path, field_name, k) != 0)
        return PD_REDACT_SEAL_FAILED;
    pd_token_write_head(o, k);
    if (o->full)
        return PD_REDACT_NO_ROOM;
    size_t room;
    char *tail = pd_out_tail(o, &room);
    /* The envelope's NUL takes the place the closing bracket then
     * overwrites. The host answers -1 for a short buffer and for a missing
     * keyring alike: with room for the longest envelope, it was not the
     * room. */
    long n = seal(ctx, path, value, len, tail, room);
    if (n < 0)
        return room < envelope_max(len) ? PD_REDACT_NO_ROOM : PD_REDACT_SEAL_FAILED;
    pd_out_grew(o, (size_t)n);
    pd_token_write_tail(o);
    return o->full ? PD_REDACT_NO_ROOM : PD_REDACT_OK;
}

enum pd_redact_status pd_redact(const struct pd_config *c, const char *field_name, pd_seal_fn seal, void *ctx,
                                const char *text, size_t len, struct pd_out *o, struct pd_counts *counts)
{
    size_t pos = 0, copied = 0;
    struct pd_match m;
    while (pd_scan_next(&c->patterns, text, len, &pos, &m)) {
        pd_out_put(o, text + copied, m.start - copied);
        if (seal) {
            enum pd_redact_status st = seal_match(field_name, seal, ctx, text + m.start, m.end - m.start, m.kind, o);
            if (st != PD_REDACT_OK)
                return st;
        } else {
            pd_mask_write(o, m.kind, c->mask[m.kind], text + m.start, m.end - m.start);
        }
        if (counts)
            counts->n[m.kind]++;
        copied = m.end;
    }
    pd_out_put(o, text + copied, len - copied);
    return o->full ? PD_REDACT_NO_ROOM : PD_REDACT_OK;
}
