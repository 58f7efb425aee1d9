"""/metrics on the admin listener: Prometheus text that a Prometheus parser
(Debian's python3-prometheus-client) reads, with counters that match a
scripted scenario through the real proxy, real Redis and real logins."""
import ssl
import socket

from prometheus_client.parser import text_string_to_metric_families

from audit_env import audit_config
from auth_env import Client, auth_config
from phiguard_harness import deep_merge
from redis_fixture import redis_server  # noqa: F401 (fixture)


def scrape(proxy):
    status, body = proxy.admin("/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_parse_and_match_the_scenario(make_proxy, workdir, redis_server):
    cfg = deep_merge(auth_config(workdir, redis_server.address), audit_config(workdir, redis_server.address))
    p = make_proxy(cfg)
    before = scrape(p)
    c = Client(p)
    assert c.get("/fhir/Patient/1").status_code == 401          # patient-read, 4xx
    assert c.login("n.joy", "wrong password, wrong").status_code == 401
    assert c.login("n.joy").status_code == 200                    # phiguard's own endpoint: 2xx (the failure 4xx)
    for i in range(3):
        assert c.get(f"/fhir/Patient/{i}").status_code == 404     # forwarded: the sample app has none
    assert c.get("/echo").status_code == 200
    assert c.get("/nowhere").status_code == 403                    # no route: denied
    # A client that offers only TLS 1.2 to a TLS 1.3 listener fails its handshake.
    ctx = ssl.create_default_context(cafile=f"{p.certs}/ca.pem")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    try:
        ctx.wrap_socket(raw, server_hostname="localhost")
    except ssl.SSLError:
        pass
    finally:
        raw.close()
    after = scrape(p)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("phiguard_requests_total", route="patient-read", code="4xx") == 4  # one 401, three 404
    assert delta("phiguard_requests_total", route="echo", code="2xx") == 1
    assert delta("phiguard_requests_total", route="phiguard-auth", code="2xx") == 1
    assert delta("phiguard_requests_total", route="phiguard-auth", code="4xx") == 1
    assert delta("phiguard_requests_total", route="none", code="4xx") == 1
    assert delta("phiguard_logins_total", outcome="success") == 1
    assert delta("phiguard_logins_total", outcome="failure") == 1
    assert delta("phiguard_tls_handshakes_total", result="failed") >= 1
    assert delta("phiguard_tls_handshakes_total", result="ok") >= 1
    total = sum(v for (n, _), v in after.items() if n == "phiguard_requests_total")
    assert value(after, "phiguard_request_overhead_seconds_count") == total
    forwarded = value(after, "phiguard_upstream_seconds_count")
    assert forwarded == 4  # the three 404s and /echo went upstream
    assert value(after, "phiguard_upstream_seconds_bucket", le="+Inf") == forwarded
    assert value(after, "phiguard_redis_up", worker="0") == 1
    # Sessions, lockout and the audit trail all went through Redis.
    assert value(after, "phiguard_redis_command_seconds_count") > value(before, "phiguard_redis_command_seconds_count")
    assert value(after, "phiguard_audit_records_total", worker="0") >= total
    assert value(after, "phiguard_audit_spool_depth", worker="0") >= 0
    assert value(after, "phiguard_build_info", version=next(
        dict(lbl)["version"] for (n, lbl) in after if n == "phiguard_build_info")) == 1
