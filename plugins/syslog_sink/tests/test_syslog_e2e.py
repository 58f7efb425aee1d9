"""The syslog audit sink through the real proxy, a real redis-server and
the sample backend: every audit record reaches a local syslog receiver
(plain TCP, and TLS with a client certificate) byte-equal to what Redis's
audit streams hold and in each chain's order; a receiver that dies and
comes back gets what was recorded meanwhile while the proxy kept serving;
a receiver that never reads costs the proxy nothing: the queue bound holds
and the drops are counted, logged and alerted once."""
import json
import re

from audit_env import audit_config
from conftest import backend, certs, make_proxy, workdir  # noqa: F401 (fixtures)
from phiguard_harness import deep_merge, free_port, wait_for
from redis_fixture import redis_server  # noqa: F401 (fixture)
from syslog_env import PLUGIN, assert_same_as_redis, get_many, session, sink_config, stored, tls_receiver
from syslog_receiver import SyslogReceiver


def check_headers(receiver):
    for m in receiver.snapshot():
        rec = json.loads(m.body)
        assert m.sd_id == "phiguard@32473"
        assert m.params == {"chain": rec["writer"], "seq": str(rec["seq"])}
        assert m.timestamp == rec["time"]
        assert m.msgid == rec["type"]
        assert (m.hostname, m.app_name) == ("gw-test", "phiguard")
        assert m.procid.isdigit()
        assert m.bom
        # authpriv (10); notice (5) for security events, info (6) for the rest
        assert m.pri == 10 * 8 + (5 if rec["action"] == "E" else 6)


def test_plain_tcp_every_record_byte_equal_and_in_order(make_proxy, workdir, redis_server, certs):
    receiver = SyslogReceiver(free_port()).start()
    try:
        # Two workers, a new connection per request: records of two chains
        # interleave in the queue; each chain's order must hold.
        p = make_proxy(deep_merge(sink_config(workdir, redis_server.address, receiver.port), {"workers": 2}))
        for i in range(30):
            get_many(session(certs), p, 1, f"plain{i}")
        assert_same_as_redis(receiver, redis_server)
        check_headers(receiver)
        assert receiver.connections == 1
    finally:
        receiver.stop()


def test_tls_with_client_certificate(make_proxy, workdir, redis_server, certs):
    # certs: a test CA made at run time with openssl (phiguard_harness.make_certs);
    # the server certificate names localhost and 127.0.0.1.
    receiver = tls_receiver(certs)
    try:
        # host by name (resolved by the sink; ::1 may come first and be refused),
        # server_name left to default to it: checked against the DNS SAN.
        tls = {"ca_file": f"{certs}/ca.pem", "cert_file": f"{certs}/client.pem", "key_file": f"{certs}/client.key"}
        p = make_proxy(sink_config(workdir, redis_server.address, receiver.port, host="localhost", tls=tls))
        get_many(session(certs), p, 20, "tls")
        assert_same_as_redis(receiver, redis_server)
        check_headers(receiver)
        assert receiver.tls_failures == []
    finally:
        receiver.stop()


def test_tls_receiver_with_the_wrong_name_gets_nothing(make_proxy, workdir, redis_server, certs):
    receiver = tls_receiver(certs, require_client_cert=False)
    try:
        tls = {"ca_file": f"{certs}/ca.pem", "server_name": "siem.example.org"}
        p = make_proxy(sink_config(workdir, redis_server.address, receiver.port, tls=tls))
        get_many(session(certs), p, 5, "wrong-name")  # the proxy serves regardless
        wait_for(lambda: any("certificate verification failed" in (x.get("message") or "")
                             for x in p.logs("plugin")), timeout=30, what="the verification failure in the log")
        assert receiver.messages == []
    finally:
        receiver.stop()


def test_receiver_down_then_back_gets_every_record_in_order(make_proxy, workdir, redis_server, certs):
    receiver = SyslogReceiver(free_port()).start()
    try:
        p = make_proxy(sink_config(workdir, redis_server.address, receiver.port))
        s = session(certs)
        get_many(s, p, 10, "before")
        assert_same_as_redis(receiver, redis_server)
        receiver.stop()
        get_many(s, p, 10, "during")  # served while the receiver is gone
        wait_for(lambda: any("cannot reach syslog receiver" in (x.get("message") or "") for x in p.logs("plugin")),
                 timeout=30, what="the outage in the log")
        receiver.start()  # the same port again
        get_many(s, p, 10, "after")
        # Everything, the records of the outage included, in order, once.
        assert_same_as_redis(receiver, redis_server)
        assert receiver.connections == 2
    finally:
        receiver.stop()


def test_receiver_that_never_reads_bounds_the_queue(make_proxy, workdir, redis_server, certs):
    receiver = SyslogReceiver(free_port(), read=False).start()
    limit = 20
    try:
        p = make_proxy(sink_config(workdir, redis_server.address, receiver.port, queue_limit={"records": limit},
                                   send_buffer_bytes=4096, flush_timeout_ms=300))
        s = session(certs)

        def overflowed():
            return any("syslog queue full" in (x.get("message") or "") for x in p.logs("plugin"))

        sent = 0
        while not overflowed():  # bounded: the socket buffers hold a few dozen records
            assert sent < 5000, "the queue never filled"
            get_many(s, p, 10, "fill")
            sent += 10
        get_many(s, p, 50, "more")  # the proxy keeps serving, the sink keeps dropping
        full = [x for x in p.logs("plugin") if "syslog queue full" in (x.get("message") or "")]
        assert len(full) == 1, "one log line per overflow episode, not per record"
        alerts = [json.loads(r) for chain in stored(redis_server).values() for r in chain]
        alerts = [a for a in alerts if a["type"] == "alert" and a["details"].get("rule") == "syslog_sink_overflow"]
        assert len(alerts) == 1
        assert p.stop() == 0
        (line,) = [x["message"] for x in p.logs("plugin") if "syslog sink stopped" in (x.get("message") or "")]
        m = re.search(r"(\d+) records sent, (\d+) dropped \(queue full\), (\d+) not sent", line)
        n_sent, n_dropped, n_left = (int(g) for g in m.groups())
        assert n_dropped > 0
        assert n_left <= limit
        # Every record was offered to the sink once: sent, dropped or left.
        total = sum(len(v) for v in stored(redis_server).values())
        assert n_sent + n_dropped + n_left == total
    finally:
        receiver.stop()


def test_bad_config_stops_start_up_with_the_reason(make_proxy, workdir, redis_server):
    p = make_proxy(deep_merge(audit_config(workdir, redis_server.address),
                              {"plugins": [{"path": PLUGIN, "config": {"port": 514}}]}), start=False)
    p.start(wait=False)
    assert p.proc.wait(timeout=30) != 0
    assert "host is required" in p.stderr()
    p.proc = None  # nothing left to stop
