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
from phiguard_harness import deep_merge, wait_for
from redis_fixture import RedisServer, redis_server  # noqa: F401 (fixture)


def logins_and_audit(workdir, address, **audit):
    """Config overrides with password logins and the audit trail on."""
    return deep_merge(auth_config(workdir, address), audit_config(workdir, address, **audit))


def durable_redis():
    """A Redis that keeps what it acknowledged (append-only file, fsync
    always), as a production Redis holding an audit trail must."""
    return RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]).start()


def get(proxy, path, **kw):
    return requests.get(f"https://127.0.0.1:{proxy.port}{path}", verify=f"{proxy.certs}/ca.pem", timeout=30, **kw)


def test_requests_and_logins_are_recorded_and_verify(make_proxy, workdir, redis_server):
    cfg = logins_and_audit(workdir, redis_server.address)
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


def stored(rc, chain):
    """[(seq, h, record bytes)] as stored."""
    return [(int(i.split(b"-")[0]), f[b"h"].decode(), f[b"r"]) for i, f in rc.xrange(f"audit:{chain}")]


def rewrite(rc, chain, entries):
    """Replaces the stream with entries [(id, h, bytes)]: what an attacker
    with write access to Redis could do."""
    rc.delete(f"audit:{chain}")
    for sid, h, b in entries:
        rc.xadd(f"audit:{chain}", {"h": h, "r": b}, id=sid)


def leaf(b):
    import hashlib
    return hashlib.sha256(b"\x00" + b).hexdigest()


@pytest.fixture
def trail(make_proxy, workdir, redis_server):
    """A proxy with 12 records in its chain, all covered by a checkpoint,
    then stopped (so nothing more is written while a test tampers)."""
    p = make_proxy(audit_config(workdir, redis_server.address, mode="async", checkpoint_records=5))
    for i in range(12):
        assert get(p, f"/echo?i={i}").status_code == 200
    rc = redis_server.client()
    chain = next(iter(rc.smembers("audit:writers"))).decode()
    wait_for(lambda: len(stored(rc, chain)) == 12, what="12 records")
    time.sleep(0.7)  # a checkpoint counting all 12
    p.signal(signal.SIGTERM)
    p.proc.wait(timeout=20)
    v = verify(p, workdir)
    assert v.returncode == 0, v.stdout
    return p, rc, chain


def expect_fault(trail, workdir, fault, seq):
    p, _, chain = trail
    v = verify(p, workdir)
    assert v.returncode == 1, v.stdout + v.stderr
    assert f"{chain}: FAILED at seq {seq}: {fault}" in v.stdout, v.stdout


def test_tamper_changed_field(trail, workdir):
    _, rc, chain = trail
    e = stored(rc, chain)
    e[4] = (e[4][0], e[4][1], e[4][2].replace(b'"status":200', b'"status":404'))
    rewrite(rc, chain, [(f"{s}-0", h, b) for s, h, b in e])
    expect_fault(trail, workdir, "HASH_MISMATCH", 5)


def test_tamper_deleted_record(trail, workdir):
    _, rc, chain = trail
    rc.xdel(f"audit:{chain}", "7-0")
    expect_fault(trail, workdir, "SEQ_GAP", 7)
    p = trail[0]
    assert f"{chain}: FAILED at seq 7: SEQ_GAP: record deleted (seq gap): seq 7 to 7 are missing" in \
        verify(p, workdir).stdout  # as docs/audit.md shows it


def test_tamper_inserted_record(trail, workdir):
    _, rc, chain = trail
    e = stored(rc, chain)
    forged = [(f"{s}-0", h, b) for s, h, b in e[:3]] + [("3-1", e[2][1], e[2][2])] + \
        [(f"{s}-0", h, b) for s, h, b in e[3:]]
    rewrite(rc, chain, forged)
    expect_fault(trail, workdir, "SEQ_DUPLICATE", 3)


def test_tamper_reordered_records(trail, workdir):
    _, rc, chain = trail
    e = stored(rc, chain)
    e[5], e[6] = e[6], e[5]
    rewrite(rc, chain, [(f"{i + 1}-0", h, b) for i, (_, h, b) in enumerate(e)])
    expect_fault(trail, workdir, "RECORD_MISPLACED", 6)


def test_tamper_deleted_tail(trail, workdir):
    _, rc, chain = trail
    for s in (10, 11, 12):
        rc.xdel(f"audit:{chain}", f"{s}-0")
    expect_fault(trail, workdir, "CHECKPOINT_BEYOND_END", 10)


def test_tamper_rebuilt_chain_with_recomputed_hashes(trail, workdir):
    _, rc, chain = trail
    e = stored(rc, chain)
    out, prev = [], None
    for s, h, b in e:
        if s == 4:
            b = b.replace(b'"status":200', b'"status":204')
        if prev:
            b = re.sub(rb'"prev":"[0-9a-f]{64}"', b'"prev":"' + prev.encode() + b'"', b, count=1)
        h = leaf(b)
        out.append((f"{s}-0", h, b))
        prev = h
    rewrite(rc, chain, out)
    p, _, _ = trail
    v = verify(p, workdir)
    assert v.returncode == 1 and "CHECKPOINT_HEAD" in v.stdout, v.stdout


def test_redis_killed_during_load_loses_nothing(make_proxy, workdir):
    redis_server = durable_redis()
    p = make_proxy(audit_config(workdir, redis_server.address))
    ids = []
    for i in range(150):
        if i == 50:
            redis_server.kill()
        if i == 110:
            redis_server.start()
        r = get(p, f"/echo?n={i}")
        assert r.status_code == 200  # strict: durable in the spool while Redis is away
        ids.append(r.headers["X-Request-Id"])
    rc = redis_server.client()
    wait_for(lambda: set(ids) <= {x.get("request") for x in sum(records(rc).values(), [])}, timeout=20,
             what="every record in Redis")
    time.sleep(0.7)
    v = verify(p, workdir)
    assert v.returncode == 0, v.stdout + v.stderr
    redis_server.cleanup()


def test_redis_that_forgot_records_is_detected(make_proxy, workdir, redis_server):
    p = make_proxy(audit_config(workdir, redis_server.address))
    for i in range(10):
        assert get(p, f"/echo?f={i}").status_code == 200
    time.sleep(0.5)
    redis_server.kill()
    redis_server.start()  # empty: no persistence
    p.wait_log("audit_redis_lost_records", timeout=10)
    assert get(p, "/echo").status_code == 200


def test_proxy_killed_during_load_loses_nothing(make_proxy, workdir, redis_server):
    unreachable = RedisServer()  # not started: the first proxy never reaches Redis
    cfg = audit_config(workdir, unreachable.address)
    p = make_proxy(cfg)
    ids = [get(p, f"/echo?k={i}").headers["X-Request-Id"] for i in range(40)]
    p.proc.send_signal(signal.SIGKILL)
    p.proc.wait(timeout=10)
    p.stop = lambda *a, **k: 0  # killed on purpose
    # The same instance (same instance id, same spool) comes back with Redis
    # reachable: the spool replays and the chain continues.
    q = make_proxy(audit_config(workdir, redis_server.address), name="again")
    ids.append(get(q, "/echo?after=1").headers["X-Request-Id"])
    rc = redis_server.client()
    wait_for(lambda: set(ids) <= {x.get("request") for x in sum(records(rc).values(), [])}, timeout=20,
             what="every answered request's record")
    time.sleep(0.7)
    v = verify(q, workdir)
    assert v.returncode == 0, v.stdout + v.stderr
    unreachable.cleanup()


def test_strict_mode_fails_closed_when_the_spool_cannot_grow(make_proxy, workdir):
    import resource
    unreachable = RedisServer()  # nothing acknowledges: the spool only grows
    p = make_proxy(deep_merge(audit_config(workdir, unreachable.address), {"log": {"level": "warn", "access": False}}),
                   start=False)
    limit = 64 * 1024

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    import subprocess
    from phiguard_harness import BIN
    p.proc = subprocess.Popen([BIN, "serve", "-c", p.config_path], stdout=subprocess.DEVNULL,
                              stderr=open(p.log_path, "w"), preexec_fn=small_files)
    p.wait_ready()
    codes = [get(p, "/echo").status_code for _ in range(400)]
    assert codes[0] == 200 and codes[-1] == 503, codes
    assert set(codes) == {200, 503}
    assert get(p, "/echo").json()["error"] == "audit_unavailable"
    assert "audit_spool_failed" in p.stderr()
    unreachable.cleanup()


def test_concurrent_requests_on_a_full_spool_keep_the_chain_whole(make_proxy, workdir, redis_server):
    """Strict mode writes the records sealed in one pass of the loop with one
    write: when that write fails, those records are dropped, their responses
    refused, and their seqs used again. Whatever was answered 200 is in the
    trail afterwards, and the chain verifies."""
    import resource
    import subprocess
    from concurrent.futures import ThreadPoolExecutor
    from phiguard_harness import BIN
    unreachable = RedisServer()  # nothing acknowledges: the spool only grows
    p = make_proxy(deep_merge(audit_config(workdir, unreachable.address), {"log": {"level": "warn", "access": False}}),
                   start=False)
    limit = 96 * 1024

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    p.proc = subprocess.Popen([BIN, "serve", "-c", p.config_path], stdout=subprocess.DEVNULL,
                              stderr=open(p.log_path, "w"), preexec_fn=small_files)
    p.wait_ready()
    sessions = [requests.Session() for _ in range(16)]

    def burst(i):
        r = sessions[i % 16].get(f"https://127.0.0.1:{p.port}/echo?c={i}", verify=f"{p.certs}/ca.pem", timeout=30)
        return r.status_code, r.headers.get("X-Request-Id")
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(burst, range(600)))
    codes = {c for c, _ in answers}
    assert codes == {200, 503}, codes
    assert "audit_spool_failed" in p.stderr()
    p.stop()
    # Room again and Redis reachable: the spool replays and the chain goes on.
    q = make_proxy(audit_config(workdir, redis_server.address), name="again")
    answered = {rid for c, rid in answers if c == 200}
    answered.add(get(q, "/echo?after=1").headers["X-Request-Id"])
    rc = redis_server.client()
    wait_for(lambda: answered <= {x.get("request") for x in sum(records(rc).values(), [])}, timeout=20,
             what="the record of every request answered 200")
    time.sleep(0.7)
    v = verify(q, workdir)
    assert v.returncode == 0, v.stdout + v.stderr
    unreachable.cleanup()


def test_export_fhir_and_disclosures(make_proxy, workdir, redis_server):
    cfg = logins_and_audit(workdir, redis_server.address)
    p = make_proxy(cfg)
    c = Client(p)
    c.login("n.joy")
    c.get("/fhir/Patient/42")
    c.get("/fhir/Patient/43")
    rc = redis_server.client()
    wait_for(lambda: sum(1 for x in sum(records(rc).values(), []) if x.get("entity") == "Patient/43"),
             what="the records")
    r = audit_cli(p, "export", "--format", "fhir")
    assert r.returncode == 0, r.stderr
    bundle = json.loads(r.stdout)
    assert bundle["resourceType"] == "Bundle" and bundle["entry"]
    for e in bundle["entry"]:
        ev = e["resource"]
        assert ev["resourceType"] == "AuditEvent"
        # AuditEvent's required elements (FHIR R4): type, recorded, agent (with requestor), source (with observer).
        assert ev["type"]["code"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ev["recorded"])
        assert ev["agent"] and all(isinstance(a["requestor"], bool) for a in ev["agent"])
        assert ev["source"]["observer"]["display"]
        assert ev["action"] in "CRUDE" and ev["outcome"] in ("0", "4", "8", "12")
    reads = [e["resource"] for e in bundle["entry"] if e["resource"].get("entity")
             and e["resource"]["entity"][0]["what"].get("reference") == "Patient/42"]
    assert reads and reads[0]["subtype"][0]["code"] == "read" and reads[0]["agent"][0]["who"]["display"] == "n.joy"
    lines = audit_cli(p, "export", "--format", "json").stdout.strip().splitlines()
    assert all(json.loads(x)["writer"] for x in lines)
    d = audit_cli(p, "disclosures", "--patient", "Patient/42")
    assert d.returncode == 0, d.stderr
    rows = d.stdout.strip().splitlines()
    assert rows[0].startswith("time\tuser_id") and len(rows) == 2
    assert "\tu-nurse-1\tn.joy\tnurse\tR\tGET\t/fhir/Patient/42\t" in rows[1]
    future = audit_cli(p, "disclosures", "--patient", "Patient/42", "--since", "2099-01-01")
    assert "no access to Patient/42 recorded" in future.stdout


def test_policy_reload_is_recorded_with_permission_changes(make_proxy, workdir, redis_server):
    cfg = logins_and_audit(workdir, redis_server.address)
    p = make_proxy(cfg)
    policy = cfg["policy"]["file"]
    text = open(policy).read()
    open(policy, "w").write(text.replace("routes:\n", "roles:\n  desk: {inherits: [front_desk]}\nroutes:\n", 1))
    p.signal(signal.SIGHUP)
    rc = redis_server.client()
    wait_for(lambda: any(x["type"] == "policy-reload" for x in sum(records(rc).values(), [])),
             what="the reload's record")
    rec = next(x for x in sum(records(rc).values(), []) if x["type"] == "policy-reload")
    info = json.loads(rec["details"]["info"])
    assert info["file"] == policy and re.fullmatch(r"[0-9a-f]{64}", info["sha256"]) and info["replaces"] != info["sha256"]
    desk = next(c for c in info["changes"] if c["role"] == "desk")
    assert "patient:read" in desk["gained"] and desk["lost"] == []


def test_retention_trim_keeps_the_chain_verifiable(make_proxy, workdir, redis_server):
    p = make_proxy(audit_config(workdir, redis_server.address, mode="async"))
    for i in range(10):
        get(p, f"/echo?old={i}")
    time.sleep(0.8)  # a checkpoint counting the old records
    cutoff = int(time.time()) + 1
    time.sleep(1.5)
    for i in range(5):
        get(p, f"/echo?new={i}")
    time.sleep(0.8)
    rc = redis_server.client()
    chain = next(iter(rc.smembers("audit:writers"))).decode()
    before = stored(rc, chain)
    r = audit_cli(p, "trim", "--before", str(cutoff))
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"trimmed (\d+) records, seq 1\.\.(\d+); the chain now starts at seq (\d+)", r.stdout)
    assert m, r.stdout
    after = stored(rc, chain)
    assert after[0][0] == int(m.group(3)) and len(after) == len(before) - int(m.group(1))
    assert all(json.loads(b)["time"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cutoff - 2)) for _, _, b in after)
    assert rc.xlen("audit:trims") == 1
    v = verify(p, workdir)
    assert v.returncode == 0, v.stdout
    # Cutting where no checkpoint vouches for the cut is tampering, and is found.
    counts = {int(f[b"n"].split(b"\n")[1]) for _, f in rc.xrange(f"audit:checkpoints:{chain}")}
    start = next(s for s, _, _ in after[1:] if s - 1 not in counts)
    rc.xtrim(f"audit:{chain}", minid=f"{start}-0", approximate=False)
    v = verify(p, workdir)
    assert v.returncode == 1 and f": SEQ_GAP: record deleted (seq gap): seq 1 to {start - 1} are missing" in v.stdout, v.stdout


def test_scheduled_verification_and_the_integrity_api(make_proxy, workdir, redis_server):
    cfg = logins_and_audit(workdir, redis_server.address, verify_interval="1s")
    p = make_proxy(cfg)
    assert Client(p).get("/api/v1/security/audit-log/integrity").status_code == 401
    nurse = Client(p)
    nurse.login("n.joy")
    assert nurse.get("/api/v1/security/audit-log/integrity").status_code == 403
    admin = Client(p)
    admin.enroll_and_login("sec.admin")
    p.wait_log("audit_integrity", timeout=10)
    r = admin.get("/api/v1/security/audit-log/integrity")
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["status"] == "ok" and res["chains"] >= 1 and res["records"] > 0 and res["failed"] == []
    # Tampering shows in the next run, with a critical alert.
    rc = redis_server.client()
    chain = next(iter(rc.smembers("audit:writers"))).decode()
    rc.xdel(f"audit:{chain}", "2-0")
    wait_for(lambda: admin.get("/api/v1/security/audit-log/integrity").json()["status"] == "failed", timeout=10,
             what="a failed verification")
    res = admin.get("/api/v1/security/audit-log/integrity").json()
    assert res["failed"][0]["chain"] == chain and res["failed"][0]["fault"] == "SEQ_GAP" and res["failed"][0]["seq"] == 2
    assert any(json.loads(a)["rule"] == "audit_integrity" for a in rc.lrange("alert:list", 0, -1))


def test_records_beyond_the_memory_limit_are_read_back_from_the_spool(make_proxy, workdir):
    redis_server = durable_redis()
    p = make_proxy(audit_config(workdir, redis_server.address, mode="async", memory_limit="1MiB"))
    get(p, "/echo")
    redis_server.kill()
    s = requests.Session()
    for i in range(2500):  # ~1.5 MB of records: more than memory keeps
        assert s.get(f"https://127.0.0.1:{p.port}/echo?m={i}", verify=f"{p.certs}/ca.pem", timeout=30).status_code == 200
    redis_server.start()
    rc = redis_server.client()
    wait_for(lambda: sum(len(v) for v in records(rc).values()) >= 2501, timeout=30, what="every record in Redis")
    time.sleep(0.7)
    v = verify(p, workdir)
    assert v.returncode == 0, v.stdout + v.stderr
    redis_server.cleanup()


def test_break_glass_justification_is_in_the_trail_not_the_log(make_proxy, workdir, redis_server):
    cfg = logins_and_audit(workdir, redis_server.address)
    p = make_proxy(cfg)
    owner = Client(p)
    owner.enroll_and_login("owner")
    r = owner.get("/fhir/Patient", headers={"X-Break-Glass-Reason": "ER trauma, patient Jane Roe unconscious"})
    assert r.status_code == 200, r.text
    rc = redis_server.client()
    wait_for(lambda: any(x["type"] == "break_glass" for x in sum(records(rc).values(), [])), what="the record")
    rec = next(x for x in sum(records(rc).values(), []) if x["type"] == "break_glass")
    assert rec["details"]["justification"] == "ER trauma, patient Jane Roe unconscious"
    assert rec["details"]["severity"] == "critical" and rec["agent"]["user"] == "u-owner-1"
    access = next(x for x in sum(records(rc).values(), []) if x.get("request") == r.headers["X-Request-Id"]
                  and x["type"] == "rest")
    assert access["details"]["break_glass"] == "true"
    assert "Jane Roe" not in p.stderr()
