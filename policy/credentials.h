#ifndef PHIGUARD_POLICY_CREDENTIALS_H
#define PHIGUARD_POLICY_CREDENTIALS_H
/* The body of a login request, from either a script (application/json) or
 * a plain HTML form (application/x-www-form-urlencoded), parsed into one
 * fixed-size struct so the handlers never see the two encodings.
 *
 * Parsing is strict where leniency would hide an attack or a bug: a field
 * given twice is refused rather than "first wins" or "last wins" (the two
 * disagree between frameworks, which is how parameter pollution works), and
 * a NUL byte is refused rather than silently truncating a password. The
 * reasons given are static strings that never quote the body, so they can
 * be logged or shown without leaking the password. */
#include <stdbool.h>
#include <stddef.h>

enum {
    PG_FORM_USERNAME = 1,
    PG_FORM_PASSWORD = 2,
    PG_FORM_CODE = 4,
    PG_FORM_MFA_TOKEN = 8,
    PG_FORM_NEXT = 16,
    PG_FORM_USER = 32,
};

struct pg_login_form {
    char username[256];
    char password[1025];
    size_t password_len; /* may contain any bytes but NUL */
    char code[16];       /* TOTP code */
    char mfa_token[128];
    char next[512]; /* where a browser goes after login */
    char user[256]; /* an admin naming another user (end-sessions) */
    unsigned present; /* one PG_FORM_* bit per field given */
};

/* content_type: the request's Content-Type value (parameters such as
 * ";charset=utf-8" allowed, media type case-insensitive). JSON bodies are a
 * single object whose known members are strings (other members ignored);
 * form bodies are percent-decoded with '+' as space. 0, or -1 with *why set
 * to a short static reason and *out wiped. */
int pg_login_form_parse(const char *content_type, size_t ct_len, const char *body, size_t len,
                        struct pg_login_form *out, const char **why);
/* Wipes the struct, password included. */
void pg_login_form_clear(struct pg_login_form *f);
/* Whether a post-login redirect target is safe: a local absolute path
 * ("/..." but not "//..."), no backslash, no control characters. Anything
 * else could send a freshly logged-in user to another site. */
bool pg_login_next_safe(const char *next);

#endif
