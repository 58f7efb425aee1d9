"""Proxying: bodies, keep-alive and the upstream pool, header handling."""
import hashlib
import json
import socket
import time

import pytest
import requests

from phiguard_harness import parse_responses, raw_exchange, read_all, tls_connect


def session(certs):
    s = requests.Session()
    s.trust_env = False  # no proxy or CA bundle from the environment
    s.verify = f"{certs}/ca.pem"
    return s


@pytest.mark.parametrize("size", [0, 1 << 20])
def test_request_and_response_bodies_identical(proxy, certs, size):
    s = session(certs)
    body = bytes((i * 7) % 256 for i in range(size))
    r = s.post(proxy.url("/echo-body"), data=body, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200
    assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(body).hexdigest()
    r = s.get(proxy.url(f"/bytes?n={size}"))
    assert r.content == bytes(range(256)) * (size // 256) + bytes(range(size % 256))


def test_chunked_both_ways(proxy, certs):
    s = session(certs)
    body = b"".join(bytes([i % 256]) * 1000 for i in range(300))

    def gen():
        for i in range(0, len(body), 7777):
            yield body[i:i + 7777]

    r = s.post(proxy.url("/echo"), data=gen())  # requests sends chunked
    assert r.status_code == 200
    info = r.json()
    assert info["body_len"] == len(body)
    assert info["body_sha256"] == hashlib.sha256(body).hexdigest()
    names = [h[0].lower() for h in info["headers"]]
    assert "transfer-encoding" in names
    r = s.get(proxy.url("/chunked?n=300000&chunk=1000"))
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert len(r.content) == 300000


def test_close_delimited_response_reframed(proxy, certs):
    s = session(certs)
    r = s.get(proxy.url("/close-delimited?n=50000"))
    assert r.status_code == 200
    assert len(r.content) == 50000
    assert r.headers.get("Transfer-Encoding") == "chunked"
    # An HTTP/1.0 client gets the body delimited by the close.
    out = raw_exchange(proxy.port, certs, b"GET /close-delimited?n=5000 HTTP/1.0\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"connection: close" in head.lower()
    assert len(body) == 5000


def test_upstream_connections_reused(proxy, certs, backend):
    before = backend.get("/conn")["accepted"]
    s = session(certs)
    for _ in range(30):
        assert s.get(proxy.url("/echo")).status_code == 200
    for _ in range(10):  # new client connections share the pool too
        assert session(certs).get(proxy.url("/echo")).status_code == 200
    after = backend.get("/conn")["accepted"]
    assert after - before <= 3


def test_pipelined_requests_answered_in_order(proxy, certs):
    reqs = b"".join(b"GET /echo?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(10))
    reqs += b"GET /echo?n=last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    out = parse_responses(raw_exchange(proxy.port, certs, reqs))
    assert [json.loads(b)["query"] for _, _, b in out] == ["n=%d" % i for i in range(10)] + ["n=last"]


def test_expect_100_continue(proxy, certs):
    s = tls_connect(proxy.port, certs)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
    first = s.recv(4096)
    assert first == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(b"hello world")
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    out = parse_responses(read_all(s))
    s.close()
    info = json.loads(out[0][2])
    assert info["body_sha256"] == hashlib.sha256(b"hello world").hexdigest()
    assert "expect" not in [h[0].lower() for h in info["headers"]]


def test_hop_by_hop_and_forwarding_headers(proxy, certs, backend):
    req = (b"GET /echo HTTP/1.1\r\nHost: ehr.example\r\nConnection: keep-alive, X-Secret-Hop\r\n"
           b"X-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X\r\n"
           b"Proxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n"
           b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: evil\r\n"
           b"Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Request-Id: client-id-42\r\n"
           b"X-Kept: yes\r\nConnection: close\r\n\r\n")
    status, headers, body = parse_responses(raw_exchange(proxy.port, certs, req))[0]
    assert status == 200
    got = {}
    for k, v in json.loads(body)["headers"]:
        got.setdefault(k.lower(), []).append(v)
    for gone in ["connection", "x-secret-hop", "keep-alive", "te", "trailer", "proxy-authorization",
                 "proxy-connection", "upgrade", "forwarded", "x-real-ip"]:
        assert gone not in got, gone
    assert got["x-forwarded-for"] == ["127.0.0.1"]
    assert got["x-forwarded-proto"] == ["https"]
    assert got["x-forwarded-host"] == ["ehr.example"]
    assert got["x-request-id"] == ["client-id-42"]
    assert headers["x-request-id"] == "client-id-42"
    assert got["x-kept"] == ["yes"]


def test_request_id_generated_when_absent_or_malformed(proxy, certs):
    s = session(certs)
    r = s.get(proxy.url("/echo"))
    rid = r.headers["X-Request-Id"]
    assert len(rid) >= 16
    sent = dict((k.lower(), v) for k, v in r.json()["headers"])
    assert sent["x-request-id"] == rid
    r = s.get(proxy.url("/echo"), headers={"X-Request-Id": "bad id with spaces"})
    assert r.headers["X-Request-Id"] != "bad id with spaces"


def test_security_headers_and_backend_identity_removed(make_proxy, certs):
    p = make_proxy({"security_headers": {"x_frame_options": None, "referrer_policy": "same-origin"}})
    r = session(certs).get(p.url("/headers"))
    assert r.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "X-Frame-Options" not in r.headers
    assert "Server" not in r.headers
    assert "X-Powered-By" not in r.headers
    assert r.headers["X-Custom"] == "kept"
    # phiguard's own answers carry them too.
    status, headers, _ = parse_responses(raw_exchange(p.port, certs, b"GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n"))[0]
    assert status == 400
    assert headers["strict-transport-security"]
    assert "x-frame-options" not in headers


def test_head_204_304_have_no_body(proxy, certs):
    req = (b"HEAD /bytes?n=100 HTTP/1.1\r\nHost: a\r\n\r\n"
           b"GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\n"
           b"GET /status/304 HTTP/1.1\r\nHost: a\r\n\r\n"
           b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    data = raw_exchange(proxy.port, certs, req)
    head1, _, rest = data.partition(b"\r\n\r\n")
    assert head1.startswith(b"HTTP/1.1 200") and b"Content-Length: 100" in head1
    assert rest.startswith(b"HTTP/1.1 204")
    head2, _, rest = rest.partition(b"\r\n\r\n")
    assert rest.startswith(b"HTTP/1.1 304")
    head3, _, rest = rest.partition(b"\r\n\r\n")
    assert rest.startswith(b"HTTP/1.1 200")


def test_http10_client(proxy, certs):
    out = raw_exchange(proxy.port, certs, b"GET /echo HTTP/1.0\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    info = json.loads(body)
    sent = dict((k.lower(), v) for k, v in info["headers"])
    assert "host" in sent  # HTTP/1.1 to the upstream needs one


def test_websocket_upgrade_passthrough(proxy, certs):
    import base64
    import os
    key = base64.b64encode(os.urandom(16))
    s = tls_connect(proxy.port, certs)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    assert b"upgrade: websocket" in head.lower()
    mask = b"\x01\x02\x03\x04"
    for msg in (b"hello", b"x" * 300):
        n = len(msg)
        hdr = b"\x81" + (bytes([0x80 | n]) if n < 126 else b"\xfe" + n.to_bytes(2, "big"))
        s.sendall(hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(msg)))
        b1, b2 = s.recv(1), s.recv(1)[0]
        ln = b2 & 0x7F
        if ln == 126:
            ln = int.from_bytes(s.recv(2), "big")
        data = b""
        while len(data) < ln:
            data += s.recv(ln - len(data))
        assert b1 == b"\x81" and data == msg
    s.sendall(b"\x88\x80" + mask)  # close
    assert s.recv(2) == b"\x88\x00"
    s.close()


def test_access_log_has_no_query_or_body(proxy, certs):
    session(certs).post(proxy.url("/echo?ssn=123-45-6789"), data=b"name=Jane Doe")
    lines = proxy.wait_log("access")
    line = [l for l in lines if l["path"] == "/echo"][-1]
    assert line["method"] == "POST" and line["status"] == 200
    text = proxy.stderr()
    assert "123-45-6789" not in text and "Jane" not in text
    for key in ("request_id", "client", "bytes_in", "bytes_out", "duration_ms"):
        assert key in line
