/* North American (NANP) telephone numbers as people write them:
 * (ddd) ddd-dddd, (ddd)ddd-dddd, ddd-ddd-dddd, ddd.ddd.dddd, ddd ddd dddd,
 * each optionally after +1 or 1 and a separator, and +1dddddddddd. Area
 * code and exchange start with 2-9 (NANP's NXX). Ten bare digits are not
 * taken: too many other numbers look like that. */
#include "boundary.h"
#include "match.h"

static bool group_separator(char c)
{
    return c == '-' || c == '.' || c == ' ';
}

static bool nxx(const char *d)
{
    return d[0] >= '2' && d[0] <= '9';
}

/* The number after any country code, at text[p..): its end, or 0. */
static size_t national(const char *text, size_t len, size_t p)
{
    const char *area;
    char sep = 0; /* the separator the exchange must repeat; 0: any */
    if (p < len && text[p] == '(') {
        if (pd_digits(text, len, p + 1, 3) != 3 || p + 4 >= len || text[p + 4] != ')')
            return 0;
        area = text + p + 1;
        p += 5;
        if (p < len && text[p] == ' ')
            p++;
    } else {
        if (pd_digits(text, len, p, 3) != 3 || p + 3 >= len || !group_separator(text[p + 3]))
            return 0;
        area = text + p;
        sep = text[p + 3];
        p += 4;
    }
    if (pd_digits(text, len, p, 3) != 3 || p + 3 >= len)
        return 0;
    const char *exchange = text + p;
    char sep2 = text[p + 3];
    if (!group_separator(sep2) || (sep && sep2 != sep))
        return 0;
    p += 4;
    if (pd_digits(text, len, p, 4) != 4 || !nxx(area) || !nxx(exchange))
        return 0;
    return p + 4;
}

bool pd_match_phone(const char *text, size_t len, size_t at, struct pd_match *m)
{
    char c = text[at];
    if (!(pd_is_digit(c) || c == '(' || c == '+'))
        return false;
    if (at > 0 && (pd_is_word(text[at - 1]) || ((c == '(' || c == '+') && text[at - 1] == '+')))
        return false;
    if (pd_is_digit(c) && !pd_number_starts(text, at))
        return false;
    size_t end = 0;
    if (c == '+') {
        if (at + 1 >= len || text[at + 1] != '1')
            return false;
        size_t p = at + 2;
        if (pd_digits(text, len, p, 11) == 10 && nxx(text + p) && nxx(text + p + 3))
            end = p + 10; /* +1dddddddddd, E.164 */
        else if (p < len && (group_separator(text[p]) || text[p] == '('))
            end = national(text, len, group_separator(text[p]) ? p + 1 : p);
    } else if (c == '1' && at + 1 < len && group_separator(text[at + 1])) {
        end = national(text, len, at + 2);
    }
    if (!end)
        end = national(text, len, at);
    if (!end || !pd_number_ends(text, len, end))
        return false;
    *m = (struct pd_match){.start = at, .end = end, .kind = PD_PHONE};
    return true;
}
