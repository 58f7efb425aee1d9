"""The audit trail through the real proxy, with a real redis-server:
records for every request and security event, the chain and checkpoints
verified by `phiguard audit verify`, tampering found, nothing lost when
Redis or the proxy dies, fail-closed strict mode, export and disclosures."""
import json
import os
import re
import signal
import time

import pytest
import requests

from audit_env import audit_cli, audit_config, records, verify
from auth_env import Client, auth_config
from phiguard_harness import deep_merge
from redis_fixture import RedisServer, redis_server  # noqa: F401 (fixture)


def wait_for(cond, timeout=10, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def get(proxy, path, **kw):
    return requests.get(f"https://127.0.0.1:{proxy.port}{path}", verify=f"{proxy.certs}/ca.pem", timeout=30, **kw)


def test_requests_and_logins_are_recorded_and_verify(make_proxy, workdir, redis_server):
    cfg = deep_merge(auth_config(workdir, redis_server.address), audit_config(workdir, redis_server.address))
    p = make_proxy(cfg)
    c = Client(p)
    assert c.get("/fhir/Patient/77?name=Doe").status_code == 401
    assert c.login("n.joy").status_code == 200
    r = c.get("/fhir/Patient/77?name=Doe", headers={"User-Agent": "audit-test/1"})
    rid = r.headers["X-Request-Id"]
    rc = redis_server.client()
    wait_for(lambda: any(x.get("request") == rid for x in sum(records(rc).values(), [])), what="the record")
    recs = sum(records(rc).values(), [])
    rec = next(x for x in recs if x.get("request") == rid)
    assert rec["type"] == "rest" and rec["subtype"] == "read" and rec["action"] == "R"
    assert rec["http"] == {"method": "GET", "route": "/fhir/Patient/{id}", "path": "/fhir/Patient/77",
                           "status": r.status_code}
    assert rec["entity"] == "Patient/77" and rec["rule"] == "patient-read"
    assert rec["agent"]["user"] == "u-nurse-1" and rec["agent"]["username"] == "n.joy"
    assert rec["agent"]["roles"] == ["nurse"] and rec["agent"]["user_agent"] == "audit-test/1"
    assert re.fullmatch(r"[0-9a-f]{64}", rec["agent"]["session"])
    assert "Doe" not in json.dumps(recs)  # the query string never enters the trail
    denied = [x for x in recs if x.get("http", {}).get("status") == 401]
    assert denied and denied[0]["outcome"] == 4
    types = {x["type"] for x in recs}
    assert {"login", "session_started"} <= types
    # A checkpoint covers it, and the whole trail verifies.
    time.sleep(0.6)
    v = verify(p, workdir)
    assert v.returncode == 0, v.stdout + v.stderr
    assert re.search(r": ok, records 1\.\.\d+, [1-9]\d* checkpoints verified", v.stdout)
    assert "audit_checkpoint" in p.stderr()  # a copy of each checkpoint lives outside Redis


def test_async_mode_and_no_audit_without_spool_dir(make_proxy, workdir, redis_server):
    p = make_proxy(audit_config(workdir, redis_server.address, mode="async"))
    for _ in range(20):
        assert get(p, "/echo").status_code == 200
    rc = redis_server.client()
    wait_for(lambda: sum(len(v) for v in records(rc).values()) >= 20, what="20 records")
    q = make_proxy(name="plain")  # no audit section: no chain
    assert get(q, "/echo").status_code == 200
    assert len(rc.smembers("audit:writers")) == 1
