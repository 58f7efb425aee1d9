#ifndef PHIGUARD_AUTH_INTERNAL_H
#define PHIGUARD_AUTH_INTERNAL_H
/* Shared by the authentication filter and the /auth/ endpoints. */
#include <stdbool.h>
#include <stddef.h>

#include "proxy/filter.h"
#include "proxy/session.h"

struct pg_request;
struct pg_users;
struct pg_user;

/* The request carries session s: phiguard's identity headers for the
 * upstream, the roles for authorization. */
void pg_auth_set_identity(struct pg_request *req, struct pg_session_ref *ref);
/* Whether the client asked for HTML (a browser) rather than JSON. */
bool pg_auth_wants_html(struct pg_request *req);
/* The /auth/ endpoints; called by the authentication filter once the
 * request's session (if any) is known. */
int pg_auth_endpoint(struct pg_request *req);
/* The security API (proxy/filters/security_api.c); answers the request. */
int pg_security_api(struct pg_request *req);
/* proxy/filters/security_status.c; each answers (returns 1). */
int pg_security_status(struct pg_request *req);
int pg_security_sessions(struct pg_request *req);
int pg_security_revoke(struct pg_request *req, const char *rest, size_t len);
/* Set-Cookie for a new session, or one that clears the cookie (token NULL). */
void pg_auth_set_cookie(struct pg_request *req, const char *token);
/* Answers JSON, with the cookie headers already set; ends the request. */
void pg_auth_reply_json(struct pg_request *req, int status, const char *body);
/* 303 to location (a local path). */
void pg_auth_redirect(struct pg_request *req, const char *location);
/* Starts a session for user after every factor passed, and answers. */
void pg_auth_start_session(struct pg_request *req, const struct pg_user *u, const char *next, bool html);
/* The permissions of the request's session roles include perm. */
bool pg_auth_session_has_perm(struct pg_request *req, const char *perm);

/* The authentication phase's last step, once the request's identity (or
 * none) is known: the /auth/ endpoints and the security API, else on. */
enum pg_filter_result pg_authn_finish(struct pg_request *req);
/* Offers the request to the plugins' authenticators, in the order of the
 * configuration (proxy/filters/plugin_auth.c). required: the request
 * carried a Bearer token phiguard did not issue, refused (401) when no
 * plugin takes it; otherwise a request none takes goes on anonymous. */
enum pg_filter_result pg_plugin_authenticate(struct pg_request *req, bool required);
/* The identity assertion header (auth.assertion_key_file), when one is
 * configured. */
void pg_auth_add_assertion(struct pg_request *req, const char *uid, const char *username);

#endif
