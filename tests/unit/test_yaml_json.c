/* YAML to JSON (policy/yaml_json.c): one node of a document another reader
 * loaded (a plugin's config block in phiguard.yaml). Whole documents are
 * tested with the injection code (test_inject.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "policy/yaml_json.h"

/* The JSON of the value of key at the top of text; NULL with why. */
static char *value_json(const char *text, const char *key, char *why, size_t whylen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    assert_true(yaml_parser_initialize(&parser));
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    assert_true(yaml_parser_load(&parser, &doc));
    yaml_node_t *root = yaml_document_get_root_node(&doc), *value = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++)
        if (!strcmp((const char *)yaml_document_get_node(&doc, p->key)->data.scalar.value, key))
            value = yaml_document_get_node(&doc, p->value);
    assert_non_null(value);
    char *json = pg_yaml_node_to_json(&doc, value, why, whylen);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return json;
}

static void test_node_to_json(void **state)
{
    (void)state;
    char why[200];
    char *j = value_json("other: 1\n"
                         "config:\n"
                         "  host: siem.example.org\n"
                         "  port: 6514\n"
                         "  tls: yes\n"
                         "  mode: 0440\n"
                         "  ratio: 0.5\n"
                         "  quoted: \"123\"\n"
                         "  none: ~\n"
                         "  list: [a, {b: c}]\n"
                         "  shared: &s {k: v}\n"
                         "  again: *s\n",
                         "config", why, sizeof why);
    assert_non_null(j);
    assert_string_equal(j, "{\"host\":\"siem.example.org\",\"port\":6514,\"tls\":true,\"mode\":288,\"ratio\":0.5,"
                           "\"quoted\":\"123\",\"none\":null,\"list\":[\"a\",{\"b\":\"c\"}],\"shared\":{\"k\":\"v\"},"
                           "\"again\":{\"k\":\"v\"}}");
    free(j);
    j = value_json("config: plain\n", "config", why, sizeof why);
    assert_string_equal(j, "\"plain\"");
    free(j);
}

static void test_node_errors(void **state)
{
    (void)state;
    char why[200];
    assert_null(value_json("config:\n  a: .inf\n", "config", why, sizeof why));
    assert_non_null(strstr(why, "2:"));
    assert_null(value_json("base: &b {x: 1}\nconfig:\n  <<: *b\n", "config", why, sizeof why));
    assert_non_null(strstr(why, "merge keys (<<) are not supported"));
    assert_null(value_json("config:\n  ? [a]\n  : 1\n", "config", why, sizeof why));
    assert_non_null(strstr(why, "a mapping key is not a scalar"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_to_json),
        cmocka_unit_test(test_node_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
