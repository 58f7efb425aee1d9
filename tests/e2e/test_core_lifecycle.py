"""Reload and drain: SIGHUP swaps the certificate, SIGTERM drains."""
import hashlib
import os
import shutil
import signal
import socket
import ssl
import threading
import time
import urllib.request

import pytest

from phiguard_harness import parse_responses, read_all, tls_connect


def peer_cert_digest(s):
    return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def file_digest(path):
    pem = open(path).read()
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def test_sighup_swaps_certificate_and_keeps_open_connections(make_proxy, certs, workdir):
    live_cert, live_key = f"{workdir}/live.pem", f"{workdir}/live.key"
    shutil.copy(f"{certs}/server.pem", live_cert)
    shutil.copy(f"{certs}/server.key", live_key)
    p = make_proxy({"tls": {"certificate": live_cert, "key": live_key}})
    old = tls_connect(p.port, certs)
    old.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
    assert old.recv(65536).startswith(b"HTTP/1.1 200")
    assert peer_cert_digest(old) == file_digest(f"{certs}/server.pem")

    # Replace both files, each atomically, then SIGHUP.
    shutil.copy(f"{certs}/server2.pem", live_cert + ".new")
    shutil.copy(f"{certs}/server2.key", live_key + ".new")
    os.rename(live_key + ".new", live_key)
    os.rename(live_cert + ".new", live_cert)
    n = len(p.logs("tls_reloaded"))
    p.signal(signal.SIGHUP)
    p.wait_log("tls_reloaded", count=n + 1)
    new = tls_connect(p.port, certs)
    assert peer_cert_digest(new) == file_digest(f"{certs}/server2.pem")
    new.close()
    # The connection opened before the swap still works.
    old.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert read_all(old).startswith(b"HTTP/1.1 200")
    old.close()


def test_bad_certificate_on_reload_keeps_the_old_one(make_proxy, certs, workdir):
    live_cert, live_key = f"{workdir}/live.pem", f"{workdir}/live.key"
    shutil.copy(f"{certs}/server.pem", live_cert)
    shutil.copy(f"{certs}/server.key", live_key)
    p = make_proxy({"tls": {"certificate": live_cert, "key": live_key}})
    with open(live_cert, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    p.signal(signal.SIGHUP)
    failure = p.wait_log("tls_reload_failed")[-1]
    assert "certificate" in failure["error"]
    s = tls_connect(p.port, certs)
    assert peer_cert_digest(s) == file_digest(f"{certs}/server.pem")
    s.close()


def test_sigterm_drains_in_flight_request(make_proxy, certs):
    p = make_proxy({"timeouts": {"drain": "10s"}})
    s = tls_connect(p.port, certs)
    s.sendall(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n")
    time.sleep(0.3)  # the request is with the backend
    p.signal(signal.SIGTERM)
    time.sleep(0.3)
    status, _ = p.admin("/readyz") if p.proc.poll() is None else (503, b"")
    assert status == 503
    with pytest.raises(OSError):  # no new connections while draining
        tls_connect(p.port, certs, timeout=3)
    out = read_all(s, timeout=10)
    s.close()
    status, headers, body = parse_responses(out)[0]
    assert status == 200 and b"slept_ms" in body
    assert headers.get("connection") == "close"
    assert p.proc.wait(timeout=10) == 0


def test_healthz_and_readyz(proxy):
    assert proxy.admin("/healthz")[0] == 200
    assert proxy.admin("/readyz")[0] == 200
    assert proxy.admin("/nope")[0] == 404
