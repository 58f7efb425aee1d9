#include "token.h"

#include <string.h>

#include "boundary.h"

static const size_t prefix_len = sizeof PD_ENVELOPE_PREFIX - 1;

static bool envelope_char(char c)
{
    return pd_is_alpha(c) || pd_is_digit(c) || c == '-' || c == '_' || c == ':';
}

/* The kind of the label "[kind:" that ends just before text[at], or -1;
 * *label_at gets where its '[' is. */
static int label_before(const char *text, size_t at, size_t *label_at)
{
    if (at == 0 || text[at - 1] != ':')
        return -1;
    size_t p = at - 1;
    while (p > 0 && pd_is_alpha(text[p - 1]) && at - p < 8)
        p--;
    if (p == 0 || text[p - 1] != '[')
        return -1;
    int k = pd_kind_from_name(text + p, at - 1 - p);
    if (k >= 0)
        *label_at = p - 1;
    return k;
}

bool pd_token_next(const char *text, size_t len, size_t pos, struct pd_token *t)
{
    if (pos >= len)
        return false;
    const char *hit = memmem(text + pos, len - pos, PD_ENVELOPE_PREFIX, prefix_len);
    if (!hit)
        return false;
    size_t env = (size_t)(hit - text), end = env + prefix_len;
    while (end < len && envelope_char(text[end]))
        end++;
    size_t label_at = env;
    int kind = label_before(text, env, &label_at);
    /* A label found before an earlier token's end cannot be: pos is past it. */
    if (label_at < pos)
        kind = -1, label_at = env;
    bool closed = end < len && text[end] == ']';
    /* The brackets belong to the token only with a label: a stray
     * envelope inside someone's own brackets leaves them be. */
    *t = (struct pd_token){.start = label_at, .end = closed && kind >= 0 ? end + 1 : end, .env_start = env,
                           .env_end = end, .kind = (kind >= 0 && closed && end > env + prefix_len) ? kind : -1};
    return true;
}

bool pd_token_any(const char *text, size_t len)
{
    return memmem(text, len, PD_ENVELOPE_PREFIX, prefix_len) != NULL;
}

void pd_token_write_head(struct pd_out *o, enum pd_kind k)
{
    pd_out_put(o, "[", 1);
    pd_out_str(o, pd_kind_name(k));
    pd_out_put(o, ":", 1);
}

void pd_token_write_tail(struct pd_out *o)
{
    pd_out_put(o, "]", 1);
}
