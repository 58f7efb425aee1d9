/* `phiguard inject` and `phiguard inject-webhook` (proxy/cli_inject.h). */
#include "proxy/cli_inject.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "policy/inject.h"
#include "policy/yaml_json.h"
#include "proxy/addr.h"
#include "proxy/log.h"

#define MAX_REVIEW_BYTES (8u << 20) /* an AdmissionReview is bounded by etcd's 1.5 MiB object limit */

static const char INJECT_USAGE[] =
    "usage: phiguard inject -f FILE [--image IMAGE] [--init-image IMAGE]\n"
    "\n"
    "Prints the Kubernetes manifests of FILE (YAML or JSON, one or more\n"
    "documents; - for standard input) with the phiguard sidecar added to each\n"
    "pod template annotated phiguard.io/inject: \"true\" (Pod, Deployment,\n"
    "StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob).\n"
    "The output is a YAML stream of JSON documents (JSON is YAML), which\n"
    "kubectl apply -f reads. Annotations: phiguard.io/upstream-port (the app's\n"
    "loopback port, default 8080), phiguard.io/policy-configmap (the ConfigMap\n"
    "with phiguard.yaml and policy.yaml, default phiguard-config). A pod\n"
    "annotated phiguard.io/injected: \"true\", or with a container named\n"
    "phiguard, is left as it is. Exit 1, printing nothing, when an annotated\n"
    "pod cannot take the sidecar.\n";

static const char WEBHOOK_USAGE[] =
    "usage: phiguard inject-webhook --listen ADDR --cert FILE --key FILE\n"
    "                               [--image IMAGE] [--init-image IMAGE]\n"
    "\n"
    "Serves AdmissionReview v1 over HTTPS (any path, POST): a pod annotated\n"
    "phiguard.io/inject: \"true\" is allowed with a JSONPatch that adds the\n"
    "sidecar, as phiguard inject would; every other pod, and every pod the\n"
    "webhook does not understand, is allowed unchanged (and logged).\n";

static int read_all(const char *file, char **out, size_t *outlen)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (!f)
        return -1;
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (cap - len - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (!buf || bad) {
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

struct inject_run {
    struct pg_inject_options opts;
    char *out;
    size_t len, cap;
    int ndoc;
    char *why;
    size_t whylen;
};

static int append(struct inject_run *r, const char *s, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 65536;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->out, cap);
        if (!b)
            return -1;
        r->out = b;
        r->cap = cap;
    }
    memcpy(r->out + r->len, s, n);
    r->len += n;
    r->out[r->len] = '\0';
    return 0;
}

/* One manifest: changed when its pod template asks for the sidecar,
 * otherwise re-printed as it is. */
static int inject_document(void *ctx, const char *json, size_t len)
{
    struct inject_run *r = ctx;
    (void)len;
    r->ndoc++;
    char err[256];
    yajl_val doc = yajl_tree_parse(json, err, sizeof err);
    if (!doc) {
        snprintf(r->why, r->whylen, "document %d: %s", r->ndoc, err);
        return -1;
    }
    const char *kind = YAJL_GET_STRING(pg_inject_at(doc, "/kind"));
    const char *name = YAJL_GET_STRING(pg_inject_at(doc, "/metadata/name"));
    const char *ptr = pg_inject_template_pointer(kind);
    yajl_val pod = ptr ? pg_inject_at(doc, ptr) : NULL;
    char *patch = NULL, why[256] = "";
    enum pg_inject_status st = pod ? pg_inject_patch(pod, ptr, &r->opts, &patch, why, sizeof why) : PG_INJECT_NOT_ASKED;
    int rc = -1;
    if (st == PG_INJECT_REFUSED) {
        snprintf(r->why, r->whylen, "document %d (%s %s): %s", r->ndoc, kind ? kind : "?", name ? name : "?", why);
        goto out;
    }
    if (st == PG_INJECT_ALREADY)
        fprintf(stderr, "phiguard inject: %s %s: %s, left as it is\n", kind, name ? name : "?", why);
    char *text = pg_inject_apply(doc, patch ? patch : "[]", true, why, sizeof why);
    if (!text) {
        snprintf(r->why, r->whylen, "document %d: %s", r->ndoc, why);
        goto out;
    }
    size_t tl = strlen(text);
    while (tl && text[tl - 1] == '\n')
        tl--;
    rc = append(r, "---\n", 4) || append(r, text, tl) || append(r, "\n", 1) ? -1 : 0;
    if (rc)
        snprintf(r->why, r->whylen, "out of memory");
    free(text);
out:
    free(patch);
    yajl_tree_free(doc);
    return rc;
}

enum { OPT_IMAGE = 1000, OPT_INIT_IMAGE, OPT_LISTEN, OPT_CERT, OPT_KEY };

int pg_cli_inject(int argc, char **argv)
{
    static const struct option longopts[] = {{"filename", required_argument, NULL, 'f'},
                                             {"image", required_argument, NULL, OPT_IMAGE},
                                             {"init-image", required_argument, NULL, OPT_INIT_IMAGE},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct inject_run r = {0};
    const char *file = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f': file = optarg; break;
        case OPT_IMAGE: r.opts.image = optarg; break;
        case OPT_INIT_IMAGE: r.opts.init_image = optarg; break;
        case 'h': fputs(INJECT_USAGE, stdout); return 0;
        default: fputs(INJECT_USAGE, stderr); return 2;
        }
    }
    if (!file || optind != argc) {
        fputs(INJECT_USAGE, stderr);
        return 2;
    }
    char *text;
    size_t len;
    if (read_all(file, &text, &len) != 0) {
        fprintf(stderr, "phiguard inject: %s: %s\n", file, strerror(errno ? errno : EIO));
        return 1;
    }
    char why[512] = "";
    r.why = why;
    r.whylen = sizeof why;
    int rc = pg_yaml_to_json(text, len, inject_document, &r, why, sizeof why);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "phiguard inject: %s: %s\n", file, why);
        free(r.out);
        return 1;
    }
    /* All or nothing: a half-printed stream piped into kubectl apply would
     * apply the first manifests without the rest. */
    if (r.len && fwrite(r.out, 1, r.len, stdout) != r.len) {
        free(r.out);
        return 1;
    }
    free(r.out);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- the webhook ---- */

struct webhook {
    struct event_base *base;
    SSL_CTX *ctx;
    struct pg_inject_options opts;
};

static struct bufferevent *ssl_bev(struct event_base *base, void *arg)
{
    struct webhook *w = arg;
    SSL *ssl = SSL_new(w->ctx);
    if (!ssl)
        return NULL;
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add_printf(b, "%s\n", text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; charset=utf-8");
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static const char *status_name(enum pg_inject_status st)
{
    switch (st) {
    case PG_INJECT_ADD: return "patched";
    case PG_INJECT_NOT_ASKED: return "not_asked";
    case PG_INJECT_ALREADY: return "already_injected";
    default: return "not_understood";
    }
}

/* The AdmissionReview answer: always allowed, with the patch when there is
 * one. A pod the webhook does not understand is let through as it is: the
 * webhook's failurePolicy is Fail, and its own faults must not stop pods. */
static char *review_response(const char *uid, const char *patch)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return NULL;
    char *b64 = NULL, *out = NULL;
    if (patch) {
        size_t n = strlen(patch);
        b64 = malloc(4 * ((n + 2) / 3) + 1);
        if (!b64)
            goto done;
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)patch, (int)n);
    }
#define S(s) yajl_gen_string(g, (const unsigned char *)(s), strlen(s))
    yajl_gen_map_open(g);
    S("apiVersion"), S("admission.k8s.io/v1");
    S("kind"), S("AdmissionReview");
    S("response");
    yajl_gen_map_open(g);
    S("uid"), S(uid);
    S("allowed"), yajl_gen_bool(g, 1);
    if (b64) {
        S("patchType"), S("JSONPatch");
        S("patch"), S(b64);
    }
    yajl_gen_map_close(g);
    yajl_gen_map_close(g);
#undef S
    const unsigned char *buf;
    size_t len;
    if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok && (out = malloc(len + 1))) {
        memcpy(out, buf, len);
        out[len] = '\0';
    }
done:
    free(b64);
    yajl_gen_free(g);
    return out;
}

static void handle(struct evhttp_request *req, void *arg)
{
    struct webhook *w = arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        reply_text(req, 405, "Method Not Allowed", "POST an AdmissionReview");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *body = malloc(n + 1);
    if (!body) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_remove(in, body, n);
    body[n] = '\0';
    yajl_val review = yajl_tree_parse(body, NULL, 0);
    free(body);
    const char *uid = YAJL_GET_STRING(pg_inject_at(review, "/request/uid"));
    if (!uid) {
        /* Without a uid there is no answer the API server would take. */
        pg_log(PG_LOG_WARN, "inject_bad_request", "\"reason\":\"not an AdmissionReview with request.uid\"");
        reply_text(req, HTTP_BADREQUEST, "Bad Request", "not an AdmissionReview v1 with request.uid");
        yajl_tree_free(review);
        return;
    }
    char *patch = NULL, why[256] = "";
    const char *kind = YAJL_GET_STRING(pg_inject_at(review, "/request/kind/kind"));
    const char *op = YAJL_GET_STRING(pg_inject_at(review, "/request/operation"));
    enum pg_inject_status st;
    if (!kind || strcmp(kind, "Pod") != 0 || (op && strcmp(op, "CREATE") != 0)) {
        st = PG_INJECT_REFUSED;
        snprintf(why, sizeof why, "not the CREATE of a Pod");
    } else {
        st = pg_inject_patch(pg_inject_at(review, "/request/object"), "", &w->opts, &patch, why, sizeof why);
    }
    char e_uid[160], e_ns[160], e_why[512];
    const char *ns = YAJL_GET_STRING(pg_inject_at(review, "/request/namespace"));
    pg_json_escape(uid, strlen(uid), e_uid, sizeof e_uid);
    pg_json_escape(ns ? ns : "", ns ? strlen(ns) : 0, e_ns, sizeof e_ns);
    pg_json_escape(why, strlen(why), e_why, sizeof e_why);
    pg_log(st == PG_INJECT_REFUSED ? PG_LOG_WARN : PG_LOG_INFO, "inject_review",
           "\"uid\":\"%s\",\"namespace\":\"%s\",\"result\":\"%s\",\"reason\":\"%s\"", e_uid, e_ns, status_name(st),
           st == PG_INJECT_ADD ? "" : e_why);
    char *answer = review_response(uid, patch);
    free(patch);
    yajl_tree_free(review);
    if (!answer) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        free(answer);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add(b, answer, strlen(answer));
    free(answer);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, HTTP_OK, "OK", b);
    evbuffer_free(b);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct webhook *w = arg;
    pg_log(PG_LOG_INFO, "inject_webhook_stopping", "\"signal\":%d", (int)sig);
    event_base_loopexit(w->base, NULL);
}

/* The webhook's own TLS context. Not pg_tls_build: the webhook's key is a
 * Secret mounted 0444 in a container with no other process (k8s/webhook/),
 * which the proxy's key-file rule would refuse, and the webhook needs none
 * of the proxy's client-certificate settings. */
static SSL_CTX *webhook_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        unsigned long e = ERR_get_error();
        fprintf(stderr, "phiguard inject-webhook: %s / %s: %s\n", cert, key, e ? ERR_reason_error_string(e) : "bad");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int pg_cli_inject_webhook(int argc, char **argv)
{
    static const struct option longopts[] = {{"listen", required_argument, NULL, OPT_LISTEN},
                                             {"cert", required_argument, NULL, OPT_CERT},
                                             {"key", required_argument, NULL, OPT_KEY},
                                             {"image", required_argument, NULL, OPT_IMAGE},
                                             {"init-image", required_argument, NULL, OPT_INIT_IMAGE},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct webhook w = {0};
    const char *listen = NULL, *cert = NULL, *key = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case OPT_LISTEN: listen = optarg; break;
        case OPT_CERT: cert = optarg; break;
        case OPT_KEY: key = optarg; break;
        case OPT_IMAGE: w.opts.image = optarg; break;
        case OPT_INIT_IMAGE: w.opts.init_image = optarg; break;
        case 'h': fputs(WEBHOOK_USAGE, stdout); return 0;
        default: fputs(WEBHOOK_USAGE, stderr); return 2;
        }
    }
    if (!listen || !cert || !key || optind != argc) {
        fputs(WEBHOOK_USAGE, stderr);
        return 2;
    }
    struct pg_addr addr;
    char err[256];
    if (pg_addr_parse(listen, &addr, err, sizeof err) != 0 || addr.is_unix) {
        fprintf(stderr, "phiguard inject-webhook: --listen %s: %s\n", listen, addr.is_unix ? "not host:port" : err);
        return 2;
    }
    w.ctx = webhook_ctx(cert, key);
    if (!w.ctx)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    int rc = 1;
    struct evhttp *http = NULL;
    struct evconnlistener *lis = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    w.base = event_base_new();
    if (!w.base || !(http = evhttp_new(w.base)))
        goto out;
    lis = evconnlistener_new_bind(w.base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                  128, (struct sockaddr *)&addr.ss, (int)addr.len);
    if (!lis) {
        fprintf(stderr, "phiguard inject-webhook: listen %s: %s\n", listen, strerror(errno));
        goto out;
    }
    if (!evhttp_bind_listener(http, lis))
        goto out;
    lis = NULL; /* the evhttp owns it now */
    evhttp_set_bevcb(http, ssl_bev, &w);
    evhttp_set_gencb(http, handle, &w);
    evhttp_set_max_body_size(http, MAX_REVIEW_BYTES);
    /* The API server gives up after timeoutSeconds (5): a slower peer is
     * not one. */
    evhttp_set_timeout(http, 10);
    sigterm = evsignal_new(w.base, SIGTERM, on_stop, &w);
    sigint = evsignal_new(w.base, SIGINT, on_stop, &w);
    if (!sigterm || !sigint || event_add(sigterm, NULL) || event_add(sigint, NULL))
        goto out;
    pg_log_start(PG_LOG_INFO);
    char e_listen[300];
    pg_json_escape(addr.text, strlen(addr.text), e_listen, sizeof e_listen);
    pg_log(PG_LOG_INFO, "inject_webhook_listening", "\"listen\":\"%s\"", e_listen);
    rc = event_base_dispatch(w.base) == 0 ? 0 : 1;
    pg_log_stop();
out:
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (http)
        evhttp_free(http);
    if (lis)
        evconnlistener_free(lis);
    if (w.base)
        event_base_free(w.base);
    SSL_CTX_free(w.ctx);
    return rc;
}
