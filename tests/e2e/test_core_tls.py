"""TLS termination: versions, ALPN, mTLS."""
import ssl
import subprocess

import pytest

from phiguard_harness import tls_connect


def test_tls13_negotiated_with_http11_alpn(proxy, certs):
    ctx_kw = {}
    s = tls_connect(proxy.port, certs, **ctx_kw)
    try:
        assert s.version() == "TLSv1.3"
    finally:
        s.close()
    import socket
    ctx = ssl.create_default_context(cafile=f"{certs}/ca.pem")
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", proxy.port)), server_hostname="localhost") as s:
        assert s.selected_alpn_protocol() == "http/1.1"


def test_openssl_s_client_sees_tls13(proxy, certs):
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{proxy.port}", "-CAfile",
                          f"{certs}/ca.pem", "-alpn", "http/1.1", "-brief"],
                         input=b"", capture_output=True, timeout=20)
    text = (out.stdout + out.stderr).decode()
    assert "Protocol version: TLSv1.3" in text
    assert "Verification: OK" in text


def test_tls12_refused_by_default(proxy, certs):
    with pytest.raises(ssl.SSLError):
        tls_connect(proxy.port, certs, max_version=ssl.TLSVersion.TLSv1_2)


def test_tls12_allowed_when_configured_with_aead_only(make_proxy, certs):
    p = make_proxy({"tls": {"min_version": "1.2"}})
    s = tls_connect(p.port, certs, max_version=ssl.TLSVersion.TLSv1_2)
    try:
        assert s.version() == "TLSv1.2"
        name = s.cipher()[0]
        assert "GCM" in name or "CHACHA20" in name
        assert name.startswith("ECDHE")
    finally:
        s.close()
    # CBC suites are not offered at all.
    import socket
    ctx = ssl.create_default_context(cafile=f"{certs}/ca.pem")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA")
    with pytest.raises(ssl.SSLError):
        ctx.wrap_socket(socket.create_connection(("127.0.0.1", p.port)), server_hostname="localhost")


def test_alpn_h2_only_refused(proxy, certs):
    import socket
    ctx = ssl.create_default_context(cafile=f"{certs}/ca.pem")
    ctx.set_alpn_protocols(["h2"])
    with pytest.raises(ssl.SSLError):
        ctx.wrap_socket(socket.create_connection(("127.0.0.1", proxy.port)), server_hostname="localhost")


def _get(port, certs, cert=None):
    s = tls_connect(port, certs, cert=cert)
    try:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        return data
    finally:
        s.close()


def test_mtls_requires_a_certificate_from_the_ca(make_proxy, certs):
    p = make_proxy({"tls": {"client_ca": f"{certs}/ca.pem"}})
    assert _get(p.port, certs, cert="client").startswith(b"HTTP/1.1 200")
    # In TLS 1.3 the server checks the client certificate after the
    # client's handshake completes: the refusal shows on first read.
    for cert in (None, "rogue"):
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            data = _get(p.port, certs, cert=cert)
            if not data:
                raise ssl.SSLError("closed without a response")
