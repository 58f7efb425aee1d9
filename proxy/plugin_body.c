/* Plugins' body fields (proxy/plugin_body.h). */
#include "proxy/plugin_body.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/envelope.h"
#include "policy/phi_transform.h"
#include "policy/selector.h"
#include "proxy/body_xform.h"
#include "proxy/log.h"
#include "proxy/plugin_host.h"
#include "proxy/plugin_loader.h"
#include "proxy/request.h"
#include "proxy/security_event.h"

struct pg_plugin_fields *pg_plugin_fields_compile(const struct phg_plugin *p, char *why, size_t whylen)
{
    struct pg_plugin_fields *f = calloc(1, sizeof *f);
    if (!f || !(f->fields = calloc((size_t)p->nbody_fields, sizeof *f->fields))) {
        free(f);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < p->nbody_fields; i++) {
        const char *sel = p->body_fields[i], *name = p->body_field_names[i];
        struct pg_phi_field *pf = &f->fields[f->n];
        char e[256];
        if (!sel || !name || !*name) {
            snprintf(why, whylen, "body field %d has no selector or no name", i);
            goto fail;
        }
        if (pg_selector_compile(sel, &pf->steps, &pf->nsteps, e, sizeof e) != 0) {
            snprintf(why, whylen, "body field %d: selector '%.200s': %s", i, sel, e);
            goto fail;
        }
        f->n++;
        pf->selector = strdup(sel);
        pf->logical_path = strdup(name);
        if (!pf->selector || !pf->logical_path) {
            snprintf(why, whylen, "out of memory");
            goto fail;
        }
    }
    return f;
fail:
    pg_plugin_fields_free(f);
    return NULL;
}

void pg_plugin_fields_free(struct pg_plugin_fields *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++) {
        pg_selector_free(f->fields[i].steps, f->fields[i].nsteps);
        free(f->fields[i].selector);
        free(f->fields[i].logical_path);
    }
    free(f->fields);
    free(f);
}

/* ---- a body's pass ---- */

struct pg_plugin_body {
    struct pg_request *req;
    bool response;
    struct pg_phi_field *fields; /* the route's, then each plugin's (copies of the structs; pointers shared) */
    int n, nroute;
    int *owner, *selector;       /* per field from nroute on: the plugin, and its body_fields index */
    const struct pg_sel_set *set;
    struct pg_sel_set *own_set; /* set, when no route could keep it */
    pg_rw_value_fn core;
    void *core_arg;
    struct pg_body_xform *xform;
    char *scratch;               /* the value between two functions */
    size_t scratch_cap;
    char *hook_out;              /* a function's room when the rewriter's is short of its promise */
    size_t hook_out_cap;
    struct pg_rw_options room;   /* the rewriter's options: what a value's room is (pg_rw_room) */
};

typedef enum phg_body_result (*body_hook)(void *state, phg_request *r, const struct phg_json_value *v,
                                          struct phg_json_out *out);

static body_hook hook_of(const struct phg_plugin_handle *h, bool response)
{
    return response ? h->hooks.response_body_value : h->hooks.request_body_value;
}

bool pg_plugins_body_wanted(bool response)
{
    for (int i = 0; i < pg_plugins_count(); i++) {
        struct phg_plugin_handle *h = pg_plugin_at(i);
        if (h->fields && hook_of(h, response))
            return true;
    }
    return false;
}

/* The matcher of the route's fields and the plugins' (a DFA: costly to
 * make, so made once per route and direction and kept in the policy's
 * route; plugins load only at start, so the fields never change under
 * it). Without a route, one of the body's own (*own). */
static const struct pg_sel_set *shared_set(const struct pg_route *route, bool response,
                                           const struct pg_phi_field *fields, int n, struct pg_sel_set **own)
{
    _Atomic(struct pg_sel_set *) *cell = route && route->plugin_sel ? &route->plugin_sel[response] : NULL;
    struct pg_sel_set *set = cell ? atomic_load(cell) : NULL;
    if (set && set->nfields == n)
        return set;
    if (set) /* made from other fields: the callers pass a route's own, so never */
        cell = NULL;
    bool failed = false;
    set = pg_sel_set_new(fields, n, &failed);
    if (!set || !cell)
        return *own = set;
    struct pg_sel_set *expected = NULL;
    if (!atomic_compare_exchange_strong(cell, &expected, set)) { /* another worker made it first */
        pg_sel_set_free(set);
        set = expected;
    }
    return set;
}

struct pg_plugin_body *pg_plugin_body_new(struct pg_request *req, bool response, const struct pg_phi_field *route_fields,
                                          int nroute, pg_rw_value_fn core, void *core_arg,
                                          const struct pg_rw_options *opt)
{
    int n = nroute;
    for (int i = 0; i < pg_plugins_count(); i++) {
        struct phg_plugin_handle *h = pg_plugin_at(i);
        if (h->fields && hook_of(h, response))
            n += h->fields->n;
    }
    struct pg_plugin_body *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    *b = (struct pg_plugin_body){.req = req, .response = response, .n = n, .nroute = nroute, .core = core,
                                 .core_arg = core_arg, .room = *opt};
    b->fields = calloc((size_t)n, sizeof *b->fields);
    b->owner = calloc((size_t)n, sizeof *b->owner);
    b->selector = calloc((size_t)n, sizeof *b->selector);
    if (!b->fields || !b->owner || !b->selector) {
        pg_plugin_body_free(b);
        return NULL;
    }
    for (int i = 0; i < nroute; i++)
        b->fields[i] = route_fields[i];
    int at = nroute;
    for (int i = 0; i < pg_plugins_count(); i++) {
        struct phg_plugin_handle *h = pg_plugin_at(i);
        if (!h->fields || !hook_of(h, response))
            continue;
        for (int k = 0; k < h->fields->n; k++, at++) {
            b->fields[at] = h->fields->fields[k];
            b->owner[at] = i;
            b->selector[at] = k;
        }
    }
    b->set = shared_set(req->route, response, b->fields, n, &b->own_set);
    if (!b->set) {
        pg_plugin_body_free(b);
        return NULL;
    }
    return b;
}

const struct pg_sel_set *pg_plugin_body_set(const struct pg_plugin_body *b)
{
    return b->set;
}

int pg_plugin_body_wrap(struct pg_request *req, bool response, const struct pg_phi_field *fields, int nfields,
                        const struct pg_sel_set **set, pg_rw_value_fn *fn, void **arg, struct pg_rw_options *opt)
{
    if (!pg_plugins_body_wanted(response))
        return 0;
    /* The hooks' room (phiguard_plugin.h), from the rewriter's own scratch:
     * only bodies that plugins read pay for it. */
    opt->room_per_byte = PHG_BODY_ROOM_PER_BYTE;
    struct pg_plugin_req *pr = pg_plugin_req_of(req);
    struct pg_plugin_body *b = pr ? pg_plugin_body_new(req, response, fields, nfields, *fn, *arg, opt) : NULL;
    if (!b)
        return -1;
    pg_plugin_body_free(response ? pr->body_out : pr->body_in);
    *(response ? &pr->body_out : &pr->body_in) = b;
    *set = b->set;
    *fn = pg_plugin_body_value;
    *arg = b;
    return 0;
}

void pg_plugin_body_xform(struct pg_request *req, bool response, struct pg_body_xform *x)
{
    struct pg_plugin_body *b = !req->plugin ? NULL : response ? req->plugin->body_out : req->plugin->body_in;
    if (b)
        b->xform = x;
}

void pg_plugin_body_free(struct pg_plugin_body *b)
{
    if (!b)
        return;
    pg_sel_set_free(b->own_set);
    free(b->fields);
    free(b->owner);
    free(b->selector);
    /* Values between two functions may be opened PHI. */
    if (b->scratch)
        OPENSSL_cleanse(b->scratch, b->scratch_cap);
    if (b->hook_out)
        OPENSSL_cleanse(b->hook_out, b->hook_out_cap);
    free(b->scratch);
    free(b->hook_out);
    free(b);
}

/* *buf holds at least need bytes (its content is not kept): a new block,
 * the old one wiped, not realloc, which would leave its bytes behind. */
static bool grow_wiped(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t n = need > 2 * *cap ? need : 2 * *cap;
    char *p = malloc(n);
    if (!p)
        return false;
    if (*buf) {
        OPENSSL_cleanse(*buf, *cap);
        free(*buf);
    }
    *buf = p;
    *cap = n;
    return true;
}

static bool keep_in_scratch(struct pg_plugin_body *b, const char *data, size_t len)
{
    if (!grow_wiped(&b->scratch, &b->scratch_cap, len + 1))
        return false;
    memmove(b->scratch, data, len);
    b->scratch[len] = '\0';
    return true;
}

static enum pg_rw_action hook_failed(struct pg_plugin_body *b, int plugin, const char *why)
{
    struct pg_request *req = b->req;
    struct phg_plugin_handle *h = pg_plugin_at(plugin);
    atomic_fetch_add_explicit(&h->failures, 1, memory_order_relaxed);
    pg_log(PG_LOG_ERROR, "plugin_hook_failed", "\"request_id\":\"%s\",\"plugin\":\"%s\",\"hook\":\"%s\",\"why\":\"%s\"",
           req->id, h->name, b->response ? "response_body_value" : "request_body_value", why);
    pg_security_event(req, "plugin-failure", "failure", req->authenticated ? req->user : NULL, NULL,
                      "\"plugin\":\"%s\",\"hook\":\"%s\"", h->name,
                      b->response ? "response_body_value" : "request_body_value");
    req->plugin_failed = h->name;
    if (b->xform)
        pg_body_xform_refuse(b->xform, 500, "plugin_failed", "a plugin's body hook failed");
    return PG_RW_FAIL;
}

/* A request body the plugin refuses as the client's fault: 400, the way
 * any other refusal of a body goes (nothing forwarded while it is held;
 * the upstream connection cut once part of it went up). Not counted as
 * the plugin's failure: the plugin did its work. */
static enum pg_rw_action hook_rejected(struct pg_plugin_body *b, int plugin)
{
    struct pg_request *req = b->req;
    struct phg_plugin_handle *h = pg_plugin_at(plugin);
    pg_log(PG_LOG_WARN, "plugin_body_rejected", "\"request_id\":\"%s\",\"plugin\":\"%s\",\"hook\":\"request_body_value\"",
           req->id, h->name);
    pg_security_event(req, "plugin-rejected", "failure", req->authenticated ? req->user : NULL, NULL,
                      "\"plugin\":\"%s\",\"hook\":\"request_body_value\"", h->name);
    req->plugin_failed = h->name;
    if (b->xform)
        pg_body_xform_refuse(b->xform, 400, "plugin_rejected", "a plugin's body hook rejected the request body");
    return PG_RW_FAIL;
}

/* Room of at least need bytes outside the rewriter's scratch and ours. */
static char *spare_room(struct pg_plugin_body *b, size_t need, size_t *cap)
{
    if (!grow_wiped(&b->hook_out, &b->hook_out_cap, need))
        return NULL;
    *cap = b->hook_out_cap;
    return b->hook_out;
}

/* The value as it stands after one function: kept, or replaced by tok. */
struct current {
    struct pg_rw_value v;
    bool replaced;          /* differs from what the rewriter offered */
    bool plugin_replaced;   /* ... by a plugin's hook: its envelope is its own */
    int last_plugin;        /* the plugin that replaced it last */
};

static bool take_token(struct pg_plugin_body *b, struct current *c, const struct pg_rw_token *tok)
{
    if (!keep_in_scratch(b, tok->data, tok->len))
        return false;
    c->v.type = tok->type;
    c->v.data = b->scratch;
    c->v.len = tok->len;
    c->replaced = true;
    return true;
}

/* The plugins whose selectors pick this position; PG_RW_KEEP to go on. */
static enum pg_rw_action run_plugins(struct pg_plugin_body *b, struct current *c, struct pg_rw_token *out)
{
    if (c->v.type != 's' && c->v.type != 'n' && c->v.type != 'b')
        return PG_RW_KEEP; /* containers are the policy's; their scalars come one by one */
    int here[64], n = 0;
    /* Inside a container a plugin's selector picked, the container's field. */
    if (c->v.field >= b->nroute)
        here[n++] = c->v.field;
    int more[63];
    int m = c->v.cursor ? pg_sel_cursor_fields(c->v.cursor, more, 63) : 0;
    for (int i = 0; i < m && i < 63; i++)
        if (more[i] != c->v.field)
            here[n++] = more[i];
    for (int i = 0; i < n; i++) {
        int f = here[i];
        if (f < b->nroute)
            continue;
        struct phg_plugin_handle *h = pg_plugin_at(b->owner[f]);
        struct phg_json_value jv = {.path = b->fields[f].logical_path, .selector = b->selector[f], .type = c->v.type,
                                    .data = c->v.data, .len = c->v.len};
        /* The rewriter sized its scratch for the value it offered (the
         * ABI's room, pg_plugin_body_wrap); a value an earlier function
         * made longer may need more. */
        char *room = out->data;
        size_t cap = out->cap, need = pg_rw_room(&b->room, c->v.len);
        if (cap < need && !(room = spare_room(b, need, &cap)))
            return PG_RW_FAIL;
        struct phg_json_out jo = {.data = room, .cap = cap, .len = 0, .type = 0};
        atomic_fetch_add_explicit(&h->calls, 1, memory_order_relaxed);
        enum phg_body_result r = hook_of(h, b->response)(h->hooks.state, (phg_request *)b->req, &jv, &jo);
        if (r == PHG_BODY_KEEP)
            continue;
        if (r == PHG_BODY_REJECT && !b->response)
            return hook_rejected(b, b->owner[f]);
        if (r != PHG_BODY_REPLACE)
            return hook_failed(b, b->owner[f],
                               r == PHG_BODY_FAIL     ? "answered FAIL"
                               : r == PHG_BODY_REJECT ? "answered REJECT for a response (the upstream's body)"
                                                      : "answered a value the ABI does not define");
        if (jo.len > jo.cap || (jo.type != 's' && jo.type != 'n' && jo.type != 'b'))
            return hook_failed(b, b->owner[f], "replaced a value with a length or a type the ABI does not allow");
        struct pg_rw_token tok = {.type = jo.type, .data = room, .cap = cap, .len = jo.len};
        if (!take_token(b, c, &tok))
            return PG_RW_FAIL;
        c->plugin_replaced = true;
        c->last_plugin = b->owner[f];
    }
    return PG_RW_KEEP;
}

static enum pg_rw_action finish(struct pg_plugin_body *b, const struct current *c, struct pg_rw_token *out)
{
    if (!c->replaced)
        return PG_RW_KEEP;
    if (c->v.len <= out->cap) {
        memmove(out->data, c->v.data, c->v.len);
    } else {
        out->data = b->scratch; /* longer than the rewriter's room: emitted from ours (c->v is in it) */
        out->cap = b->scratch_cap;
    }
    out->len = c->v.len;
    out->type = c->v.type;
    return PG_RW_REPLACE;
}

enum pg_rw_action pg_plugin_body_value(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    struct pg_plugin_body *b = arg;
    struct current c = {.v = *v};
    bool phi = v->field >= 0 && v->field < b->nroute; /* the policy's field (or a stray: -1) */
    if (!b->response) {
        enum pg_rw_action a = run_plugins(b, &c, out);
        if (a != PG_RW_KEEP)
            return a;
        if (!phi || !b->core)
            return finish(b, &c, out);
        /* The policy seals this field itself: an envelope here would be
         * refused as a client's planted ciphertext; say whose it is. */
        if (c.plugin_replaced && c.v.type == 's' && pg_envelope_is(c.v.data, c.v.len))
            return hook_failed(b, c.last_plugin, "returned an envelope for a field the policy seals itself");
        /* Sealed as the plugins left it, with the room the rewriter gives
         * a value of that length: a longer one's envelope is longer. */
        size_t need = 2 * c.v.len + 256;
        if (c.replaced && out->cap < need) {
            struct pg_rw_token big = {.type = 0, .len = 0};
            if (!(big.data = spare_room(b, need, &big.cap)))
                return PG_RW_FAIL;
            enum pg_rw_action a2 = b->core(b->core_arg, &c.v, &big);
            if (a2 == PG_RW_REPLACE)
                *out = big;
            return a2;
        }
        return b->core(b->core_arg, &c.v, out);
    }
    if ((phi || v->field < 0) && b->core) {
        enum pg_rw_action a = b->core(b->core_arg, v, out);
        if (a == PG_RW_REMOVE || a == PG_RW_FAIL)
            return a;
        if (a == PG_RW_REPLACE && !take_token(b, &c, out))
            return PG_RW_FAIL;
    }
    enum pg_rw_action a = run_plugins(b, &c, out);
    if (a != PG_RW_KEEP)
        return a;
    /* An envelope still here after the plugins (a plugin's field the policy
     * does not name, the plugin keeping it) is a stray, masked. */
    if (!phi && v->field >= 0 && !c.plugin_replaced && c.v.type == 's' && pg_envelope_is(c.v.data, c.v.len)) {
        if (b->core) {
            struct pg_rw_value stray = c.v;
            stray.field = -1;
            return b->core(b->core_arg, &stray, out);
        }
        struct pg_rw_token mask = {.type = 's', .data = (char *)PG_PHI_MASK_TEXT, .len = sizeof PG_PHI_MASK_TEXT - 1};
        if (!take_token(b, &c, &mask))
            return PG_RW_FAIL;
    }
    return finish(b, &c, out);
}
