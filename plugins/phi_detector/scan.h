#ifndef PHI_DETECTOR_SCAN_H
#define PHI_DETECTOR_SCAN_H
/* Every enabled pattern over a text, matches given left to right, never
 * overlapping. Where two patterns match at one place, the longer span
 * wins, then the first of MRN, SSN, phone, e-mail (an MRN is the more
 * specific reading of a labelled number), so the same text always gives
 * the same matches. Pure, no allocation. */
#include "match.h"

/* The next match at or after *pos, or false when there is none. *pos then
 * moves past the match (or to len). */
bool pd_scan_next(const struct pd_patterns *p, const char *text, size_t len, size_t *pos, struct pd_match *m);

#endif
