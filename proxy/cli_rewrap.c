#include "proxy/cli_rewrap.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/envelope.h"
#include "policy/keyring.h"
#include "policy/policy.h"
#include "policy/rewrite.h"
#include "proxy/secret_file.h"

struct rewrap {
    const struct pg_keyring *ring;
    const char **paths; /* every PHI field's logical path in the policy, once */
    int npaths;
    struct pg_rewriter *rw;
    FILE *out;
    char *plain; /* an opened value, wiped after use */
    size_t plain_cap;
    unsigned long rewrapped, current, failed;
    uint64_t first_failed; /* input offset just after the first envelope that did not open */
};

static void add_path(struct rewrap *w, const char *path)
{
    if (!path)
        return;
    for (int i = 0; i < w->npaths; i++)
        if (!strcmp(w->paths[i], path))
            return;
    w->paths[w->npaths++] = path;
}

/* Every field of every route, both directions: an envelope does not say
 * its field, and opens only under the one it was sealed for. */
static int collect_paths(struct rewrap *w, const struct pg_policy *p)
{
    int max = 0;
    for (int i = 0; i < p->nroutes; i++)
        max += p->routes[i].nphi_request + p->routes[i].nphi_response;
    w->paths = calloc((size_t)max + 1, sizeof *w->paths);
    if (!w->paths)
        return -1;
    for (int i = 0; i < p->nroutes; i++) {
        const struct pg_route *r = &p->routes[i];
        for (int k = 0; k < r->nphi_request; k++)
            add_path(w, r->phi_request[k].logical_path);
        for (int k = 0; k < r->nphi_response; k++)
            add_path(w, r->phi_response[k].logical_path);
    }
    return 0;
}

static bool under_active_key(const struct pg_keyring *ring, const char *env, size_t len)
{
    const char *kid = ring->keys[ring->active].kid;
    size_t p = strlen(PG_ENVELOPE_PREFIX), k = strlen(kid);
    return len > p + k && !memcmp(env + p, kid, k) && env[p + k] == ':';
}

static enum pg_rw_action rewrap_value(void *arg, const struct pg_rw_value *v, struct pg_rw_token *out)
{
    struct rewrap *w = arg;
    if (under_active_key(w->ring, v->data, v->len)) {
        w->current++;
        return PG_RW_KEEP;
    }
    if (w->plain_cap < v->len + 1) {
        char *p = realloc(w->plain, v->len + 1);
        if (!p)
            return PG_RW_FAIL;
        w->plain = p;
        w->plain_cap = v->len + 1;
    }
    /* phi:v1:<kid>:<mode>:..., the mode after the kid's colon. */
    const char *colon = memchr(v->data + strlen(PG_ENVELOPE_PREFIX), ':', v->len - strlen(PG_ENVELOPE_PREFIX));
    char mode = colon && colon + 1 < v->data + v->len ? colon[1] : 0;
    for (int i = 0; i < w->npaths; i++) {
        char type;
        size_t n;
        if (pg_envelope_open(w->ring->keys, (size_t)w->ring->n, w->paths[i], v->data, v->len, &type, w->plain,
                             w->plain_cap, &n) != PG_ENVELOPE_OK)
            continue;
        long len = pg_envelope_seal(&w->ring->keys[w->ring->active], mode, w->paths[i], type, w->plain, n, out->data,
                                    out->cap);
        OPENSSL_cleanse(w->plain, n);
        if (len < 0)
            return PG_RW_FAIL;
        out->type = 's';
        out->len = (size_t)len;
        w->rewrapped++;
        return PG_RW_REPLACE;
    }
    if (!w->failed++)
        w->first_failed = pg_rewriter_consumed(w->rw);
    return PG_RW_KEEP; /* counted; the command fails at the end, having counted them all */
}

static int write_out(void *arg, const char *data, size_t len)
{
    struct rewrap *w = arg;
    return fwrite(data, 1, len, w->out) == len ? 0 : -1;
}

/* Streams in through the rewriter; 0 when every envelope is under the
 * active key now. */
static int stream(struct rewrap *w, FILE *in, const char *in_name)
{
    struct pg_rw_options opt = {.scan_envelopes = true, .multiple_values = true};
    w->rw = pg_rewriter_new(NULL, &opt, rewrap_value, write_out, w);
    if (!w->rw) {
        fprintf(stderr, "phiguard keys rewrap: out of memory\n");
        return 1;
    }
    static char buf[65536];
    int rc = 0;
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        rc = pg_rewriter_feed(w->rw, buf, n);
    if (rc == 0 && ferror(in)) {
        fprintf(stderr, "phiguard keys rewrap: %s: %s\n", in_name, strerror(errno));
        rc = -1;
    } else if (rc == 0) {
        rc = pg_rewriter_finish(w->rw);
    }
    if (rc != 0 && !ferror(in))
        fprintf(stderr, "phiguard keys rewrap: %s: %s\n", in_name, pg_rewriter_error(w->rw));
    pg_rewriter_free(w->rw);
    w->rw = NULL;
    if (rc != 0)
        return 1;
    if (w->failed) {
        fprintf(stderr,
                "phiguard keys rewrap: %s: %lu envelope%s open%s under no PHI field of the policy with this keyring "
                "(the first ends at byte %llu)\n",
                in_name, w->failed, w->failed == 1 ? "" : "s", w->failed == 1 ? "s" : "",
                (unsigned long long)w->first_failed);
        return 1;
    }
    return 0;
}

static struct pg_policy *load_policy(const char *file)
{
    struct pg_policy_errors errs = {0};
    struct pg_policy *p = pg_policy_load(file, &errs);
    for (int i = 0; !p && i < errs.count; i++)
        fprintf(stderr, "%s\n", errs.items[i]);
    pg_policy_errors_free(&errs);
    return p;
}

static int load_ring(const char *file, struct pg_keyring *ring)
{
    char why[256];
    size_t len = 0;
    char *text = pg_secret_file_read(file, 65536, &len, why, sizeof why);
    if (!text) {
        fprintf(stderr, "phiguard keys rewrap: %s: %s\n", file, why);
        return -1;
    }
    struct pg_policy_errors errs = {0};
    int rc = pg_keyring_parse(file, text, len, ring, &errs);
    for (int i = 0; i < errs.count; i++)
        fprintf(stderr, "%s\n", errs.items[i]);
    if (rc != 0)
        pg_keyring_wipe(ring);
    pg_policy_errors_free(&errs);
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

int pg_cli_keys_rewrap(const char *keyring, const char *policy, const char *in_path, const char *out_path)
{
    struct pg_keyring ring;
    struct rewrap w = {.ring = &ring};
    struct pg_policy *p = NULL;
    FILE *in = NULL;
    char tmp[4096] = "";
    int rc = 1;
    if (load_ring(keyring, &ring) != 0)
        return 1;
    if (!(p = load_policy(policy)) || collect_paths(&w, p) != 0)
        goto out;
    in = in_path ? fopen(in_path, "rb") : stdin;
    if (!in) {
        fprintf(stderr, "phiguard keys rewrap: %s: %s\n", in_path, strerror(errno));
        goto out;
    }
    if (out_path) {
        /* Written beside the target and renamed: a failed rewrap leaves
         * no output at all, a good one appears whole. */
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", out_path) >= sizeof tmp) {
            tmp[0] = '\0';
            fprintf(stderr, "phiguard keys rewrap: %s: name too long\n", out_path);
            goto out;
        }
        int fd = mkstemp(tmp);
        if (fd < 0 || !(w.out = fdopen(fd, "wb"))) {
            fprintf(stderr, "phiguard keys rewrap: %s: %s\n", tmp, strerror(errno));
            if (fd >= 0)
                close(fd);
            unlink(tmp);
            tmp[0] = '\0';
            goto out;
        }
    } else {
        w.out = stdout;
    }
    rc = stream(&w, in, in_path ? in_path : "stdin");
    if (fflush(w.out) != 0 || ferror(w.out) || (out_path && fsync(fileno(w.out)) != 0)) {
        if (rc == 0)
            fprintf(stderr, "phiguard keys rewrap: %s: %s\n", out_path ? tmp : "stdout", strerror(errno));
        rc = 1;
    }
    if (out_path) {
        if (fclose(w.out) != 0 && rc == 0) {
            fprintf(stderr, "phiguard keys rewrap: %s: %s\n", tmp, strerror(errno));
            rc = 1;
        }
        if (rc == 0 && rename(tmp, out_path) != 0) {
            fprintf(stderr, "phiguard keys rewrap: %s: %s\n", out_path, strerror(errno));
            rc = 1;
        }
        if (rc != 0)
            unlink(tmp);
    }
    if (rc == 0)
        fprintf(stderr, "rewrapped %lu envelope%s under %s (%lu already under it)\n", w.rewrapped,
                w.rewrapped == 1 ? "" : "s", ring.keys[ring.active].kid, w.current);
out:
    if (in && in != stdin)
        fclose(in);
    if (w.plain)
        OPENSSL_cleanse(w.plain, w.plain_cap);
    free(w.plain);
    free(w.paths);
    pg_policy_unref(p);
    pg_keyring_wipe(&ring);
    return rc;
}
