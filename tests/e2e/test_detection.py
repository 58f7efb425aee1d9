"""Detection rules through the real proxy: each fires at its threshold and
not below it, and its action happens (an alert; a block of the address or
the user, on every replica; the user's sessions ended)."""
import time

from auth_env import Client, auth_config, bearer
from phiguard_harness import deep_merge, parse_responses, raw_exchange
from redis_fixture import redis_server  # noqa: F401 (fixture)
from test_metrics import scrape, value
from test_phi import call, make_keyring, post_patient, role_proxy, synthea_patients, values


def detection(**rules):
    return {"detection": rules}


def alerts_of(proxy, rule):
    return [a for a in proxy.logs("alert") if a["rule"] == rule]


def test_failed_logins_per_user_alert_at_the_threshold(make_proxy, workdir, redis_server):
    p = make_proxy(deep_merge(auth_config(workdir, redis_server.address),
                              detection(failed_logins_user={"threshold": 3, "window": "1m"})))
    c = Client(p)
    for _ in range(2):
        assert c.login("n.joy", "wrong wrong wrong").status_code == 401
    time.sleep(0.3)
    assert alerts_of(p, "failed_logins_user") == []  # below the threshold
    assert c.login("n.joy", "wrong wrong wrong").status_code == 401
    p.wait_log("alert")
    (a,) = alerts_of(p, "failed_logins_user")
    assert a["subject"] == "n.joy" and a["count"] == 3 and a["action"] == "alert" and a["severity"] == "high"
    assert c.login("n.joy").status_code == 200  # alert only: the user may still sign in


def test_failed_logins_per_address_block_every_replica(make_proxy, workdir, redis_server):
    cfg = deep_merge(auth_config(workdir, redis_server.address),
                     detection(failed_logins_ip={"threshold": 4, "window": "1m", "action": "block",
                                                 "block_for": "3s"}))
    a = make_proxy(cfg, name="replica-a")
    b = make_proxy(cfg, name="replica-b")
    c = Client(a)
    for name in ("nobody1", "nobody2", "nobody3"):
        assert c.login(name, "whatever whatever").status_code == 401
    assert c.get("/healthz").status_code != 403  # three: not yet
    assert c.login("nobody4", "whatever whatever").status_code == 401
    r = c.get("/healthz")
    assert r.status_code == 403 and r.json()["error"] == "blocked" and 1 <= int(r.headers["Retry-After"]) <= 3
    assert c.login("n.joy").status_code == 403  # sign-in too
    # The other replica learns it through Redis.
    deadline = time.time() + 5
    while time.time() < deadline and Client(b).get("/healthz").status_code != 403:
        time.sleep(0.05)
    assert Client(b).get("/healthz").status_code == 403
    assert a.logs("blocked")[0]["rule"] == "failed_logins_ip"
    time.sleep(3.2)
    assert c.get("/healthz").status_code != 403  # the block ended
    assert Client(b).get("/healthz").status_code != 403


def test_forbidden_burst_ends_the_session(make_proxy, workdir, redis_server):
    p = make_proxy(deep_merge(auth_config(workdir, redis_server.address),
                              detection(forbidden_burst={"threshold": 3, "window": "1m", "action": "end_session"})))
    c = Client(p)
    r = c.login("n.joy")
    token = r.json()["token"]
    for _ in range(2):
        assert c.get("/export/1", headers=bearer(token)).status_code == 403  # a nurse may not export
    assert c.get("/echo", headers=bearer(token)).status_code == 200
    assert c.get("/export/2", headers=bearer(token)).status_code == 403  # the third
    p.wait_log("alert")
    (al,) = alerts_of(p, "forbidden_burst")
    assert al["subject"] == "n.joy" and al["action"] == "end_session" and al["severity"] == "critical"
    deadline = time.time() + 5
    while time.time() < deadline and c.get("/echo", headers=bearer(token)).status_code != 401:
        time.sleep(0.1)
    assert c.get("/echo", headers=bearer(token)).status_code == 401


def test_malformed_requests_block_the_address(make_proxy, workdir, certs, redis_server):
    p = make_proxy(deep_merge(auth_config(workdir, redis_server.address),
                              detection(malformed_ip={"threshold": 3, "window": "1m", "action": "block",
                                                      "block_for": "1m"})))
    bad = b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"  # two Host fields: 400
    ok = b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    for _ in range(2):
        assert parse_responses(raw_exchange(p.port, certs, bad))[0][0] == 400
    assert parse_responses(raw_exchange(p.port, certs, ok))[0][0] != 403
    assert parse_responses(raw_exchange(p.port, certs, bad))[0][0] == 400
    status, _, body = parse_responses(raw_exchange(p.port, certs, ok))[0]
    assert status == 403 and b"blocked" in body
    assert [a["rule"] for a in p.logs("alert")] == ["malformed_ip"]
    m = scrape(p)
    assert value(m, "phiguard_blocked_requests_total") == 1 and value(m, "phiguard_blocks_active") == 1
    assert value(m, "phiguard_alerts_total", rule="malformed_ip", severity="critical") == 1


def test_phi_exfiltration_blocks_the_user(make_proxy, certs, workdir, backend):
    ring = make_keyring(workdir)
    writer = role_proxy(make_proxy, certs, ring, "front_desk")
    patient = synthea_patients()[0]
    pid = post_patient(writer, patient)
    per_read = sum(len(values(patient, f)) for f in ("identifier.value", "name.family", "name.given", "birthDate",
                                                     "telecom.value", "address.line", "address.city",
                                                     "address.postalCode"))
    reader = role_proxy(make_proxy, certs, ring, "physician",
                        extra=detection(phi_exfiltration={"threshold": per_read + 1, "window": "1m",
                                                          "action": "block", "block_for": "1m"}))
    assert call(reader, "GET", f"/fhir/Patient/{pid}").status_code == 200  # per_read values: below
    assert alerts_of(reader, "phi_exfiltration") == []
    assert call(reader, "GET", f"/fhir/Patient/{pid}").status_code == 200  # crosses it
    reader.wait_log("alert")
    (a,) = alerts_of(reader, "phi_exfiltration")
    assert a["subject"] == "u-physician" and a["count"] == 2 * per_read
    r = call(reader, "GET", f"/fhir/Patient/{pid}")
    assert r.status_code == 403 and r.json()["error"] == "blocked"
