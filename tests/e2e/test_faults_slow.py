"""Fault injection: slow clients and backpressure. Slowloris heads and
stalled bodies are answered 408 (or closed) by their timeouts without
holding up other clients; a client that does not read a large response
holds phiguard's memory to its high-water marks (resident size read from
/proc), gets every byte once it reads, and one that never reads is closed
after timeouts.send."""
import json
import socket
import threading
import time

from audit_env import audit_config
from fault_env import get, request_records, rss_kib, wait_for
from phiguard_harness import deep_merge, parse_responses, read_all, tls_connect
from redis_fixture import redis_server  # noqa: F401 (fixture)


def served_meanwhile(p, n=20):
    """n requests of a well-behaved client, all answered 200."""
    import requests
    s = requests.Session()
    return [get(p, f"/echo?ok={i}", session=s).status_code for i in range(n)]


def test_slowloris_heads_get_408_and_do_not_starve_others(make_proxy, certs):
    p = make_proxy({"timeouts": {"header_read": "1s"}})
    slow = [tls_connect(p.port, certs) for _ in range(30)]
    for s in slow:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n")
    stop = threading.Event()

    def drip():
        while not stop.is_set():
            for s in slow:
                try:
                    s.sendall(b"X-Drip: 1\r\n")
                except OSError:
                    pass
            time.sleep(0.3)
    t = threading.Thread(target=drip, daemon=True)
    t.start()
    try:
        assert served_meanwhile(p) == [200] * 20
        outs = [read_all(s, timeout=15) for s in slow]
    finally:
        stop.set()
        t.join(timeout=10)
        for s in slow:
            s.close()
    assert all(o.startswith(b"HTTP/1.1 408") for o in outs), [o[:40] for o in outs if not o.startswith(b"HTTP/1.1 408")]
    body = parse_responses(outs[0])[0][2]
    assert json.loads(body)["error"] == "request_timeout"


def test_stalled_body_gets_408_with_its_record(make_proxy, certs, workdir, redis_server):
    p = make_proxy(deep_merge(audit_config(workdir, redis_server.address), {"timeouts": {"body_read": "1s"}}))
    stalled = [tls_connect(p.port, certs) for _ in range(10)]
    for s in stalled:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
    try:
        assert served_meanwhile(p) == [200] * 20
        outs = [read_all(s, timeout=15) for s in stalled]
    finally:
        for s in stalled:
            s.close()
    answers = [parse_responses(o)[0] for o in outs]
    assert all(a[0] == 408 for a in answers), [a[0] for a in answers]
    rids = [a[1]["x-request-id"] for a in answers]
    rc = redis_server.client()
    wait_for(lambda: set(rids) <= set(request_records(rc)), what="the 408s' records")
    assert all(request_records(rc)[r][0]["http"]["status"] == 408 for r in rids)


def test_unread_large_response_keeps_memory_bounded(make_proxy, certs):
    p = make_proxy({"limits": {"high_water_bytes": "256KiB"}})
    size = 64 * 1024 * 1024
    served_meanwhile(p, 5)
    base = rss_kib(p.proc.pid)
    s = tls_connect(p.port, certs, timeout=60)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(f"GET /bytes?n={size} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
    # Not reading: phiguard fills the socket buffers and its own high-water
    # marks, then stops reading from the app. Sample its memory meanwhile.
    peak = 0
    samples = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        peak = max(peak, rss_kib(p.proc.pid))
        samples += 1
        time.sleep(0.05)
    assert samples > 10
    assert peak - base < 24 * 1024, f"resident size grew by {peak - base} KiB while the client did not read"
    # Others are served while that response waits.
    assert served_meanwhile(p) == [200] * 20
    # Then it reads, and gets every byte, in order.
    got = 0
    head = b""
    s.settimeout(60)
    while b"\r\n\r\n" not in head:
        head += s.recv(65536)
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    got = len(rest)
    block = bytes(range(256))
    ok = rest == (block * (len(rest) // 256 + 1))[:len(rest)]
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        got += len(d)
    s.close()
    assert ok and got == size


def test_client_that_never_reads_is_closed_after_the_send_timeout(make_proxy, certs, backend):
    p = make_proxy({"timeouts": {"send": "1s"}})
    s = tls_connect(p.port, certs, timeout=60)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(b"GET /bytes?n=33554432 HTTP/1.1\r\nHost: a\r\n\r\n")
    line = p.wait_log("client_send_timeout", timeout=30)[0]
    assert line["request_id"]
    # Its connection is gone: reading now ends before the whole body.
    got = len(read_all(s, timeout=30))
    s.close()
    assert got < 33554432
    assert served_meanwhile(p, 5) == [200] * 5
