"""Alerts: sent to a webhook (Slack and PagerDuty shapes) by a thread that
never holds up requests, with a bounded queue, retries and counters;
listed, filtered and acknowledged through the security API, which refuses
roles without the permission. Real proxy, real Redis, real logins, a real
HTTP receiver on loopback."""
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from auth_env import Client, auth_config
from phiguard_harness import deep_merge
from redis_fixture import redis_server  # noqa: F401 (fixture)
from test_metrics import scrape, value


class Receiver:
    """An HTTP server on loopback that keeps every POSTed JSON body."""

    def __init__(self, status=200):
        self.bodies = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n=1, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.bodies) < n:
            time.sleep(0.05)
        return self.bodies

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def lock_out(proxy, user="n.joy"):
    """Five wrong passwords: the account locks (a high account_locked alert)
    and the failed_logins_user detection rule fires (another)."""
    c = Client(proxy)
    for _ in range(5):
        assert c.login(user, "not the password at all").status_code == 401


def test_slack_webhook_gets_the_alert(make_proxy, workdir, redis_server, receiver):
    cfg = deep_merge(auth_config(workdir, redis_server.address),
                     {"alerts": {"webhook_url": receiver.url, "webhook_format": "slack"}})
    p = make_proxy(cfg)
    lock_out(p)
    (body,) = [b for b in receiver.wait(2) if "account_locked" in b["text"]]
    assert set(body) == {"text", "unfurl_links"}
    assert "high alert *account_locked*: n.joy" in body["text"]
    # Stored in Redis too (its own round trip: the webhook may be faster).
    deadline = time.time() + 10
    while True:
        stored = [json.loads(a) for a in redis_server.client().lrange("alert:list", 0, -1)]
        locked = [a for a in stored if a["rule"] == "account_locked"]
        if locked or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(locked) == 1 and locked[0]["id"] in body["text"]
    m = scrape(p)
    assert value(m, "phiguard_alert_notifications_total", result="sent") == 2
    assert value(m, "phiguard_alerts_total", rule="account_locked", severity="high") == 1


def test_pagerduty_event_shape(make_proxy, workdir, redis_server, receiver):
    key = os.path.join(workdir, "pd.key")
    with open(key, "w") as f:
        f.write("R0UTINGKEY0123456789abcdef012345\n")
    os.chmod(key, 0o600)
    cfg = deep_merge(auth_config(workdir, redis_server.address),
                     {"alerts": {"webhook_url": receiver.url, "webhook_format": "pagerduty",
                                 "pagerduty_routing_key_file": key, "webhook_min_severity": "high"}})
    p = make_proxy(cfg)
    lock_out(p)
    (ev,) = [e for e in receiver.wait(2) if e["payload"]["class"] == "account_locked"]
    assert ev["routing_key"] == "R0UTINGKEY0123456789abcdef012345"
    assert ev["event_action"] == "trigger" and ev["dedup_key"].startswith("phiguard-")
    pl = ev["payload"]
    assert pl["severity"] == "error"  # high
    assert pl["source"] and pl["summary"] == "phiguard: account_locked - n.joy" and pl["class"] == "account_locked"
    assert pl["custom_details"]["rule"] == "account_locked" and pl["custom_details"]["details"]["failures"] >= 5
    assert "not the password" not in json.dumps(ev)


def test_webhook_down_or_hanging_never_holds_requests(make_proxy, workdir, redis_server):
    # Accepts connections and never answers: each send waits for its timeout.
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    try:
        cfg = deep_merge(auth_config(workdir, redis_server.address),
                         {"alerts": {"webhook_url": f"http://127.0.0.1:{hang.getsockname()[1]}/x",
                                     "webhook_timeout": "1s", "webhook_retries": 1, "webhook_queue": 1}})
        p = make_proxy(cfg)
        for user in ("n.joy", "b.clerk", "dr.grey"):
            lock_out(p, user)  # three alerts while the first send hangs
        c = Client(p)
        assert c.login("owner").status_code == 200  # sign-ins go on meanwhile
        deadline = time.time() + 20
        while time.time() < deadline:
            m = scrape(p)
            if value(m, "phiguard_alert_notifications_total", result="failed") >= 1:
                break
            time.sleep(0.2)
        assert value(m, "phiguard_alert_notifications_total", result="dropped") >= 1
        assert value(m, "phiguard_alert_notifications_total", result="failed") >= 1
        assert value(m, "phiguard_alert_notification_retries_total") >= 1
        assert p.logs("alert_webhook_dropped") and p.logs("alert_webhook_failed")
        # Every alert is still stored and logged: the webhook is extra (two
        # per locked account: account_locked and failed_logins_user).
        deadline = time.time() + 10
        while time.time() < deadline and len(redis_server.client().lrange("alert:list", 0, -1)) < 6:
            time.sleep(0.05)
        assert len(redis_server.client().lrange("alert:list", 0, -1)) == 6
    finally:
        hang.close()


def test_alerts_api_lists_filters_and_acknowledges(make_proxy, workdir, redis_server):
    p = make_proxy(auth_config(workdir, redis_server.address))
    lock_out(p, "n.joy")
    lock_out(p, "b.clerk")
    admin = Client(p)
    admin.enroll_and_login("sec.admin")
    r = admin.get("/api/v1/security/alerts?rule=account_locked")
    assert r.status_code == 200, r.text
    alerts = r.json()["alerts"]
    assert [a["subject"] for a in alerts] == ["b.clerk", "n.joy"]  # newest first
    assert all(a["acknowledged"] is None and a["rule"] == "account_locked" for a in alerts)
    one = admin.get("/api/v1/security/alerts?rule=account_locked&severity=high&limit=1").json()
    assert one["count"] == 1
    assert admin.get("/api/v1/security/alerts").json()["count"] == 4
    assert admin.get("/api/v1/security/alerts?severity=critical").json()["count"] == 0
    target = alerts[1]["id"]
    r = admin.post(f"/api/v1/security/alerts/{target}/acknowledge")
    assert r.status_code == 200, r.text
    assert admin.post(f"/api/v1/security/alerts/{target}/acknowledge").status_code == 409
    assert admin.post("/api/v1/security/alerts/0123456789abcdef/acknowledge").status_code == 404
    acked = admin.get("/api/v1/security/alerts?status=acknowledged").json()["alerts"]
    assert [a["id"] for a in acked] == [target] and acked[0]["acknowledged"]["username"] == "sec.admin"
    still_open = admin.get("/api/v1/security/alerts?status=open&rule=account_locked").json()["alerts"]
    assert [a["id"] for a in still_open] == [alerts[0]["id"]]
    assert admin.get("/api/v1/security/alerts?limit=0").status_code == 400
    # Other roles: the system owner reads but cannot acknowledge; a nurse neither.
    owner = Client(p)
    owner.enroll_and_login("owner")
    assert owner.get("/api/v1/security/alerts").status_code == 200
    assert owner.post(f"/api/v1/security/alerts/{alerts[0]['id']}/acknowledge").status_code == 403
    nurse = Client(p)
    lock = nurse.login("n.joy")
    assert lock.status_code == 401  # still locked out
    clerk = Client(p)
    assert clerk.get("/api/v1/security/alerts").status_code == 401
    ev = [e for e in p.logs("security_event") if e["type"] == "alert_acknowledged"]
    assert ev and ev[0]["alert"] == target
