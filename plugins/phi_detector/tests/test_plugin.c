/* The plugin through its ABI (plugin.c), with a host of the test's own:
 * the entry point, both body hooks, refusals, and log lines without a
 * matched value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config_fixture.h"
#include "fake_seal.h"
#include "phiguard_plugin.h"

int phiguard_plugin_entry(uint32_t abi, const struct phg_host *host, phg_plugin_handle *self, const char *config_json,
                          struct phg_plugin *plugin, char *err, size_t errcap);

static char logged[8192];
static int reader_has_permission;

static void host_log(phg_plugin_handle *p, enum phg_log_level level, const char *fmt, ...)
{
    (void)p;
    (void)level;
    size_t n = strlen(logged);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(logged + n, sizeof logged - n, fmt, ap);
    va_end(ap);
    strncat(logged, "\n", sizeof logged - strlen(logged) - 1);
}

static int host_has_permission(phg_request *r, const char *perm)
{
    (void)r;
    return reader_has_permission && strcmp(perm, "phi:read:notes") == 0;
}

static long host_seal(phg_plugin_handle *p, const char *field, const char *v, size_t len, char *out, size_t cap)
{
    (void)p;
    return fake_seal(NULL, field, v, len, out, cap);
}

static long host_open(phg_plugin_handle *p, const char *field, const char *env, size_t len, char *out, size_t cap)
{
    (void)p;
    return fake_open(NULL, field, env, len, out, cap);
}

static struct phg_host host = {
    .abi = PHG_ABI_CURRENT,
    .size = sizeof(struct phg_host),
    .log = host_log,
    .has_permission = host_has_permission,
    .phi_seal = host_seal,
    .phi_open = host_open,
};

static const char NOTE[] = "Called (555) 810-7203 about SSN 123-45-6789, e-mail jo@example.com, MRN 1234567.";
static const char *const VALUES[] = {"(555) 810-7203", "123-45-6789", "jo@example.com", "1234567"};

static struct phg_plugin loaded(void)
{
    struct phg_plugin p = {.size = sizeof p};
    char err[256] = "";
    int rc = phiguard_plugin_entry(PHG_ABI_CURRENT, &host, NULL, NOTE_CONFIG, &p, err, sizeof err);
    assert_int_equal(rc, 0);
    return p;
}

static void assert_no_value_logged(void)
{
    for (size_t i = 0; i < sizeof VALUES / sizeof *VALUES; i++)
        assert_null(strstr(logged, VALUES[i]));
}

static struct phg_json_value string_value(const char *s, int selector)
{
    return (struct phg_json_value){.path = "x", .selector = selector, .type = 's', .data = s, .len = strlen(s)};
}

static void test_entry_registers_fields_and_hooks(void **state)
{
    (void)state;
    struct phg_plugin p = loaded();
    assert_string_equal(p.name, "phi_detector");
    assert_int_equal(p.nbody_fields, 2);
    assert_string_equal(p.body_fields[0], "$.note[*].text");
    assert_string_equal(p.body_field_names[1], "DiagnosticReport.conclusion");
    assert_non_null(p.request_body_value);
    assert_non_null(p.response_body_value);
    assert_null(p.authenticate);
    p.unload(p.state);
}

static void test_entry_refusals(void **state)
{
    (void)state;
    struct phg_plugin p = {.size = sizeof p};
    char err[256];
    assert_int_equal(phiguard_plugin_entry(PHG_ABI_CURRENT, &host, NULL, "{\"fields\":[]}", &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "phi_detector config: patterns: required"));
    assert_int_equal(phiguard_plugin_entry(PHG_ABI_VERSION(2, 0), &host, NULL, NOTE_CONFIG, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs ABI 1.x"));
    struct phg_host old = host;
    old.size = offsetof(struct phg_host, phi_seal);
    assert_int_equal(phiguard_plugin_entry(PHG_ABI_CURRENT, &old, NULL, NOTE_CONFIG, &p, err, sizeof err), -1);
    old = host;
    old.phi_open = NULL;
    assert_int_equal(phiguard_plugin_entry(PHG_ABI_CURRENT, &old, NULL, NOTE_CONFIG, &p, err, sizeof err), -1);
}

static void test_round_trip(void **state)
{
    (void)state;
    logged[0] = 0;
    struct phg_plugin p = loaded();
    phg_request *r = (phg_request *)&host; /* opaque to the plugin: any address */
    char stored[4096], shown[4096];
    struct phg_json_value v = string_value(NOTE, 0);
    /* Four identifiers in 80 bytes need more than the ABI's least offer
     * (2 * len + 256): a host that offers more gets them sealed. */
    struct phg_json_out out = {.data = stored, .cap = sizeof stored};
    assert_int_equal(p.request_body_value(p.state, r, &v, &out), PHG_BODY_REPLACE);
    assert_int_equal(out.type, 's');
    stored[out.len] = 0;
    for (size_t i = 0; i < sizeof VALUES / sizeof *VALUES; i++)
        assert_null(strstr(stored, VALUES[i]));

    reader_has_permission = 1;
    struct phg_json_value back = string_value(stored, 0);
    struct phg_json_out o2 = {.data = shown, .cap = 2 * back.len + 256};
    assert_int_equal(p.response_body_value(p.state, r, &back, &o2), PHG_BODY_REPLACE);
    assert_int_equal(o2.len, strlen(NOTE));
    assert_memory_equal(shown, NOTE, o2.len);

    reader_has_permission = 0;
    o2 = (struct phg_json_out){.data = shown, .cap = 2 * back.len + 256};
    assert_int_equal(p.response_body_value(p.state, r, &back, &o2), PHG_BODY_REPLACE);
    shown[o2.len] = 0;
    assert_string_equal(shown, "Called ***-***-7203 about SSN ***-**-6789, e-mail ***, MRN ***.");
    /* Under the other field's name, the tokens do not open: masked for all. */
    reader_has_permission = 1;
    struct phg_json_value moved = string_value(stored, 1);
    o2 = (struct phg_json_out){.data = shown, .cap = 2 * moved.len + 256};
    assert_int_equal(p.response_body_value(p.state, r, &moved, &o2), PHG_BODY_REPLACE);
    shown[o2.len] = 0;
    assert_string_equal(shown, "Called *** about SSN ***, e-mail ***, MRN ***.");
    assert_non_null(strstr(logged, "4 embedded envelopes did not open"));
    assert_no_value_logged();
    p.unload(p.state);
}

static void test_keeps_and_fails(void **state)
{
    (void)state;
    logged[0] = 0;
    fake_reset();
    struct phg_plugin p = loaded();
    phg_request *r = (phg_request *)&host;
    char buf[4096];
    struct phg_json_out out = {.data = buf, .cap = sizeof buf};
    /* Nothing to find; not a string; a reader's clear text. */
    struct phg_json_value v = string_value("patient is afraid of needles", 0);
    assert_int_equal(p.request_body_value(p.state, r, &v, &out), PHG_BODY_KEEP);
    struct phg_json_value num = {.path = "x", .selector = 0, .type = 'n', .data = "123456789", .len = 9};
    assert_int_equal(p.request_body_value(p.state, r, &num, &out), PHG_BODY_KEEP);
    assert_int_equal(p.response_body_value(p.state, r, &num, &out), PHG_BODY_KEEP);
    reader_has_permission = 1;
    v = string_value(NOTE, 0);
    assert_int_equal(p.response_body_value(p.state, r, &v, &out), PHG_BODY_KEEP);
    /* A client's planted envelope is refused, as the client's fault. */
    v = string_value("see [ssn:phi:v1:k1:r:AAAA]", 0);
    assert_int_equal(p.request_body_value(p.state, r, &v, &out), PHG_BODY_REJECT);
    assert_non_null(strstr(logged, "the request holds a PHI envelope"));
    /* Too little room for the envelopes, and a host that cannot seal. */
    v = string_value(NOTE, 0);
    out.cap = 2 * v.len + 256;
    char many[1024];
    snprintf(many, sizeof many, "%s %s %s", NOTE, NOTE, NOTE);
    struct phg_json_value m = string_value(many, 0);
    struct phg_json_out small = {.data = buf, .cap = 2 * m.len + 256};
    assert_int_equal(p.request_body_value(p.state, r, &m, &small), PHG_BODY_FAIL);
    assert_non_null(strstr(logged, "longer than the host's output buffer"));
    fake_seal_fail = 1;
    assert_int_equal(p.request_body_value(p.state, r, &v, &out), PHG_BODY_FAIL);
    assert_non_null(strstr(logged, "could not seal"));
    fake_seal_fail = 0;
    /* A selector index the plugin never registered. */
    v = string_value(NOTE, 7);
    assert_int_equal(p.request_body_value(p.state, r, &v, &out), PHG_BODY_FAIL);
    assert_no_value_logged();
    p.unload(p.state);
}

static void test_mask_action(void **state)
{
    (void)state;
    fake_reset();
    struct phg_plugin p = {.size = sizeof p};
    char err[256];
    const char *cfg = "{\"fields\":[{\"selector\":\"$.note[*].text\",\"name\":\"Observation.note.text\"}],"
                      "\"patterns\":{\"ssn\":{\"mask\":\"last4\"},\"email\":{}},\"action\":\"mask\"}";
    assert_int_equal(phiguard_plugin_entry(PHG_ABI_CURRENT, &host, NULL, cfg, &p, err, sizeof err), 0);
    char buf[512];
    struct phg_json_value v = string_value("SSN 123-45-6789 mail jo@example.com", 0);
    struct phg_json_out out = {.data = buf, .cap = sizeof buf};
    assert_int_equal(p.request_body_value(p.state, (phg_request *)&host, &v, &out), PHG_BODY_REPLACE);
    buf[out.len] = 0;
    assert_string_equal(buf, "SSN ***-**-6789 mail ***");
    assert_int_equal(fake_seals, 0);
    /* No read_permission: nobody reads, whatever they hold. */
    reader_has_permission = 1;
    v = string_value("SSN 123-45-6789", 0);
    out = (struct phg_json_out){.data = buf, .cap = sizeof buf};
    assert_int_equal(p.response_body_value(p.state, (phg_request *)&host, &v, &out), PHG_BODY_REPLACE);
    buf[out.len] = 0;
    assert_string_equal(buf, "SSN ***-**-6789");
    p.unload(p.state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_registers_fields_and_hooks),
        cmocka_unit_test(test_entry_refusals),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_keeps_and_fails),
        cmocka_unit_test(test_mask_action),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
