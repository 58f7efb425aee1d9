#ifndef PHI_DETECTOR_MATCH_H
#define PHI_DETECTOR_MATCH_H
/* The pattern matchers of the PHI detector: hand-written, pure, no
 * allocation. Each one looks at one anchor position of a text and says
 * whether its pattern starts there, and which bytes are the identifier
 * (an MRN's label stays outside its span). Every pattern is ASCII: a match
 * begins and ends on ASCII bytes, so replacing it never cuts a UTF-8
 * sequence, and any non-ASCII byte beside a match counts as a boundary. */
#include <stdbool.h>
#include <stddef.h>

enum pd_kind { PD_SSN, PD_MRN, PD_PHONE, PD_EMAIL, PD_KINDS };

/* "ssn", "mrn", "phone", "email": the pattern's name in the configuration
 * and in an embedded envelope's label. */
const char *pd_kind_name(enum pd_kind k);
/* The kind named by name[0..len), or -1. */
int pd_kind_from_name(const char *name, size_t len);

#define PD_MRN_PREFIXES_MAX 8
#define PD_MRN_PREFIX_MAX 32
#define PD_MRN_DIGITS_MAX 32

struct pd_patterns {
    bool enabled[PD_KINDS];
    bool ssn_bare_digits; /* nine digits in a row are an SSN too */
    bool ssn_area_9xx;    /* areas 900-999 (ITINs, Synthea's test SSNs) count */
    int mrn_nprefixes;
    char mrn_prefixes[PD_MRN_PREFIXES_MAX][PD_MRN_PREFIX_MAX + 1]; /* compared case-insensitively */
    int mrn_min_digits, mrn_max_digits;
};

/* One identifier found: text[start..end), of this kind. */
struct pd_match {
    size_t start, end;
    enum pd_kind kind;
};

/* Each matcher: does its pattern start at anchor `at` of text[0..len)?
 * On yes, fills *m and returns true. */
bool pd_match_ssn(const struct pd_patterns *p, const char *text, size_t len, size_t at, struct pd_match *m);
bool pd_match_mrn(const struct pd_patterns *p, const char *text, size_t len, size_t at, struct pd_match *m);
bool pd_match_phone(const char *text, size_t len, size_t at, struct pd_match *m);
bool pd_match_email(const char *text, size_t len, size_t at, struct pd_match *m);

#endif
