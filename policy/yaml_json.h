#ifndef PHIGUARD_POLICY_YAML_JSON_H
#define PHIGUARD_POLICY_YAML_JSON_H
/* YAML manifests to JSON, for `phiguard inject` (libyaml's document API,
 * yajl to write). Plain scalars resolve as Kubernetes' YAML reader (go-yaml
 * v2, YAML 1.1) resolves them, so the JSON means what `kubectl apply`
 * would have read: null / ~ / empty to null; true, false, yes, no, on, off
 * (and their capitalised forms) to booleans; decimal, 0x hex and 0-led
 * octal integers (`defaultMode: 0440` is 288); decimal floats. A quoted
 * scalar is a string; tags are not read (libyaml's document API does not
 * say which were written), so quote a string that looks like a number
 * rather than tag it !!str. Aliases are followed; a
 * mapping key must be a scalar. .inf and .nan have no JSON form and are
 * refused, as are merge keys (<<), which this converter does not expand.
 *
 * Pure: no I/O. */
#include <stddef.h>

/* Calls fn once per document of text with its JSON (NUL-terminated),
 * skipping empty documents. Returns 0; -1 with why (line:column) on a YAML
 * error or when fn returns non-zero (then why is left to fn). */
int pg_yaml_to_json(const char *text, size_t len, int (*fn)(void *ctx, const char *json, size_t len), void *ctx,
                    char *why, size_t whylen);

/* One node of a document already loaded (a section of a file another
 * reader parsed, e.g. a plugin's config block in phiguard.yaml), resolved
 * the same way. Returns a malloc'd NUL-terminated JSON text, or NULL with
 * why (line:column of the node). */
struct yaml_document_s;
struct yaml_node_s;
char *pg_yaml_node_to_json(struct yaml_document_s *doc, struct yaml_node_s *node, char *why, size_t whylen);

#endif
