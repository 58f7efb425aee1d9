#include "reveal.h"

#include <string.h>

#include "redact.h"
#include "token.h"

/* The longest identifier a pattern matches is an e-mail address (64 + 1 +
 * 253); more than that in an envelope is not one this plugin sealed. */
#define PLAINTEXT_MAX 512

static void clear_part(const struct pd_config *c, const char *field_name, bool reader, const char *text, size_t len,
                       struct pd_out *o, struct pd_reveal_counts *counts)
{
    if (reader) {
        pd_out_put(o, text, len);
        return;
    }
    struct pd_counts found = {0};
    pd_redact(c, field_name, NULL, NULL, text, len, o, &found);
    for (int k = 0; k < PD_KINDS; k++)
        counts->masked += found.n[k];
}

static void token(const struct pd_config *c, const char *field_name, bool reader, pd_open_fn open, void *ctx,
                  const char *text, const struct pd_token *t, struct pd_out *o, struct pd_reveal_counts *counts)
{
    if (t->kind < 0) {
        counts->stray++;
        pd_out_str(o, PD_MASK_STARS_TEXT);
        return;
    }
    enum pd_kind k = (enum pd_kind)t->kind;
    if (!reader && c->mask[k] == PD_MASK_STARS) {
        counts->masked++;
        pd_out_str(o, PD_MASK_STARS_TEXT); /* nothing of it is shown: no need to open it */
        return;
    }
    char path[PD_FIELD_NAME_MAX + 16], plain[PLAINTEXT_MAX];
    long n = -1;
    if (pd_field_path(path, sizeof path, field_name, k) == 0)
        n = open(ctx, path, text + t->env_start, t->env_end - t->env_start, plain, sizeof plain);
    if (n < 0 || (size_t)n >= sizeof plain) {
        counts->failed++;
        pd_out_str(o, PD_MASK_STARS_TEXT);
    } else if (reader) {
        counts->opened++;
        pd_out_put(o, plain, (size_t)n);
    } else {
        counts->masked++;
        pd_mask_write(o, k, c->mask[k], plain, (size_t)n);
    }
    explicit_bzero(plain, sizeof plain);
}

bool pd_reveal(const struct pd_config *c, const char *field_name, bool reader, pd_open_fn open, void *ctx,
               const char *text, size_t len, struct pd_out *o, struct pd_reveal_counts *counts)
{
    size_t pos = 0;
    struct pd_token t;
    while (pd_token_next(text, len, pos, &t)) {
        clear_part(c, field_name, reader, text + pos, t.start - pos, o, counts);
        token(c, field_name, reader, open, ctx, text, &t, o, counts);
        pos = t.end;
    }
    clear_part(c, field_name, reader, text + pos, len - pos, o, counts);
    return !o->full;
}
