#ifndef PHI_DETECTOR_MASK_H
#define PHI_DETECTOR_MASK_H
/* What stands in for an identifier a reader may not see: "***", or with
 * the last4 style the identifier's shape and its last four digits
 * ("***-**-6789" for an SSN, "***-***-4567" for a phone number, "***1234"
 * for an MRN). E-mail addresses are always "***". */
#include "match.h"
#include "outbuf.h"

enum pd_mask_style { PD_MASK_STARS, PD_MASK_LAST4 };

#define PD_MASK_STARS_TEXT "***"

/* Parses "stars" or "last4"; -1 for anything else. */
int pd_mask_style_from_name(const char *name);
/* Can this kind be masked in this style (an e-mail has no last four
 * digits worth keeping)? */
bool pd_mask_style_fits(enum pd_kind k, enum pd_mask_style style);
/* Writes the mask of value[0..len), an identifier of kind k. */
void pd_mask_write(struct pd_out *o, enum pd_kind k, enum pd_mask_style style, const char *value, size_t len);

#endif
