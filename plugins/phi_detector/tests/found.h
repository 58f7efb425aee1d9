/* Test helper: what a scan finds in a text, as "kind:matched|kind:matched",
 * so a case reads as one line. */
#ifndef PHI_DETECTOR_TEST_FOUND_H
#define PHI_DETECTOR_TEST_FOUND_H
#include <stdio.h>
#include <string.h>

#include "scan.h"

static inline struct pd_patterns only(enum pd_kind k)
{
    struct pd_patterns p = {0};
    p.enabled[k] = true;
    p.mrn_nprefixes = 1;
    strcpy(p.mrn_prefixes[0], "MRN");
    p.mrn_min_digits = 6;
    p.mrn_max_digits = 10;
    return p;
}

static inline struct pd_patterns every(void)
{
    struct pd_patterns p = only(PD_SSN);
    for (int k = 0; k < PD_KINDS; k++)
        p.enabled[k] = true;
    return p;
}

static inline const char *found(const struct pd_patterns *p, const char *text)
{
    static char buf[4096];
    size_t pos = 0, n = 0, len = strlen(text);
    struct pd_match m;
    buf[0] = 0;
    while (pd_scan_next(p, text, len, &pos, &m))
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s:%.*s", n ? "|" : "", pd_kind_name(m.kind),
                              (int)(m.end - m.start), text + m.start);
    return buf;
}
#endif
