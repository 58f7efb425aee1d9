/* What replaces a PHI value (policy/phi_transform.c): a real FHIR Patient
 * sealed with the sample policy's fields and revealed for a reader and for
 * others; envelopes that must not open; determinism and normalisation;
 * searchable query values during a key rotation; exact tallies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "policy/keyring.h"
#include "policy/phi_transform.h"
#include "policy/selector.h"

#include "json_equal.h"

#define K1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K2 "HxoeHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE="

static struct pg_keyring ring_of(const char *text)
{
    struct pg_keyring ring;
    struct pg_policy_errors errs = {0};
    assert_int_equal(pg_keyring_parse("test", text, strlen(text), &ring, &errs), 0);
    pg_policy_errors_free(&errs);
    return ring;
}

/* ---- running a body through the rewriter with a transform ---- */

struct sink {
    char *buf;
    size_t len, cap;
};

static int sink_write(void *arg, const char *data, size_t len)
{
    struct sink *s = arg;
    if (s->len + len + 1 > s->cap) {
        s->cap = (s->len + len + 1) * 2;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    s->buf[s->len] = '\0';
    return 0;
}

struct ctx {
    struct pg_phi_pass pass;
    struct sink out;
};

static int write_fn(void *arg, const char *data, size_t len)
{
    return sink_write(&((struct ctx *)arg)->out, data, len);
}

static enum pg_rw_action seal_fn(void *arg, const struct pg_rw_value *v, struct pg_rw_token *t)
{
    return pg_phi_seal_value(&((struct ctx *)arg)->pass, v, t);
}

static enum pg_rw_action reveal_fn(void *arg, const struct pg_rw_value *v, struct pg_rw_token *t)
{
    return pg_phi_reveal_value(&((struct ctx *)arg)->pass, v, t);
}

/* The body through set with fn; NULL when it is refused. The tally is
 * left in tally (nfields + 1 entries). */
static char *transform(const struct pg_sel_set *set, const struct pg_phi_field *fields, int nfields,
                       const struct pg_keyring *ring, pg_permset perms, bool seal, const char *doc,
                       struct pg_phi_tally *tally)
{
    struct ctx c = {.pass = {.ring = ring, .fields = fields, .nfields = nfields, .perms = perms, .tally = tally}};
    memset(tally, 0, sizeof *tally * (size_t)(nfields + 1));
    struct pg_rw_options opt = {.scan_envelopes = true};
    struct pg_rewriter *rw = pg_rewriter_new(set, &opt, seal ? seal_fn : reveal_fn, write_fn, &c);
    assert_non_null(rw);
    int rc = pg_rewriter_feed(rw, doc, strlen(doc));
    if (rc == 0)
        rc = pg_rewriter_finish(rw);
    pg_rewriter_free(rw);
    if (rc != 0) {
        free(c.out.buf);
        return NULL;
    }
    return c.out.buf;
}

/* ---- reading results ---- */


/* The value at a path of keys and "#N" array indices; NULL when absent. */
static yajl_val at(yajl_val v, const char *const *path)
{
    for (; v && *path; path++) {
        if ((*path)[0] == '#') {
            size_t i = (size_t)atoi(*path + 1);
            v = YAJL_IS_ARRAY(v) && i < v->u.array.len ? v->u.array.values[i] : NULL;
        } else {
            const char *p[] = {*path, NULL};
            v = yajl_tree_get(v, p, yajl_t_any);
        }
    }
    return v;
}

#define P(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *str_at(yajl_val root, const char *const *path)
{
    yajl_val v = at(root, path);
    return v && YAJL_IS_STRING(v) ? v->u.string : NULL;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (n >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) /* these files carry a byte order mark */
        memmove(buf, buf + 3, (size_t)n - 2);
    return buf;
}

/* ---- the sample policy's Patient fields ---- */

struct fixture {
    struct pg_policy *policy;
    const struct pg_route *write, *read;
    struct pg_keyring ring;
    pg_permset all, none, demographics; /* requesters */
    char *patient;
};

static const struct pg_route *route(const struct pg_policy *p, const char *name)
{
    for (int i = 0; i < p->nroutes; i++)
        if (!strcmp(p->routes[i].name, name))
            return &p->routes[i];
    fail_msg("no route %s", name);
    return NULL;
}

static void grant(const struct pg_policy *p, pg_permset *s, const char *perm)
{
    int i = pg_policy_perm_index(p, perm);
    assert_true(i >= 0);
    s->w[i / 64] |= 1ULL << (i % 64);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    const char *top = getenv("PHIGUARD_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/conf/policy.yaml", top ? top : ".");
    struct pg_policy_errors errs = {0};
    size_t len = 0;
    char *text = pg_policy_read_file(path, 1 << 20, &len, &errs);
    /* The sample policy's Patient fields, with two shapes these tests
     * exercise and the sample no longer uses there: identifiers normalised
     * to digits, and address lines selected element by element. */
    static const struct {
        const char *from, *to;
    } edits[] = {
        {"searchable: true, others: mask, mask: last4}", "searchable: true, normalize: digits, others: mask, mask: last4}"},
        {"\"$.address[*].line\"", "\"$.address[*].line[*]\""},
    };
    for (size_t i = 0; text && i < sizeof edits / sizeof edits[0]; i++) {
        char *at = strstr(text, edits[i].from);
        if (!at)
            continue;
        size_t fl = strlen(edits[i].from), tl = strlen(edits[i].to);
        char *t2 = malloc(len - fl + tl + 1);
        memcpy(t2, text, (size_t)(at - text));
        memcpy(t2 + (at - text), edits[i].to, tl);
        memcpy(t2 + (at - text) + tl, at + fl, len - (size_t)(at - text) - fl + 1);
        free(text);
        text = t2;
        len = len - fl + tl;
        i--; /* every occurrence: the search route names the same fields */
    }
    fx->policy = text ? pg_policy_load_buffer(path, text, len, &errs) : NULL;
    for (int i = 0; i < errs.count; i++)
        fprintf(stderr, "%s\n", errs.items[i]);
    free(text);
    pg_policy_errors_free(&errs);
    if (!fx->policy) {
        free(fx);
        fprintf(stderr, "%s does not load (set PHIGUARD_SOURCE_DIR)\n", path);
        return -1;
    }
    fx->write = route(fx->policy, "patient-write");
    fx->read = route(fx->policy, "patient-read");
    fx->ring = ring_of("active k2\nk1 " K1 "\nk2 " K2 "\n");
    static const char *const perms[] = {"phi:read:identifiers", "phi:read:demographics", "phi:read:contact"};
    for (size_t i = 0; i < 3; i++)
        grant(fx->policy, &fx->all, perms[i]);
    grant(fx->policy, &fx->demographics, "phi:read:demographics");
    fx->patient = read_file("/work/shared/fhir/hl7/Patient.json");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (!fx)
        return 0;
    pg_policy_unref(fx->policy);
    pg_keyring_wipe(&fx->ring);
    free(fx->patient);
    free(fx);
    return 0;
}

static char *seal_patient(struct fixture *fx, const char *doc, struct pg_phi_tally *t)
{
    return transform(fx->write->sel_request, fx->write->phi_request, fx->write->nphi_request, &fx->ring, fx->none,
                     true, doc, t);
}

static char *reveal_patient(struct fixture *fx, const char *doc, pg_permset perms, struct pg_phi_tally *t)
{
    return transform(fx->read->sel_response, fx->read->phi_response, fx->read->nphi_response, &fx->ring, perms, false,
                     doc, t);
}

/* Field indices in conf/policy.yaml's patient fields. */
enum { F_ID, F_FAMILY, F_GIVEN, F_BIRTH, F_TELECOM, F_LINE, F_CITY, F_POSTAL, NF };

static void test_patient_roundtrip_for_a_reader(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(fx->write->nphi_request, NF);
    struct pg_phi_tally t[NF + 1];
    char *sealed = seal_patient(fx, fx->patient, t);
    assert_non_null(sealed);
    static const uint32_t want[NF] = {1, 2, 5, 1, 3, 1, 1, 1};
    for (int i = 0; i < NF; i++) {
        assert_int_equal(t[i].sealed, want[i]);
        assert_int_equal(t[i].failed, 0);
    }
    char e[128];
    yajl_val root = yajl_tree_parse(sealed, e, sizeof e);
    assert_non_null(root);
    /* Selected values are envelopes under the active key: d for the
     * searchable identifier, r for the rest; the rest is untouched. */
    assert_int_equal(strncmp(str_at(root, P("identifier", "#0", "value")), "phi:v1:k2:d:", 12), 0);
    assert_int_equal(strncmp(str_at(root, P("name", "#0", "family")), "phi:v1:k2:r:", 12), 0);
    assert_int_equal(strncmp(str_at(root, P("name", "#2", "given", "#1")), "phi:v1:k2:r:", 12), 0);
    assert_int_equal(strncmp(str_at(root, P("birthDate")), "phi:v1:k2:r:", 12), 0);
    assert_int_equal(strncmp(str_at(root, P("address", "#0", "postalCode")), "phi:v1:k2:r:", 12), 0);
    assert_string_equal(str_at(root, P("identifier", "#0", "system")), "urn:oid:1.2.36.146.595.217.0.1");
    assert_string_equal(str_at(root, P("address", "#0", "state")), "Vic");
    assert_string_equal(str_at(root, P("contact", "#0", "name", "family")), "du Marché"); /* not selected */
    assert_null(strstr(sealed, "Windsor"));
    assert_null(strstr(sealed, "5555 8834"));
    yajl_tree_free(root);

    char *clear = reveal_patient(fx, sealed, fx->all, t);
    assert_non_null(clear);
    assert_true(same_json(clear, fx->patient));
    static const uint32_t opened[NF] = {1, 2, 5, 1, 3, 1, 1, 1};
    for (int i = 0; i < NF; i++) {
        assert_int_equal(t[i].opened, opened[i]);
        assert_int_equal(t[i].masked + t[i].removed + t[i].failed + t[i].plain, 0);
    }
    assert_int_equal(t[NF].masked, 0);
    free(clear);
    free(sealed);
}

static void test_types_restored(void **state)
{
    struct fixture *fx = *state;
    const char *doc = "{\"identifier\":[{\"value\":987654321}],\"birthDate\":false,"
                      "\"name\":[{\"family\":\"O'Brien\",\"given\":[42.50,true,null]}]}";
    struct pg_phi_tally t[NF + 1];
    char *sealed = seal_patient(fx, doc, t);
    assert_non_null(sealed);
    assert_int_equal(t[F_GIVEN].sealed, 2); /* null holds nothing */
    assert_null(strstr(sealed, "987654321"));
    assert_non_null(strstr(sealed, "null"));
    char *clear = reveal_patient(fx, sealed, fx->all, t);
    assert_string_equal(clear, doc);
    free(clear);
    free(sealed);
}

static void test_patient_for_others(void **state)
{
    struct fixture *fx = *state;
    struct pg_phi_tally t[NF + 1];
    char *sealed = seal_patient(fx, fx->patient, t);
    /* Demographics only: names and birth date in clear; identifiers and
     * contact data masked (last 4) or removed. */
    char *out = reveal_patient(fx, sealed, fx->demographics, t);
    assert_non_null(out);
    char e[128];
    yajl_val root = yajl_tree_parse(out, e, sizeof e);
    assert_string_equal(str_at(root, P("identifier", "#0", "value")), "***2345");
    assert_string_equal(str_at(root, P("name", "#0", "family")), "Chalmers");
    assert_string_equal(str_at(root, P("birthDate")), "1974-12-25");
    assert_string_equal(str_at(root, P("telecom", "#1", "value")), "***6473");
    assert_string_equal(str_at(root, P("telecom", "#3", "value")), "***8834");
    yajl_val addr = at(root, P("address", "#0"));
    yajl_val line = at(addr, P("line")); /* its elements are the field: removed, the list stays */
    assert_true(line && YAJL_IS_ARRAY(line) && line->u.array.len == 0);
    assert_null(at(addr, P("city")));
    assert_null(at(addr, P("postalCode")));
    assert_string_equal(str_at(addr, P("district")), "Rainbow");
    yajl_tree_free(root);
    struct pg_phi_tally want[NF] = {
        [F_ID] = {.masked = 1},  [F_FAMILY] = {.opened = 2}, [F_GIVEN] = {.opened = 5}, [F_BIRTH] = {.opened = 1},
        [F_TELECOM] = {.masked = 3}, [F_LINE] = {.removed = 1}, [F_CITY] = {.removed = 1}, [F_POSTAL] = {.removed = 1},
    };
    assert_memory_equal(t, want, sizeof want);
    free(out);
    /* Nobody: every name masked, the birth date removed. */
    out = reveal_patient(fx, sealed, fx->none, t);
    root = yajl_tree_parse(out, e, sizeof e);
    assert_string_equal(str_at(root, P("name", "#0", "family")), "***");
    assert_string_equal(str_at(root, P("name", "#0", "given", "#0")), "***");
    assert_null(at(root, P("birthDate")));
    assert_string_equal(str_at(root, P("gender")), "male");
    yajl_tree_free(root);
    assert_int_equal(t[F_GIVEN].masked, 5);
    assert_int_equal(t[F_BIRTH].removed, 1);
    assert_int_equal(t[F_GIVEN].opened, 0);
    free(out);
    free(sealed);
}

static void test_plain_values(void **state)
{
    struct fixture *fx = *state;
    const char *doc = "{\"identifier\":[{\"value\":\"99\"},{\"value\":123456}],\"name\":[{\"family\":\"Doe\"}],"
                      "\"birthDate\":\"2000-01-01\"}";
    struct pg_phi_tally t[NF + 1];
    char *out = reveal_patient(fx, doc, fx->all, t);
    assert_string_equal(out, doc); /* a reader gets what was stored */
    assert_int_equal(t[F_ID].plain, 2);
    assert_int_equal(t[F_ID].opened, 0);
    free(out);
    out = reveal_patient(fx, doc, fx->none, t);
    /* Others: masked like envelopes (a number by its text), or removed. */
    assert_string_equal(out, "{\"identifier\":[{\"value\":\"***\"},{\"value\":\"***3456\"}],\"name\":[{\"family\":\"***\"}]}");
    struct pg_phi_tally want[NF] = {[F_ID] = {.masked = 2, .plain = 2}, [F_FAMILY] = {.masked = 1, .plain = 1},
                                    [F_BIRTH] = {.removed = 1, .plain = 1}};
    assert_memory_equal(t, want, sizeof want);
    free(out);
}

static void test_envelopes_that_do_not_open(void **state)
{
    struct fixture *fx = *state;
    struct pg_phi_tally t[NF + 1];
    char *sealed = seal_patient(fx, "{\"name\":[{\"family\":\"Doe\"}],\"birthDate\":\"1970\"}", t);
    char e[128];
    yajl_val root = yajl_tree_parse(sealed, e, sizeof e);
    char family[256], birth[256];
    snprintf(family, sizeof family, "%s", str_at(root, P("name", "#0", "family")));
    snprintf(birth, sizeof birth, "%s", str_at(root, P("birthDate")));
    yajl_tree_free(root);
    free(sealed);

    /* Moved into another field: fails for a reader too. */
    char doc[1024];
    snprintf(doc, sizeof doc, "{\"name\":[{\"family\":\"%s\"}],\"telecom\":[{\"value\":\"%s\"}]}", birth, family);
    char *out = reveal_patient(fx, doc, fx->all, t);
    assert_string_equal(out, "{\"name\":[{\"family\":\"***\"}],\"telecom\":[{\"value\":\"***\"}]}");
    assert_int_equal(t[F_FAMILY].failed, 1);
    assert_int_equal(t[F_FAMILY].masked, 1);
    assert_int_equal(t[F_TELECOM].failed, 1);
    assert_int_equal(t[F_TELECOM].masked, 1);
    assert_int_equal(t[F_FAMILY].opened + t[F_TELECOM].opened, 0);
    free(out);

    /* Changed bytes. */
    char tampered[256];
    snprintf(tampered, sizeof tampered, "%s", family);
    size_t n = strlen(tampered);
    tampered[n - 2] = tampered[n - 2] == 'A' ? 'B' : 'A';
    snprintf(doc, sizeof doc, "{\"name\":[{\"family\":\"%s\"}]}", tampered);
    out = reveal_patient(fx, doc, fx->all, t);
    assert_string_equal(out, "{\"name\":[{\"family\":\"***\"}]}");
    assert_int_equal(t[F_FAMILY].failed, 1);
    free(out);

    /* A key the ring does not hold (k2 sealed it; this ring has k1 only). */
    struct pg_keyring old = ring_of("active k1\nk1 " K1 "\n");
    snprintf(doc, sizeof doc, "{\"name\":[{\"family\":\"%s\"}]}", family);
    out = transform(fx->read->sel_response, fx->read->phi_response, NF, &old, fx->all, false, doc, t);
    assert_string_equal(out, "{\"name\":[{\"family\":\"***\"}]}");
    assert_int_equal(t[F_FAMILY].failed, 1);
    assert_int_equal(t[F_FAMILY].opened, 0);
    free(out);
    pg_keyring_wipe(&old);

    /* A stray envelope, outside every field: masked, counted as a stray. */
    snprintf(doc, sizeof doc, "{\"note\":[\"%s\"],\"name\":[{\"family\":\"%s\"}]}", family, family);
    out = reveal_patient(fx, doc, fx->all, t);
    assert_string_equal(out, "{\"note\":[\"***\"],\"name\":[{\"family\":\"Doe\"}]}");
    assert_int_equal(t[NF].masked, 1);
    assert_int_equal(t[F_FAMILY].opened, 1);
    free(out);
}

static void test_request_refuses_envelopes(void **state)
{
    struct fixture *fx = *state;
    struct pg_phi_tally t[NF + 1];
    /* In a selected field, and anywhere else. */
    assert_null(seal_patient(fx, "{\"name\":[{\"family\":\"phi:v1:k1:r:AAAA\"}]}", t));
    assert_int_equal(t[F_FAMILY].failed, 1);
    assert_null(seal_patient(fx, "{\"note\":\"phi:v1:k1:r:AAAA\"}", t));
    assert_int_equal(t[NF].failed, 1);
}

static void test_searchable_and_random(void **state)
{
    struct fixture *fx = *state;
    struct pg_phi_tally t[NF + 1];
    /* One SSN written two ways: normalised to digits, equal envelopes. */
    char *sealed = seal_patient(fx, "{\"identifier\":[{\"value\":\"123-45-6789\"},{\"value\":\" 123 45 6789\"}],"
                                    "\"name\":[{\"family\":\"Doe\"},{\"family\":\"Doe\"}]}",
                                t);
    char e[128];
    yajl_val root = yajl_tree_parse(sealed, e, sizeof e);
    assert_string_equal(str_at(root, P("identifier", "#0", "value")), str_at(root, P("identifier", "#1", "value")));
    assert_string_not_equal(str_at(root, P("name", "#0", "family")), str_at(root, P("name", "#1", "family")));
    yajl_tree_free(root);
    /* What opens is the normalised value. */
    char *clear = reveal_patient(fx, sealed, fx->all, t);
    assert_non_null(strstr(clear, "\"value\":\"123456789\""));
    free(clear);
    free(sealed);
}

static void test_normalize(void **state)
{
    (void)state;
    char out[64];
    size_t n = pg_phi_normalize(PG_NORM_DIGITS, "(03) 5555-6473 x", 16, out);
    assert_int_equal(n, 10);
    assert_memory_equal(out, "0355556473", 10);
    n = pg_phi_normalize(PG_NORM_LOWER, "Jane.DOE@Example.ORG", 20, out);
    assert_memory_equal(out, "jane.doe@example.org", n);
    n = pg_phi_normalize(PG_NORM_LOWER, "\xc3\x89MILE", 6, out); /* ASCII only: É stays */
    assert_memory_equal(out, "\xc3\x89mile", n);
    n = pg_phi_normalize(PG_NORM_NONE, "As Is", 5, out);
    assert_memory_equal(out, "As Is", n);
    assert_int_equal(pg_phi_normalize(PG_NORM_DIGITS, "none", 4, out), 0);
}

/* A field of one's own, for what the sample policy does not use. */
static void own_field(struct pg_phi_field *f, const char *sel, const char *logical, enum pg_phi_action others,
                      int keep_last)
{
    memset(f, 0, sizeof *f);
    char why[128];
    assert_int_equal(pg_selector_compile(sel, &f->steps, &f->nsteps, why, sizeof why), 0);
    f->logical_path = (char *)logical;
    f->read_perm = 5;
    f->others = others;
    f->mask_keep_last = keep_last;
}

static void test_mask_counts_characters_and_containers(void **state)
{
    struct fixture *fx = *state;
    struct pg_phi_field f[3];
    own_field(&f[0], "$.who", "T.who", PG_PHI_MASK, 4);
    own_field(&f[1], "$.address", "T.address", PG_PHI_REDACT, 0);
    own_field(&f[2], "$.other", "T.other", PG_PHI_DENY, 0);
    bool failed;
    struct pg_sel_set *set = pg_sel_set_new(f, 3, &failed);
    pg_permset reader = {{0}};
    reader.w[0] = 1u << 5;
    struct pg_phi_tally t[4];
    const char *doc = "{\"who\":[\"Ren\xc3\xa9\xc3\xa9 \xc3\x96z\",\"Zo\xc3\xab\",\"abcde\"],"
                      "\"address\":{\"line\":[\"1 Main St\"]},\"other\":\"x\"}";
    char *sealed = transform(set, f, 3, &fx->ring, fx->none, true, doc, t);
    assert_int_equal(t[0].sealed, 3);
    assert_int_equal(t[1].sealed, 1);
    char *out = transform(set, f, 3, &fx->ring, fx->none, false, sealed, t);
    /* The last four code points, not bytes; four or fewer: nothing shown.
     * deny reaching here masks; a redacted container goes whole. */
    assert_string_equal(out, "{\"who\":[\"***\xc3\xa9 \xc3\x96z\",\"***\",\"***bcde\"],\"other\":\"***\"}");
    assert_int_equal(t[0].masked, 3);
    assert_int_equal(t[1].removed, 1);
    assert_int_equal(t[2].masked, 1);
    free(out);
    out = transform(set, f, 3, &fx->ring, reader, false, sealed, t);
    assert_string_equal(out, doc);
    assert_int_equal(t[1].opened, 1); /* the container's scalar */
    free(out);
    free(sealed);
    pg_sel_set_free(set);
    for (int i = 0; i < 3; i++)
        pg_selector_free(f[i].steps, f[i].nsteps);
}

static const struct pg_phi_field *identifier_field(const struct fixture *fx)
{
    const struct pg_phi_field *f = &fx->read->phi_response[F_ID];
    assert_string_equal(f->logical_path, "Patient.identifier.value");
    assert_true(f->searchable);
    return f;
}

/* Opens each comma-separated envelope of a query value (after its
 * system, if any) with the one key its kid names. */
static void check_query(const struct pg_keyring *ring, const char *q, const char *system, const char *plain,
                        const char *const *kids)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", q);
    int n = 0;
    for (char *save, *alt = strtok_r(copy, ",", &save); alt; alt = strtok_r(NULL, ",", &save), n++) {
        assert_non_null(kids[n]);
        if (system) {
            assert_int_equal(strncmp(alt, system, strlen(system)), 0);
            alt += strlen(system);
        }
        char prefix[64];
        snprintf(prefix, sizeof prefix, "phi:v1:%s:d:", kids[n]);
        assert_int_equal(strncmp(alt, prefix, strlen(prefix)), 0);
        const struct pg_phi_key *k = NULL;
        for (int i = 0; i < ring->n; i++)
            if (!strcmp(ring->keys[i].kid, kids[n]))
                k = &ring->keys[i];
        char out[256], type;
        size_t len;
        assert_int_equal(pg_envelope_open(k, 1, "Patient.identifier.value", alt, strlen(alt), &type, out, sizeof out,
                                          &len),
                         PG_ENVELOPE_OK);
        assert_int_equal(type, 's');
        assert_string_equal(out, plain);
    }
    assert_null(kids[n]);
}

static void test_query_value(void **state)
{
    struct fixture *fx = *state;
    const struct pg_phi_field *f = identifier_field(fx);
    char out[4096];
    /* Two keys, k2 active: two envelopes, the active first. */
    long n = pg_phi_query_value(&fx->ring, f, "123-45-6789", 11, out, sizeof out);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(out));
    check_query(&fx->ring, out, NULL, "123456789", P("k2", "k1"));
    /* What the query matches is what the body stored. */
    struct pg_phi_tally t[NF + 1];
    char *sealed = seal_patient(fx, "{\"identifier\":[{\"value\":\"123456789\"}]}", t);
    char first[512];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(out, ","), out);
    assert_non_null(strstr(sealed, first));
    free(sealed);
    /* A token: the system stays, on each alternative. */
    n = pg_phi_query_value(&fx->ring, f, "http://hl7.org/fhir/sid/us-ssn|123 45 6789", 42, out, sizeof out);
    assert_true(n > 0);
    check_query(&fx->ring, out, "http://hl7.org/fhir/sid/us-ssn|", "123456789", P("k2", "k1"));
    /* Split at the last bar. */
    n = pg_phi_query_value(&fx->ring, f, "a|b|77", 6, out, sizeof out);
    check_query(&fx->ring, out, "a|b|", "77", P("k2", "k1"));
    /* FHIR's "or": each alternative sealed. */
    n = pg_phi_query_value(&fx->ring, f, "1-1,2-2", 7, out, sizeof out);
    assert_true(n > 0);
    char *comma = strchr(strchr(out, ',') + 1, ',');
    check_query(&fx->ring, comma + 1, NULL, "22", P("k2", "k1"));
    *comma = '\0';
    check_query(&fx->ring, out, NULL, "11", P("k2", "k1"));
    /* One key, the older one active in another ring. */
    struct pg_keyring one = ring_of("active k1\nk2 " K2 "\nk1 " K1 "\n");
    n = pg_phi_query_value(&one, f, "5", 1, out, sizeof out);
    check_query(&one, out, NULL, "5", P("k1", "k2"));
    pg_keyring_wipe(&one);
    /* Too small an output, and a field that is not searchable. */
    assert_int_equal(pg_phi_query_value(&fx->ring, f, "123", 3, out, 60), -1);
    assert_int_equal(pg_phi_query_value(&fx->ring, &fx->read->phi_response[F_FAMILY], "Doe", 3, out, sizeof out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patient_roundtrip_for_a_reader),
        cmocka_unit_test(test_types_restored),
        cmocka_unit_test(test_patient_for_others),
        cmocka_unit_test(test_plain_values),
        cmocka_unit_test(test_envelopes_that_do_not_open),
        cmocka_unit_test(test_request_refuses_envelopes),
        cmocka_unit_test(test_searchable_and_random),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_mask_counts_characters_and_containers),
        cmocka_unit_test(test_query_value),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
