#ifndef OIDC_JSON_TREE_H
#define OIDC_JSON_TREE_H
/* yajl's tree API, with the checks a security token needs on top. */
#include <stddef.h>
#include <yajl/yajl_tree.h>

/* Parses len bytes into a tree whose root is an object. Refuses a NUL
 * byte, duplicate member names at any depth (so that no two readers can
 * see different values for one claim), and nesting deeper than 16.
 * Returns the tree (yajl_tree_free it), or NULL with why in err. */
yajl_val oidc_json_parse_object(const char *text, size_t len, char *err, size_t errcap);

/* The text of v, once YAJL_IS_STRING(v) holds (yajl's YAJL_GET_STRING
 * may be NULL, which the compiler cannot see past). */
#define OIDC_STR(v) ((const char *)(v)->u.string)

/* The member name of the object obj, or NULL. */
yajl_val oidc_json_member(yajl_val obj, const char *name);

/* The member of obj named dotted, else the value at the dotted path
 * (realm_access.roles), or NULL. */
yajl_val oidc_json_path(yajl_val obj, const char *dotted);

/* The string member name, or NULL when absent or not a string. */
const char *oidc_json_string(yajl_val obj, const char *name);

/* A JSON number as whole seconds (a NumericDate may have a fraction,
 * which is dropped): 0, or -1 when v is not a number or out of range. */
int oidc_json_seconds(yajl_val v, long long *out);
#endif
