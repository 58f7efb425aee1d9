#ifndef PHIGUARD_POLICY_RECORD_H
#define PHIGUARD_POLICY_RECORD_H
/* The audit record: canonical JSON (fixed key order, no insignificant
 * whitespace, one fixed escaping), so the bytes written are the bytes
 * hashed and verified, never re-serialised. Its fields follow FHIR
 * AuditEvent so that export is a mapping. docs/audit.md lists them. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/chain.h"

/* A growing buffer that writes canonical JSON. Members are written in the
 * order the caller gives; the caller's order is the canon. */
struct pg_canon {
    char *buf;
    size_t len, cap;
    int depth;
    bool need_comma[16];
    bool failed; /* out of memory or too deep: the bytes must not be used */
};

void pg_canon_init(struct pg_canon *c);
void pg_canon_free(struct pg_canon *c);
void pg_canon_begin_object(struct pg_canon *c, const char *key); /* key NULL at top level or in arrays */
void pg_canon_end_object(struct pg_canon *c);
void pg_canon_begin_array(struct pg_canon *c, const char *key);
void pg_canon_end_array(struct pg_canon *c);
/* Strings are UTF-8; each byte that is not part of a valid UTF-8 sequence
 * is written as \ufffd, so the output is always valid JSON. */
void pg_canon_string(struct pg_canon *c, const char *key, const char *value, size_t len);
void pg_canon_int(struct pg_canon *c, const char *key, int64_t value);
void pg_canon_bool(struct pg_canon *c, const char *key, bool value);
void pg_canon_null(struct pg_canon *c, const char *key);

/* FHIR AuditEvent.outcome codes. */
enum pg_audit_outcome {
    PG_OUTCOME_SUCCESS = 0,
    PG_OUTCOME_MINOR_FAILURE = 4,  /* e.g. refused: denied, unauthenticated */
    PG_OUTCOME_SERIOUS_FAILURE = 8, /* e.g. the upstream failed */
    PG_OUTCOME_MAJOR_FAILURE = 12,
};

struct pg_audit_phi {
    const char *field; /* a logical path, e.g. Patient.birthDate; never a value */
    uint32_t count;    /* how many values of that field */
};

struct pg_audit_detail {
    const char *key, *value;
};

/* The previous epoch's head, named by the first record of a new epoch. */
struct pg_audit_epoch_link {
    const char *writer;
    uint64_t seq;
    char head[PG_HASH_HEX];
};

/* A record to write, or one parsed back (its strings then point into the
 * parse). NULL strings, a zero status and empty lists are left out of the
 * JSON; every other field is required. */
struct pg_audit_record {
    uint64_t seq; /* from 1 */
    const char *writer;
    char prev[PG_HASH_HEX];
    const struct pg_audit_epoch_link *epoch_prev; /* seq 1 of a new epoch only */
    int64_t time_us;                              /* UTC microseconds since 1970 */
    const char *type;                             /* e.g. rest, login, policy-reload */
    const char *subtype;                          /* e.g. read, search, create */
    char action;                                  /* C R U D E */
    int outcome;                                  /* enum pg_audit_outcome */
    struct {
        const char *user_id, *username;
        const char *const *roles;
        size_t nroles;
        const char *session_hash; /* pg_chain_session_hash of the session id */
        const char *client_ip, *user_agent;
    } agent;
    struct {
        const char *method, *route, *path; /* path without its query */
        int status;
    } http;
    const char *entity; /* e.g. Patient/123 */
    const char *rule;   /* the policy rule that decided */
    const char *request_id;
    const struct pg_audit_phi *phi;
    size_t nphi;
    const struct pg_audit_detail *details; /* written sorted by key */
    size_t ndetails;
};

/* Writes r as canonical JSON into c (initialised by the caller). 0, or -1
 * with the reason in err when r is incomplete or invalid. */
int pg_record_write(const struct pg_audit_record *r, struct pg_canon *c, char *err, size_t errlen);

/* RFC 3339 UTC with microseconds: 2026-11-23T07:17:54.123456Z. */
#define PG_RECORD_TIME_LEN 28
int pg_record_format_time(int64_t time_us, char out[PG_RECORD_TIME_LEN]);
int pg_record_parse_time(const char *text, int64_t *time_us);

/* A stored record read back for export and verification. */
struct pg_record_parsed {
    struct pg_audit_record rec;
    struct pg_audit_epoch_link epoch_link;
    void *tree; /* owns the strings rec points to */
    const char **roles;
    struct pg_audit_phi *phi;
    struct pg_audit_detail *details;
};

/* Parses exactly len bytes. 0, or -1 with the reason in err (not JSON, a
 * required field missing or of the wrong type, a duplicate key). */
int pg_record_parse(const char *bytes, size_t len, struct pg_record_parsed *out, char *err, size_t errlen);
void pg_record_parsed_free(struct pg_record_parsed *p);

#endif
