/* The configuration (config.c): defaults, every option, every error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config_fixture.h"

#define F "\"fields\":[{\"selector\":\"$.note[*].text\",\"name\":\"Observation.note.text\"}]"

static void test_full_example(void **state)
{
    (void)state;
    struct pd_config c = config_of("{" F ",\"patterns\":{\"ssn\":{\"bare_digits\":true,\"area_9xx\":true,\"mask\":\"last4\"},"
                                   "\"mrn\":{\"prefixes\":[\"MRN\",\"Med Rec #\"],\"min_digits\":7,\"max_digits\":9,\"mask\":\"last4\"},"
                                   "\"phone\":{\"mask\":\"last4\"},\"email\":{\"mask\":\"stars\"}},"
                                   "\"action\":\"encrypt\",\"read_permission\":\"phi:read:notes\"}");
    assert_int_equal(c.nfields, 1);
    assert_string_equal(c.selectors[0], "$.note[*].text");
    assert_string_equal(c.names[0], "Observation.note.text");
    for (int k = 0; k < PD_KINDS; k++)
        assert_true(c.patterns.enabled[k]);
    assert_true(c.patterns.ssn_bare_digits);
    assert_true(c.patterns.ssn_area_9xx);
    assert_int_equal(c.patterns.mrn_nprefixes, 2);
    assert_string_equal(c.patterns.mrn_prefixes[1], "Med Rec #");
    assert_int_equal(c.patterns.mrn_min_digits, 7);
    assert_int_equal(c.patterns.mrn_max_digits, 9);
    assert_int_equal(c.mask[PD_SSN], PD_MASK_LAST4);
    assert_int_equal(c.mask[PD_EMAIL], PD_MASK_STARS);
    assert_int_equal(c.action, PD_ENCRYPT);
    assert_string_equal(c.read_permission, "phi:read:notes");
    pd_config_free(&c);
}

static void test_defaults(void **state)
{
    (void)state;
    struct pd_config c = config_of("{" F ",\"patterns\":{\"mrn\":{}},\"action\":\"mask\"}");
    assert_true(c.patterns.enabled[PD_MRN]);
    assert_false(c.patterns.enabled[PD_SSN]);
    assert_int_equal(c.patterns.mrn_nprefixes, 1);
    assert_string_equal(c.patterns.mrn_prefixes[0], "MRN");
    assert_int_equal(c.patterns.mrn_min_digits, 6);
    assert_int_equal(c.patterns.mrn_max_digits, 10);
    assert_int_equal(c.mask[PD_MRN], PD_MASK_STARS);
    assert_int_equal(c.action, PD_MASK);
    assert_null(c.read_permission);
    pd_config_free(&c);
}

static void refused(const char *json, const char *why)
{
    struct pd_config c;
    char err[256] = "";
    assert_int_equal(pd_config_parse(json, &c, err, sizeof err), -1);
    if (!strstr(err, why)) {
        print_error("error \"%s\" does not say \"%s\"\n", err, why);
        fail();
    }
}

static void test_errors(void **state)
{
    (void)state;
    refused("{", "not valid JSON");
    refused("[]", "an object with fields");
    refused("{\"patterns\":{\"ssn\":{}}}", "fields: required");
    refused("{" F ",\"read_permission\":\"p\"}", "patterns: required");
    refused("{\"fields\":[]" ",\"patterns\":{\"ssn\":{}}}", "fields: a list of 1 to 64");
    refused("{\"fields\":[{\"selector\":\"note\",\"name\":\"N\"}]" ",\"patterns\":{\"ssn\":{}}}", "fields[0].selector");
    refused("{\"fields\":[{\"selector\":\"$.a\"}]" ",\"patterns\":{\"ssn\":{}}}", "fields[0].name");
    refused("{\"fields\":[{\"selector\":\"$.a\",\"name\":\"A#ssn\"}]" ",\"patterns\":{\"ssn\":{}}}", "fields[0].name");
    refused("{\"fields\":[{\"selector\":\"$.a\",\"name\":\"A\",\"read\":1}]" ",\"patterns\":{\"ssn\":{}}}",
            "fields[0]: unknown key \"read\"");
    refused("{" F ",\"patterns\":{}}", "at least one of");
    refused("{" F ",\"patterns\":{\"fax\":{}}}", "patterns: unknown key \"fax\"");
    refused("{" F ",\"patterns\":{\"ssn\":true}}", "patterns.ssn: an object");
    refused("{" F ",\"patterns\":{\"ssn\":{\"bare\":true}}}", "patterns.ssn: unknown key \"bare\"");
    refused("{" F ",\"patterns\":{\"ssn\":{\"bare_digits\":1}}}", "patterns.ssn.bare_digits: true or false");
    refused("{" F ",\"patterns\":{\"ssn\":{\"mask\":\"last5\"}}}", "patterns.ssn.mask");
    refused("{" F ",\"patterns\":{\"email\":{\"mask\":\"last4\"}}}", "masked whole");
    refused("{" F ",\"patterns\":{\"phone\":{\"prefixes\":[]}}}", "patterns.phone: unknown key");
    refused("{" F ",\"patterns\":{\"mrn\":{\"min_digits\":0}}}", "patterns.mrn.min_digits: an integer from 1 to 32");
    refused("{" F ",\"patterns\":{\"mrn\":{\"max_digits\":\"9\"}}}", "patterns.mrn.max_digits");
    refused("{" F ",\"patterns\":{\"mrn\":{\"min_digits\":9,\"max_digits\":8}}}", "min_digits is more than max_digits");
    refused("{" F ",\"patterns\":{\"mrn\":{\"prefixes\":[]}}}", "patterns.mrn.prefixes: a list");
    refused("{" F ",\"patterns\":{\"mrn\":{\"prefixes\":[\" MRN\"]}}}", "patterns.mrn.prefixes[0]");
    refused("{" F ",\"patterns\":{\"mrn\":{\"prefixes\":[\"M\\u00e9d\"]}}}", "patterns.mrn.prefixes[0]");
    refused("{" F ",\"patterns\":{\"mrn\":{\"min_digits\":4,\"mask\":\"last4\"}}}", "last4 needs min_digits");
    refused("{" F ",\"patterns\":{\"ssn\":{}}}", "read_permission: required with action encrypt");
    refused("{" F ",\"patterns\":{\"ssn\":{}},\"action\":\"hide\"}", "action: \"encrypt\" or \"mask\"");
    refused("{" F ",\"patterns\":{\"ssn\":{}},\"read_permission\":\"\"}", "read_permission: a permission");
    refused("{" F ",\"patterns\":{\"ssn\":{}},\"read_permission\":\"p\",\"mode\":1}", "config: unknown key \"mode\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
