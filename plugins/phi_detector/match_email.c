/* E-mail addresses, conservatively: local@domain.tld with an ASCII local
 * part of [A-Za-z0-9._%+-] (no leading, trailing or doubled dot, at most
 * 64 bytes), two or more domain labels of [A-Za-z0-9-] (not starting or
 * ending with '-', at most 63 bytes each) and a final label of 2 to 63
 * letters. Quoted local parts, IP literals and internationalised addresses
 * are not taken. */
#include "boundary.h"
#include "match.h"

#define LOCAL_MAX 64
#define LABEL_MAX 63
#define DOMAIN_MAX 253

static bool local_char(char c)
{
    return pd_is_alpha(c) || pd_is_digit(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool label_char(char c)
{
    return pd_is_alpha(c) || pd_is_digit(c) || c == '-';
}

/* The local part at text[at..): the index of its '@', or 0. */
static size_t local_part(const char *text, size_t len, size_t at)
{
    size_t p = at;
    while (p < len && local_char(text[p]) && p - at <= LOCAL_MAX) {
        if (text[p] == '.' && (p == at || text[p - 1] == '.'))
            return 0;
        p++;
    }
    if (p == at || p - at > LOCAL_MAX || p >= len || text[p] != '@' || text[p - 1] == '.')
        return 0;
    return p;
}

/* The domain at text[at..): its end, or 0. */
static size_t domain(const char *text, size_t len, size_t at)
{
    size_t p = at, labels = 0, last = at;
    bool letters_only = false;
    for (;;) {
        size_t start = p;
        letters_only = true;
        while (p < len && label_char(text[p])) {
            letters_only = letters_only && pd_is_alpha(text[p]);
            p++;
        }
        size_t n = p - start;
        if (n == 0 || n > LABEL_MAX || text[start] == '-' || text[p - 1] == '-')
            return 0;
        labels++;
        last = start;
        /* A dot continues the domain only when a label follows it; else it
         * ends the sentence. */
        if (p + 1 < len && text[p] == '.' && label_char(text[p + 1]))
            p++;
        else
            break;
    }
    if (labels < 2 || !letters_only || p - last < 2 || p - at > DOMAIN_MAX)
        return 0;
    return p;
}

bool pd_match_email(const char *text, size_t len, size_t at, struct pd_match *m)
{
    if (!local_char(text[at]) || text[at] == '.' || (at > 0 && local_char(text[at - 1])))
        return false;
    size_t amp = local_part(text, len, at);
    if (!amp)
        return false;
    size_t end = domain(text, len, amp + 1);
    if (!end || (end < len && (text[end] == '_' || text[end] == '@')))
        return false;
    *m = (struct pd_match){.start = at, .end = end, .kind = PD_EMAIL};
    return true;
}
