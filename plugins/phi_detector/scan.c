#include "scan.h"

/* Ties between equally long matches: the order the patterns are tried. */
static const enum pd_kind order[PD_KINDS] = {PD_MRN, PD_SSN, PD_PHONE, PD_EMAIL};

static bool match_at(const struct pd_patterns *p, enum pd_kind k, const char *text, size_t len, size_t at,
                     struct pd_match *m)
{
    switch (k) {
    case PD_SSN:
        return pd_match_ssn(p, text, len, at, m);
    case PD_MRN:
        return pd_match_mrn(p, text, len, at, m);
    case PD_PHONE:
        return pd_match_phone(text, len, at, m);
    case PD_EMAIL:
        return pd_match_email(text, len, at, m);
    default:
        return false;
    }
}

bool pd_scan_next(const struct pd_patterns *p, const char *text, size_t len, size_t *pos, struct pd_match *m)
{
    for (size_t at = *pos; at < len; at++) {
        /* Every pattern starts with an ASCII letter, digit or one of a few
         * marks: most bytes are passed at once. */
        unsigned char c = (unsigned char)text[at];
        if (c >= 0x80 || c <= ' ')
            continue;
        bool found = false;
        struct pd_match best = {0}, cand;
        for (int i = 0; i < PD_KINDS; i++) {
            if (!p->enabled[order[i]] || !match_at(p, order[i], text, len, at, &cand))
                continue;
            if (!found || cand.end > best.end) {
                best = cand;
                found = true;
            }
        }
        if (found) {
            *m = best;
            *pos = best.end;
            return true;
        }
    }
    *pos = len;
    return false;
}
