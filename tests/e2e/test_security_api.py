"""The security API's status and sessions through the real proxy, real
Redis and real logins: correct figures after a scripted scenario, refusal
of roles without the permission, revocation that takes effect at once,
and every call in the audit trail."""
import hashlib
import time

from audit_env import audit_config, records
from auth_env import Client, auth_config, bearer
from phiguard_harness import deep_merge
from redis_fixture import redis_server  # noqa: F401 (fixture)


def test_status_and_sessions(make_proxy, workdir, redis_server):
    cfg = deep_merge(auth_config(workdir, redis_server.address), audit_config(workdir, redis_server.address))
    p = make_proxy(cfg)
    nurse = Client(p)
    token = nurse.login("n.joy").json()["token"]
    clerk = Client(p)
    assert clerk.login("b.clerk").status_code == 200
    admin = Client(p)
    admin.enroll_and_login("sec.admin")
    assert Client(p).get("/api/v1/security/status").status_code == 401
    assert nurse.get("/api/v1/security/status", headers=bearer(token)).status_code == 403

    r = admin.get("/api/v1/security/status")
    assert r.status_code == 200, r.text
    st = r.json()
    assert st["tls"]["versions"] == ["TLSv1.3"] and "phiguard-test-1" in st["tls"]["certificate"]["subject"]
    assert st["tls"]["certificate"]["not_after"]
    policy_sha = hashlib.sha256(open(cfg["policy"]["file"], "rb").read()).hexdigest()
    assert st["policy"]["sha256"] == policy_sha
    assert st["redis"] == {"configured": True, "connected": True, "healthy": True, "ping_ms": st["redis"]["ping_ms"]}
    assert st["audit"]["enabled"] and st["audit"]["records_written"] > 0 and st["audit"]["spool_depth"] >= 0
    assert st["sessions"]["active"] == 3
    assert st["mfa"] == {"users": 5, "enrolled": 1, "required": st["mfa"]["required"], "share_enrolled": 0.2}
    assert st["blocks"]["active"] == 0
    assert st["alerts"] == {"kept": 0, "open": {"low": 0, "medium": 0, "high": 0, "critical": 0}}

    r = admin.get("/api/v1/security/sessions")
    assert r.status_code == 200, r.text
    sessions = r.json()["sessions"]
    assert sorted(s["username"] for s in sessions) == ["b.clerk", "n.joy", "sec.admin"]
    mine = next(s for s in sessions if s["username"] == "n.joy")
    assert mine["client_ip"] == "127.0.0.1" and mine["roles"] == "nurse" and mine["expires_ms"] > mine["created_ms"]
    # One session ended: refused at once; the others live.
    r = admin.post(f"/api/v1/security/sessions/{mine['user_id']}/{mine['session']}/revoke")
    assert r.status_code == 200 and r.json() == {"ended": 1}
    assert nurse.get("/echo", headers=bearer(token)).status_code == 401
    assert clerk.get("/echo").status_code == 200
    assert admin.post("/api/v1/security/sessions/no-such-user/revoke").status_code == 404
    owner = Client(p)
    owner.enroll_and_login("owner")  # reads the security status, manages nothing
    assert owner.get("/api/v1/security/sessions").status_code == 200
    clerk_id = next(s["user_id"] for s in sessions if s["username"] == "b.clerk")
    assert owner.post(f"/api/v1/security/sessions/{clerk_id}/revoke").status_code == 403
    r = admin.post(f"/api/v1/security/sessions/{clerk_id}/revoke")
    assert r.status_code == 200 and r.json() == {"ended": 1}
    assert clerk.get("/echo").status_code == 401
    assert admin.get("/api/v1/security/status").json()["sessions"]["active"] == 2  # sec.admin and owner
    # A locked account raises high alerts (account_locked, failed_logins_user); one acknowledged.
    for _ in range(5):
        assert Client(p).login("dr.grey", "not the password at all").status_code == 401
    deadline = time.time() + 5
    while time.time() < deadline and admin.get("/api/v1/security/status").json()["alerts"]["kept"] < 2:
        time.sleep(0.1)
    one = admin.get("/api/v1/security/alerts?rule=account_locked").json()["alerts"][0]["id"]
    assert admin.post(f"/api/v1/security/alerts/{one}/acknowledge").status_code == 200
    al = admin.get("/api/v1/security/status").json()["alerts"]
    assert al == {"kept": 2, "open": {"low": 0, "medium": 0, "high": 1, "critical": 0}}

    # Every call is in the audit trail, refusals included.
    rc = redis_server.client()
    deadline = time.time() + 10
    while time.time() < deadline:
        api = [x for x in sum(records(rc).values(), []) if x["type"] == "rest" and
               x.get("http", {}).get("path", "").startswith("/api/v1/security/")]
        if len(api) >= 15:
            break
        time.sleep(0.1)
    paths = [(x["http"]["path"], x["http"]["status"]) for x in api]
    assert ("/api/v1/security/status", 401) in paths and ("/api/v1/security/status", 403) in paths
    assert ("/api/v1/security/sessions", 200) in paths
    assert sum(1 for path, st in paths if path.endswith("/revoke") and st == 200) == 2
    assert any(x["agent"].get("username") == "sec.admin" for x in api)
