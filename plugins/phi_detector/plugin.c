/* phi_detector: the plugin's entry point and its two body hooks, the glue
 * between phiguard's ABI and the pure logic (config.c, redact.c,
 * reveal.c). Never logs a matched value: only field names, kinds and
 * counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "phiguard_plugin.h"
#include "redact.h"
#include "reveal.h"
#include "token.h"

struct detector {
    const struct phg_host *host;
    phg_plugin_handle *self;
    struct pd_config config;
};

static long seal(void *ctx, const char *field_path, const char *value, size_t len, char *out, size_t cap)
{
    struct detector *d = ctx;
    return d->host->phi_seal(d->self, field_path, value, len, out, cap);
}

static long open_envelope(void *ctx, const char *field_path, const char *envelope, size_t len, char *out, size_t cap)
{
    struct detector *d = ctx;
    return d->host->phi_open(d->self, field_path, envelope, len, out, cap);
}

static const char *field_name(const struct detector *d, const struct phg_json_value *v)
{
    return v->selector >= 0 && v->selector < d->config.nfields ? d->config.names[v->selector] : NULL;
}

static enum phg_body_result request_value(void *state, phg_request *r, const struct phg_json_value *v,
                                          struct phg_json_out *out)
{
    (void)r;
    struct detector *d = state;
    const char *name = field_name(d, v);
    if (v->type != 's')
        return PHG_BODY_KEEP; /* free text is a string; a number is not rewritten into one */
    if (!name) {
        d->host->log(d->self, PHG_LOG_ERROR, "a value of selector %d, which this plugin did not register", v->selector);
        return PHG_BODY_FAIL;
    }
    if (pd_token_any(v->data, v->len)) {
        /* Ciphertext a client cannot have made: it could be another
         * record's, planted to be opened on the way out. The client's
         * fault, not the plugin's. */
        d->host->log(d->self, PHG_LOG_WARN, "%s: the request holds a PHI envelope; refused", name);
        return PHG_BODY_REJECT;
    }
    struct pd_out o;
    pd_out_init(&o, out->data, out->cap);
    struct pd_counts counts = {0};
    enum pd_redact_status st = pd_redact(&d->config, name, d->config.action == PD_ENCRYPT ? seal : NULL, d, v->data,
                                         v->len, &o, &counts);
    if (st != PD_REDACT_OK) {
        d->host->log(d->self, PHG_LOG_ERROR, "%s: %s; refused", name,
                     st == PD_REDACT_NO_ROOM ? "the value with its envelopes is longer than the host's output buffer"
                                             : "the host could not seal (no PHI keyring?)");
        return PHG_BODY_FAIL;
    }
    unsigned total = 0;
    for (int k = 0; k < PD_KINDS; k++)
        total += counts.n[k];
    if (total == 0)
        return PHG_BODY_KEEP;
    d->host->log(d->self, PHG_LOG_DEBUG, "%s: %s ssn %u, mrn %u, phone %u, email %u", name,
                 d->config.action == PD_ENCRYPT ? "sealed" : "masked", counts.n[PD_SSN], counts.n[PD_MRN],
                 counts.n[PD_PHONE], counts.n[PD_EMAIL]);
    out->len = o.len;
    out->type = 's';
    return PHG_BODY_REPLACE;
}

static enum phg_body_result response_value(void *state, phg_request *r, const struct phg_json_value *v,
                                           struct phg_json_out *out)
{
    struct detector *d = state;
    const char *name = field_name(d, v);
    if (v->type != 's')
        return PHG_BODY_KEEP;
    if (!name) {
        d->host->log(d->self, PHG_LOG_ERROR, "a value of selector %d, which this plugin did not register", v->selector);
        return PHG_BODY_FAIL;
    }
    bool reader = d->config.read_permission && d->host->has_permission(r, d->config.read_permission) == 1;
    /* A reader is shown clear text as it is: only envelopes need work. */
    if (reader && !pd_token_any(v->data, v->len))
        return PHG_BODY_KEEP;
    struct pd_out o;
    pd_out_init(&o, out->data, out->cap);
    struct pd_reveal_counts counts = {0};
    if (!pd_reveal(&d->config, name, reader, open_envelope, d, v->data, v->len, &o, &counts)) {
        d->host->log(d->self, PHG_LOG_ERROR, "%s: the opened value is longer than the host's output buffer", name);
        return PHG_BODY_FAIL;
    }
    if (counts.failed || counts.stray)
        d->host->log(d->self, PHG_LOG_WARN, "%s: %u embedded envelopes did not open and %u were malformed; masked",
                     name, counts.failed, counts.stray);
    if (counts.opened + counts.masked + counts.failed + counts.stray == 0)
        return PHG_BODY_KEEP;
    out->len = o.len;
    out->type = 's';
    return PHG_BODY_REPLACE;
}

static void unload(void *state)
{
    struct detector *d = state;
    pd_config_free(&d->config);
    free(d);
}

/* The host members this plugin calls: a host too old to have them all is
 * refused rather than called through a missing pointer. */
static bool host_has_services(const struct phg_host *h)
{
    return h->size >= offsetof(struct phg_host, phi_open) + sizeof h->phi_open && h->log && h->has_permission &&
           h->phi_seal && h->phi_open;
}

static int entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self, const char *config_json,
                 struct phg_plugin *plugin, char *err, size_t errcap)
{
    if (PHG_ABI_MAJOR_OF(abi) != PHG_ABI_MAJOR || !host_has_services(host)) {
        snprintf(err, errcap, "phi_detector needs ABI %d.x with phi_seal, phi_open and has_permission", PHG_ABI_MAJOR);
        return -1;
    }
    struct detector *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    char why[256];
    if (pd_config_parse(config_json, &d->config, why, sizeof why) != 0) {
        snprintf(err, errcap, "phi_detector config: %s", why);
        free(d);
        return -1;
    }
    d->host = host;
    d->self = self;
    plugin->name = "phi_detector";
    plugin->state = d;
    plugin->body_fields = (const char *const *)d->config.selectors;
    plugin->body_field_names = (const char *const *)d->config.names;
    plugin->nbody_fields = d->config.nfields;
    plugin->request_body_value = request_value;
    plugin->response_body_value = response_value;
    plugin->unload = unload;
    return 0;
}

PHG_PLUGIN_DECLARE(entry)
