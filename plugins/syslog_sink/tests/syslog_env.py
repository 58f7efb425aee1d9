"""What the syslog sink's end-to-end tests share: the plugin's config
overrides, requests through the proxy, the records Redis stores, a TLS
receiver with the harness's test CA."""
import os
import ssl

import requests

from audit_env import audit_config
from phiguard_harness import deep_merge, free_port, wait_for
from syslog_receiver import SyslogReceiver

PLUGIN = os.path.abspath(os.path.join(os.environ.get("PHIGUARD_PLUGIN_DIR", "build/plugins"), "syslog_sink.so"))


def sink_config(workdir, redis_address, port, **extra):
    cfg = {"host": "127.0.0.1", "port": port, "hostname": "gw-test", "app_name": "phiguard",
           "reconnect_min_ms": 20, "reconnect_max_ms": 200}
    cfg.update(extra)
    return deep_merge(audit_config(workdir, redis_address), {"plugins": [{"path": PLUGIN, "config": cfg}]})


def session(certs):
    s = requests.Session()
    s.trust_env = False
    s.verify = f"{certs}/ca.pem"
    return s


def get_many(s, proxy, n, tag):
    for i in range(n):
        r = s.get(proxy.url(f"/bytes?n={i}&tag={tag}"), timeout=30)
        assert r.status_code == 200, r.text


def stored(redis_server):
    """Every record Redis's audit streams hold, as stored bytes, per chain."""
    c = redis_server.client()
    return {w.decode(): [f[b"r"] for _, f in c.xrange(f"audit:{w.decode()}")] for w in c.smembers("audit:writers")}


def assert_same_as_redis(receiver, redis_server):
    wait_for(lambda: receiver.by_chain() == stored(redis_server), timeout=30,
             what="every stored record at the receiver")
    assert sum(len(v) for v in stored(redis_server).values()) > 0


def tls_receiver(certs, require_client_cert=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(f"{certs}/server.pem", f"{certs}/server.key")
    if require_client_cert:
        ctx.load_verify_locations(f"{certs}/ca.pem")
        ctx.verify_mode = ssl.CERT_REQUIRED
    return SyslogReceiver(free_port(), tls=ctx).start()
