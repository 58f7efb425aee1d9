#ifndef PHIGUARD_TRACK_H
#define PHIGUARD_TRACK_H
/* Modification tracking (issue 5): on a route with track_changes, a PUT,
 * PATCH or DELETE is preceded by a GET of the same resource, and the
 * resource before and the app's answer after go into one audit record
 * (type "modification"). Both are the app's own bytes: PHI fields stay in
 * their sealed form, as the app stores them. */
#include <stdbool.h>

#include "proxy/capture.h"

struct pg_fetch;

struct pg_track {
    struct pg_fetch *fetch;  /* while the GET runs */
    int before_status;
    struct pg_capture before, after;
    bool after_open;         /* the answer's body is being captured */
};

void pg_track_free(struct pg_track *t);

#endif
