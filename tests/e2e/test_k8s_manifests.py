"""The Kubernetes manifests of k8s/ are valid and say what docs/kubernetes.md
promises: every file and every object the kustomizations render validates
against the strict Kubernetes v1.32 JSON schemas, the pods meet the
"restricted" Pod Security Standard, only 8443 is admitted, the probes ask the
admin listener, the app binds loopback, and the ConfigMap carries a config
and a policy that phiguard itself accepts.

Needs kubectl (for `kubectl kustomize`, offline), Debian's python3-jsonschema
and the schemas in shared/k8s-schemas (beside the repository, or
PHIGUARD_K8S_SCHEMAS): scripts/install-deps.sh installs the first two. A
missing one fails the test with its name; nothing is skipped.
"""
import copy
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

TOP = os.environ.get("PHIGUARD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(TOP, "k8s")
BIN = os.environ.get("PHIGUARD_BIN", os.path.join(TOP, "build", "phiguard"))
def _schemas():
    """Beside the repository (the workplace's layout), else where the
    workplace keeps shared/ (a clone elsewhere, as CI makes)."""
    for d in (os.path.join(TOP, "..", "shared", "k8s-schemas", "v1.32.2"), "/work/shared/k8s-schemas/v1.32.2"):
        if os.path.isdir(d):
            return d
    return os.path.join(TOP, "..", "shared", "k8s-schemas", "v1.32.2")


SCHEMAS = os.environ.get("PHIGUARD_K8S_SCHEMAS") or _schemas()
KUSTOMIZATIONS = ["overlays/dev", "overlays/prod", "webhook"]
SECRETS_DIR = "/run/phiguard/secrets/"
ADMIN_PORT = 9090
TLS_PORT = 8443


def kubectl():
    exe = os.environ.get("PHIGUARD_KUBECTL") or shutil.which("kubectl")
    if not exe or not os.access(exe, os.X_OK):
        pytest.fail("kubectl not found: `bash scripts/install-deps.sh` installs Debian's kubernetes-client")
    return exe


def jsonschema():
    try:
        import jsonschema as js
    except ImportError:
        pytest.fail("python3-jsonschema missing: `bash scripts/install-deps.sh` installs it")
    return js


def schema_for(obj):
    """The schema file of a kind: <kind>-<group's first label>-<version>.json,
    or <kind>-<version>.json for the core group (shared/k8s-schemas/README.md)."""
    if not os.path.isdir(SCHEMAS):
        pytest.fail(f"Kubernetes schemas not found at {SCHEMAS} (set PHIGUARD_K8S_SCHEMAS)")
    group, _, version = obj["apiVersion"].rpartition("/")
    name = obj["kind"].lower() + ("-" + group.split(".")[0] if group else "") + "-" + version + ".json"
    path = os.path.join(SCHEMAS, name)
    assert os.path.exists(path), f"no schema {name} for {obj['apiVersion']} {obj['kind']}"
    with open(path) as f:
        return json.load(f)


def validation_errors(obj):
    js = jsonschema()
    schema = schema_for(obj)
    validator = js.validators.validator_for(schema, default=js.Draft7Validator)(schema)
    return sorted("/".join(map(str, e.absolute_path)) + ": " + e.message for e in validator.iter_errors(obj))


def assert_valid(obj, where):
    errors = validation_errors(obj)
    assert not errors, f"{where}: {obj['kind']} {obj['metadata'].get('name')}: " + "; ".join(errors[:5])


def render(rel):
    r = subprocess.run([kubectl(), "kustomize", os.path.join(K8S, rel)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"kubectl kustomize k8s/{rel}: {r.stderr}"
    return [d for d in yaml.safe_load_all(r.stdout) if d]


@pytest.fixture(scope="module")
def rendered():
    return {rel: render(rel) for rel in KUSTOMIZATIONS}


def one(objs, kind, name):
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def kustomization_files():
    """Every kustomization under k8s/ and the files it names, by role."""
    roles = {}
    for dirpath, _, files in os.walk(K8S):
        if "kustomization.yaml" not in files:
            continue
        with open(os.path.join(dirpath, "kustomization.yaml")) as f:
            k = yaml.safe_load(f)
        rel = lambda p: os.path.normpath(os.path.join(dirpath, p))
        for p in k.get("resources", []) + k.get("bases", []):
            if os.path.isfile(rel(p)):
                roles[rel(p)] = "resource"
        for p in k.get("patchesStrategicMerge", []):
            roles[rel(p)] = "patch"
        for p in k.get("patchesJson6902", []):
            roles[rel(p["path"])] = "patch"
        for g in k.get("configMapGenerator", []):
            for p in g.get("files", []):
                roles[rel(p)] = "config"
        roles[os.path.join(dirpath, "kustomization.yaml")] = "kustomization"
    return roles


# --- every file -----------------------------------------------------------

def test_every_yaml_file_has_a_role():
    roles = kustomization_files()
    for dirpath, _, files in os.walk(K8S):
        for f in files:
            if f.endswith((".yaml", ".yml")):
                path = os.path.join(dirpath, f)
                assert path in roles, f"{os.path.relpath(path, TOP)} is in no kustomization"


def test_every_manifest_file_validates():
    files = [p for p, role in kustomization_files().items() if role == "resource"]
    assert len(files) >= 8
    for path in files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        assert docs, path
        for d in docs:
            assert_valid(d, os.path.relpath(path, TOP))


def test_validator_rejects_what_the_schemas_forbid(rendered):
    """The schemas are strict and really loaded: an unknown field, a wrong
    type and a missing required field each fail."""
    dep = one(rendered["overlays/dev"], "Deployment", "ehr")
    unknown = copy.deepcopy(dep)
    unknown["spec"]["template"]["spec"]["containers"][0]["securtyContext"] = {}
    wrong_type = copy.deepcopy(dep)
    wrong_type["spec"]["replicas"] = "two"
    missing = copy.deepcopy(dep)
    del missing["spec"]["selector"]
    for bad in (unknown, wrong_type, missing):
        assert validation_errors(bad)
    assert not validation_errors(dep)


# --- the rendered overlays ------------------------------------------------

def test_rendered_objects_validate(rendered):
    for rel, objs in rendered.items():
        assert objs, rel
        for o in objs:
            assert_valid(o, f"kubectl kustomize k8s/{rel}")


def test_overlay_namespaces_and_replicas(rendered):
    for rel, ns, replicas in (("overlays/dev", "ehr-dev", 1), ("overlays/prod", "ehr", 3)):
        objs = rendered[rel]
        assert {o["metadata"].get("namespace") for o in objs} == {ns}, rel
        assert one(objs, "Deployment", "ehr")["spec"]["replicas"] == replicas
        pdb = one(objs, "PodDisruptionBudget", "ehr")
        assert pdb["spec"]["selector"]["matchLabels"] == one(objs, "Deployment", "ehr")["spec"]["selector"]["matchLabels"]
    # Dev brings its own Redis; prod has none and names an external one.
    assert one(rendered["overlays/dev"], "Deployment", "redis")
    assert not [o for o in rendered["overlays/prod"] if o["metadata"]["name"] == "redis"]


def pod_specs(objs):
    for o in objs:
        if o["kind"] in ("Deployment", "StatefulSet"):
            yield o["metadata"]["name"], o["spec"]["template"]["spec"]
        elif o["kind"] == "Pod":
            yield o["metadata"]["name"], o["spec"]


RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}


def test_restricted_pod_security(rendered):
    """The "restricted" Pod Security Standard (v1.32), on every pod."""
    seen = 0
    for rel, objs in rendered.items():
        for name, spec in pod_specs(objs):
            seen += 1
            where = f"k8s/{rel} {name}"
            psc = spec.get("securityContext", {})
            assert psc.get("runAsNonRoot") is True, where
            assert psc.get("runAsUser", 1) != 0, where
            assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            for key in ("hostNetwork", "hostPID", "hostIPC"):
                assert not spec.get(key), where
            for v in spec.get("volumes", []):
                kinds = set(v) - {"name"}
                assert kinds <= RESTRICTED_VOLUMES, f"{where}: volume {v['name']} {kinds}"
                if "emptyDir" in v and "medium" in v["emptyDir"]:
                    assert v["emptyDir"]["medium"] in ("", "Memory"), where
            for c in spec.get("initContainers", []) + spec["containers"]:
                sc = c.get("securityContext", {})
                cwhere = f"{where} container {c['name']}"
                assert sc.get("allowPrivilegeEscalation") is False, cwhere
                assert sc.get("readOnlyRootFilesystem") is True, cwhere
                assert sc.get("capabilities", {}).get("drop") == ["ALL"], cwhere
                assert not sc.get("capabilities", {}).get("add"), cwhere
                assert not sc.get("privileged"), cwhere
                assert sc.get("runAsUser", 1) != 0, cwhere
                assert "seccompProfile" not in sc or sc["seccompProfile"]["type"] == "RuntimeDefault", cwhere
                for p in c.get("ports", []):
                    assert p.get("protocol", "TCP") == "TCP" and "hostPort" not in p, cwhere
                res = c.get("resources", {})
                for kind in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{cwhere}: resources.{kind}"
                if "imagePullPolicy" in c:
                    assert c["imagePullPolicy"] in ("Always", "IfNotPresent", "Never"), cwhere
    assert seen == 4  # ehr and redis in dev, ehr in prod, the webhook


def port_number(container, port):
    if isinstance(port, int):
        return port
    (p,) = [p["containerPort"] for p in container.get("ports", []) if p["name"] == port]
    return p


def container(spec, name):
    (c,) = [c for c in spec["containers"] if c["name"] == name]
    return c


def config_of(objs):
    cm = one(objs, "ConfigMap", "phiguard-config")
    return cm, yaml.safe_load(cm["data"]["phiguard.yaml"])


@pytest.mark.parametrize("rel", ["overlays/dev", "overlays/prod"])
def test_ehr_pod(rendered, rel):
    objs = rendered[rel]
    dep = one(objs, "Deployment", "ehr")
    spec = dep["spec"]["template"]["spec"]
    cm, cfg = config_of(objs)
    pg = container(spec, "phiguard")
    app = container(spec, "app")

    # The app has no ports and binds loopback, where phiguard's upstream is.
    assert "ports" not in app
    listen = [a for a in app.get("args", []) if re.fullmatch(r"[\d.]+:\d+", a)]
    assert listen == ["127.0.0.1:8080"] and cfg["upstream"]["address"] == "127.0.0.1:8080"

    # phiguard: TLS on 8443, probes on the admin listener.
    assert cfg["listen"].endswith(f":{TLS_PORT}") and port_number(pg, "https") == TLS_PORT
    assert cfg["admin"]["listen"].endswith(f":{ADMIN_PORT}")
    probes = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in probes.items():
        get = pg[probe]["httpGet"]
        assert get["path"] == path and port_number(pg, get["port"]) == ADMIN_PORT, probe
        assert get.get("scheme", "HTTP") == "HTTP"
    svc = one(objs, "Service", "ehr")
    assert svc["spec"]["type"] == "ClusterIP"
    assert [port_number(pg, p["targetPort"]) for p in svc["spec"]["ports"]] == [TLS_PORT]
    assert all(p["protocol"] == "TCP" for p in svc["spec"]["ports"])
    assert svc["spec"]["selector"] == dep["spec"]["template"]["metadata"]["labels"]

    # The downward API gives the audit writer its instance id.
    (env,) = [e for e in pg["env"] if e["name"] == "POD_NAME"]
    assert env["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "instance_id" not in cfg
    assert dep["spec"]["strategy"]["type"] in ("RollingUpdate", "Recreate")

    # Volumes: the ConfigMap by its generated name, the audit spool, and
    # every secret path of the config copied from a Secret item.
    vols = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in pg["volumeMounts"]}
    assert vols[mounts["/etc/phiguard"]]["configMap"]["name"] == cm["metadata"]["name"]
    assert "emptyDir" in vols[mounts[cfg["audit"]["spool_dir"]]] or \
        "persistentVolumeClaim" in vols[mounts[cfg["audit"]["spool_dir"]]]
    assert vols[mounts[SECRETS_DIR.rstrip("/")]]["emptyDir"]["medium"] == "Memory"
    items = {i["path"] for s in vols["secrets-in"]["projected"]["sources"] for i in s["secret"]["items"]}
    secret_paths = [cfg["tls"]["certificate"], cfg["tls"]["key"], cfg["auth"]["users_file"],
                    cfg["auth"]["token_key_file"], cfg["auth"]["mfa_key_file"],
                    cfg["audit"]["signing_key_file"], cfg["phi"]["keyring_file"]]
    if "password_file" in cfg.get("redis", {}):
        secret_paths.append(cfg["redis"]["password_file"])
    for p in secret_paths:
        assert p.startswith(SECRETS_DIR) and p[len(SECRETS_DIR):] in items, p
    assert len(items) == len(secret_paths)  # no Secret item the config does not use
    # The init container copies secrets-in to the volume phiguard reads.
    (init,) = spec["initContainers"]
    init_mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    assert init_mounts["secrets"] == SECRETS_DIR.rstrip("/")
    assert init_mounts["secrets-in"] in init["command"][-1] and "-m 0600" in init["command"][-1]
    assert [m for m in init["volumeMounts"] if m["name"] == "secrets-in"][0]["readOnly"] is True

    # Only 8443 is admitted to the pod.
    (np,) = [o for o in objs if o["kind"] == "NetworkPolicy"
             and o["spec"]["podSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]]
    assert np["spec"]["policyTypes"] == ["Ingress"]
    assert [p for rule in np["spec"]["ingress"] for p in rule["ports"]] == [{"protocol": "TCP", "port": TLS_PORT}]


def test_prod_uses_external_redis_with_credentials(rendered):
    _, dev = config_of(rendered["overlays/dev"])
    _, prod = config_of(rendered["overlays/prod"])
    dev_redis = one(rendered["overlays/dev"], "Service", "redis")
    assert dev["redis"]["address"] == f"{dev_redis['metadata']['name']}:{dev_redis['spec']['ports'][0]['port']}"
    assert prod["redis"]["address"] != dev["redis"]["address"]
    assert prod["redis"]["username"] and prod["redis"]["password_file"]
    # Apart from Redis, prod runs the same config as dev.
    for cfg in (dev, prod):
        del cfg["redis"]
    assert dev == prod


def test_dev_redis_admits_only_the_ehr_pods(rendered):
    objs = rendered["overlays/dev"]
    np = one(objs, "NetworkPolicy", "redis")
    (rule,) = np["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ehr"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]


@pytest.mark.parametrize("rel", ["overlays/dev", "overlays/prod"])
def test_configmap_is_accepted_by_phiguard(rendered, rel, tmp_path):
    cm, _ = config_of(rendered[rel])
    with open(os.path.join(TOP, "conf", "policy.yaml")) as f:
        assert cm["data"]["policy.yaml"] == f.read(), "k8s/base/policy.yaml differs from conf/policy.yaml"
    for name, data in cm["data"].items():
        (tmp_path / name).write_text(data)
    cfg = tmp_path / "phiguard.yaml"
    # The config names /etc/phiguard/policy.yaml; here the copy beside it.
    cfg.write_text(cfg.read_text().replace("/etc/phiguard/policy.yaml", "policy.yaml"))
    for args in (["config", "check", str(cfg)], ["policy", "check", str(tmp_path / "policy.yaml")]):
        r = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"{rel}: phiguard {' '.join(args[:2])}: {r.stderr}"


def test_no_secret_material_in_k8s():
    """Keys are made with `kubectl create secret` (docs/kubernetes.md): no
    Secret object and no PEM block lives in k8s/."""
    for dirpath, _, files in os.walk(K8S):
        for f in files:
            text = open(os.path.join(dirpath, f)).read()
            assert "-----BEGIN" not in text, f
            for d in (yaml.safe_load_all(text) if f.endswith(".yaml") else []):
                assert not (isinstance(d, dict) and d.get("kind") == "Secret"), f
                assert not (isinstance(d, dict) and "secretGenerator" in d), f


# --- the injection webhook --------------------------------------------------

def test_mutating_webhook_configuration(rendered):
    objs = rendered["webhook"]
    mwc = one(objs, "MutatingWebhookConfiguration", "phiguard-inject")
    assert "namespace" not in mwc["metadata"]  # cluster-scoped
    svc = one(objs, "Service", "phiguard-inject")
    dep = one(objs, "Deployment", "phiguard-inject")
    (hook,) = mwc["webhooks"]
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["failurePolicy"] in ("Fail", "Ignore")
    assert hook["sideEffects"] in ("None", "NoneOnDryRun")
    assert hook["matchPolicy"] in ("Exact", "Equivalent")
    assert hook["reinvocationPolicy"] in ("Never", "IfNeeded")
    assert 1 <= hook["timeoutSeconds"] <= 30
    assert hook["namespaceSelector"]["matchLabels"] == {"phiguard.io/inject": "enabled"}
    for e in hook["objectSelector"]["matchExpressions"]:
        assert e["operator"] in ("In", "NotIn", "Exists", "DoesNotExist")
    (rule,) = hook["rules"]
    assert rule["operations"] == ["CREATE"] and rule["resources"] == ["pods"]
    assert rule["apiGroups"] == [""] and rule["scope"] in ("Namespaced", "Cluster", "*")
    ref = hook["clientConfig"]["service"]
    assert (ref["name"], ref["namespace"]) == (svc["metadata"]["name"], svc["metadata"]["namespace"])
    (port,) = svc["spec"]["ports"]
    assert ref["port"] == port["port"]
    assert port_number(dep["spec"]["template"]["spec"]["containers"][0], port["targetPort"]) == TLS_PORT
    # The webhook's own namespace is not one it injects into.
    assert svc["metadata"]["namespace"] != "" and "url" not in hook["clientConfig"]


# --- docs/kubernetes.md -----------------------------------------------------

def test_docs_yaml_examples_validate():
    """Every YAML example of docs/kubernetes.md is a valid object, and the
    ports it names are phiguard's (the metrics example opens the admin port)."""
    with open(os.path.join(TOP, "docs", "kubernetes.md")) as f:
        blocks = re.findall(r"^```yaml\n(.*?)^```", f.read(), re.S | re.M)
    assert blocks
    for b in blocks:
        for d in yaml.safe_load_all(b):
            assert_valid(d, "docs/kubernetes.md")
            if d["kind"] == "NetworkPolicy":
                assert d["spec"]["policyTypes"] == ["Ingress"]
                ports = [p for rule in d["spec"]["ingress"] for p in rule["ports"]]
                assert ports == [{"protocol": "TCP", "port": ADMIN_PORT}]
