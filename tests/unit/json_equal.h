#ifndef PHIGUARD_TESTS_JSON_EQUAL_H
#define PHIGUARD_TESTS_JSON_EQUAL_H
/* Two JSON texts with the same meaning (keys in the same order, numbers
 * with the same text): what the rewriter's and the transforms' tests
 * compare outputs by. */
#include <stdbool.h>
#include <string.h>
#include <yajl/yajl_tree.h>

static inline bool same_value(const yajl_val a, const yajl_val b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case yajl_t_string: return !strcmp(a->u.string, b->u.string);
    case yajl_t_number: return !strcmp(a->u.number.r, b->u.number.r);
    case yajl_t_object:
        if (a->u.object.len != b->u.object.len)
            return false;
        for (size_t i = 0; i < a->u.object.len; i++)
            if (strcmp(a->u.object.keys[i], b->u.object.keys[i]) ||
                !same_value(a->u.object.values[i], b->u.object.values[i]))
                return false;
        return true;
    case yajl_t_array:
        if (a->u.array.len != b->u.array.len)
            return false;
        for (size_t i = 0; i < a->u.array.len; i++)
            if (!same_value(a->u.array.values[i], b->u.array.values[i]))
                return false;
        return true;
    default: return true;
    }
}

static inline bool same_json(const char *a, const char *b)
{
    char e[128];
    yajl_val va = yajl_tree_parse(a, e, sizeof e), vb = yajl_tree_parse(b, e, sizeof e);
    bool same = va && vb && same_value(va, vb);
    yajl_tree_free(va);
    yajl_tree_free(vb);
    return same;
}

#endif
