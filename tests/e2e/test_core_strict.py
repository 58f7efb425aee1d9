"""Strict parsing and phiguard's own error answers: nothing malformed reaches
the backend, and each case gets the right status and a closed connection."""
import json
import socket
import time

import pytest

from phiguard_harness import Backend, parse_responses, raw_exchange, read_all, tls_connect

SMUGGLING = {
    "cl_and_te": b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two_cl": b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "te_gzip": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    "te_chunked_gzip": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    "te_identity": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
    "te_twice": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs_fold": b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n",
    "bare_cr": b"GET /echo HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n",
    "bare_lf": b"GET /echo HTTP/1.1\nHost: a\n\n",
    "nul_in_header": b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
    "ctl_in_header": b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: b\x1bc\r\n\r\n",
    "space_before_colon": b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n",
    "two_hosts": b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "no_host": b"GET /echo HTTP/1.1\r\nX-A: b\r\n\r\n",
    "absolute_form": b"GET http://a/echo HTTP/1.1\r\nHost: a\r\n\r\n",
    "dot_segments": b"GET /fhir/../admin HTTP/1.1\r\nHost: a\r\n\r\n",
    "encoded_dots": b"GET /fhir/%2e%2e/admin HTTP/1.1\r\nHost: a\r\n\r\n",
    "bad_chunk_hex": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    "chunk_overflow": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nab\r\n",
    "chunk_no_crlf": b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_shapes_rejected(proxy, certs, backend, name):
    backend.clear()
    out = raw_exchange(proxy.port, certs, SMUGGLING[name])
    responses = parse_responses(out)
    assert len(responses) == 1, out
    status, headers, body = responses[0]
    assert status == 400, out
    assert headers.get("connection") == "close"
    assert json.loads(body)["error"] == "bad_request"
    # Nothing complete reached the backend: a bad chunk is caught as the
    # body streams, after the head went out, so the backend may have seen
    # the start of that request but never a request it could act on twice.
    seen = [r for r in backend.requests_seen() if r["path"] != "/_log"]
    if name.startswith(("bad_chunk", "chunk_")):
        assert len(seen) <= 1
    else:
        assert seen == []


def test_header_limits_give_431(make_proxy, certs):
    p = make_proxy({"limits": {"max_header_bytes": 2048, "max_headers": 10}})
    big = b"GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n"
    assert parse_responses(raw_exchange(p.port, certs, big))[0][0] == 431
    many = b"GET /echo HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(20)) + b"\r\n"
    assert parse_responses(raw_exchange(p.port, certs, many))[0][0] == 431


def test_body_limit_gives_413(make_proxy, certs, backend):
    p = make_proxy({"limits": {"max_body_bytes": 1000}})
    out = raw_exchange(p.port, certs, b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + b"a" * 5000)
    assert parse_responses(out)[0][0] == 413
    chunks = b"".join(b"100\r\n" + b"b" * 256 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"
    out = raw_exchange(p.port, certs, b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
    assert parse_responses(out)[0][0] == 413


def test_dead_upstream_gives_502_quickly(make_proxy, certs):
    from phiguard_harness import free_port
    p = make_proxy(upstream=f"127.0.0.1:{free_port()}")
    t = time.time()
    out = raw_exchange(p.port, certs, b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", timeout=10)
    assert parse_responses(out)[0][0] == 502
    assert time.time() - t < 5


@pytest.mark.parametrize("path", ["/garbage", "/smuggle"])
def test_malformed_upstream_response_gives_502(proxy, certs, path):
    out = raw_exchange(proxy.port, certs, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    status, headers, body = parse_responses(out)[0]
    assert status == 502
    assert b"NOT HTTP" not in out and b"0\r\n\r\n" not in body


def test_slow_upstream_gives_504(make_proxy, certs):
    p = make_proxy({"upstream": {"response_timeout": "500ms"}})
    out = raw_exchange(p.port, certs, b"GET /slow?ms=3000 HTTP/1.1\r\nHost: a\r\n\r\n")
    status, _, body = parse_responses(out)[0]
    assert status == 504
    assert json.loads(body)["error"] == "gateway_timeout"


def test_slowloris_head_times_out_with_408(make_proxy, certs):
    p = make_proxy({"timeouts": {"header_read": "1s"}})
    s = tls_connect(p.port, certs)
    t = time.time()
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n")
    for _ in range(3):
        time.sleep(0.4)
        try:
            s.sendall(b"X-Drip: 1\r\n")
        except OSError:
            break
    out = read_all(s, timeout=10)
    s.close()
    assert out.startswith(b"HTTP/1.1 408")
    assert time.time() - t < 5


def test_idle_keepalive_connection_closed(make_proxy, certs):
    p = make_proxy({"timeouts": {"keepalive": "1s"}})
    s = tls_connect(p.port, certs)
    s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
    time.sleep(0.2)
    t = time.time()
    out = read_all(s, timeout=10)  # returns when phiguard closes
    s.close()
    assert out.startswith(b"HTTP/1.1 200")
    assert time.time() - t < 5


def test_connection_limit(make_proxy, certs):
    p = make_proxy({"limits": {"max_connections": 3}})
    held = [tls_connect(p.port, certs) for _ in range(3)]
    try:
        with pytest.raises((OSError, ConnectionError)):
            extra = tls_connect(p.port, certs, timeout=5)
            extra.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
            if not extra.recv(10):
                raise ConnectionError("closed")
    finally:
        for s in held:
            s.close()
