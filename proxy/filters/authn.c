/* Authentication phase. Identity headers are phiguard's to send: whatever a
 * client sends under those names is removed first, on every request. A
 * client that presented a verified certificate named in client_identities
 * is that user, with those roles. */
#include <string.h>
#include <strings.h>

#include "proxy/conn.h"
#include "proxy/filters/filters.h"
#include "proxy/request.h"
#include "proxy/worker.h"

static const char *const identity_headers[] = {"x-auth-user", "x-auth-user-id", "x-auth-roles", "x-auth-session",
                                               "x-auth-method"};

static enum pg_filter_result authn_run(struct pg_request *req)
{
    struct pg_http_head *h = &req->head;
    for (int i = 0; i < h->n_headers; i++)
        for (size_t k = 0; k < sizeof identity_headers / sizeof identity_headers[0]; k++)
            if (pg_header_is(&h->headers[i], identity_headers[k]))
                h->headers[i].drop = true;

    const struct pg_config *cfg = req->worker->cfg;
    const char *cn = req->conn->peer_cn;
    if (!cn[0])
        return PG_NEXT;
    for (int i = 0; i < cfg->n_cert_identities; i++) {
        const struct pg_cert_identity *id = &cfg->cert_identities[i];
        if (strcmp(id->subject_cn, cn) != 0)
            continue;
        req->authenticated = true;
        req->user = id->user;
        req->role_names = (const char *const *)id->roles;
        req->nrole_names = id->nroles;
        struct evbuffer *add = req->up_add_headers;
        pg_add_header(add, "X-Auth-User", id->user, strlen(id->user));
        pg_add_header(add, "X-Auth-User-Id", id->user, strlen(id->user));
        evbuffer_add(add, "X-Auth-Roles: ", 14);
        for (int k = 0; k < id->nroles; k++) {
            if (k)
                evbuffer_add(add, ",", 1);
            evbuffer_add(add, id->roles[k], strlen(id->roles[k]));
        }
        evbuffer_add(add, "\r\nX-Auth-Method: client-certificate\r\n", 37);
        break;
    }
    return PG_NEXT;
}

const struct pg_filter pg_filter_authn = {
    .name = "authn",
    .phase = PG_PHASE_AUTHN,
    .run = authn_run,
};
