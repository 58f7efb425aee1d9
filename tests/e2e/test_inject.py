"""Sidecar injection (issue 8): `phiguard inject-webhook` answers
AdmissionReview v1 with a JSONPatch that, applied by an independent RFC 6902
implementation below, gives a pod valid against the Kubernetes v1.32 schema;
it allows unchanged (never fails) a pod it need not or cannot change; and
`phiguard inject -f` gives the example Deployment exactly the pod template
the webhook's patch makes.

Needs Debian's python3-jsonschema, openssl and shared/k8s-schemas, as
test_k8s_manifests.py does; a missing one fails the test.
"""
import base64
import copy
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time

import pytest
import yaml

from phiguard_harness import free_port
from test_k8s_manifests import BIN, TOP, validation_errors

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "inject", "deployment.yaml")


# --- an RFC 6902 JSON Patch, written from the RFC, not from phiguard -------

def _unescape(token):
    return token.replace("~1", "/").replace("~0", "~")


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    for op in ops:
        assert op["op"] == "add", op
        tokens = [_unescape(t) for t in op["path"].split("/")[1:]]
        parent = doc
        for t in tokens[:-1]:
            parent = parent[int(t)] if isinstance(parent, list) else parent[t]
        last = tokens[-1]
        if isinstance(parent, list):
            if last == "-":
                parent.append(copy.deepcopy(op["value"]))
            else:
                i = int(last)
                assert 0 <= i <= len(parent)
                parent.insert(i, copy.deepcopy(op["value"]))
        else:
            assert isinstance(parent, dict), op["path"]
            parent[last] = copy.deepcopy(op["value"])
    return doc


# --- the webhook ----------------------------------------------------------

@pytest.fixture(scope="module")
def webhook(tmp_path_factory):
    d = tmp_path_factory.mktemp("webhook")
    cert, key = str(d / "tls.crt"), str(d / "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    port = free_port()
    log = open(d / "webhook.log", "w+")
    p = subprocess.Popen([BIN, "inject-webhook", "--listen", f"127.0.0.1:{port}", "--cert", cert, "--key", key],
                         stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while True:
        assert p.poll() is None, "inject-webhook exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline, "inject-webhook does not listen"
            time.sleep(0.05)
    ctx = ssl.create_default_context(cafile=cert)
    yield {"port": port, "ctx": ctx, "log": log}
    p.send_signal(signal.SIGTERM)
    try:
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()


def post(webhook, body, path="/inject"):
    c = http.client.HTTPSConnection("localhost", webhook["port"], context=webhook["ctx"], timeout=10)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        c.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def review(pod, uid="8c2f5d4e-0001", operation="CREATE"):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "namespace": "ehr", "operation": operation, "object": pod}}


def answer(webhook, pod, **kw):
    status, body = post(webhook, review(pod, **kw))
    assert status == 200, body
    r = json.loads(body)
    assert r["apiVersion"] == "admission.k8s.io/v1" and r["kind"] == "AdmissionReview"
    resp = r["response"]
    assert resp["uid"] == kw.get("uid", "8c2f5d4e-0001")
    assert resp["allowed"] is True
    if "patch" not in resp:
        assert "patchType" not in resp
        return None
    assert resp["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(resp["patch"]))


def example_docs():
    with open(EXAMPLE) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def example_pod():
    """The Pod the example Deployment's ReplicaSet would create."""
    dep = example_docs()[0]
    t = copy.deepcopy(dep["spec"]["template"])
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": dict(t["metadata"], generateName="ehr-plain-5d9f-", namespace="ehr"), "spec": t["spec"]}


def bare_pod(annotations=None):
    meta = {"name": "p", "namespace": "ehr"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "app", "image": "app:1"}]}}


def assert_valid_pod(pod):
    errors = validation_errors(pod)
    assert not errors, errors[:5]


def sidecar_checks(spec, port, configmap):
    side = [c for c in spec["containers"] if c["name"] == "phiguard"]
    assert len(side) == 1
    side = side[0]
    assert side["args"][-2:] == ["--upstream", f"127.0.0.1:{port}"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in side["env"]
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["phiguard-config"]["configMap"]["name"] == configmap
    assert vols["phiguard-secrets"]["emptyDir"]["medium"] == "Memory"
    init = [c for c in spec["initContainers"] if c["name"] == "phiguard-secrets"]
    assert len(init) == 1 and "install -D -m 0600" in init[0]["command"][2]
    mounts = {m["name"]: m for m in side["volumeMounts"]}
    assert mounts["phiguard-secrets"]["readOnly"] is True
    assert "phiguard-secrets-in" not in mounts, "the sidecar must read only the 0600 copies"
    sc = side["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and sc["capabilities"]["drop"] == ["ALL"]


def test_annotated_pod_gets_the_sidecar_once(webhook):
    pod = example_pod()
    patch = answer(webhook, pod)
    assert patch, "no patch for an annotated pod"
    assert all(op["op"] == "add" for op in patch)
    out = json_patch(pod, patch)
    assert_valid_pod(out)
    sidecar_checks(out["spec"], 3000, "ehr-phiguard")
    assert out["metadata"]["annotations"]["phiguard.io/injected"] == "true"
    assert [c["name"] for c in out["spec"]["containers"]] == ["app", "phiguard"]
    assert out["spec"]["volumes"][0]["name"] == "app-tmp", "the app's volumes stay first"
    # Injects once: the patched pod, reviewed again, is left alone.
    assert answer(webhook, out) is None


def test_bare_annotated_pod_defaults(webhook):
    """No initContainers, no volumes: the patch makes the arrays; the
    default port and ConfigMap."""
    pod = bare_pod({"phiguard.io/inject": "true"})
    patch = answer(webhook, pod)
    paths = [op["path"] for op in patch]
    assert "/spec/initContainers" in paths and "/spec/volumes" in paths
    out = json_patch(pod, patch)
    assert_valid_pod(out)
    sidecar_checks(out["spec"], 8080, "phiguard-config")


@pytest.mark.parametrize("annotations", [None, {}, {"phiguard.io/inject": "false"}, {"phiguard.io/inject": True}])
def test_unannotated_pod_is_allowed_unchanged(webhook, annotations):
    assert answer(webhook, bare_pod(annotations)) is None


def test_already_injected_pods_are_left_alone(webhook):
    assert answer(webhook, bare_pod({"phiguard.io/inject": "true", "phiguard.io/injected": "true"})) is None
    pod = bare_pod({"phiguard.io/inject": "true"})
    pod["spec"]["containers"].append({"name": "phiguard", "image": "registry.example.org/phiguard:1.0"})
    assert answer(webhook, pod) is None
    # The base Deployment's pod has its sidecar and says so.
    with open(os.path.join(TOP, "k8s", "base", "deployment.yaml")) as f:
        base = yaml.safe_load(f)
    t = base["spec"]["template"]
    t["metadata"]["annotations"]["phiguard.io/inject"] = "true"
    assert answer(webhook, {"apiVersion": "v1", "kind": "Pod", **t}) is None


@pytest.mark.parametrize("spoil", [
    lambda p: p["spec"].__setitem__("containers", "app"),
    lambda p: p["spec"].__setitem__("containers", []),
    lambda p: p.__delitem__("spec"),
    lambda p: p["spec"].__setitem__("volumes", {"name": "x"}),
    lambda p: p["spec"]["containers"][0].__delitem__("name"),
    lambda p: p["spec"]["containers"][0].__setitem__("ports", [{"containerPort": 8443}]),
    lambda p: p["spec"].__setitem__("volumes", [{"name": "phiguard-spool", "emptyDir": {}}]),
    lambda p: p["metadata"]["annotations"].__setitem__("phiguard.io/upstream-port", "80a"),
    lambda p: p["metadata"]["annotations"].__setitem__("phiguard.io/upstream-port", "9090"),
    lambda p: p["metadata"]["annotations"].__setitem__("phiguard.io/policy-configmap", "Bad Name"),
])
def test_pod_not_understood_is_allowed_unchanged(webhook, spoil):
    pod = bare_pod({"phiguard.io/inject": "true"})
    spoil(pod)
    assert answer(webhook, pod, uid="odd-1") is None


def test_not_a_pod_create_is_allowed_unchanged(webhook):
    assert answer(webhook, bare_pod({"phiguard.io/inject": "true"}), operation="UPDATE") is None
    r = review({"kind": "Secret"})
    r["request"]["kind"]["kind"] = "Secret"
    status, body = post(webhook, r)
    assert status == 200 and "patch" not in json.loads(body)["response"]


@pytest.mark.parametrize("body", [b"", b"{not json", b"[]", json.dumps({"request": {}}).encode(),
                                  json.dumps({"request": {"uid": 7}}).encode()])
def test_malformed_request_is_400(webhook, body):
    status, _ = post(webhook, body)
    assert status == 400


def test_only_post(webhook):
    c = http.client.HTTPSConnection("localhost", webhook["port"], context=webhook["ctx"], timeout=10)
    c.request("GET", "/inject")
    assert c.getresponse().status == 405
    c.close()


def test_reviews_are_logged(webhook):
    answer(webhook, bare_pod({"phiguard.io/inject": "true", "phiguard.io/upstream-port": "x"}), uid="logged-1")
    deadline = time.time() + 5
    while True:
        webhook["log"].seek(0)
        lines = [json.loads(l) for l in webhook["log"] if l.startswith("{")]
        hit = [l for l in lines if l.get("uid") == "logged-1"]
        if hit or time.time() > deadline:
            break
        time.sleep(0.05)
    assert hit and hit[0]["result"] == "not_understood" and "upstream-port" in hit[0]["reason"]


# --- phiguard inject -------------------------------------------------------

def inject(path, *extra):
    return subprocess.run([BIN, "inject", "-f", path, *extra], capture_output=True, text=True, timeout=30)


def test_inject_equals_the_webhook(webhook):
    r = inject(EXAMPLE)
    assert r.returncode == 0, r.stderr
    out = list(yaml.safe_load_all(r.stdout))
    src = example_docs()
    assert len(out) == 2
    assert out[1] == src[1], "a manifest without a pod template is printed as it was"
    dep = out[0]
    errors = validation_errors(dep)
    assert not errors, errors[:5]
    pod = example_pod()
    from_webhook = json_patch(pod, answer(webhook, pod))
    assert dep["spec"]["template"]["spec"] == from_webhook["spec"]
    assert dep["spec"]["template"]["metadata"]["annotations"] == from_webhook["metadata"]["annotations"]
    # Everything outside the template is as it was.
    rest = copy.deepcopy(dep)
    del rest["spec"]["template"]
    orig = copy.deepcopy(src[0])
    del orig["spec"]["template"]
    assert rest == orig
    # Injects once: inject's own output goes through unchanged.
    again = subprocess.run([BIN, "inject", "-f", "-"], input=r.stdout, capture_output=True, text=True, timeout=30)
    assert again.returncode == 0, again.stderr
    assert list(yaml.safe_load_all(again.stdout)) == out


def test_inject_leaves_the_base_deployment(tmp_path):
    path = os.path.join(TOP, "k8s", "base", "deployment.yaml")
    r = inject(path)
    assert r.returncode == 0, r.stderr
    with open(path) as f:
        assert list(yaml.safe_load_all(r.stdout)) == [yaml.safe_load(f)]


def test_inject_kinds_and_image(tmp_path):
    docs = []
    for kind, api, wrap in [("StatefulSet", "apps/v1", "/spec/template"), ("DaemonSet", "apps/v1", "/spec/template"),
                            ("Job", "batch/v1", "/spec/template"), ("CronJob", "batch/v1", None), ("Pod", "v1", "")]:
        pod = {"metadata": {"annotations": {"phiguard.io/inject": "true"}},
               "spec": {"restartPolicy": "OnFailure" if kind in ("Job", "CronJob") else "Always",
                        "containers": [{"name": "app", "image": "app:1"}]}}
        if kind == "Pod":
            d = {"apiVersion": api, "kind": kind, "metadata": {"name": "p", **pod["metadata"]}, "spec": pod["spec"]}
        elif kind == "CronJob":
            d = {"apiVersion": api, "kind": kind, "metadata": {"name": "c"},
                 "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": pod}}}}
        else:
            d = {"apiVersion": api, "kind": kind, "metadata": {"name": kind.lower()},
                 "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": pod}}
            if kind == "StatefulSet":
                d["spec"]["serviceName"] = "s"
            if kind == "Job":
                del d["spec"]["selector"]
        docs.append(d)
    f = tmp_path / "kinds.yaml"
    f.write_text(yaml.safe_dump_all(docs))
    r = inject(str(f), "--image", "registry.example.org/phiguard@sha256:" + "a" * 64)
    assert r.returncode == 0, r.stderr
    out = list(yaml.safe_load_all(r.stdout))
    assert len(out) == len(docs)
    for d in out:
        spec = d["spec"] if d["kind"] == "Pod" else (
            d["spec"]["jobTemplate"]["spec"]["template"]["spec"] if d["kind"] == "CronJob"
            else d["spec"]["template"]["spec"])
        # shared/k8s-schemas has Pod, Deployment and StatefulSet only: the
        # others' pod templates are checked as Pods.
        whole = d if d["kind"] in ("Pod", "StatefulSet") else {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t"}, "spec": spec}
        errors = validation_errors(whole)
        assert not errors, (d["kind"], errors[:5])
        sidecar_checks(spec, 8080, "phiguard-config")
        assert [c["image"] for c in spec["containers"]][-1].endswith("a" * 64)


@pytest.mark.parametrize("text,message", [
    ("kind: Pod\nmetadata: {annotations: {phiguard.io/inject: 'true', phiguard.io/upstream-port: '0'}}\n"
     "spec: {containers: [{name: app, image: a}]}\n", "upstream-port"),
    ("a: [1, 2\n", "1:"),
    ("a: .inf\n", "JSON"),
])
def test_inject_refuses_and_prints_nothing(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text("kind: Service\nmetadata: {name: s}\n---\n" + text)
    r = inject(str(f))
    assert r.returncode == 1
    assert r.stdout == ""
    assert message in r.stderr


def test_inject_usage():
    assert inject("/nonexistent/x.yaml").returncode == 1
    r = subprocess.run([BIN, "inject"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([BIN, "inject", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "JSON" in r.stdout


def test_serve_upstream_is_checked():
    """The sidecar's --upstream: a bad address stops serve before it starts."""
    conf = os.path.join(TOP, "conf", "phiguard.yaml")
    r = subprocess.run([BIN, "serve", "-c", conf, "--upstream", "127.0.0.1:notaport"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--upstream 127.0.0.1:notaport" in r.stderr, r.stderr
