#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "boundary.h"

#define MRN_MIN_DEFAULT 6
#define MRN_MAX_DEFAULT 10
/* last4 on an MRN must still hide some digits. */
#define MRN_LAST4_MIN_DIGITS 6

/* A string value's text; only after YAJL_IS_STRING (yajl's own getter may
 * give NULL, which the compiler then cannot rule out). */
static const char *text_of(yajl_val v)
{
    return v->u.string;
}

static int fail(char *err, size_t errcap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
    return -1;
}

/* Every key of obj is one of allowed (NULL-terminated)? */
static int known_keys(yajl_val obj, const char *where, const char *const *allowed, char *err, size_t errcap)
{
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const char *k = obj->u.object.keys[i];
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(k, *a) == 0;
        if (!ok)
            return fail(err, errcap, "%s: unknown key \"%.40s\"", where, k);
    }
    return 0;
}

static yajl_val member(yajl_val obj, const char *key)
{
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    return NULL;
}

static int boolean(yajl_val obj, const char *key, const char *where, bool *out, char *err, size_t errcap)
{
    yajl_val v = member(obj, key);
    if (!v)
        return 0;
    if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
        return fail(err, errcap, "%s.%s: true or false", where, key);
    *out = YAJL_IS_TRUE(v);
    return 0;
}

static int integer(yajl_val obj, const char *key, const char *where, int lo, int hi, int *out, char *err,
                   size_t errcap)
{
    yajl_val v = member(obj, key);
    if (!v)
        return 0;
    if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < lo || YAJL_GET_INTEGER(v) > hi)
        return fail(err, errcap, "%s.%s: an integer from %d to %d", where, key, lo, hi);
    *out = (int)YAJL_GET_INTEGER(v);
    return 0;
}

static int mask_style(yajl_val obj, enum pd_kind k, const char *where, struct pd_config *c, char *err,
                      size_t errcap)
{
    yajl_val v = member(obj, "mask");
    if (!v)
        return 0;
    int style = YAJL_IS_STRING(v) ? pd_mask_style_from_name(text_of(v)) : -1;
    if (style < 0)
        return fail(err, errcap, "%s.mask: \"stars\" or \"last4\"", where);
    if (!pd_mask_style_fits(k, (enum pd_mask_style)style))
        return fail(err, errcap, "%s.mask: an e-mail address is masked whole (\"stars\")", where);
    c->mask[k] = (enum pd_mask_style)style;
    return 0;
}

static bool prefix_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PD_MRN_PREFIX_MAX || s[0] == ' ' || s[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

static int mrn(yajl_val obj, struct pd_config *c, char *err, size_t errcap)
{
    const char *where = "patterns.mrn";
    struct pd_patterns *p = &c->patterns;
    p->mrn_min_digits = MRN_MIN_DEFAULT;
    p->mrn_max_digits = MRN_MAX_DEFAULT;
    if (integer(obj, "min_digits", where, 1, PD_MRN_DIGITS_MAX, &p->mrn_min_digits, err, errcap) ||
        integer(obj, "max_digits", where, 1, PD_MRN_DIGITS_MAX, &p->mrn_max_digits, err, errcap))
        return -1;
    if (p->mrn_min_digits > p->mrn_max_digits)
        return fail(err, errcap, "%s: min_digits is more than max_digits", where);
    yajl_val pre = member(obj, "prefixes");
    if (!pre) {
        strcpy(p->mrn_prefixes[0], "MRN");
        p->mrn_nprefixes = 1;
    } else {
        if (!YAJL_IS_ARRAY(pre) || pre->u.array.len == 0 || pre->u.array.len > PD_MRN_PREFIXES_MAX)
            return fail(err, errcap, "%s.prefixes: a list of 1 to %d labels", where, PD_MRN_PREFIXES_MAX);
        for (size_t i = 0; i < pre->u.array.len; i++) {
            yajl_val s = pre->u.array.values[i];
            if (!YAJL_IS_STRING(s) || !prefix_ok(text_of(s)))
                return fail(err, errcap, "%s.prefixes[%zu]: 1 to %d printable ASCII characters, no space at either end",
                            where, i, PD_MRN_PREFIX_MAX);
            strcpy(p->mrn_prefixes[i], text_of(s));
        }
        p->mrn_nprefixes = (int)pre->u.array.len;
    }
    if (mask_style(obj, PD_MRN, where, c, err, errcap))
        return -1;
    if (c->mask[PD_MRN] == PD_MASK_LAST4 && p->mrn_min_digits < MRN_LAST4_MIN_DIGITS)
        return fail(err, errcap, "%s.mask: last4 needs min_digits of at least %d (or it shows the whole number)",
                    where, MRN_LAST4_MIN_DIGITS);
    return 0;
}

static int patterns(yajl_val obj, struct pd_config *c, char *err, size_t errcap)
{
    static const char *const kinds[] = {"ssn", "mrn", "phone", "email", NULL};
    if (!YAJL_IS_OBJECT(obj) || obj->u.object.len == 0)
        return fail(err, errcap, "patterns: an object naming at least one of ssn, mrn, phone, email");
    if (known_keys(obj, "patterns", kinds, err, errcap))
        return -1;
    for (size_t i = 0; i < obj->u.object.len; i++) {
        const char *name = obj->u.object.keys[i];
        yajl_val v = obj->u.object.values[i];
        enum pd_kind k = (enum pd_kind)pd_kind_from_name(name, strlen(name));
        char where[32];
        snprintf(where, sizeof where, "patterns.%s", name);
        if (!YAJL_IS_OBJECT(v))
            return fail(err, errcap, "%s: an object of options ({} for the defaults)", where);
        c->patterns.enabled[k] = true;
        static const char *const ssn_keys[] = {"bare_digits", "area_9xx", "mask", NULL};
        static const char *const mrn_keys[] = {"prefixes", "min_digits", "max_digits", "mask", NULL};
        static const char *const mask_only[] = {"mask", NULL};
        const char *const *allowed = k == PD_SSN ? ssn_keys : k == PD_MRN ? mrn_keys : mask_only;
        if (known_keys(v, where, allowed, err, errcap))
            return -1;
        if (k == PD_SSN && (boolean(v, "bare_digits", where, &c->patterns.ssn_bare_digits, err, errcap) ||
                            boolean(v, "area_9xx", where, &c->patterns.ssn_area_9xx, err, errcap) ||
                            mask_style(v, k, where, c, err, errcap)))
            return -1;
        if (k == PD_MRN && mrn(v, c, err, errcap))
            return -1;
        if ((k == PD_PHONE || k == PD_EMAIL) && mask_style(v, k, where, c, err, errcap))
            return -1;
    }
    return 0;
}

/* A field's name goes into every envelope's associated data, after which
 * '#' and the kind follow: it must not hold a '#' itself. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PD_FIELD_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!pd_is_word(s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '*')
            return false;
    return true;
}

static int fields(yajl_val arr, struct pd_config *c, char *err, size_t errcap)
{
    if (!YAJL_IS_ARRAY(arr) || arr->u.array.len == 0 || arr->u.array.len > PD_FIELDS_MAX)
        return fail(err, errcap, "fields: a list of 1 to %d {selector, name}", PD_FIELDS_MAX);
    size_t n = arr->u.array.len;
    c->selectors = calloc(n, sizeof *c->selectors);
    c->names = calloc(n, sizeof *c->names);
    if (!c->selectors || !c->names)
        return fail(err, errcap, "out of memory");
    static const char *const keys[] = {"selector", "name", NULL};
    for (size_t i = 0; i < n; i++) {
        yajl_val f = arr->u.array.values[i];
        char where[32];
        snprintf(where, sizeof where, "fields[%zu]", i);
        if (!YAJL_IS_OBJECT(f))
            return fail(err, errcap, "%s: an object {selector, name}", where);
        if (known_keys(f, where, keys, err, errcap))
            return -1;
        yajl_val sel = member(f, "selector"), name = member(f, "name");
        /* The selector's grammar is the policy's: phiguard compiles it and
         * names what is wrong; here only its shape is checked. */
        if (!sel || !YAJL_IS_STRING(sel) || text_of(sel)[0] != '$')
            return fail(err, errcap, "%s.selector: a selector in the policy's syntax, e.g. $.note[*].text", where);
        if (!name || !YAJL_IS_STRING(name) || !name_ok(text_of(name)))
            return fail(err, errcap, "%s.name: 1 to %d of [A-Za-z0-9._*-], e.g. Observation.note.text", where,
                        PD_FIELD_NAME_MAX);
        c->selectors[i] = strdup(text_of(sel));
        c->names[i] = strdup(text_of(name));
        c->nfields = (int)i + 1;
        if (!c->selectors[i] || !c->names[i])
            return fail(err, errcap, "out of memory");
    }
    return 0;
}

static int action_and_reader(yajl_val root, struct pd_config *c, char *err, size_t errcap)
{
    yajl_val a = member(root, "action"), perm = member(root, "read_permission");
    c->action = PD_ENCRYPT;
    if (a) {
        if (YAJL_IS_STRING(a) && strcmp(text_of(a), "encrypt") == 0)
            c->action = PD_ENCRYPT;
        else if (YAJL_IS_STRING(a) && strcmp(text_of(a), "mask") == 0)
            c->action = PD_MASK;
        else
            return fail(err, errcap, "action: \"encrypt\" or \"mask\"");
    }
    if (perm) {
        if (!YAJL_IS_STRING(perm) || !text_of(perm)[0] || strlen(text_of(perm)) > 128)
            return fail(err, errcap, "read_permission: a permission name of the policy");
        if (!(c->read_permission = strdup(text_of(perm))))
            return fail(err, errcap, "out of memory");
    } else if (c->action == PD_ENCRYPT) {
        return fail(err, errcap, "read_permission: required with action encrypt (who may read the matches)");
    }
    return 0;
}

int pd_config_parse(const char *json, struct pd_config *c, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    char why[256];
    yajl_val root = yajl_tree_parse(json, why, sizeof why);
    if (!root)
        return fail(err, errcap, "config is not valid JSON");
    static const char *const keys[] = {"fields", "patterns", "action", "read_permission", NULL};
    int rc = -1;
    if (!YAJL_IS_OBJECT(root))
        fail(err, errcap, "config: an object with fields and patterns");
    else if (known_keys(root, "config", keys, err, errcap) == 0) {
        yajl_val f = member(root, "fields"), p = member(root, "patterns");
        if (!f)
            fail(err, errcap, "fields: required (the JSON fields to search)");
        else if (!p)
            fail(err, errcap, "patterns: required (which of ssn, mrn, phone, email to find)");
        else if (fields(f, c, err, errcap) == 0 && patterns(p, c, err, errcap) == 0 &&
                 action_and_reader(root, c, err, errcap) == 0)
            rc = 0;
    }
    yajl_tree_free(root);
    if (rc != 0)
        pd_config_free(c);
    return rc;
}

void pd_config_free(struct pd_config *c)
{
    for (int i = 0; i < c->nfields; i++) {
        free(c->selectors[i]);
        free(c->names[i]);
    }
    free(c->selectors);
    free(c->names);
    free(c->read_permission);
    memset(c, 0, sizeof *c);
}
