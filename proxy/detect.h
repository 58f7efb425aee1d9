#ifndef PHIGUARD_DETECT_H
#define PHIGUARD_DETECT_H
/* Detection rules (issue 7; thresholds in phiguard.yaml `detection:`):
 * events counted per subject over a sliding window (policy/window.h), in a
 * table the process's workers share; at the threshold the rule fires once
 * per window: an alert, and the rule's action (block the subject for a
 * time, or end the user's sessions). Counts are per replica; blocks reach
 * every replica (proxy/blocks.h). */
#include <stdint.h>

#include "proxy/config.h"

struct pg_request;

/* n events of rule for subject (a username, a user id, a client IP);
 * uid: the user id when the subject is a user (for end_session), or
 * NULL. */
void pg_detect(struct pg_request *req, enum pg_detect_rule rule, const char *subject, const char *uid, uint32_t n);
const char *pg_detect_rule_name(enum pg_detect_rule rule);

#endif
