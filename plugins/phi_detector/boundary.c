#include "boundary.h"

static bool joins_numbers(char c)
{
    return c == '-' || c == '.';
}

bool pd_number_starts(const char *text, size_t at)
{
    if (at == 0)
        return true;
    char before = text[at - 1];
    if (pd_is_word(before))
        return false;
    return !(joins_numbers(before) && at >= 2 && pd_is_digit(text[at - 2]));
}

bool pd_number_ends(const char *text, size_t len, size_t end)
{
    if (end >= len)
        return true;
    char after = text[end];
    if (pd_is_word(after))
        return false;
    return !(joins_numbers(after) && end + 1 < len && pd_is_digit(text[end + 1]));
}

size_t pd_digits(const char *text, size_t len, size_t at, size_t max)
{
    size_t n = 0;
    while (at + n < len && n < max && pd_is_digit(text[at + n]))
        n++;
    return n;
}
