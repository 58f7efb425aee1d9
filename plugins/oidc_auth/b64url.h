#ifndef OIDC_B64URL_H
#define OIDC_B64URL_H
/* Strict base64url (RFC 4648 section 5, no padding), as JWS and JWK use
 * it: one encoding per byte string, so that a token cannot be altered in
 * its unused bits and still verify or compare equal. A plugin links
 * nothing of phiguard's (phiguard_plugin.h is its one header), so the
 * decoder is the plugin's own. */
#include <stddef.h>

/* Decodes in[0..len) into out (cap bytes). Refuses padding, characters
 * outside the url alphabet, a length of 1 mod 4 and non-zero unused bits.
 * Returns the decoded length, or -1. cap >= oidc_b64url_decoded_max(len)
 * always suffices. */
long oidc_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);

static inline size_t oidc_b64url_decoded_max(size_t len)
{
    return len / 4 * 3 + 2;
}

/* Every character of in[0..len) is of the base64url alphabet. */
int oidc_b64url_is_alphabet(const char *in, size_t len);
#endif
