#ifndef PHIGUARD_LOGIN_H
#define PHIGUARD_LOGIN_H
/* The sign-in steps behind POST /auth/login, /auth/mfa, /auth/mfa/enroll
 * and /auth/mfa/activate (docs/authentication.md). */
struct pg_request;

enum pg_login_step { PG_STEP_PASSWORD, PG_STEP_MFA, PG_STEP_ENROLL, PG_STEP_ACTIVATE };

/* Reads the body and runs the step; always answers the request (now or
 * later). Returns 1. */
int pg_login_start(struct pg_request *req, enum pg_login_step step);

#endif
