#ifndef PHIGUARD_POLICY_QR_H
#define PHIGUARD_POLICY_QR_H
/* QR codes as inline SVG, for the TOTP enrolment page: the otpauth:// URI
 * is drawn on the server, so the secret never goes to a third-party QR
 * service or a script, and the page needs no image request. */

/* An SVG document (malloc'd, NUL-terminated) drawing text as a QR code
 * (libqrencode, error correction level M, 8-bit mode) with a 4-module
 * quiet zone on a white background: one <path> of dark modules, each
 * "M{x} {y}h1v1h-1z", rendered crispEdges, with role="img" and alt_text as
 * its <title> (XML-escaped). NULL on failure (empty or too long text, no
 * memory). */
char *pg_qr_svg(const char *text, const char *alt_text);

#endif
