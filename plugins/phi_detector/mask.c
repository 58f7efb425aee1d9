#include "mask.h"

#include <string.h>

#include "boundary.h"

int pd_mask_style_from_name(const char *name)
{
    if (strcmp(name, "stars") == 0)
        return PD_MASK_STARS;
    if (strcmp(name, "last4") == 0)
        return PD_MASK_LAST4;
    return -1;
}

bool pd_mask_style_fits(enum pd_kind k, enum pd_mask_style style)
{
    return style == PD_MASK_STARS || k != PD_EMAIL;
}

void pd_mask_write(struct pd_out *o, enum pd_kind k, enum pd_mask_style style, const char *value, size_t len)
{
    char last[4];
    int n = 0;
    for (size_t i = len; i > 0 && n < 4; i--)
        if (pd_is_digit(value[i - 1]))
            last[3 - n++] = value[i - 1];
    /* A value without four digits (not one this detector made) keeps none. */
    if (style != PD_MASK_LAST4 || k == PD_EMAIL || n < 4) {
        pd_out_str(o, PD_MASK_STARS_TEXT);
        return;
    }
    static const char *const shape[PD_KINDS] = {
        [PD_SSN] = "***-**-", [PD_PHONE] = "***-***-", [PD_MRN] = "***", [PD_EMAIL] = "***"};
    pd_out_str(o, shape[k]);
    pd_out_put(o, last, 4);
}
