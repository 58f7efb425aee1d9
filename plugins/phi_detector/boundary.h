#ifndef PHI_DETECTOR_BOUNDARY_H
#define PHI_DETECTOR_BOUNDARY_H
/* Where a number-shaped identifier may begin and end, so that the digits
 * inside a longer number (an account number, 12-123-45-6789, 1234567890)
 * never match. ASCII classes only: a non-ASCII byte (a UTF-8 letter, a
 * no-break space, a full-width colon) is not a word byte. */
#include <stdbool.h>
#include <stddef.h>

static inline bool pd_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline bool pd_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Letters, digits and '_': what continues a word. */
static inline bool pd_is_word(char c)
{
    return pd_is_alpha(c) || pd_is_digit(c) || c == '_';
}

/* True when a number may start at text[at]: nothing before it, or a byte
 * that is not a word byte and not a '-' or '.' joining it to a digit. */
bool pd_number_starts(const char *text, size_t at);
/* True when a number may end just before text[end]. */
bool pd_number_ends(const char *text, size_t len, size_t end);
/* Counts the digits at text[at..), up to max. */
size_t pd_digits(const char *text, size_t len, size_t at, size_t max);

#endif
