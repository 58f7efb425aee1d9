#include "proxy/phi_request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/http1.h"
#include "proxy/request.h"

bool pg_phi_json_media_type(const char *t, size_t n)
{
    static const char json[] = "application/json", patch[] = "application/json-patch+json", suffix[] = "+json";
    if (n == sizeof json - 1 && !strncasecmp(t, json, n))
        return true;
    if (n == sizeof patch - 1 && !strncasecmp(t, patch, n))
        return false;
    return n > sizeof suffix - 1 && memchr(t, '/', n) && !strncasecmp(t + n - (sizeof suffix - 1), suffix, sizeof suffix - 1);
}

bool pg_phi_json_content_type(const struct pg_header *ct)
{
    if (!ct)
        return false;
    size_t n = ct->value_len;
    const char *semi = memchr(ct->value, ';', n);
    if (semi)
        n = (size_t)(semi - ct->value);
    while (n && (ct->value[n - 1] == ' ' || ct->value[n - 1] == '\t'))
        n--;
    return pg_phi_json_media_type(ct->value, n);
}

/* One block: the state, room for the audit trail's names (one per field
 * of the larger direction) and both directions' tallies (one per field,
 * and one for strays). */
struct pg_phi_req *pg_phi_req_of(struct pg_request *req)
{
    if (req->phi)
        return req->phi;
    struct pg_phi_ring *ring = pg_phi_keys_get();
    if (!ring)
        return NULL;
    const struct pg_route *r = req->route;
    int nin = r ? r->nphi_request : 0, nout = r ? r->nphi_response : 0;
    size_t names = (size_t)(nin > nout ? nin : nout);
    struct pg_phi_req *p = calloc(1, sizeof *p + ((size_t)nin + (size_t)nout + 2) * sizeof(struct pg_phi_tally) +
                                         (names ? names : 1) * sizeof(struct pg_audit_phi));
    if (!p) {
        pg_phi_ring_unref(ring);
        return NULL;
    }
    /* The names first: they hold pointers, which want the block's
     * alignment. */
    p->fields = (struct pg_audit_phi *)(p + 1);
    p->nfields_cap = names;
    struct pg_phi_tally *tally = (struct pg_phi_tally *)(p->fields + (names ? names : 1));
    p->ring = ring;
    p->in = (struct pg_phi_pass){
        .ring = &ring->ring, .fields = r ? r->phi_request : NULL, .nfields = nin, .tally = tally};
    p->out = (struct pg_phi_pass){
        .ring = &ring->ring, .fields = r ? r->phi_response : NULL, .nfields = nout, .tally = tally + nin + 1};
    req->phi = p;
    return p;
}

void pg_phi_req_free(struct pg_phi_req *p)
{
    if (!p)
        return;
    pg_phi_ring_unref(p->ring);
    free(p->target);
    free(p);
}

/* Fields appear once per name: a name selected by two selectors sums. */
static size_t add(struct pg_phi_req *p, size_t n, const char *field, uint32_t count)
{
    if (!count || !field)
        return n;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(p->fields[i].field, field)) {
            p->fields[i].count += count;
            return n;
        }
    if (n == p->nfields_cap)
        return n;
    p->fields[n] = (struct pg_audit_phi){field, count};
    return n + 1;
}

size_t pg_phi_req_sealed(struct pg_phi_req *p, const struct pg_audit_phi **out)
{
    size_t n = 0;
    *out = NULL;
    if (!p)
        return 0;
    for (int i = 0; i < p->in.nfields; i++)
        n = add(p, n, p->in.fields[i].logical_path, p->in.tally[i].sealed);
    *out = p->fields;
    return n;
}

size_t pg_phi_req_disclosed(struct pg_phi_req *p, const struct pg_audit_phi **out)
{
    size_t n = 0;
    *out = NULL;
    if (!p)
        return 0;
    for (int i = 0; i < p->out.nfields; i++) {
        const struct pg_phi_field *f = &p->out.fields[i];
        /* A reader gets plain values as they are, and opened ones in clear. */
        uint32_t clear = p->out.tally[i].opened;
        if (f->read_perm >= 0 && pg_permset_has(&p->out.perms, f->read_perm))
            clear += p->out.tally[i].plain;
        n = add(p, n, f->logical_path, clear);
    }
    *out = p->fields;
    return n;
}
