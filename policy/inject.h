#ifndef PHIGUARD_POLICY_INJECT_H
#define PHIGUARD_POLICY_INJECT_H
/* Sidecar injection (issue 8): what adding phiguard to a pod means, as an
 * RFC 6902 JSON Patch of "add" operations, and the means to apply such a
 * patch to a document. `phiguard inject-webhook` answers the patch to the
 * API server; `phiguard inject` applies the same patch to the pod template
 * of each manifest, so the two cannot drift apart.
 *
 * The sidecar is the one of k8s/base/deployment.yaml: an init container
 * that copies the Secret files as mode 0600 into a memory volume, the
 * phiguard container (POD_NAME from the downward API, probes on the admin
 * listener), and their volumes. Every name the patch adds starts with
 * "phiguard", so it cannot take the place of something of the app's.
 *
 * Pure: no I/O. */
#include <stdbool.h>
#include <stddef.h>
#include <yajl/yajl_tree.h>

#define PG_INJECT_ANNOTATION "phiguard.io/inject"
#define PG_INJECTED_ANNOTATION "phiguard.io/injected"
#define PG_INJECT_PORT_ANNOTATION "phiguard.io/upstream-port"
#define PG_INJECT_CONFIGMAP_ANNOTATION "phiguard.io/policy-configmap"
#define PG_INJECT_DEFAULT_IMAGE "registry.example.org/phiguard:1.0"
#define PG_INJECT_DEFAULT_INIT_IMAGE "debian:12-slim"
#define PG_INJECT_DEFAULT_CONFIGMAP "phiguard-config"
#define PG_INJECT_DEFAULT_PORT 8080

enum pg_inject_status {
    PG_INJECT_ADD,       /* *patch holds the operations */
    PG_INJECT_NOT_ASKED, /* no phiguard.io/inject: "true" */
    PG_INJECT_ALREADY,   /* annotated as injected, or has a container "phiguard" */
    PG_INJECT_REFUSED,   /* asked, but not a pod this module understands: why says what */
};

struct pg_inject_options {
    const char *image;      /* phiguard's image; NULL: PG_INJECT_DEFAULT_IMAGE */
    const char *init_image; /* the init container's (it needs /bin/sh, find, install) */
};

/* pod: a Pod, or a pod template (its metadata and spec). prefix: the JSON
 * Pointer of that object in the document the patch is for ("" for a Pod
 * in an AdmissionReview, "/spec/template" for a Deployment's). On
 * PG_INJECT_ADD, *patch is a malloc'd JSON array; otherwise it is NULL.
 * why is set for every status but PG_INJECT_ADD. */
enum pg_inject_status pg_inject_patch(yajl_val pod, const char *prefix, const struct pg_inject_options *opts,
                                      char **patch, char *why, size_t whylen);

/* Applies patch (a JSON array of "add" operations, each one appending to
 * an array with "/-" or adding a member an object lacks: what
 * pg_inject_patch makes) to doc, and returns the result as malloc'd JSON
 * text, indented when pretty. NULL, with why, when an operation is not of
 * that kind or its path names nothing in doc. */
char *pg_inject_apply(yajl_val doc, const char *patch, bool pretty, char *why, size_t whylen);

/* Where a manifest's pod template is, by kind: "" for a Pod,
 * "/spec/template" for Deployment, StatefulSet, DaemonSet, ReplicaSet,
 * ReplicationController and Job, "/spec/jobTemplate/spec/template" for a
 * CronJob; NULL for any other kind. */
const char *pg_inject_template_pointer(const char *kind);

/* The object at a JSON Pointer made only of member names ("" is doc). */
yajl_val pg_inject_at(yajl_val doc, const char *pointer);

#endif
