"""The configuration example of docs/plugin-syslog.md runs as written (names,
port and file paths aside): phiguard starts with it and a TLS receiver that
requires the client certificate gets the records, byte-equal to Redis's."""
import json
import os
import re

from audit_env import audit_config
from conftest import backend, certs, make_proxy, workdir  # noqa: F401 (fixtures)
from redis_fixture import redis_server  # noqa: F401 (fixture)
from syslog_env import PLUGIN, assert_same_as_redis, get_many, session, tls_receiver

DOC = os.path.join(os.environ.get("PHIGUARD_SOURCE_DIR", "../.."), "docs", "plugin-syslog.md")


def doc_example():
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", open(DOC).read(), re.S) if b.startswith("# phiguard.yaml")]
    return block


def test_config_example_runs(make_proxy, workdir, redis_server, certs):
    receiver = tls_receiver(certs)
    try:
        block = doc_example()
        for old, new in [("/usr/lib/phiguard/plugins/syslog_sink.so", PLUGIN),
                         ("host: siem.example.org", "host: 127.0.0.1"),
                         ("port: 6514", f"port: {receiver.port}"),
                         ("server_name: siem.example.org", "server_name: localhost"),
                         ("/etc/phiguard/siem-ca.pem", f"{certs}/ca.pem"),
                         ("/etc/phiguard/siem-client.pem", f"{certs}/client.pem"),
                         ("/etc/phiguard/siem-client.key", f"{certs}/client.key")]:
            assert old in block, old
            block = block.replace(old, new)
        p = make_proxy(audit_config(workdir, redis_server.address), start=False)
        # The harness's settings as YAML flow mappings, then the example as written.
        with open(p.config_path, "w") as f:
            f.write("".join(f"{k}: {json.dumps(v)}\n" for k, v in p.config.items()) + block)
        p.start()
        get_many(session(certs), p, 5, "docs")
        assert_same_as_redis(receiver, redis_server)
        assert {m.hostname for m in receiver.snapshot()} == {"phiguard-0"}
        assert receiver.tls_failures == []
    finally:
        receiver.stop()
