/* Medical record numbers: one of the configured labels ("MRN", any case),
 * then up to three of ' ', ':', '#' (or nothing), then a number of the
 * configured digit count. The span is the number: the label stays, so a
 * reader of the stored note still sees what was there. */
#include "boundary.h"
#include "match.h"

#include <string.h>

#define SEPARATORS_MAX 3

static bool label_at(const char *text, size_t len, size_t at, const char *label, size_t n)
{
    if (at + n > len)
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = text[at + i], b = label[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

static bool separator(char c)
{
    return c == ' ' || c == ':' || c == '#';
}

bool pd_match_mrn(const struct pd_patterns *p, const char *text, size_t len, size_t at, struct pd_match *m)
{
    if (at > 0 && pd_is_word(text[at - 1]))
        return false;
    for (int i = 0; i < p->mrn_nprefixes; i++) {
        const char *label = p->mrn_prefixes[i];
        size_t n = strlen(label);
        if (!label_at(text, len, at, label, n))
            continue;
        size_t d = at + n;
        /* A label that ends in a letter must not run on into a word:
         * "MRNs" is no label. */
        if (d < len && pd_is_alpha(text[d]) && pd_is_alpha(label[n - 1]))
            continue;
        for (int k = 0; k < SEPARATORS_MAX && d < len && separator(text[d]); k++)
            d++;
        size_t digits = pd_digits(text, len, d, PD_MRN_DIGITS_MAX + 1);
        if (digits < (size_t)p->mrn_min_digits || digits > (size_t)p->mrn_max_digits ||
            !pd_number_ends(text, len, d + digits))
            continue;
        if (d == at + n && pd_is_digit(label[n - 1]))
            continue; /* the label's own digits would run into the number */
        *m = (struct pd_match){.start = d, .end = d + digits, .kind = PD_MRN};
        return true;
    }
    return false;
}
