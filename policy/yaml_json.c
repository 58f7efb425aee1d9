/* YAML documents to JSON (policy/yaml_json.h). */
#include "policy/yaml_json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <yajl/yajl_gen.h>

#define MAX_DEPTH 64 /* an alias loop, or a hostile nesting, ends here */

struct conv {
    yaml_document_t *doc;
    yajl_gen g;
    char *why;
    size_t whylen;
};

static int fail(struct conv *c, const yaml_node_t *n, const char *what)
{
    snprintf(c->why, c->whylen, "%zu:%zu: %s", n->start_mark.line + 1, n->start_mark.column + 1, what);
    return -1;
}

static bool one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* [-+]?digits with '_' allowed between digits, in the given base. */
static bool integer_text(const char *s, int base, long long *out)
{
    char clean[80];
    size_t k = 0;
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    else if (base == 16)
        return false;
    if (base == 8 && (s[0] != '0' || !s[1]))
        return false;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s == '_')
            continue;
        bool ok = base == 16 ? strchr("0123456789abcdefABCDEF", *s) != NULL
                             : *s >= '0' && *s <= (base == 8 ? '7' : '9');
        if (!ok || k + 1 >= sizeof clean)
            return false;
        clean[k++] = *s;
    }
    clean[k] = '\0';
    if (!k)
        return false;
    errno = 0;
    long long v = strtoll(clean, NULL, base);
    if (errno)
        return false;
    *out = neg ? -v : v;
    return true;
}

/* [-+]?(digits(.digits*)?|.digits)([eE][-+]?digits)? */
static bool float_text(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    size_t before = strspn(p, "0123456789");
    p += before;
    size_t after = 0;
    bool dot = *p == '.';
    if (dot) {
        p++;
        after = strspn(p, "0123456789");
        p += after;
    }
    if (!before && !after)
        return false;
    bool exp = *p == 'e' || *p == 'E';
    if (exp) {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        size_t e = strspn(p, "0123456789");
        if (!e)
            return false;
        p += e;
    }
    return !*p && (dot || exp);
}

static int scalar(struct conv *c, yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    /* libyaml's document API gives every untagged scalar the !!str tag, so
     * the style alone tells a quoted string from a plain scalar. */
    bool plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (!plain || strlen(s) != len)
        return yajl_gen_string(c->g, (const unsigned char *)s, len) == yajl_gen_status_ok ? 0 : -1;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N", NULL};
    static const char *const specials[] = {".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf",
                                           ".nan", ".NaN", ".NAN", NULL};
    if (one_of(s, nulls))
        return yajl_gen_null(c->g) == yajl_gen_status_ok ? 0 : -1;
    if (one_of(s, trues) || one_of(s, falses))
        return yajl_gen_bool(c->g, one_of(s, trues)) == yajl_gen_status_ok ? 0 : -1;
    if (one_of(s, specials))
        return fail(c, n, "infinity and NaN have no JSON form");
    long long v;
    char num[64];
    const char *digits = s + (*s == '-' || *s == '+');
    bool octal = digits[0] == '0' && digits[1] && strchr("01234567_", digits[1]);
    if (integer_text(s, 16, &v) || (octal && integer_text(s, 8, &v)) || (!octal && integer_text(s, 10, &v))) {
        snprintf(num, sizeof num, "%lld", v);
        return yajl_gen_number(c->g, num, strlen(num)) == yajl_gen_status_ok ? 0 : -1;
    }
    if (float_text(s)) {
        snprintf(num, sizeof num, "%.17g", strtod(s, NULL));
        return yajl_gen_number(c->g, num, strlen(num)) == yajl_gen_status_ok ? 0 : -1;
    }
    return yajl_gen_string(c->g, (const unsigned char *)s, len) == yajl_gen_status_ok ? 0 : -1;
}

static int node(struct conv *c, yaml_node_t *n, int depth)
{
    if (depth > MAX_DEPTH)
        return fail(c, n, "nested too deep (or an alias refers to itself)");
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar(c, n);
    case YAML_SEQUENCE_NODE:
        if (yajl_gen_array_open(c->g) != yajl_gen_status_ok)
            return -1;
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++)
            if (node(c, yaml_document_get_node(c->doc, *i), depth + 1) != 0)
                return -1;
        return yajl_gen_array_close(c->g) == yajl_gen_status_ok ? 0 : -1;
    case YAML_MAPPING_NODE:
        if (yajl_gen_map_open(c->g) != yajl_gen_status_ok)
            return -1;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            if (k->type != YAML_SCALAR_NODE)
                return fail(c, k, "a mapping key is not a scalar");
            if (k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp((const char *)k->data.scalar.value, "<<") == 0)
                return fail(c, k, "merge keys (<<) are not supported");
            if (yajl_gen_string(c->g, k->data.scalar.value, k->data.scalar.length) != yajl_gen_status_ok ||
                node(c, yaml_document_get_node(c->doc, p->value), depth + 1) != 0)
                return -1;
        }
        return yajl_gen_map_close(c->g) == yajl_gen_status_ok ? 0 : -1;
    default:
        return fail(c, n, "an empty node");
    }
}

int pg_yaml_to_json(const char *text, size_t len, int (*fn)(void *ctx, const char *json, size_t len), void *ctx,
                    char *why, size_t whylen)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0;
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc)) {
            snprintf(why, whylen, "%zu:%zu: %s", parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                     parser.problem ? parser.problem : "YAML error");
            rc = -1;
            break;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) { /* the end of the stream */
            yaml_document_delete(&doc);
            break;
        }
        bool empty = root->type == YAML_SCALAR_NODE && root->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                     root->data.scalar.length == 0;
        if (!empty) {
            struct conv c = {.doc = &doc, .g = yajl_gen_alloc(NULL), .why = why, .whylen = whylen};
            const unsigned char *buf;
            size_t blen;
            if (!c.g) {
                snprintf(why, whylen, "out of memory");
                rc = -1;
            } else if (node(&c, root, 0) != 0) {
                rc = -1;
            } else if (yajl_gen_get_buf(c.g, &buf, &blen) != yajl_gen_status_ok) {
                snprintf(why, whylen, "out of memory");
                rc = -1;
            } else if (fn(ctx, (const char *)buf, blen) != 0) {
                rc = -1;
            }
            if (c.g)
                yajl_gen_free(c.g);
        }
        yaml_document_delete(&doc);
        if (rc != 0)
            break;
    }
    yaml_parser_delete(&parser);
    return rc;
}

char *pg_yaml_node_to_json(struct yaml_document_s *doc, struct yaml_node_s *n, char *why, size_t whylen)
{
    struct conv c = {.doc = doc, .g = yajl_gen_alloc(NULL), .why = why, .whylen = whylen};
    char *json = NULL;
    const unsigned char *buf;
    size_t blen;
    if (!c.g) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    why[0] = '\0';
    if (node(&c, n, 0) == 0 && yajl_gen_get_buf(c.g, &buf, &blen) == yajl_gen_status_ok && (json = malloc(blen + 1))) {
        memcpy(json, buf, blen);
        json[blen] = '\0';
    } else if (!why[0]) {
        snprintf(why, whylen, "out of memory");
    }
    yajl_gen_free(c.g);
    return json;
}
