#include "json_tree.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 16

static int well_formed(yajl_val v, int depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    if (YAJL_IS_OBJECT(v)) {
        size_t n = v->u.object.len;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < i; j++)
                if (strcmp(v->u.object.keys[i], v->u.object.keys[j]) == 0)
                    return 0;
            if (!well_formed(v->u.object.values[i], depth + 1))
                return 0;
        }
    } else if (YAJL_IS_ARRAY(v)) {
        for (size_t i = 0; i < v->u.array.len; i++)
            if (!well_formed(v->u.array.values[i], depth + 1))
                return 0;
    }
    return 1;
}

/* yajl's tree holds strings as C strings: "admin\u0000x" would read as
 * "admin". Such text is refused (a "\\u0000" that is no escape is
 * refused with it, which fails closed). */
static int has_escaped_nul(const char *text, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++)
        if (text[i] == '\\' && (text[i + 1] == 'u' || text[i + 1] == 'U') && !memcmp(text + i + 2, "0000", 4))
            return 1;
    return 0;
}

yajl_val oidc_json_parse_object(const char *text, size_t len, char *err, size_t errcap)
{
    if (memchr(text, '\0', len)) {
        snprintf(err, errcap, "a NUL byte in the JSON");
        return NULL;
    }
    if (has_escaped_nul(text, len)) {
        snprintf(err, errcap, "a \\u0000 escape in the JSON");
        return NULL;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    char yerr[128] = "";
    yajl_val root = yajl_tree_parse(copy, yerr, sizeof yerr);
    free(copy);
    if (!root) {
        /* yajl's message quotes the text around the error: keep only its
         * first line, which names the error, never the content. */
        yerr[strcspn(yerr, "\n")] = '\0';
        snprintf(err, errcap, "not valid JSON (%s)", yerr[0] ? yerr : "parse error");
        return NULL;
    }
    if (!YAJL_IS_OBJECT(root)) {
        snprintf(err, errcap, "the JSON is not an object");
        yajl_tree_free(root);
        return NULL;
    }
    if (!well_formed(root, 0)) {
        snprintf(err, errcap, "duplicate member names or nesting deeper than %d", MAX_DEPTH);
        yajl_tree_free(root);
        return NULL;
    }
    return root;
}

yajl_val oidc_json_member(yajl_val obj, const char *name)
{
    if (!YAJL_IS_OBJECT(obj))
        return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], name) == 0)
            return obj->u.object.values[i];
    return NULL;
}

yajl_val oidc_json_path(yajl_val obj, const char *dotted)
{
    /* Namespaced claims ("https://clinic.example/roles", as Auth0 names
     * them) hold dots themselves: a member of the whole name comes first. */
    yajl_val whole = oidc_json_member(obj, dotted);
    if (whole)
        return whole;
    char part[256];
    const char *p = dotted;
    yajl_val v = obj;
    while (v) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n >= sizeof part)
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        v = oidc_json_member(v, part);
        if (!dot)
            return v;
        p = dot + 1;
    }
    return NULL;
}

const char *oidc_json_string(yajl_val obj, const char *name)
{
    yajl_val v = oidc_json_member(obj, name);
    return YAJL_IS_STRING(v) ? OIDC_STR(v) : NULL;
}

int oidc_json_seconds(yajl_val v, long long *out)
{
    if (YAJL_IS_INTEGER(v)) {
        *out = YAJL_GET_INTEGER(v);
        return 0;
    }
    if (YAJL_IS_DOUBLE(v)) {
        double d = YAJL_GET_DOUBLE(v);
        /* Beyond +-2^53 a double no longer holds whole seconds exactly. */
        if (!isfinite(d) || d > 9007199254740992.0 || d < -9007199254740992.0)
            return -1;
        *out = (long long)floor(d);
        return 0;
    }
    return -1;
}
