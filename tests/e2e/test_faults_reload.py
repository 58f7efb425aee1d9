"""Fault injection: the certificate, the policy or the PHI keyring deleted
or corrupted before a reload, by SIGHUP or noticed by the file watch. The
running configuration keeps serving, the failure is logged with the file
and the reason and raised as an alert (log, alert:list, the audit trail),
and a good file written later is picked up without a signal."""
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess

import pytest

from audit_env import audit_config
from fault_env import wait_for
from phiguard_harness import BIN, deep_merge, make_keyring, parse_responses, raw_exchange, tls_connect
from redis_fixture import redis_server  # noqa: F401 (fixture)

POLICY = "version: 1\nroutes:\n  - {name: echo, methods: [GET], path: /echo, public: true}\n"
POLICY2 = POLICY + '  - {name: status, methods: [GET], path: "/status/{code}", public: true}\n'
BAD = {"certificate": "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
       "policy": "version: 1\nroutes:\n  - {methods: [GET], path: nope, public: true\n",
       "keyring": "keys: [this is not a keyring\n"}
FAILURE_LINE = {"certificate": "tls_reload_failed", "policy": "policy_reload_failed",
                "keyring": "phi_keyring_reload_failed"}
LOADED_LINE = {"certificate": "tls_reloaded", "policy": "policy_loaded", "keyring": "phi_keyring_loaded"}


def replace(path, text=None, source=None):
    """Swaps the file in atomically, as an operator (or Kubernetes) would."""
    tmp = path + ".new"
    if source:
        shutil.copy(source, tmp)
    else:
        with open(tmp, "w") as f:
            f.write(text)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


def status_of(p, path):
    out = raw_exchange(p.port, p.certs, f"GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
    return parse_responses(out)[0][0]


def served_cert(p):
    s = tls_connect(p.port, p.certs)
    try:
        return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
    finally:
        s.close()


def cert_digest(path):
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(path).read())).hexdigest()


@pytest.mark.parametrize("trigger", ["sighup", "watch"])
@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
@pytest.mark.parametrize("kind", ["certificate", "policy", "keyring"])
def test_bad_file_before_reload_keeps_the_running_one(make_proxy, certs, workdir, redis_server, kind, damage,
                                                      trigger):
    live = {"certificate": os.path.join(workdir, "live.pem"), "policy": os.path.join(workdir, "live-policy.yaml"),
            "keyring": make_keyring(workdir, "live.keyring")}
    shutil.copy(f"{certs}/server.pem", live["certificate"])
    shutil.copy(f"{certs}/server.key", os.path.join(workdir, "live.key"))
    replace(live["policy"], POLICY)
    cfg = deep_merge(audit_config(workdir, redis_server.address, mode="async"),
                     {"tls": {"certificate": live["certificate"], "key": os.path.join(workdir, "live.key")},
                      "policy": {"file": live["policy"]}, "phi": {"keyring_file": live["keyring"]}})
    p = make_proxy(cfg)
    before = {k: len(p.logs(v)) for k, v in LOADED_LINE.items()}
    assert status_of(p, "/echo") == 200 and status_of(p, "/status/200") == 401
    old_cert = served_cert(p)
    path = live[kind]

    if damage == "deleted":
        os.unlink(path)
    else:
        replace(path, BAD[kind])
    if trigger == "sighup":
        p.signal(signal.SIGHUP)
    failure = p.wait_log(FAILURE_LINE[kind])[-1]

    # The log names the file and says why.
    text = json.dumps([x for x in p.logs() if x["level"] == "error"])
    assert path in text, text
    reasons = {"deleted": ("No such file", "not found", "ENOENT", "no such file"),
               "corrupted": ("certificate", "expected", "PEM", "parse", "error", "invalid", "bad")}[damage]
    assert any(r in text for r in reasons), text
    assert "kept" in failure
    # Alerted: the log line, alert:list, the audit trail.
    wait_for(lambda: any(a["rule"] == "config_reload_failed" for a in p.logs("alert")), what="the alert's log line")
    alert = next(a for a in p.logs("alert") if a["rule"] == "config_reload_failed")
    assert alert["severity"] == "high" and alert["subject"] == kind
    rc = redis_server.client()
    wait_for(lambda: any(json.loads(a)["rule"] == "config_reload_failed" for a in rc.lrange("alert:list", 0, -1)),
             what="the alert in Redis")
    stored = next(json.loads(a) for a in rc.lrange("alert:list", 0, -1)
                  if json.loads(a)["rule"] == "config_reload_failed")
    assert stored["details"]["file"] == path and stored["details"]["error"]
    # The running configuration still serves.
    assert status_of(p, "/echo") == 200 and status_of(p, "/status/200") == 401
    assert served_cert(p) == old_cert
    assert p.admin("/readyz")[0] == 200
    assert len(p.logs(LOADED_LINE[kind])) == before[kind]  # nothing of the bad file was taken

    # A good file later is picked up by the file watch, no signal needed.
    if kind == "certificate":
        replace(os.path.join(workdir, "live.key"), source=f"{certs}/server2.key")
        replace(path, source=f"{certs}/server2.pem")
        wait_for(lambda: served_cert(p) == cert_digest(f"{certs}/server2.pem"), what="the new certificate")
    elif kind == "policy":
        replace(path, POLICY2)
        wait_for(lambda: status_of(p, "/status/200") == 200, what="the new policy")
    else:
        good = make_keyring(workdir, "good.keyring")
        replace(path, source=good)
        p.wait_log("phi_keyring_loaded", count=before["keyring"] + 1)
    assert status_of(p, "/echo") == 200


def test_keyring_change_during_a_reload_is_not_lost(make_proxy, workdir):
    """Two changes close together: the second, arriving while the first
    reload runs, is read too, so the file on disk is what runs."""
    ring = make_keyring(workdir, "live.keyring")
    p = make_proxy({"phi": {"keyring_file": ring}})
    for _ in range(5):
        r = subprocess.run([BIN, "keys", "rotate", "--keyring", ring], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        p.signal(signal.SIGHUP)
    active = next(line.split()[1] for line in open(ring) if line.startswith("active "))
    assert active == "k6"
    wait_for(lambda: p.logs("phi_keyring_loaded")[-1]["active"] == active, what="the last keyring")
