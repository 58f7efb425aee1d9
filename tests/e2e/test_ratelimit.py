"""Rate limits through the real proxy: a local limit shared by a process's
workers and a global one shared by two proxies through a real redis-server
hold the configured rate under load (allowed = rate x time + burst, within
5 %); a 429 carries Retry-After and the RateLimit headers and is audited
with the limit's name; the login endpoint's own limits per IP and per
username; a global limit falls back to a local one while Redis is away, and
says so once. The loads are bounded in time and never timed themselves:
what is checked is how many requests passed."""
import json
import os
import re
import threading
import time

import requests

from audit_env import audit_config, records
from auth_env import Client, auth_config, bearer
from phiguard_harness import deep_merge
from redis_fixture import redis_server  # noqa: F401 (fixture)

POLICY = """version: 1
routes:
  - {name: health, methods: [GET, HEAD], path: /healthz, public: true}
  - {name: auth, methods: "*", path: /auth/**, public: true}
  - {name: open, methods: [GET], path: /status/200, public: true}
  - {name: shared, methods: [GET], path: /status/201, public: true}
  - {name: few, methods: [GET], path: /status/202, public: true}
  - {name: mine, methods: [GET], path: /status/203, public: true}
  - {name: echo, methods: "*", path: /echo, permissions: [patient:read]}
rate_limits:
  - {name: open-local, key: [ip], scope: local, rate: 50/s, burst: 10, route: open}
  - {name: shared-global, key: [route], scope: global, rate: 50/s, burst: 10, route: shared}
  - {name: few-global, key: [ip, route], scope: global, rate: 1/m, burst: 3, route: few}
  - {name: per-user, key: [user], scope: local, rate: 1/m, burst: 2, route: mine}
  - {name: per-user-echo, key: [user], scope: global, rate: 1/m, burst: 2, route: echo}
"""


def write_policy(workdir, extra=""):
    path = os.path.join(workdir, "ratelimit-policy.yaml")
    with open(path, "w") as f:
        f.write(POLICY + extra)
    return path


class session_for:
    """A keep-alive client of one proxy. The CA goes with each request: a
    session's own verify loses to REQUESTS_CA_BUNDLE in requests."""

    def __init__(self, proxy):
        self.s = requests.Session()
        self.ca = os.path.join(proxy.certs, "ca.pem")

    def get(self, url, **kw):
        kw.setdefault("timeout", 30)
        return self.s.get(url, verify=self.ca, **kw)


def load(targets, seconds, threads_per_target=4):
    """GETs from threads_per_target threads per (proxy, path) for a fixed
    wall time; returns {index: (allowed, refused, other)} per target."""
    counts = [[0, 0, 0] for _ in targets]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def run(i):
        proxy, path = targets[i]
        s = session_for(proxy)
        mine = [0, 0, 0]
        while time.monotonic() < stop:
            try:
                r = s.get(proxy.url(path), timeout=10)
                code = r.status_code
            except requests.RequestException:
                code = None
            mine[0 if code in (200, 201) else 1 if code == 429 else 2] += 1
        with lock:
            for k in range(3):
                counts[i][k] += mine[k]

    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(targets)) for _ in range(threads_per_target)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return counts


def within(measured, expected, tolerance=0.05):
    return abs(measured - expected) <= tolerance * expected


def test_local_limit_is_shared_by_workers_and_holds_its_rate(make_proxy, workdir):
    p = make_proxy({"workers": 2, "policy": {"file": write_policy(workdir)}})
    seconds = 4
    ((allowed, refused, other),) = load([(p, "/status/200")], seconds, threads_per_target=8)
    assert other == 0
    # Offered far above the rate, or the check would prove nothing.
    assert refused > allowed, (allowed, refused)
    expected = 50 * seconds + 10
    assert within(allowed, expected), (allowed, expected, refused)


def test_global_limit_is_shared_by_two_proxies(make_proxy, workdir, redis_server):
    cfg = {"workers": 2, "policy": {"file": write_policy(workdir)}, "redis": {"address": redis_server.address}}
    a = make_proxy(cfg, name="pa")
    b = make_proxy(cfg, name="pb")
    seconds = 4
    (ca, cb) = load([(a, "/status/201"), (b, "/status/201")], seconds, threads_per_target=4)
    assert ca[2] == 0 and cb[2] == 0
    allowed = ca[0] + cb[0]
    assert ca[0] > 0 and cb[0] > 0, (ca, cb)  # both took part of the one budget
    assert ca[1] + cb[1] > allowed, (ca, cb)
    expected = 50 * seconds + 10
    assert within(allowed, expected), (allowed, expected, ca, cb)
    # The state is one key in Redis, with a time to live: idle keys go.
    keys = redis_server.client().keys("rl:*")
    assert keys == [b"rl:{shared-global:r6=shared}"], keys
    assert 0 < redis_server.client().pttl(keys[0]) <= 2000
    assert not a.logs("ratelimit_fallback") and not b.logs("ratelimit_fallback")


def check_429(r, name, quota, window, burst):
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "rate_limited"
    retry = r.headers["Retry-After"]
    assert re.fullmatch(r"[1-9][0-9]*", retry), retry
    assert r.headers["RateLimit-Policy"] == f'"{name}";q={quota};w={window};phiguard-burst={burst}'
    assert r.headers["RateLimit"] == f'"{name}";r=0;t={retry}'
    return int(retry)


def test_429_headers_and_audit_record(make_proxy, workdir, redis_server):
    cfg = deep_merge(audit_config(workdir, redis_server.address),
                     {"policy": {"file": write_policy(workdir)}})
    p = make_proxy(cfg)
    s = session_for(p)
    for _ in range(3):
        assert s.get(p.url("/status/202")).status_code == 202
    r = s.get(p.url("/status/202"))
    retry = check_429(r, "few-global", 1, 60, 3)
    # One per minute, the burst of three used at once: the next is due a
    # minute after the first.
    assert 50 <= retry <= 60, retry
    # A local limit answers the same way; 10 at 50/s, the 11th waits 20 ms.
    for _ in range(10):
        s.get(p.url("/status/200"))
    r = s.get(p.url("/status/200"))
    if r.status_code == 429:  # unless 20 ms passed in between
        assert check_429(r, "open-local", 50, 1, 10) == 1
    # The refusal is in the audit trail, with why and which limit.
    rid = s.get(p.url("/status/202")).json()["request_id"]
    deadline = time.time() + 10
    rec = None
    while time.time() < deadline and rec is None:
        for chain in records(redis_server.client()).values():
            for x in chain:
                if x.get("request") == rid:
                    rec = x
        time.sleep(0.1)
    assert rec is not None, "no audit record for the 429"
    assert rec["http"]["status"] == 429 and rec["rule"] == "few" and rec["outcome"] == 4
    assert rec["details"]["error"] == "rate_limited" and rec["details"]["rate_limit"] == "few-global"
    access = [x for x in p.logs("access") if x["request_id"] == rid]
    assert access and access[0]["rate_limit"] == "few-global" and access[0]["status"] == 429
    # /metrics counts the decisions per limit (three passed, two refused).
    from test_metrics import scrape, value
    m = scrape(p)
    assert value(m, "phiguard_rate_limit_decisions_total", limit="few-global", result="allowed") == 3
    assert value(m, "phiguard_rate_limit_decisions_total", limit="few-global", result="limited") == 2
    assert value(m, "phiguard_rate_limit_fallbacks_total") == 0


def test_user_limits_count_users_apart_and_anonymous_clients_by_address(make_proxy, workdir, redis_server):
    cfg = auth_config(workdir, redis_server.address)
    cfg["policy"]["file"] = write_policy(workdir)
    p = make_proxy(cfg)
    # Anonymous on a public route: counted by address under the user limit.
    s = session_for(p)
    assert [s.get(p.url("/status/203")).status_code for _ in range(3)] == [203, 203, 429]
    # Two users, each their own budget (global limit on /echo), whichever
    # connection or client they come with.
    t1 = Client(p).login("n.joy").json()["token"]
    t2 = Client(p).login("b.clerk").json()["token"]
    codes1 = [Client(p).get("/echo", headers=bearer(t1)).status_code for _ in range(3)]
    codes2 = [Client(p).get("/echo", headers=bearer(t2)).status_code for _ in range(3)]
    assert codes1 == [200, 200, 429] and codes2 == [200, 200, 429], (codes1, codes2)
    assert redis_server.client().exists("rl:{per-user-echo:u9=u-nurse-1}", "rl:{per-user-echo:u8=u-bill-1}") == 2
    # A request the policy denies is answered before the limits: not counted.
    anon = session_for(p)
    assert [anon.get(p.url("/echo")).status_code for _ in range(3)] == [401, 401, 401]


def login_policy(workdir, ip="1/m", ip_burst=4, user="1/m", user_burst=2, scope="global"):
    return write_policy(workdir, f"login_limits:\n  ip: {{rate: {ip}, burst: {ip_burst}, scope: {scope}}}\n"
                                 f"  username: {{rate: {user}, burst: {user_burst}, scope: {scope}}}\n")


def test_login_limits_per_username_and_per_ip(make_proxy, workdir, redis_server):
    cfg = auth_config(workdir, redis_server.address)
    cfg["policy"]["file"] = login_policy(workdir)
    p = make_proxy(cfg)
    c = Client(p)
    # The same name twice is its burst; a third try waits, even with the
    # right password, and whether the name exists or not.
    assert c.login("n.joy", "wrong-password-123").status_code == 401
    assert c.login("n.joy").status_code == 200
    r = c.login("n.joy")
    check_429(r, "login-username", 1, 60, 2)
    # The address had three tries; one more (another name) is its fourth,
    # then it is refused whatever the name.
    assert c.login("nobody-at-all", "x-password-123").status_code == 401
    r = c.login("b.clerk")
    check_429(r, "login-ip", 1, 60, 4)
    # A browser gets the sign-in page with the same status and headers.
    r = c.post_form("/auth/login", {"username": "owner", "password": "x"}, headers={"Accept": "text/html"})
    assert r.status_code == 429 and "Too many sign-in attempts" in r.text
    assert r.headers["RateLimit"].startswith('"login-ip";r=0;t=')
    # The log is written by its own thread: the last line may follow the answer.
    deadline = time.time() + 10
    while time.time() < deadline and len([e for e in p.logs("security_event")
                                          if e.get("type") == "login_rate_limited"]) < 3:
        time.sleep(0.05)
    events = [e for e in p.logs("security_event") if e.get("type") == "login_rate_limited"]
    assert len(events) == 3 and {e["limit"] for e in events} == {"login-username", "login-ip"}
    assert redis_server.client().exists("rl:{login-username:n5=n.joy}", "rl:{login-ip:i9=127.0.0.1}") == 2


def test_login_limits_are_shared_by_replicas(make_proxy, workdir, redis_server):
    cfg = auth_config(workdir, redis_server.address)
    cfg["policy"]["file"] = login_policy(workdir, ip_burst=100, user_burst=3)
    a, b = make_proxy(cfg, name="la"), make_proxy(cfg, name="lb")
    codes = [Client(x).login("owner", "bad-password-1").status_code for x in (a, b, a, b, a)]
    assert codes == [401, 401, 401, 429, 429], codes


def test_global_limit_falls_back_to_local_while_redis_is_away(make_proxy, workdir, redis_server):
    cfg = {"policy": {"file": write_policy(workdir)}, "redis": {"address": redis_server.address,
                                                                "command_timeout": "300ms"}}
    p = make_proxy(cfg)
    s = session_for(p)
    assert s.get(p.url("/status/202")).status_code == 202
    redis_server.kill()
    # Still limited, by the same rule, by this process alone.
    codes = [s.get(p.url("/status/202"), timeout=10).status_code for _ in range(6)]
    assert codes == [202, 202, 202, 429, 429, 429], codes
    r = s.get(p.url("/status/202"))
    check_429(r, "few-global", 1, 60, 3)
    fb = p.wait_log("ratelimit_fallback")
    assert len(p.logs("ratelimit_fallback")) == 1  # once per outage, not per request
    assert fb[0]["limit"] == "few-global" and fb[0]["level"] == "warn"
    # Redis back: decisions go to it again (a fresh, empty server).
    redis_server.start()
    deadline = time.time() + 15
    while time.time() < deadline and not p.logs("ratelimit_fallback_ended"):
        s.get(p.url("/status/202"))
        time.sleep(0.2)
    ended = p.wait_log("ratelimit_fallback_ended")
    assert ended[0]["fallback_decisions"] >= 8
    assert redis_server.client().exists("rl:{few-global:i9=127.0.0.1:r3=few}")


def test_global_limit_keeps_answering_while_redis_hangs(make_proxy, workdir, redis_server):
    cfg = {"policy": {"file": write_policy(workdir)}, "redis": {"address": redis_server.address,
                                                                "command_timeout": "300ms"}}
    p = make_proxy(cfg)
    s = session_for(p)
    assert s.get(p.url("/status/202")).status_code == 202
    redis_server.freeze()  # connected, answering nothing
    try:
        codes = [s.get(p.url("/status/202"), timeout=10).status_code for _ in range(6)]
        assert codes == [202, 202, 202, 429, 429, 429], codes
        fb = p.wait_log("ratelimit_fallback")
        assert fb[0]["redis"] in ("timeout", "unhealthy"), fb
    finally:
        redis_server.thaw()
