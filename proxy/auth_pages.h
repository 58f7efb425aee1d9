#ifndef PHIGUARD_AUTH_PAGES_H
#define PHIGUARD_AUTH_PAGES_H
/* The HTML pages of the browser login: plain forms with labels, no script
 * and no style (the default Content-Security-Policy allows neither), so
 * they work with screen readers and keyboards as they are. Every value
 * written into a page is HTML-escaped. */
#include <event2/buffer.h>

/* error: a message shown above the form (role=alert), or NULL. next: where
 * to go after the login (already checked to be a local path), or NULL. */
void pg_page_login(struct evbuffer *out, const char *error, const char *next);
/* The code step: ticket is the pending login's token. */
void pg_page_mfa(struct evbuffer *out, const char *ticket, const char *next, const char *error);
/* Enrollment: the QR code (an SVG document), the secret for typing in, and
 * the form that activates it with a first code. ticket may be NULL (a
 * logged-in user enrolling). */
void pg_page_enroll(struct evbuffer *out, const char *ticket, const char *next, const char *qr_svg,
                    const char *secret_b32, const char *error);

#endif
