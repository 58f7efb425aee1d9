"""The access policy: admin tools on the real binary, and enforcement, reload
and the admin view through the real proxy."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time

from phiguard_harness import BIN, TOP, make_keyring, parse_responses, raw_exchange

POLICY = os.path.join(TOP, "conf", "policy.yaml")
TESTS = os.path.join(TOP, "conf", "policy-tests.yaml")


def run(*args):
    return subprocess.run([BIN, "policy", *args], capture_output=True, text=True, timeout=30)


def test_check_and_test_the_example_policy():
    r = run("check", POLICY)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout
    r = run("test", POLICY, TESTS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("0 failed")


def test_check_reports_every_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nroles:\n  clerk: {inherits: [nurze]}\nroutes:\n"
                   "  - {methods: [GET], path: /a, permissions: [patient:sing]}\n"
                   "  - {methods: [FETCH], path: b, public: true}\n")
    r = run("check", str(bad))
    assert r.returncode == 1
    assert f"{bad}:3:22: roles.clerk.inherits: undefined role 'nurze'" in r.stderr
    assert f"{bad}:5:46: routes[0].permissions: undefined permission 'patient:sing'" in r.stderr
    assert "routes[1].methods: unknown method 'FETCH'" in r.stderr
    assert "routes[1].path: expected a path starting with /" in r.stderr


def test_failing_expectation_fails(tmp_path):
    t = tmp_path / "t.yaml"
    t.write_text("tests:\n  - {name: wrong on purpose, role: billing, request: \"GET /fhir/Observation/1\", expect: allow}\n")
    r = run("test", POLICY, str(t))
    assert r.returncode == 1
    assert "FAIL  wrong on purpose" in r.stdout and "0 passed, 1 failed" in r.stdout


def test_explain():
    r = run("explain", "-p", POLICY, "--role", "physician", "DELETE", "/fhir/Patient/7")
    assert r.returncode == 1
    assert "decision: deny" in r.stdout
    assert "patient-delete /fhir/Patient/{id}" in r.stdout
    assert "needs records:amend" in r.stdout and "MISSING" in r.stdout
    r = run("explain", "-p", POLICY, "--role", "billing", "GET", "/fhir/Patient/7")
    assert r.returncode == 0
    assert "Patient.identifier.value" in r.stdout and "masked" in r.stdout


def test_diff(tmp_path):
    new = tmp_path / "new.yaml"
    text = open(POLICY).read().replace("permissions: [records:export]", "permissions: [patient:read]")
    new.write_text(text)
    r = run("diff", POLICY, str(new))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    nurse = lines.index("nurse")
    assert "  + route GET /fhir/$export" in lines[nurse + 1:nurse + 4]
    med = lines.index("medical_records")
    assert lines[med + 1] == "  no change"  # it held both permissions


def policy_overrides(path, workdir=None):
    """The example policy names PHI fields, which need a keyring."""
    out = {"policy": {"file": path}}
    if workdir:
        out["phi"] = {"keyring_file": make_keyring(workdir)}
    return out


def test_enforcement_public_protected_and_unmatched(make_proxy, certs, backend, workdir):
    p = make_proxy(policy_overrides(POLICY, workdir))
    backend.clear()
    # Public: forwarded.
    status, _, _ = parse_responses(raw_exchange(p.port, certs, b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))[0]
    assert status == 404  # the sample backend has no /healthz: it was forwarded
    # Protected without a session, and unmatched: refused, never forwarded.
    for path in (b"/fhir/Patient/1", b"/internal/debug"):
        status, _, body = parse_responses(raw_exchange(p.port, certs, b"GET " + path + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"))[0]
        assert status == 401
        assert json.loads(body)["error"] == "unauthenticated"
    seen = [r["path"] for r in backend.requests_seen()]
    assert seen == ["/healthz"]
    denies = p.logs("policy_deny")
    assert any(d["rule_line"] > 0 for d in denies) and any(d["rule_line"] == 0 for d in denies)


def test_admin_shows_version_and_sha256(make_proxy, workdir):
    p = make_proxy(policy_overrides(POLICY, workdir))
    status, body = p.admin("/policy")
    info = json.loads(body)
    assert status == 200 and info["configured"]
    assert info["sha256"] == hashlib.sha256(open(POLICY, "rb").read()).hexdigest()
    assert info["schema_version"] == 1


def test_reload_good_bad_and_in_flight(make_proxy, certs, workdir):
    live = os.path.join(workdir, "policy.yaml")
    open(live, "w").write("version: 1\nroutes:\n  - {methods: [GET], path: /slow, public: true}\n"
                          "  - {methods: [GET], path: /echo, public: true}\n")
    p = make_proxy(policy_overrides(live))
    ok = b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    assert parse_responses(raw_exchange(p.port, certs, ok))[0][0] == 200

    # A request in flight keeps the policy it started with.
    result = {}

    def slow():
        result["out"] = raw_exchange(p.port, certs, b"GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.4)
    # A bad file is refused with its line:column; the running policy stays.
    open(live, "w").write("version: 1\nroutes:\n  - {methods: [GET], path: nope, public: true}\n")
    p.signal(signal.SIGHUP)
    err = p.wait_log("policy_reload_failed")
    assert any("3:28" in e["error"] for e in p.logs("policy_error"))
    assert parse_responses(raw_exchange(p.port, certs, ok))[0][0] == 200
    # A good file that closes /echo is swapped in (file change, no signal).
    n = len(p.logs("policy_loaded"))
    tmp = live + ".tmp"
    open(tmp, "w").write("version: 1\nroutes:\n  - {methods: [GET], path: /other, public: true}\n")
    os.rename(tmp, live)
    p.wait_log("policy_loaded", count=n + 1)
    assert parse_responses(raw_exchange(p.port, certs, ok))[0][0] == 401
    t.join(timeout=10)
    assert parse_responses(result["out"])[0][0] == 200


# Roles through the real proxy: a client certificate (CN clinic-client, from
# the test CA) is mapped to one role at a time; the example policy decides.
ROLE_CASES = [
    ("physician", b"GET", b"/fhir/Patient/1", "allow"),
    ("physician", b"DELETE", b"/fhir/Patient/1", "deny"),
    ("billing", b"GET", b"/fhir/Patient/1", "allow"),
    ("billing", b"GET", b"/fhir/Observation/1", "deny"),
    ("nurse", b"POST", b"/fhir/MedicationRequest", "deny"),
    ("front_desk", b"POST", b"/fhir/Patient", "allow"),
    ("researcher", b"GET", b"/fhir/Patient/1", "deny"),
    ("security_admin", b"GET", b"/fhir/Patient/1", "deny"),
    ("medical_records", b"GET", b"/fhir/$export", "allow"),
    ("physician", b"GET", b"/fhir/$export", "deny"),
]


def test_roles_from_client_certificates(make_proxy, certs, backend, workdir):
    from phiguard_harness import tls_connect, read_all
    by_role = {}
    keyring = make_keyring(workdir)
    for role, method, path, expected in ROLE_CASES:
        if role not in by_role:
            by_role[role] = make_proxy({"tls": {"client_ca": f"{certs}/ca.pem", "client_auth": "optional"},
                                        "client_identities": [{"subject_cn": "clinic-client", "user": f"u-{role}",
                                                               "roles": [role]}],
                                        "policy": {"file": POLICY}, "phi": {"keyring_file": keyring}},
                                       name=f"role-{role}")
        p = by_role[role]
        backend.clear()
        s = tls_connect(p.port, certs, cert="client")
        body = b'{"resourceType":"Patient"}' if method == b"POST" else b""
        s.sendall(method + b" " + path + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Auth-Roles: system_owner\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        status = parse_responses(read_all(s))[0][0]
        s.close()
        seen = backend.requests_seen()
        if expected == "deny":
            assert status == 403, (role, method, path, status)
            assert seen == [], (role, path)
        else:
            assert status not in (401, 403) and len(seen) == 1, (role, method, path, status)
            sent = {k.lower(): v for k, v in seen[0]["headers"]}
            assert sent["x-auth-user"] == f"u-{role}"
            assert sent["x-auth-roles"] == role  # the client's own X-Auth-Roles was dropped
    # Without a certificate the same proxy sees no identity.
    out = raw_exchange(by_role["physician"].port, certs, b"GET /fhir/Patient/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert parse_responses(out)[0][0] == 401
