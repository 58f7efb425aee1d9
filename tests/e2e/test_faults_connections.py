"""Fault injection: floods of idle connections. Beyond limits.max_connections
new connections are closed at once (counted, and logged once a second);
the idle ones are closed by the handshake and header timeouts, after which
clients are served again. limits.max_connections_per_ip keeps one address
(here 127.0.0.2) from taking every slot while others (127.0.0.1) are
served."""
import select
import socket
import ssl

from fault_env import get, wait_for
from phiguard_harness import tls_connect


_seen_closed = set()  # a closed socket reads as closed only once: remember it (the object, not its id)


def closed(sock):
    """True once the peer closed (or reset) the connection."""
    if sock in _seen_closed:
        return True
    r, _, _ = select.select([sock], [], [], 0)
    if not r and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
        return False
    try:
        if isinstance(sock, ssl.SSLSocket):
            sock.setblocking(False)
            gone = sock.recv(1) == b""  # only a close is expected: no request was sent
        else:
            gone = sock.recv(1, socket.MSG_PEEK) == b""
    except ssl.SSLWantReadError:
        return False  # a TLS record (a session ticket) with no data
    except (ConnectionResetError, ssl.SSLError, OSError):
        gone = True
    if gone:
        _seen_closed.add(sock)
    return gone


def raw(port, source="127.0.0.1"):
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def metric(p, name):
    _, body = p.admin("/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines() if line.startswith(name + " "))


def test_idle_flood_beyond_the_limit_is_shed_then_clients_are_served(make_proxy, certs):
    p = make_proxy({"limits": {"max_connections": 20}, "timeouts": {"handshake": "1s", "header_read": "1s"}})
    flood = [raw(p.port) for _ in range(40)]  # TCP only: no handshake, no request
    try:
        # The 20 beyond the limit are closed at once; 20 are held.
        wait_for(lambda: sum(closed(s) for s in flood) >= 20, what="the connections beyond the limit closed")
        assert metric(p, "phiguard_connections_rejected_total") >= 20
        line = p.wait_log("connection_refused")[0]
        assert line["limit"] == "max_connections" and line["client"] == "127.0.0.1" and line["open"] == 20
        # While the limit is reached a new client is refused plainly (closed
        # before its handshake), not left hanging.
        try:
            s = tls_connect(p.port, certs, timeout=10)
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n")
            refused = s.recv(100) == b""
            s.close()
        except (OSError, ssl.SSLError):
            refused = True
        held = sum(not closed(s) for s in flood)
        assert refused or held < 20
        # The handshake timeout closes the idle ones.
        wait_for(lambda: all(closed(s) for s in flood), what="every idle connection closed")
    finally:
        for s in flood:
            s.close()
    assert get(p, "/echo").status_code == 200


def test_connection_without_a_request_is_closed_by_the_header_timeout(make_proxy, certs):
    p = make_proxy({"timeouts": {"header_read": "1s"}})
    idle = [tls_connect(p.port, certs) for _ in range(10)]  # handshaken, then nothing
    try:
        assert get(p, "/echo").status_code == 200
        wait_for(lambda: all(closed(s) for s in idle), what="the idle connections closed")
    finally:
        for s in idle:
            s.close()


def test_per_address_limit_keeps_other_clients_served(make_proxy, certs):
    p = make_proxy({"limits": {"max_connections": 20, "max_connections_per_ip": 5},
                    "timeouts": {"handshake": "30s", "header_read": "30s"}})
    flood = [raw(p.port, "127.0.0.2") for _ in range(30)]
    try:
        wait_for(lambda: sum(closed(s) for s in flood) >= 25, what="the flood beyond 5 closed")
        assert sum(not closed(s) for s in flood) == 5
        line = p.wait_log("connection_refused")[0]
        assert line["limit"] == "max_connections_per_ip" and line["client"] == "127.0.0.2"
        # Another address is served while the flood holds its five.
        import requests
        s = requests.Session()
        assert [get(p, f"/echo?i={i}", session=s).status_code for i in range(10)] == [200] * 10
        # Several at once too, within its own five (the session holds one).
        others = [tls_connect(p.port, certs) for _ in range(4)]
        for o in others:
            o.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert all(o.recv(12).startswith(b"HTTP/1.1 200") for o in others)
        for o in others:
            o.close()
    finally:
        for s in flood:
            s.close()
    # The flooding address's slots are free again once its connections end.
    wait_for(lambda: _served_from(p, certs, "127.0.0.2"), what="127.0.0.2 served again")


def _served_from(p, certs, source):
    ctx = ssl.create_default_context(cafile=f"{certs}/ca.pem")
    try:
        with ctx.wrap_socket(raw(p.port, source), server_hostname="localhost") as s:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.1 200")
    except (OSError, ssl.SSLError):
        return False


def test_documented_limits_example_checks(tmp_path):
    """The example of docs/configuration.md "Limits for a hostile network"
    is valid as written."""
    import os
    import re
    import subprocess
    from phiguard_harness import BIN, TOP
    text = open(os.path.join(TOP, "docs", "configuration.md")).read()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "max_connections_per_ip" in b]
    cfg = tmp_path / "phiguard.yaml"
    cfg.write_text('listen: "127.0.0.1:8443"\ntls: {certificate: c.pem, key: k.pem}\n' +
                   block.replace("upstream:\n", 'upstream:\n  address: "127.0.0.1:8080"\n'))
    r = subprocess.run([BIN, "config", "check", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
