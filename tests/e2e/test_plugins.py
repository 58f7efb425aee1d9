"""Plugins through the real proxy (docs/plugins.md): loading and its
refusals, every hook of the test plugins in tests/plugins/ (built by
tests/CMakeLists.txt), their failures, and the host services they use."""
import concurrent.futures
import json
import os
import re
import subprocess
import time

import pytest
import requests
import yaml

from audit_env import audit_config, records
from auth_env import auth_config
from phiguard_harness import Proxy, deep_merge, make_keyring
from redis_fixture import redis_server  # noqa: F401 (fixture)

PLUGINS = os.environ.get("PHIGUARD_TEST_PLUGIN_DIR", os.path.join(os.getcwd(), "build", "test-plugins"))

POLICY = """version: 1
routes:
  - {name: echo, methods: "*", path: /echo, permissions: [patient:read]}
  - {name: headers, methods: [GET], path: /headers, public: true}
  - {name: echo-body, methods: [POST], path: /echo-body, public: true}
  - {name: status, methods: [GET], path: "/status/{code}", public: true}
  - {name: auth, methods: "*", path: /auth/**, public: true}
  - {name: ws, methods: [GET], path: /ws, permissions: [patient:read]}
"""
PHI_ROUTE = """  - name: note
    methods: [GET, PUT]
    path: "/fhir/Note/{id}"
    entity: Note
    public: true
    phi:
      request: [{path: "$.note", read: patient:read}]
      response: [{path: "$.note", read: patient:read, others: mask}]
"""


def plugin(name, config=None):
    entry = {"path": os.path.join(PLUGINS, f"{name}.so")}
    if config is not None:
        entry["config"] = config
    return entry


EVERY = plugin("every_hook", {"greeting": "hello from the config", "role": "physician"})


def plugin_config(workdir, *plugins, keyring=False):
    """The test policy and plugins; keyring: a PHI keyring, and a route with PHI fields."""
    policy = os.path.join(workdir, "plugin-policy.yaml")
    with open(policy, "w") as f:
        f.write(POLICY + (PHI_ROUTE if keyring else ""))
    cfg = {"policy": {"file": policy}, "plugins": list(plugins)}
    if keyring:
        ring = os.path.join(workdir, "phi.keyring")
        cfg["phi"] = {"keyring_file": ring if os.path.exists(ring) else make_keyring(workdir)}
    return cfg


def get(p, path, **kw):
    kw.setdefault("timeout", 30)
    return requests.get(p.url(path), verify=os.path.join(p.certs, "ca.pem"), **kw)


def post(p, path, **kw):
    kw.setdefault("timeout", 30)
    return requests.post(p.url(path), verify=os.path.join(p.certs, "ca.pem"), **kw)


def last_seen(backend):
    seen = backend.requests_seen()
    assert seen, "the backend saw no request"
    return {k.lower(): v for k, v in seen[-1]["headers"]}


@pytest.fixture
def refused_start(workdir, certs, backend):
    """refused_start(*plugins) -> the Proxy, which must have exited non-zero."""
    made = []

    def start(*plugins):
        p = Proxy(workdir, certs, backend.address, plugin_config(workdir, *plugins), f"refused{len(made)}")
        made.append(p)
        return wait_refused(p.start(wait=False))

    yield start
    for p in made:
        p.stop()


def wait_refused(p):
    deadline = time.time() + 20
    while p.proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert p.proc.poll() is not None, "phiguard started with a plugin it must refuse"
    assert p.proc.returncode != 0
    return p


# ---- loading ----

def test_a_plugin_of_another_major_version_is_refused_before_it_runs(refused_start):
    p = refused_start(plugin("wrong_abi"))
    (line,) = p.logs("plugin_load_failed")
    assert line["path"] == os.path.join(PLUGINS, "wrong_abi.so")
    assert line["path"] in line["error"]
    assert "ABI 2.0" in line["error"] and "ABI 1.0" in line["error"] and "major" in line["error"]
    assert "entry point ran" not in p.stderr()
    assert p.logs("startup_failed")


def test_a_plugin_of_a_newer_minor_version_is_refused(refused_start):
    p = refused_start(plugin("newer_minor"))
    (line,) = p.logs("plugin_load_failed")
    assert os.path.join(PLUGINS, "newer_minor.so") in line["error"]
    assert "ABI 1.1" in line["error"] and "ABI 1.0" in line["error"] and "newer" in line["error"]
    assert "entry point ran" not in p.stderr()


def test_an_entry_point_that_fails_stops_start_up_with_its_reason(refused_start):
    p = refused_start(EVERY, plugin("entry_fails"))
    (line,) = p.logs("plugin_load_failed")
    assert os.path.join(PLUGINS, "entry_fails.so") in line["error"]
    assert "config.endpoint is required" in line["error"]
    # The plugin loaded before it was unloaded again.
    assert any("every_hook unloaded" in l.get("message", "") for l in p.logs("plugin"))


def test_a_missing_file_and_a_bad_config_block_are_refused(refused_start):
    p = refused_start(plugin("no_such_plugin"))
    (line,) = p.logs("plugin_load_failed")
    assert "no_such_plugin.so" in line["error"] and "cannot be opened" in line["error"]
    p = refused_start(plugin("every_hook", {"role": "physician"}))
    (line,) = p.logs("plugin_load_failed")
    assert "config.greeting is missing" in line["error"]
    # A body selector the policy's compiler refuses fails the load.
    p = refused_start(plugin("failing", {"selector": "$.note[x"}))
    (line,) = p.logs("plugin_load_failed")
    assert "selector '$.note[x'" in line["error"]


# ---- header hooks ----

def test_header_hooks_see_and_change_the_request_and_the_response(make_proxy, workdir, backend):
    p = make_proxy(plugin_config(workdir, EVERY))
    r = get(p, "/headers?x=1", headers={"X-Client-Note": "note from the client", "X-Remove-Me": "gone",
                                        "X-Auth-User": "forged"})
    assert r.status_code == 200, r.text
    seen = last_seen(backend)
    assert seen["x-plugin-greeting"] == "hello from the config"  # the config block reached the plugin
    assert seen["x-plugin-user"] == "anonymous"
    assert seen["x-plugin-refusals"] == "held"  # CR/LF, hop-by-hop, framing and identity headers refused
    assert seen["x-plugin-saw"] == "note from the client"
    assert "x-remove-me" not in seen and "x-auth-user" not in seen and "injected" not in seen
    method, target, ip, rid = seen["x-plugin-request"].split(" ")
    assert (method, target, ip) == ("GET", "/headers?x=1", "127.0.0.1") and re.fullmatch(r"[0-9a-f]{30}", rid)
    # The response hook: the upstream's status and head, before phiguard's security headers.
    assert r.headers["X-Plugin-Status"] == "200"
    assert r.headers["X-Plugin-Upstream-Type"] == "application/json"
    assert "X-Custom" not in r.headers
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Server" not in r.headers


def test_a_request_hook_may_answer_itself(make_proxy, workdir, backend):
    p = make_proxy(plugin_config(workdir, EVERY))
    backend.clear()
    r = get(p, "/headers?respond=1")
    assert r.status_code == 403 and r.json()["error"] == "plugin_says_no"
    assert backend.requests_seen() == []


def test_hooks_resumed_from_the_plugins_own_thread(make_proxy, workdir, backend):
    # Two workers: the plugin's one thread resumes requests of both, each on its own loop.
    p = make_proxy(deep_merge(plugin_config(workdir, EVERY), {"workers": 2}))
    for q in ("async=request", "async=response", "async=request&async=response"):
        r = get(p, f"/headers?{q}")
        assert r.status_code == 200, r.text
        assert r.headers["X-Plugin-Status"] == "200"
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda i: get(p, f"/status/20{i % 2}?async=request&async=response&i={i}").status_code,
                            range(48)))
    assert codes == [200 if i % 2 == 0 else 201 for i in range(48)]
    # With an authenticator resuming too.
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        seen = list(ex.map(lambda i: get(p, f"/echo?async=auth&async=request&i={i}",
                                         headers={"Authorization": f"Bearer ext-u{i}"}).status_code, range(16)))
    assert seen == [200] * 16
    workers = {l["worker"] for l in p.logs("access")}
    assert workers == {0, 1}, workers


def test_a_client_that_leaves_during_a_suspension_does_not_harm_the_proxy(make_proxy, workdir, certs):
    import socket
    import ssl
    p = make_proxy(plugin_config(workdir, EVERY))
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    for _ in range(5):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", p.port), timeout=10), server_hostname="localhost")
        s.sendall(b"GET /headers?async=request HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()  # before the plugin's thread resumes
    # Whether each request was aborted while suspended (its ticket then
    # only freed by the resume) or answered into a closed connection, the
    # proxy serves on, and exits 0 with nothing leaked (the fixture checks).
    assert get(p, "/headers").status_code == 200
    p.wait_log("access", count=2)


# ---- failures ----

@pytest.mark.parametrize("query,hook", [("fail=request", "request_headers"), ("fail=response", "response_headers"),
                                        ("bad=suspend", "request_headers"), ("bad=respond", "request_headers"),
                                        ("bad=result", "request_headers"), ("bad=ticket", "request_headers")])
def test_a_failing_hook_gives_500_and_the_proxy_serves_on(make_proxy, workdir, query, hook):
    p = make_proxy(plugin_config(workdir, EVERY, plugin("failing")))
    r = get(p, f"/headers?{query}")
    assert r.status_code == 500 and r.json()["error"] == "plugin_failed"
    (line,) = p.wait_log("plugin_hook_failed")
    assert line["plugin"] == "failing" and line["hook"] == hook and line["request_id"] == r.json()["request_id"]
    assert get(p, "/headers").status_code == 200
    _, metrics = p.admin("/metrics")
    text = metrics.decode()
    assert 'phiguard_plugin_hook_failures_total{plugin="failing"} 1' in text
    assert re.search(r'phiguard_plugin_hook_calls_total\{plugin="every_hook"\} [1-9]', text)


# ---- authentication ----

def test_an_authenticator_plugin_signs_users_in(make_proxy, workdir, backend):
    p = make_proxy(plugin_config(workdir, EVERY, plugin("failing")))
    r = get(p, "/echo", headers={"Authorization": "Bearer ext-alice", "X-Auth-User": "forged"})
    assert r.status_code == 200, r.text
    seen = last_seen(backend)
    assert seen["x-auth-user"] == "alice" and seen["x-auth-user-id"] == "ext|alice"
    assert seen["x-auth-roles"] == "physician"  # no_such_role dropped
    assert seen["x-auth-method"] == "testauth"
    assert seen["x-plugin-user"] == "ext|alice" and seen["x-plugin-roles"] == "physician"
    assert seen["x-plugin-can-read"] == "yes"
    assert "authorization" not in seen  # the plugin removed its credential
    (dropped,) = p.wait_log("plugin_roles_dropped")
    assert dropped["roles"] == "no_such_role" and dropped["plugin"] == "every_hook"
    r = get(p, "/echo?async=auth", headers={"Authorization": "Bearer ext-bob"})
    assert r.status_code == 200, r.text
    seen = last_seen(backend)
    assert seen["x-auth-user"] == "bob" and seen["x-auth-method"] == "testauth-async"


def test_an_authenticator_rejects_fails_and_declines(make_proxy, workdir):
    p = make_proxy(plugin_config(workdir, EVERY, plugin("failing")))
    r = get(p, "/echo", headers={"Authorization": "Bearer ext-bad"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"
    assert any(e["type"] == "login" and e["outcome"] == "failure" for e in p.wait_log("security_event"))
    assert get(p, "/echo", headers={"Authorization": "Bearer ext-expired"}).status_code == 401
    r = get(p, "/echo", headers={"Authorization": "Bearer fail"})
    assert r.status_code == 500 and r.json()["error"] == "plugin_failed"
    assert get(p, "/echo", headers={"Authorization": "Bearer no-uid"}).status_code == 500
    # Nobody's credential: anonymous, and the policy decides.
    assert get(p, "/echo", headers={"Authorization": "Bearer someone-elses"}).status_code in (401, 403)
    assert get(p, "/echo", headers={"Authorization": "Bearer ext-carol"}).status_code == 200


def test_an_upgraded_connection_ends_when_its_plugin_identity_expires(make_proxy, workdir, certs):
    import socket
    import ssl
    p = make_proxy(plugin_config(workdir, EVERY))
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", p.port), timeout=10), server_hostname="localhost")
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
              b"Authorization: Bearer ext-brief\r\n\r\n")
    head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    s.settimeout(1)
    deadline = time.time() + 30
    closed = False
    while time.time() < deadline and not closed:
        try:
            closed = s.recv(4096) == b""
        except socket.timeout:
            continue
        except (ConnectionResetError, ssl.SSLError, OSError):
            closed = True
    s.close()
    assert closed, "the upgraded connection outlived its identity"
    assert any(l.get("reason") == "identity expired" for l in p.wait_log("tunnel_closed"))


# ---- with password logins, the audit trail and a keyring ----

def test_with_phiguard_sessions_audit_and_keyring(make_proxy, workdir, backend, redis_server):
    cfg = deep_merge(auth_config(workdir, redis_server.address), audit_config(workdir, redis_server.address))
    cfg = deep_merge(cfg, plugin_config(workdir, EVERY, plugin("failing"), keyring=True))
    p = make_proxy(cfg)
    # A Bearer token phiguard did not issue goes to the plugins before it fails.
    r = get(p, "/echo", headers={"Authorization": "Bearer ext-dana"})
    assert r.status_code == 200, r.text
    assert last_seen(backend)["x-auth-method"] == "testauth"
    r = get(p, "/echo", headers={"Authorization": "Bearer not-a-token-of-anyone"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    # Whatever its length: one too long to be phiguard's is no less a token
    # (refused when nobody takes it, never passed on as anonymous) ...
    for n in (2041, 2042, 5000):
        r = get(p, "/echo", headers={"Authorization": "Bearer " + "z" * n})
        assert r.status_code == 401 and r.json()["error"] == "invalid_token", n
    # ... and a plugin may still take it.
    backend.clear()
    r = get(p, "/echo", headers={"Authorization": "Bearer ext-" + "l" * 4000})
    assert r.status_code == 200, r.text
    assert last_seen(backend)["x-auth-method"] == "testauth"
    r = get(p, "/echo", headers={"Authorization": "Bearer ext-bad"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_credentials"
    rejected = r.json()["request_id"]
    # Host services: PHI envelopes under phiguard's keyring, alerts.
    r = get(p, "/headers?seal=1&alert=1")
    assert r.status_code == 200
    assert last_seen(backend)["x-plugin-seal"] == "ok"
    assert any(a["rule"] == "test_plugin_alert" for a in p.wait_log("alert"))
    # A failing hook: 500, and an audit record naming the plugin.
    failed = get(p, "/headers?fail=request")
    assert failed.status_code == 500
    rid = failed.json()["request_id"]
    assert get(p, "/headers").status_code == 200
    # A body the plugin rejects: 400, and an audit record naming it.
    refused = post(p, "/echo-body", json={"note": "reject-me"})
    assert refused.status_code == 400 and refused.json()["error"] == "plugin_rejected"
    refused_rid = refused.json()["request_id"]
    rc = redis_server.client()
    deadline = time.time() + 20
    while time.time() < deadline:
        recs = [x for chain in records(rc).values() for x in chain]
        mine = [x for x in recs if x.get("request") == rid]
        theirs = [x for x in recs if x.get("request") == refused_rid]
        if len(mine) >= 2 and len(theirs) >= 2:
            break
        time.sleep(0.1)
    kinds = {x["type"]: x for x in mine}
    assert set(kinds) == {"plugin-failure", "rest"}, mine
    assert json.loads("{" + kinds["plugin-failure"]["details"]["info"] + "}") == {"plugin": "failing", "hook": "request_headers"}
    assert kinds["rest"]["details"]["plugin"] == "failing" and kinds["rest"]["details"]["error"] == "plugin_failed"
    kinds = {x["type"]: x for x in theirs}
    assert set(kinds) == {"plugin-rejected", "rest"}, theirs
    assert json.loads("{" + kinds["plugin-rejected"]["details"]["info"] + "}") == {"plugin": "failing", "hook": "request_body_value"}
    assert kinds["rest"]["details"]["plugin"] == "failing" and kinds["rest"]["details"]["error"] == "plugin_rejected"
    login = [x for x in recs if x.get("request") == rejected and x["type"] == "login"]
    assert login and login[0]["outcome"] != 0
    assert json.loads("{" + login[0]["details"]["info"] + "}")["plugin"] == "every_hook"
    dana = [x for x in recs if x["type"] == "rest" and x.get("agent", {}).get("user") == "ext|dana"]
    assert dana and dana[0]["details"]["auth_method"] == "testauth" and dana[0]["agent"]["username"] == "dana"
    # The audit sink hook saw the sealed records.
    seen_records = int(last_seen(backend)["x-plugin-audit-records"])
    assert seen_records >= 3
    rc_stop = p.stop()
    assert rc_stop == 0
    (gone,) = [l for l in p.logs("plugin") if "every_hook unloaded" in l["message"]]
    assert "(0 malformed)" in gone["message"]


# ---- body hooks ----

def test_body_hooks_on_any_json_request_and_response(make_proxy, workdir, backend):
    p = make_proxy(plugin_config(workdir, EVERY, plugin("failing")))
    body = {"note": "hello", "items": [{"code": 3}, {"code": "x"}], "other": "kept as is"}
    r = post(p, "/echo-body", json=body)
    assert r.status_code == 200, r.text
    # Up: the request hook upper-cased the note; back: the response hook
    # marked it checked and doubled the numeric codes.
    assert r.json() == {"note": "HELLO (checked)", "items": [{"code": 6}, {"code": "x"}], "other": "kept as is"}
    # Not JSON: not read, passed as it came.
    r = post(p, "/echo-body", data=b"note=hello", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.content == b"note=hello"
    # A body hook that fails: 500 for that request, the next one is served.
    r = post(p, "/echo-body", json={"note": "fail-me"})
    assert r.status_code == 500 and r.json()["error"] == "plugin_failed"
    (line,) = p.wait_log("plugin_hook_failed")
    assert line["plugin"] == "failing" and line["hook"] == "request_body_value"
    assert post(p, "/echo-body", json={"note": "fine"}).json() == {"note": "FINE (checked)"}
    # One that rejects the body as the client's fault: 400, nothing forwarded.
    backend.clear()
    r = post(p, "/echo-body", json={"note": "reject-me"})
    assert r.status_code == 400 and r.json()["error"] == "plugin_rejected"
    assert not backend.requests_seen()
    (line,) = p.wait_log("plugin_body_rejected")
    assert line["plugin"] == "failing" and line["request_id"] == r.json()["request_id"]
    # The short value's room: sixteenfold and 256 bytes, all of it used.
    r = post(p, "/echo-body", json={"note": "fill-room"})
    assert r.status_code == 200, r.text
    assert r.json() == {"note": "x" * (16 * 9 + 256) + " (checked)"}


def test_body_hooks_beside_the_policys_phi_fields(make_proxy, workdir, backend):
    p = make_proxy(plugin_config(workdir, EVERY, keyring=True))
    # Request: the plugin sees the plaintext first, then the policy seals
    # what it made; the backend stores only the envelope.
    r = requests.put(p.url("/fhir/Note/n1"), json={"note": "hello"}, verify=os.path.join(p.certs, "ca.pem"),
                     headers={"Authorization": "Bearer ext-alice"}, timeout=30)
    assert r.status_code in (200, 201), r.text
    stored = backend.get("/fhir/Note/n1")["note"]
    assert stored.startswith("phi:v1:") and "HELLO" not in stored
    # Response: opened for a reader, then the plugin; masked for others, then the plugin.
    assert r.json()["note"] == "HELLO (checked)"
    assert get(p, "/fhir/Note/n1", headers={"Authorization": "Bearer ext-alice"}).json()["note"] == "HELLO (checked)"
    assert get(p, "/fhir/Note/n1").json()["note"] == "*** (checked)"


def test_envelopes_left_after_the_response_hooks_are_masked(make_proxy, workdir, backend):
    p = make_proxy(plugin_config(workdir, EVERY, keyring=True))
    # The plugin seals a value itself: its envelope goes to the client.
    r = post(p, "/echo-body", json={"note": "envelope me", "other": "x"})
    assert r.status_code == 200, r.text
    made = r.json()["note"]
    assert made.startswith("phi:v1:") and ":r:" in made
    # An envelope in a field no one names is masked as a stray.
    r = post(p, "/echo-body", json={"other": made})
    assert r.json() == {"other": "***"}
    # An envelope a plugin's field picks and the plugin keeps is masked too.
    q = make_proxy(plugin_config(workdir, plugin("failing"), keyring=True), name="only-failing")
    r = post(q, "/echo-body", json={"note": made})
    assert r.status_code == 200 and r.json() == {"note": "***"}


# ---- docs/plugins.md's examples ----

PLUGINS_DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "plugins.md")


def doc_blocks(lang):
    return re.findall(r"```%s\n(.*?)```" % lang, open(PLUGINS_DOC).read(), re.S)


def test_the_docs_config_example_checks(workdir):
    (block,) = [b for b in doc_blocks("yaml") if b.startswith("# phiguard.yaml")]
    cfg = os.path.join(workdir, "phiguard.yaml")
    with open(cfg, "w") as f:
        f.write('listen: "127.0.0.1:8443"\ntls: {certificate: c.pem, key: k.pem}\n'
                'upstream: {address: "127.0.0.1:8080"}\n' + block)
    bin_ = os.environ.get("PHIGUARD_BIN", "build/phiguard")
    r = subprocess.run([bin_, "config", "check", cfg], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_the_docs_out_of_tree_plugin_builds_and_runs(make_proxy, workdir, backend):
    (source,) = [b for b in doc_blocks("c") if b.startswith("/* site_header.c */")]
    (build,) = [b for b in doc_blocks("sh") if b.startswith("gcc ")]
    (use,) = [b for b in doc_blocks("yaml") if "site_header.so" in b]
    with open(os.path.join(workdir, "site_header.c"), "w") as f:
        f.write(source)
    headers_dir = os.path.join(os.path.dirname(PLUGINS_DOC), "..", "plugins")
    cmd = build.replace("\\\n", " ").replace("/path/to/phiguard/plugins", os.path.abspath(headers_dir))
    subprocess.run(["sh", "-c", cmd], cwd=workdir, check=True, timeout=120)
    entry = yaml.safe_load(use)["plugins"][0]
    entry["path"] = os.path.join(workdir, "site_header.so")
    p = make_proxy(plugin_config(workdir, entry))
    assert get(p, "/headers").status_code == 200
    assert last_seen(backend)["x-site"] == "north-campus"
    assert any(l["message"] == "adding X-Site: north-campus" for l in p.logs("plugin"))
