/* US Social Security numbers: ddd-dd-dddd, and nine digits in a row where
 * the configuration allows (off by default: many other numbers are nine
 * digits long). Numbers the SSA never issues are not SSNs: area 000, 666
 * or 900-999 (ITINs and test numbers, unless ssn_area_9xx), group 00,
 * serial 0000. */
#include "boundary.h"
#include "match.h"

static int number(const char *d, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (d[i] - '0');
    return v;
}

static bool issued(const struct pd_patterns *p, const char *area, const char *group, const char *serial)
{
    int a = number(area, 3);
    if (a == 0 || a == 666 || (a >= 900 && !p->ssn_area_9xx))
        return false;
    return number(group, 2) != 0 && number(serial, 4) != 0;
}

bool pd_match_ssn(const struct pd_patterns *p, const char *text, size_t len, size_t at, struct pd_match *m)
{
    if (!pd_is_digit(text[at]) || !pd_number_starts(text, at))
        return false;
    const char *s = text + at;
    size_t end;
    if (pd_digits(text, len, at, 3) == 3 && at + 11 <= len && s[3] == '-' && pd_digits(text, len, at + 4, 2) == 2 &&
        s[6] == '-' && pd_digits(text, len, at + 7, 4) == 4) {
        if (!issued(p, s, s + 4, s + 7))
            return false;
        end = at + 11;
    } else if (p->ssn_bare_digits && pd_digits(text, len, at, 10) == 9) {
        if (!issued(p, s, s + 3, s + 5))
            return false;
        end = at + 9;
    } else {
        return false;
    }
    if (!pd_number_ends(text, len, end))
        return false;
    *m = (struct pd_match){.start = at, .end = end, .kind = PD_SSN};
    return true;
}
