/* Sidecar injection as a JSON Patch, and the patch's application
 * (policy/inject.h). */
#include "policy/inject.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#define SECRETS_IN "/run/phiguard/secrets-in"
#define SECRETS "/run/phiguard/secrets"
#define TLS_PORT 8443
#define ADMIN_PORT 9090

/* The same restrictions as the base pod's, set on each container: an
 * injected pod's own securityContext is the app's business, and the
 * restricted Pod Security Standard is met container by container. uid
 * 10001 is the image's user; the init container runs as it too, so the
 * copies it makes belong to phiguard. */
#define SECURITY_CONTEXT                                                                                     \
    "\"securityContext\":{\"runAsNonRoot\":true,\"runAsUser\":10001,\"runAsGroup\":10001,"                   \
    "\"allowPrivilegeEscalation\":false,\"readOnlyRootFilesystem\":true,\"capabilities\":{\"drop\":[\"ALL\"]}," \
    "\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}"

/* phiguard refuses a key file its group may read, and Kubernetes makes a
 * Secret's files group-readable in a pod with an fsGroup
 * (kubernetes/kubernetes#57923): the init container copies them as 0600
 * into a memory volume. The command is the base Deployment's. */
static const char INIT_CONTAINER[] =
    "{\"name\":\"phiguard-secrets\",\"image\":\"%s\","
    "\"command\":[\"/bin/sh\",\"-c\",\"set -eu; cd " SECRETS_IN "; find -L . -type f ! -path './..*' "
    "-exec install -D -m 0600 {} " SECRETS "/{} \\\\;\"],"
    SECURITY_CONTEXT ","
    "\"resources\":{\"requests\":{\"cpu\":\"10m\",\"memory\":\"16Mi\"},\"limits\":{\"cpu\":\"100m\",\"memory\":\"32Mi\"}},"
    "\"volumeMounts\":[{\"name\":\"phiguard-secrets-in\",\"mountPath\":\"" SECRETS_IN "\",\"readOnly\":true},"
    "{\"name\":\"phiguard-secrets\",\"mountPath\":\"" SECRETS "\"}]}";

/* The config (phiguard.yaml, policy.yaml) comes from the ConfigMap; the
 * upstream from the annotation, through serve's --upstream, so one
 * ConfigMap serves apps that listen on different ports. */
static const char SIDECAR[] =
    "{\"name\":\"phiguard\",\"image\":\"%s\","
    "\"args\":[\"serve\",\"-c\",\"/etc/phiguard/phiguard.yaml\",\"--upstream\",\"127.0.0.1:%u\"],"
    "\"env\":[{\"name\":\"POD_NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}}],"
    "\"ports\":[{\"name\":\"https\",\"containerPort\":8443,\"protocol\":\"TCP\"},"
    "{\"name\":\"admin\",\"containerPort\":9090,\"protocol\":\"TCP\"}],"
    "\"livenessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":\"admin\"},\"periodSeconds\":10,"
    "\"timeoutSeconds\":2,\"failureThreshold\":3},"
    "\"readinessProbe\":{\"httpGet\":{\"path\":\"/readyz\",\"port\":\"admin\"},\"periodSeconds\":5,"
    "\"timeoutSeconds\":2,\"failureThreshold\":2},"
    "\"startupProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":\"admin\"},\"periodSeconds\":2,"
    "\"failureThreshold\":30},"
    SECURITY_CONTEXT ","
    "\"resources\":{\"requests\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"},\"limits\":{\"cpu\":\"2\",\"memory\":\"512Mi\"}},"
    "\"volumeMounts\":[{\"name\":\"phiguard-config\",\"mountPath\":\"/etc/phiguard\",\"readOnly\":true},"
    "{\"name\":\"phiguard-secrets\",\"mountPath\":\"" SECRETS "\",\"readOnly\":true},"
    "{\"name\":\"phiguard-spool\",\"mountPath\":\"/var/lib/phiguard/spool\"}]}";

/* defaultMode 0444 (292), not the base's 0440: an injected pod may have no
 * fsGroup, and then 0440 root-owned files are unreadable to uid 10001. Only
 * the init container mounts this volume, and it exits before the app
 * starts. */
static const char VOLUMES[] =
    "[{\"name\":\"phiguard-config\",\"configMap\":{\"name\":\"%s\"}},"
    "{\"name\":\"phiguard-secrets-in\",\"projected\":{\"defaultMode\":292,\"sources\":["
    "{\"secret\":{\"name\":\"phiguard-tls\",\"items\":[{\"key\":\"tls.crt\",\"path\":\"tls/tls.crt\"},"
    "{\"key\":\"tls.key\",\"path\":\"tls/tls.key\"}]}},"
    "{\"secret\":{\"name\":\"phiguard-phi-keyring\",\"items\":[{\"key\":\"phi.keyring\",\"path\":\"phi/phi.keyring\"}]}},"
    "{\"secret\":{\"name\":\"phiguard-auth\",\"items\":[{\"key\":\"session.key\",\"path\":\"auth/session.key\"},"
    "{\"key\":\"mfa.key\",\"path\":\"auth/mfa.key\"}]}},"
    "{\"secret\":{\"name\":\"phiguard-audit-key\",\"items\":[{\"key\":\"audit.key\",\"path\":\"audit/audit.key\"}]}},"
    "{\"secret\":{\"name\":\"phiguard-users\",\"items\":[{\"key\":\"users.yaml\",\"path\":\"users/users.yaml\"}]}}]}},"
    "{\"name\":\"phiguard-secrets\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"1Mi\"}},"
    "{\"name\":\"phiguard-spool\",\"emptyDir\":{\"sizeLimit\":\"1Gi\"}}]";

static const char *const OUR_VOLUMES[] = {"phiguard-config", "phiguard-secrets-in", "phiguard-secrets",
                                          "phiguard-spool"};

static void say(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || !whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static yajl_val member(yajl_val obj, const char *key)
{
    if (!YAJL_IS_OBJECT(obj))
        return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return obj->u.object.values[i];
    return NULL;
}

yajl_val pg_inject_at(yajl_val doc, const char *pointer)
{
    char key[256];
    const char *p = pointer;
    while (doc && *p == '/') {
        p++;
        size_t n = strcspn(p, "/");
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        doc = member(doc, key);
        p += n;
    }
    return *p ? NULL : doc;
}

const char *pg_inject_template_pointer(const char *kind)
{
    static const char *const templated[] = {"Deployment", "StatefulSet", "DaemonSet",
                                            "ReplicaSet", "ReplicationController", "Job"};
    if (!kind)
        return NULL;
    if (strcmp(kind, "Pod") == 0)
        return "";
    for (size_t i = 0; i < sizeof templated / sizeof *templated; i++)
        if (strcmp(kind, templated[i]) == 0)
            return "/spec/template";
    if (strcmp(kind, "CronJob") == 0)
        return "/spec/jobTemplate/spec/template";
    return NULL;
}

/* Writes v as JSON; numbers keep their text. */
static int emit(yajl_gen g, yajl_val v)
{
    if (!v)
        return yajl_gen_null(g);
    switch (v->type) {
    case yajl_t_string:
        return yajl_gen_string(g, (const unsigned char *)v->u.string, strlen(v->u.string));
    case yajl_t_number:
        return yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    case yajl_t_true:
        return yajl_gen_bool(g, 1);
    case yajl_t_false:
        return yajl_gen_bool(g, 0);
    case yajl_t_null:
        return yajl_gen_null(g);
    case yajl_t_object:
        if (yajl_gen_map_open(g) != yajl_gen_status_ok)
            return -1;
        for (size_t i = 0; i < v->u.object.len; i++) {
            const char *k = v->u.object.keys[i];
            if (yajl_gen_string(g, (const unsigned char *)k, strlen(k)) != yajl_gen_status_ok ||
                emit(g, v->u.object.values[i]) != yajl_gen_status_ok)
                return -1;
        }
        return yajl_gen_map_close(g);
    case yajl_t_array:
        if (yajl_gen_array_open(g) != yajl_gen_status_ok)
            return -1;
        for (size_t i = 0; i < v->u.array.len; i++)
            if (emit(g, v->u.array.values[i]) != yajl_gen_status_ok)
                return -1;
        return yajl_gen_array_close(g);
    default:
        return -1;
    }
}

static char *gen_text(yajl_gen g)
{
    const unsigned char *buf;
    size_t len;
    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
        return NULL;
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, buf, len);
        out[len] = '\0';
    }
    return out;
}

static int gen_str(yajl_gen g, const char *s)
{
    return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* One {"op":"add","path":prefix+path,"value":<json>} into the patch. */
static int add_op(yajl_gen g, const char *prefix, const char *path, const char *json)
{
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, path);
    yajl_val v = yajl_tree_parse(json, NULL, 0);
    if (!v)
        return -1;
    int rc = (yajl_gen_map_open(g) == yajl_gen_status_ok && gen_str(g, "op") == yajl_gen_status_ok &&
              gen_str(g, "add") == yajl_gen_status_ok && gen_str(g, "path") == yajl_gen_status_ok &&
              gen_str(g, full) == yajl_gen_status_ok && gen_str(g, "value") == yajl_gen_status_ok &&
              emit(g, v) == yajl_gen_status_ok && yajl_gen_map_close(g) == yajl_gen_status_ok)
                 ? 0
                 : -1;
    yajl_tree_free(v);
    return rc;
}

/* A Kubernetes object name: a DNS-1123 subdomain. Checked so the name can
 * go into the JSON fragment as it is. */
static bool dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && ((c != '-' && c != '.') || i == 0 || i == n - 1))
            return false;
    }
    return true;
}

/* An image reference: the characters of registry/name:tag@digest, so it
 * too needs no escaping. */
static bool image_ref(const char *s)
{
    if (!*s || strlen(s) > 512)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-/:@", *s)))
            return false;
    return true;
}

static const char *string_or_null(yajl_val v)
{
    return YAJL_IS_STRING(v) ? v->u.string : NULL;
}

/* Names and ports of the pod's containers that the sidecar's would clash
 * with. 0 when none; -1 with why otherwise. */
static int check_containers(yajl_val list, const char *field, bool *has_phiguard, char *why, size_t whylen)
{
    if (!list)
        return 0;
    if (!YAJL_IS_ARRAY(list)) {
        say(why, whylen, "spec.%s is not an array", field);
        return -1;
    }
    for (size_t i = 0; i < list->u.array.len; i++) {
        yajl_val c = list->u.array.values[i];
        const char *name = string_or_null(member(c, "name"));
        if (!name) {
            say(why, whylen, "spec.%s[%zu] has no name", field, i);
            return -1;
        }
        if (strcmp(name, "phiguard") == 0)
            *has_phiguard = true;
        if (strcmp(name, "phiguard-secrets") == 0) {
            say(why, whylen, "spec.%s has a container named phiguard-secrets already", field);
            return -1;
        }
        yajl_val ports = member(c, "ports");
        if (!ports)
            continue;
        if (!YAJL_IS_ARRAY(ports)) {
            say(why, whylen, "spec.%s[%zu].ports is not an array", field, i);
            return -1;
        }
        for (size_t j = 0; j < ports->u.array.len; j++) {
            yajl_val p = ports->u.array.values[j];
            yajl_val num = member(p, "containerPort");
            const char *pname = string_or_null(member(p, "name"));
            if ((YAJL_IS_INTEGER(num) && (YAJL_GET_INTEGER(num) == TLS_PORT || YAJL_GET_INTEGER(num) == ADMIN_PORT)) ||
                (pname && (strcmp(pname, "https") == 0 || strcmp(pname, "admin") == 0))) {
                say(why, whylen, "container %s declares a port the sidecar needs (8443/https or 9090/admin)", name);
                return -1;
            }
        }
    }
    return 0;
}

enum pg_inject_status pg_inject_patch(yajl_val pod, const char *prefix, const struct pg_inject_options *opts,
                                      char **patch, char *why, size_t whylen)
{
    *patch = NULL;
    if (why && whylen)
        why[0] = '\0';
    yajl_val annotations = pg_inject_at(pod, "/metadata/annotations");
    const char *ask = string_or_null(member(annotations, PG_INJECT_ANNOTATION));
    if (!ask || strcmp(ask, "true") != 0) {
        say(why, whylen, "not annotated %s: \"true\"", PG_INJECT_ANNOTATION);
        return PG_INJECT_NOT_ASKED;
    }
    const char *done = string_or_null(member(annotations, PG_INJECTED_ANNOTATION));
    if (done && strcmp(done, "true") == 0) {
        say(why, whylen, "annotated %s: \"true\"", PG_INJECTED_ANNOTATION);
        return PG_INJECT_ALREADY;
    }
    yajl_val spec = member(pod, "spec");
    if (!YAJL_IS_OBJECT(spec)) {
        say(why, whylen, "no spec object");
        return PG_INJECT_REFUSED;
    }
    yajl_val containers = member(spec, "containers");
    if (!YAJL_IS_ARRAY(containers) || containers->u.array.len == 0) {
        say(why, whylen, "spec.containers is not a non-empty array");
        return PG_INJECT_REFUSED;
    }
    bool has_phiguard = false;
    yajl_val inits = member(spec, "initContainers");
    if (check_containers(containers, "containers", &has_phiguard, why, whylen) != 0 ||
        check_containers(inits, "initContainers", &has_phiguard, why, whylen) != 0)
        return has_phiguard ? PG_INJECT_ALREADY : PG_INJECT_REFUSED;
    if (has_phiguard) {
        say(why, whylen, "has a container named phiguard");
        return PG_INJECT_ALREADY;
    }
    yajl_val volumes = member(spec, "volumes");
    if (volumes && !YAJL_IS_ARRAY(volumes)) {
        say(why, whylen, "spec.volumes is not an array");
        return PG_INJECT_REFUSED;
    }
    for (size_t i = 0; volumes && i < volumes->u.array.len; i++) {
        const char *name = string_or_null(member(volumes->u.array.values[i], "name"));
        for (size_t j = 0; name && j < sizeof OUR_VOLUMES / sizeof *OUR_VOLUMES; j++)
            if (strcmp(name, OUR_VOLUMES[j]) == 0) {
                say(why, whylen, "spec.volumes has a volume named %s already", name);
                return PG_INJECT_REFUSED;
            }
    }

    unsigned port = PG_INJECT_DEFAULT_PORT;
    yajl_val pv = member(annotations, PG_INJECT_PORT_ANNOTATION);
    if (pv) {
        const char *s = string_or_null(pv);
        char *end = NULL;
        unsigned long n = s && *s >= '0' && *s <= '9' ? strtoul(s, &end, 10) : 0;
        if (!end || *end || n < 1 || n > 65535 || n == TLS_PORT || n == ADMIN_PORT) {
            say(why, whylen, "%s is not a port from 1 to 65535 other than 8443 and 9090", PG_INJECT_PORT_ANNOTATION);
            return PG_INJECT_REFUSED;
        }
        port = (unsigned)n;
    }
    const char *configmap = PG_INJECT_DEFAULT_CONFIGMAP;
    yajl_val cv = member(annotations, PG_INJECT_CONFIGMAP_ANNOTATION);
    if (cv) {
        configmap = string_or_null(cv);
        if (!configmap || !dns_subdomain(configmap)) {
            say(why, whylen, "%s is not a ConfigMap name", PG_INJECT_CONFIGMAP_ANNOTATION);
            return PG_INJECT_REFUSED;
        }
    }
    const char *image = opts && opts->image ? opts->image : PG_INJECT_DEFAULT_IMAGE;
    const char *init_image = opts && opts->init_image ? opts->init_image : PG_INJECT_DEFAULT_INIT_IMAGE;
    if (!image_ref(image) || !image_ref(init_image)) {
        say(why, whylen, "the image is not an image reference");
        return PG_INJECT_REFUSED;
    }

    size_t cap = sizeof SIDECAR + sizeof INIT_CONTAINER + sizeof VOLUMES + strlen(image) + strlen(init_image) +
                 strlen(configmap) + 64;
    char *init = malloc(cap), *side = malloc(cap), *vols = malloc(cap);
    yajl_gen g = yajl_gen_alloc(NULL);
    int rc = -1;
    if (!init || !side || !vols || !g)
        goto out;
    snprintf(init, cap, INIT_CONTAINER, init_image);
    snprintf(side, cap, SIDECAR, image, port);
    snprintf(vols, cap, VOLUMES, configmap);
    if (yajl_gen_array_open(g) != yajl_gen_status_ok ||
        add_op(g, prefix, "/metadata/annotations/phiguard.io~1injected", "\"true\"") != 0)
        goto out;
    if (inits) {
        if (add_op(g, prefix, "/spec/initContainers/-", init) != 0)
            goto out;
    } else {
        char *list = malloc(strlen(init) + 3);
        if (!list)
            goto out;
        sprintf(list, "[%s]", init);
        int r = add_op(g, prefix, "/spec/initContainers", list);
        free(list);
        if (r != 0)
            goto out;
    }
    if (add_op(g, prefix, "/spec/containers/-", side) != 0)
        goto out;
    if (volumes) {
        yajl_val vl = yajl_tree_parse(vols, NULL, 0);
        if (!vl)
            goto out;
        for (size_t i = 0; i < vl->u.array.len; i++) {
            yajl_gen one = yajl_gen_alloc(NULL);
            char *text = NULL;
            if (one && emit(one, vl->u.array.values[i]) == yajl_gen_status_ok)
                text = gen_text(one);
            int r = text ? add_op(g, prefix, "/spec/volumes/-", text) : -1;
            free(text);
            if (one)
                yajl_gen_free(one);
            if (r != 0) {
                yajl_tree_free(vl);
                goto out;
            }
        }
        yajl_tree_free(vl);
    } else if (add_op(g, prefix, "/spec/volumes", vols) != 0) {
        goto out;
    }
    if (yajl_gen_array_close(g) != yajl_gen_status_ok)
        goto out;
    *patch = gen_text(g);
    rc = *patch ? 0 : -1;
out:
    if (g)
        yajl_gen_free(g);
    free(init);
    free(side);
    free(vols);
    if (rc != 0) {
        say(why, whylen, "out of memory");
        return PG_INJECT_REFUSED;
    }
    return PG_INJECT_ADD;
}

/* ---- applying a patch ---- */

struct op {
    const char *path;
    yajl_val value;
    bool used;
};

struct applier {
    yajl_gen g;
    struct op *ops;
    size_t n;
    char path[1024];
};

/* Appends "/" and key, escaped as RFC 6901 says, to a->path; returns the
 * old length so the caller can cut it back, or -1 when it does not fit. */
static long push(struct applier *a, const char *key)
{
    size_t old = strlen(a->path), at = old;
    if (at + 1 >= sizeof a->path)
        return -1;
    a->path[at++] = '/';
    for (; *key; key++) {
        const char *rep = *key == '~' ? "~0" : *key == '/' ? "~1" : NULL;
        size_t need = rep ? 2 : 1;
        if (at + need >= sizeof a->path)
            return -1;
        if (rep) {
            memcpy(a->path + at, rep, 2);
        } else {
            a->path[at] = *key;
        }
        at += need;
    }
    a->path[at] = '\0';
    return (long)old;
}

/* The member name of an op path's last token, unescaped; NULL when path
 * is not a.path + "/" + one token. */
static const char *child_key(const struct applier *a, const char *path, char *key, size_t keylen)
{
    size_t n = strlen(a->path);
    if (strncmp(path, a->path, n) != 0 || path[n] != '/' || strchr(path + n + 1, '/'))
        return NULL;
    size_t k = 0;
    for (const char *p = path + n + 1; *p; p++) {
        char c = *p;
        if (c == '~') {
            if (p[1] != '0' && p[1] != '1')
                return NULL;
            c = p[1] == '0' ? '~' : '/';
            p++;
        }
        if (k + 1 >= keylen)
            return NULL;
        key[k++] = c;
    }
    key[k] = '\0';
    return key;
}

static int walk(struct applier *a, yajl_val v)
{
    if (YAJL_IS_OBJECT(v)) {
        if (yajl_gen_map_open(a->g) != yajl_gen_status_ok)
            return -1;
        for (size_t i = 0; i < v->u.object.len; i++) {
            const char *k = v->u.object.keys[i];
            long old = push(a, k);
            if (old < 0)
                return -1;
            for (size_t j = 0; j < a->n; j++)
                if (strcmp(a->ops[j].path, a->path) == 0)
                    return -1; /* "add" over a member would replace it: never ours */
            a->path[old] = '\0';
            if (gen_str(a->g, k) != yajl_gen_status_ok)
                return -1;
            push(a, k);
            int rc = walk(a, v->u.object.values[i]);
            a->path[old] = '\0';
            if (rc != 0)
                return -1;
        }
        char key[256];
        for (size_t j = 0; j < a->n; j++) {
            if (a->ops[j].used || !child_key(a, a->ops[j].path, key, sizeof key) || strcmp(key, "-") == 0)
                continue;
            a->ops[j].used = true;
            if (gen_str(a->g, key) != yajl_gen_status_ok || emit(a->g, a->ops[j].value) != yajl_gen_status_ok)
                return -1;
        }
        return yajl_gen_map_close(a->g) == yajl_gen_status_ok ? 0 : -1;
    }
    if (YAJL_IS_ARRAY(v)) {
        if (yajl_gen_array_open(a->g) != yajl_gen_status_ok)
            return -1;
        for (size_t i = 0; i < v->u.array.len; i++) {
            char idx[24];
            snprintf(idx, sizeof idx, "%zu", i);
            long old = push(a, idx);
            if (old < 0)
                return -1;
            int rc = walk(a, v->u.array.values[i]);
            a->path[old] = '\0';
            if (rc != 0)
                return -1;
        }
        size_t n = strlen(a->path);
        for (size_t j = 0; j < a->n; j++) {
            const char *p = a->ops[j].path;
            if (a->ops[j].used || strncmp(p, a->path, n) != 0 || strcmp(p + n, "/-") != 0)
                continue;
            a->ops[j].used = true;
            if (emit(a->g, a->ops[j].value) != yajl_gen_status_ok)
                return -1;
        }
        return yajl_gen_array_close(a->g) == yajl_gen_status_ok ? 0 : -1;
    }
    return emit(a->g, v) == yajl_gen_status_ok ? 0 : -1;
}

char *pg_inject_apply(yajl_val doc, const char *patch, bool pretty, char *why, size_t whylen)
{
    char err[256];
    yajl_val p = yajl_tree_parse(patch, err, sizeof err);
    if (!YAJL_IS_ARRAY(p)) {
        say(why, whylen, "the patch is not a JSON array");
        yajl_tree_free(p);
        return NULL;
    }
    struct applier a = {.n = p->u.array.len, .ops = calloc(p->u.array.len + 1, sizeof(struct op))};
    char *out = NULL;
    if (!a.ops) {
        say(why, whylen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < a.n; i++) {
        yajl_val o = p->u.array.values[i];
        const char *op = string_or_null(member(o, "op"));
        a.ops[i].path = string_or_null(member(o, "path"));
        a.ops[i].value = member(o, "value");
        if (!op || strcmp(op, "add") != 0 || !a.ops[i].path || !a.ops[i].value) {
            say(why, whylen, "operation %zu is not an add with a path and a value", i);
            goto done;
        }
    }
    a.g = yajl_gen_alloc(NULL);
    if (!a.g) {
        say(why, whylen, "out of memory");
        goto done;
    }
    yajl_gen_config(a.g, yajl_gen_beautify, pretty ? 1 : 0);
    yajl_gen_config(a.g, yajl_gen_indent_string, "  ");
    if (walk(&a, doc) != 0) {
        say(why, whylen, "an operation would replace a member, or the document is too deep");
        goto done;
    }
    for (size_t i = 0; i < a.n; i++)
        if (!a.ops[i].used) {
            say(why, whylen, "operation %zu: nothing at %s to add to", i, a.ops[i].path);
            goto done;
        }
    out = gen_text(a.g);
    if (!out)
        say(why, whylen, "out of memory");
done:
    if (a.g)
        yajl_gen_free(a.g);
    free(a.ops);
    yajl_tree_free(p);
    return out;
}
