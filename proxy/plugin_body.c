/* Plugins' body fields (proxy/plugin_body.h). */
#include "proxy/plugin_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/selector.h"

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
