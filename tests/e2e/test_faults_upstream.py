"""Fault injection: the upstream killed and started again under load, and
slow upstreams. phiguard answers 502 (or 504) with a JSON error while the
app is away, records every answer in the audit trail, logs why, and serves
again once the app is back, without a restart of its own."""
import json
import time

from audit_env import audit_config, verify
from fault_env import FixedBackend, Load, assert_chains_whole, get, request_records, wait_for
from phiguard_harness import deep_merge, free_port, parse_responses, raw_exchange
from redis_fixture import redis_server  # noqa: F401 (fixture)


def test_upstream_killed_and_restarted_under_load(make_proxy, workdir, redis_server):
    app = FixedBackend(workdir, free_port()).start()
    p = make_proxy(deep_merge(audit_config(workdir, redis_server.address), {"upstream": {"connect_timeout": "2s"}}),
                   upstream=app.address)
    load = Load(p, threads=4, seconds=90).start()
    try:
        load.wait_answers(20, status=200)
        app.kill()
        load.wait_answers(20, status=502)
        app.start()  # the same address again
        load.wait_answers(20, status=200)
        answers = load.stop()
        # After the app came back, phiguard served again: the last answers are 200.
        assert answers[-1][0] == 200 and get(p, "/echo").status_code == 200
    finally:
        load.stop()
        app.kill()
    assert not load.failures, load.failures[:3]  # every request got an answer
    codes = {c for c, _, _ in answers}
    assert codes <= {200, 502}, codes
    assert {e for c, _, e in answers if c == 502} == {"bad_gateway"}
    # Every answer, 200 or 502, has exactly one record with its status.
    rc = redis_server.client()
    wait_for(lambda: {rid for _, rid, _ in answers} <= set(request_records(rc)), what="every record in Redis")
    recs = request_records(rc)
    for status, rid, _ in answers:
        assert len(recs[rid]) == 1 and recs[rid][0]["http"]["status"] == status, recs[rid]
    assert any(r[0]["outcome"] == 8 for r in recs.values())  # 5xx: a serious failure
    assert_chains_whole(rc)
    time.sleep(0.6)  # a checkpoint covering the last records
    v = verify(p, workdir)
    assert v.returncode == 0, v.stdout + v.stderr
    # The log says why each 502 was given.
    failed = p.logs("upstream_connect_failed") + p.logs("upstream_closed")
    assert failed and all(f.get("request_id") for f in failed)
    assert all(f.get("error") for f in failed), failed[:2]


def test_slow_upstream_gives_504_with_its_record(make_proxy, workdir, redis_server):
    p = make_proxy(deep_merge(audit_config(workdir, redis_server.address),
                              {"upstream": {"response_timeout": "500ms"}}))
    out = raw_exchange(p.port, p.certs, b"GET /slow?ms=3000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    status, headers, body = parse_responses(out)[0]
    assert status == 504 and json.loads(body)["error"] == "gateway_timeout"
    rid = headers["x-request-id"]
    rc = redis_server.client()
    wait_for(lambda: rid in request_records(rc), what="the 504's record")
    rec = request_records(rc)[rid][0]
    assert rec["http"]["status"] == 504 and rec["outcome"] == 8
    line = next(x for x in p.logs("upstream_timeout") if x["request_id"] == rid)
    assert line["connected"] is True and line["response_started"] is False
    # Other requests are served meanwhile and afterwards.
    assert get(p, "/echo").status_code == 200


def test_upstream_stalling_mid_body_is_cut_and_recorded(make_proxy, workdir, redis_server):
    """An app that sends its head and then stops: the response cannot be
    completed, so the client's connection is closed (its length says it is
    truncated), the record keeps the status that was sent, and the log says
    why."""
    import socket
    import threading
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    held = []

    def stalling_app():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            held.append(c)
            c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":")
    t = threading.Thread(target=stalling_app, daemon=True)
    t.start()
    try:
        p = make_proxy(deep_merge(audit_config(workdir, redis_server.address),
                                  {"upstream": {"response_timeout": "500ms"}}),
                       upstream=f"127.0.0.1:{lsock.getsockname()[1]}")
        out = raw_exchange(p.port, p.certs, b"GET /stall HTTP/1.1\r\nHost: a\r\n\r\n", timeout=15)
        assert out.startswith(b"HTTP/1.1 200")
        head, _, body = out.partition(b"\r\n\r\n")
        assert len(body) < 1000  # cut: the client can tell
        rid = next(line.split(b": ")[1].decode() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"x-request-id"))
        p.wait_log("upstream_timeout")
        rc = redis_server.client()
        wait_for(lambda: rid in request_records(rc), what="the record")
        assert request_records(rc)[rid][0]["http"]["status"] == 200
    finally:
        lsock.close()
        for c in held:
            c.close()
