"""Password logins, MFA, lockout, sessions and break-glass through the real
proxy, with a real redis-server and the sample backend."""
import json
import os
import re
import socket
import ssl
import time

import pytest

from auth_env import Client, PASSWORDS, auth_config, bearer, totp
from redis_fixture import redis_server  # noqa: F401 (fixture)


@pytest.fixture
def auth_proxy(make_proxy, workdir, redis_server):
    def make(**kw):
        return make_proxy(auth_config(workdir, redis_server.address, **kw))
    return make


def test_login_without_mfa_reaches_backend_with_identity(auth_proxy, backend):
    p = auth_proxy()
    c = Client(p)
    assert c.get("/fhir/Patient").status_code == 401
    r = c.login("n.joy")
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["user"] == "n.joy" and j["user_id"] == "u-nurse-1" and j["roles"] == "nurse"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("__Host-phiguard=")
    for attr in ("Path=/", "Secure", "HttpOnly", "SameSite=Strict"):
        assert attr in cookie
    backend.clear()
    # The cookie alone, and the bearer token alone, both work.
    r = c.get("/headers", headers={"X-Auth-User": "forged", "X-Auth-Roles": "system_owner",
                                   "X-Auth-User-Id": "u-owner-1", "X-Auth-Session": "x"})
    assert r.status_code == 200, r.text
    r2 = Client(p).get("/headers", headers=bearer(j["token"]))
    assert r2.status_code == 200
    seen = backend.requests_seen()
    assert seen, "nothing reached the backend"
    for req in seen:
        hdrs = {k.lower(): v for k, v in req["headers"]}
        assert hdrs["x-auth-user"] == "n.joy"
        assert hdrs["x-auth-user-id"] == "u-nurse-1"
        assert hdrs["x-auth-roles"] == "nurse"
        assert re.fullmatch(r"[0-9a-f]{32}", hdrs["x-auth-session"])
        names = [k.lower() for k, _ in req["headers"]]
        assert names.count("x-auth-user") == 1 and names.count("x-auth-roles") == 1
        assert "forged" not in json.dumps(req["headers"])
        # phiguard's token is its own: the app never sees it.
        assert j["token"] not in json.dumps(req["headers"])
        assert "authorization" not in names
    # The app's own cookies pass; phiguard's is taken out of the same header.
    backend.clear()
    r = c.get("/headers", headers={"Cookie": f"app=1; __Host-phiguard={j['token']}; theme=dark"})
    assert r.status_code == 200
    hdrs = {k.lower(): v for k, v in backend.requests_seen()[-1]["headers"]}
    assert hdrs["cookie"] == "app=1; theme=dark"


def test_bad_tokens_are_refused(auth_proxy):
    p = auth_proxy()
    c = Client(p)
    token = c.login("n.joy").json()["token"]
    head, payload, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    import base64
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    hs512 = base64.urlsafe_b64encode(b'{"alg":"HS512","typ":"JWT"}').rstrip(b"=").decode()
    # Longer than any token of phiguard's (2 KiB and more): refused all the
    # same, never taken for no token (anonymous).
    for bad in (f"{head}.{payload}.{flipped}", f"{none_head}.{payload}.", f"{hs512}.{payload}.{sig}", "garbage",
                "z" * 2047, "z" * 2048, f"{head}.{payload}.{sig}" + "A" * 5000):
        r = Client(p).get("/fhir/Patient", headers=bearer(bad))
        assert r.status_code == 401, bad
        assert r.json()["error"] == "invalid_token"
    for n in (10, 3000):
        r = Client(p).get("/fhir/Patient", headers={"Cookie": "__Host-phiguard=" + "z" * n})
        assert r.status_code == 401 and r.json()["error"] == "invalid_token", n
    assert Client(p).get("/fhir/Patient", headers=bearer(token)).status_code == 200


def test_five_failures_lock_then_lift(auth_proxy):
    p = auth_proxy(lock="4s")
    c = Client(p)
    bodies = set()
    for _ in range(5):
        r = c.login("n.joy", "wrong-password-123")
        assert r.status_code == 401
        bodies.add(r.json()["error"])
    r = c.login("n.joy")  # the right password, while locked
    assert r.status_code == 401
    bodies.add(r.json()["error"])
    # Unknown users get the same answer.
    r = c.login("nobody-here", "whatever-password")
    assert r.status_code == 401
    bodies.add(r.json()["error"])
    assert bodies == {"login_failed"}
    p.wait_log("alert")
    locked = [l for l in p.logs("security_event") if l.get("type") == "account_locked"]
    assert locked and locked[0]["user_id"] == "u-nurse-1"
    time.sleep(4.5)
    assert c.login("n.joy").status_code == 200


def test_unknown_user_costs_what_a_known_one_does(auth_proxy):
    """No user enumeration by timing: a sign-in as a user that does not
    exist runs one Argon2id verification (against a dummy hash with the
    configured cost), as a wrong password for a real user does. Counted,
    not timed, so the check holds on a loaded machine."""
    from test_metrics import scrape, value
    p = auth_proxy()
    c = Client(p)

    def verifications(user):
        before = value(scrape(p), "phiguard_password_verifications_total")
        r = c.login(user, "not-the-password-1")
        assert r.status_code == 401 and r.json()["error"] == "login_failed", r.text
        return value(scrape(p), "phiguard_password_verifications_total") - before
    assert verifications("b.clerk") == 1
    assert verifications("no-such-user") == 1


def test_mfa_enrollment_then_login_with_code(auth_proxy):
    p = auth_proxy()
    c = Client(p)
    secret = c.enroll_and_login("dr.grey")
    assert c.get("/fhir/Patient").status_code == 200
    # Next login: password, then a code; the same code never works twice.
    c2 = Client(p)
    r = c2.login("dr.grey")
    assert r.json()["status"] == "mfa_required"
    ticket = r.json()["mfa_token"]
    assert c2.get("/fhir/Patient").status_code == 401  # a password alone is no session
    code = totp(secret, 1)
    assert c2.post("/auth/mfa", {"mfa_token": ticket, "code": "000000"}).status_code == 401
    r = c2.post("/auth/mfa", {"mfa_token": ticket, "code": code})
    assert r.status_code == 200, r.text
    assert c2.get("/fhir/Patient").status_code == 200
    c3 = Client(p)
    t3 = c3.login("dr.grey").json()["mfa_token"]
    assert c3.post("/auth/mfa", {"mfa_token": t3, "code": code}).status_code == 401  # replay
    # With MFA active, a password alone cannot enroll a new secret.
    assert c3.post("/auth/mfa/enroll", {"mfa_token": t3}).status_code == 403


def test_idle_timeout_ends_session(auth_proxy):
    p = auth_proxy(idle="2s")
    c = Client(p)
    assert c.login("n.joy").status_code == 200
    for _ in range(3):  # activity keeps it alive past the idle time
        time.sleep(1)
        assert c.get("/fhir/Patient").status_code == 200
    time.sleep(3.2)
    r = c.get("/fhir/Patient")
    assert r.status_code == 401 and r.json()["error"] == "session_expired"


def test_logout_on_one_replica_is_refused_on_the_other(make_proxy, workdir, redis_server):
    cfg = auth_config(workdir, redis_server.address)
    a, b = make_proxy(cfg, name="replica-a"), make_proxy(cfg, name="replica-b")
    ca = Client(a)
    token = ca.login("n.joy").json()["token"]
    cb = Client(b)
    assert cb.get("/fhir/Patient", headers=bearer(token)).status_code == 200  # now in b's cache
    assert ca.post("/auth/logout").status_code == 200
    r = cb.get("/fhir/Patient", headers=bearer(token))
    assert r.status_code == 401
    assert ca.get("/fhir/Patient", headers=bearer(token)).status_code == 401


def test_concurrent_session_limit_across_replicas(make_proxy, workdir, redis_server):
    cfg = auth_config(workdir, redis_server.address, max_sessions=2)
    a, b = make_proxy(cfg, name="replica-a"), make_proxy(cfg, name="replica-b")
    assert Client(a).login("b.clerk").status_code == 200
    assert Client(b).login("b.clerk").status_code == 200
    r = Client(a).login("b.clerk")
    assert r.status_code == 409 and r.json()["error"] == "too_many_sessions"
    r = Client(b).login("b.clerk")
    assert r.status_code == 409


def test_end_oldest_session_when_configured(auth_proxy):
    p = auth_proxy(max_sessions=1, on_limit="end_oldest")
    first = Client(p).login("n.joy").json()["token"]
    second = Client(p).login("n.joy").json()["token"]
    assert Client(p).get("/fhir/Patient", headers=bearer(first)).status_code == 401
    assert Client(p).get("/fhir/Patient", headers=bearer(second)).status_code == 200


def test_admin_ends_every_session_of_a_user(auth_proxy, make_proxy):
    p = auth_proxy()
    tokens = [Client(p).login("n.joy").json()["token"] for _ in range(2)]
    clerk = Client(p)
    clerk.login("b.clerk")
    assert clerk.post("/auth/sessions/end", {"user": "n.joy"}).status_code == 403
    owner = Client(p)
    owner.enroll_and_login("owner")  # system_owner lacks security:manage as well
    assert owner.post("/auth/sessions/end", {"user": "n.joy"}).status_code == 403
    for t in tokens:
        assert Client(p).get("/fhir/Patient", headers=bearer(t)).status_code == 200
    admin = Client(p)
    admin.enroll_and_login("sec.admin")
    r = admin.post("/auth/sessions/end", {"user": "n.joy"})
    assert r.status_code == 200 and r.json()["ended"] == 2
    for t in tokens:
        assert Client(p).get("/fhir/Patient", headers=bearer(t)).status_code == 401
    assert admin.get("/auth/session").status_code == 200  # the admin's own session lives on


def test_break_glass_allowed_audited_and_alerted(auth_proxy, redis_server):
    p = auth_proxy()
    owner = Client(p)
    owner.enroll_and_login("owner")
    assert owner.get("/fhir/Patient").status_code == 403  # no routine clinical access
    assert owner.get("/fhir/Patient", headers={"X-Break-Glass-Reason": "short"}).status_code == 403
    r = owner.get("/fhir/Patient", headers={"X-Break-Glass-Reason": "ER trauma, patient unconscious"})
    assert r.status_code == 200, r.text
    p.wait_log("alert")
    ev = [l for l in p.logs("security_event") if l.get("type") == "break_glass" and l["outcome"] == "success"]
    assert ev and ev[0]["severity"] == "critical" and ev[0]["justification_length"] == 30
    assert "ER trauma" not in p.stderr()  # free text may name a patient: the audit trail has it, not the log
    alerts = [json.loads(a) for a in redis_server.client().lrange("alert:list", 0, -1)]
    assert any(a["rule"] == "break_glass" and a["severity"] == "critical" for a in alerts)
    # The session's remaining life is cut to the break-glass window.
    info = owner.get("/auth/session").json()
    assert info["break_glass_at"] > 0
    assert info["expires_at"] - time.time() <= 600 + 5
    # A nurse cannot break glass.
    nurse = Client(p)
    nurse.login("n.joy")
    r = nurse.get("/export/1", headers={"X-Break-Glass-Reason": "I really need this export"})
    assert r.status_code == 403


def test_browser_gets_redirect_api_gets_401(auth_proxy):
    p = auth_proxy()
    c = Client(p)
    r = c.get("/fhir/Patient", headers={"Accept": "text/html,application/xhtml+xml"}, allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["Location"] == "/auth/login?next=/fhir/Patient"
    r = c.get("/fhir/Patient", headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/json"
    page = c.get("/auth/login?next=/fhir/Patient")
    assert page.status_code == 200 and "<label for=\"password\">" in page.text
    assert 'name="next" value="/fhir/Patient"' in page.text
    # The form post signs in and goes back.
    r = c.post_form("/auth/login", {"username": "n.joy", "password": PASSWORDS["n.joy"], "next": "/fhir/Patient"},
                    allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/fhir/Patient"
    assert c.get("/fhir/Patient").status_code == 200
    # An off-site next is never followed.
    r = Client(p).post_form("/auth/login", {"username": "n.joy", "password": PASSWORDS["n.joy"],
                                            "next": "//evil.example/"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/"


def test_identity_assertion_verifies_with_public_key(make_proxy, workdir, redis_server, backend):
    jwt = pytest.importorskip("jwt")
    p = make_proxy(auth_config(workdir, redis_server.address, assertion=True))
    c = Client(p)
    c.login("n.joy")
    backend.clear()
    assert c.get("/headers").status_code == 200
    hdrs = {k.lower(): v for k, v in backend.requests_seen()[-1]["headers"]}
    pub = open(f"{workdir}/assertion.key.pub").read()
    claims = jwt.decode(hdrs["x-auth-assertion"], pub, algorithms=["ES256"], audience="upstream")
    assert claims["sub"] == "u-nurse-1" and claims["roles"] == ["nurse"] and claims["iss"] == "phiguard-test"
    assert claims["rid"] == hdrs["x-request-id"]


def test_websocket_closed_when_session_ends(auth_proxy):
    p = auth_proxy()
    c = Client(p)
    token = c.login("n.joy").json()["token"]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
              b"Authorization: Bearer " + token.encode() + b"\r\n\r\n")
    head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    assert c.post("/auth/logout", headers=bearer(token)).status_code == 200
    s.settimeout(5)
    deadline = time.time() + 5
    closed = False
    while time.time() < deadline:
        try:
            if s.recv(4096) == b"":
                closed = True
                break
        except (ConnectionResetError, ssl.SSLError, OSError):
            closed = True
            break
    assert closed, "the upgraded connection outlived its session"


def test_redis_down_fails_closed(auth_proxy, redis_server):
    p = auth_proxy()
    c = Client(p)
    token = c.login("n.joy").json()["token"]
    redis_server.kill()
    time.sleep(1.5)  # past the session cache
    r = c.get("/fhir/Patient", headers=bearer(token))
    assert r.status_code == 503
    r = Client(p).login("n.joy")
    assert r.status_code == 503


def get_from(proxy, source_ip, path, token):
    """A request over a connection from another loopback address."""
    ctx = ssl.create_default_context(cafile=f"{proxy.certs}/ca.pem")
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=10, source_address=(source_ip, 0))
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.mark.parametrize("end", [False, True])
def test_client_address_change_is_alerted_and_ended_when_configured(make_proxy, workdir, redis_server, end):
    p = make_proxy(auth_config(workdir, redis_server.address, end_on_ip_change=end))
    c = Client(p)
    token = c.login("n.joy").json()["token"]
    assert get_from(p, "127.0.0.2", "/fhir/Patient", token) == (401 if end else 200)
    p.wait_log("alert")
    ev = [e for e in p.logs("security_event") if e.get("type") == "session_ip_changed"]
    assert ev and ev[0]["session_ip"] == "127.0.0.1" and ev[0]["client_ip"] == "127.0.0.2"
    assert c.get("/fhir/Patient").status_code == (401 if end else 200)


def test_works_with_the_documented_redis_acl(make_proxy, workdir):
    from redis_fixture import PHIGUARD_ACL, RedisServer
    server = RedisServer(username="phiguard", password="acl-test-password-1", acl=PHIGUARD_ACL).start()
    try:
        p = make_proxy(auth_config(workdir, server.address, max_sessions=1, redis_user="phiguard",
                                   redis_password="acl-test-password-1"))
        c = Client(p)
        c.enroll_and_login("dr.grey")
        assert c.get("/fhir/Patient").status_code == 200
        assert Client(p).login("dr.grey").status_code == 200  # the code step
        for _ in range(5):
            Client(p).login("b.clerk", "wrong-password-123")
        assert Client(p).login("b.clerk").status_code == 401  # locked, through the ACL user
        assert c.post("/auth/logout").status_code == 200
        assert "NOPERM" not in p.stderr()
    finally:
        server.cleanup()


def proxy_with_own_users(make_proxy, workdir, redis_server):
    """A proxy reading a copy of the sample users file, and that copy's path."""
    import shutil
    from auth_env import USERS
    users = f"{workdir}/users.yaml"
    shutil.copy(USERS, users)
    cfg = auth_config(workdir, redis_server.address)
    cfg["auth"]["users_file"] = users
    return make_proxy(cfg), users


def disabled(users, before_id):
    """The users file's text with the user listed before before_id disabled."""
    text = open(users).read().replace(f"    mfa_required: false\n  - id: {before_id}",
                                      f"    mfa_required: false\n    disabled: true\n  - id: {before_id}", 1)
    assert "disabled: true" in text
    return text


def test_users_file_reload_on_sighup(make_proxy, workdir, redis_server):
    import signal
    p, users = proxy_with_own_users(make_proxy, workdir, redis_server)
    assert Client(p).login("n.joy").status_code == 200
    text = disabled(users, "u-bill-1")
    open(users, "w").write(text)
    p.signal(signal.SIGHUP)
    p.wait_log("users_loaded", count=2)
    assert Client(p).login("n.joy").status_code == 401
    open(users, "w").write("users: [oops\n")
    p.signal(signal.SIGHUP)
    p.wait_log("users_reload_failed")
    assert Client(p).login("b.clerk").status_code == 200  # the last good file still runs


def test_users_file_change_is_picked_up_without_a_signal(make_proxy, workdir, redis_server):
    p, users = proxy_with_own_users(make_proxy, workdir, redis_server)
    assert Client(p).login("b.clerk").status_code == 200
    text = disabled(users, "u-owner-1")
    tmp = users + ".new"
    open(tmp, "w").write(text)
    os.rename(tmp, users)  # as an editor or a Secret update replaces it
    p.wait_log("users_loaded", count=2, timeout=10)
    assert Client(p).login("b.clerk").status_code == 401
