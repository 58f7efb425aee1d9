#ifndef PHIGUARD_PHI_KEYS_H
#define PHIGUARD_PHI_KEYS_H
/* The running PHI keyring (phi.keyring_file, a Kubernetes Secret in
 * production): one immutable snapshot, swapped whole on reload like the
 * policy, so a request encrypts and decrypts under the ring it started
 * with. Every key decrypts; the active one encrypts. */
#include <event2/event.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "policy/keyring.h"

struct pg_phi_ring {
    _Atomic int refs;
    struct pg_keyring ring;
};

/* Start-up, main thread: reads the file (NULL: no keyring). Logs why and
 * returns -1 when the file is set but unusable. */
int pg_phi_keys_init(const char *file);
bool pg_phi_keys_configured(void);
/* A reference to the current ring, or NULL when none is configured. */
struct pg_phi_ring *pg_phi_keys_get(void);
void pg_phi_ring_unref(struct pg_phi_ring *r);
/* Rereads the file off the loop (work queue); a bad file keeps the
 * running ring and logs why. */
void pg_phi_keys_reload(struct event_base *base);
/* Called on the main loop after a reload changed the ring, with both rings
 * alive: what the audit trail records of a key rotation. */
void pg_phi_keys_on_change(void (*fn)(const struct pg_keyring *old, const struct pg_keyring *now, void *arg),
                           void *arg);
void pg_phi_keys_shutdown(void);

#endif
