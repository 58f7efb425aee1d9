"""A TLS scan of the running proxy with Debian's testssl.sh (`testssl`).

The scan's JSON findings are judged, not its exit code (which counts
findings of every kind, including ones about the throw-away test
certificate): the protocols offered, the cipher suites offered, the
vulnerability checks, and HSTS. A failure prints the findings that broke
the rule.
"""
import json
import os
import shutil
import subprocess

import pytest

# The ids of testssl's vulnerability checks (-U), as testssl 3.0 names them.
# A finding of one of these at LOW or above is a vulnerability.
VULNERABILITY_IDS = {
    "heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS", "BREACH",
    "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "LOGJAM-common_primes", "BEAST",
    "LUCKY13", "RC4", "winshock", "GREASE",
}
# The checks that must have run, so that a scan that stopped early (or a
# testssl that renamed them) fails instead of passing on nothing.
REQUIRED_CHECKS = {"heartbleed", "CCS", "ROBOT", "CRIME_TLS", "POODLE_SSL", "FREAK", "LOGJAM", "BEAST", "LUCKY13"}
BAD_SEVERITIES = {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
# The cipher-list categories no configuration may offer (CBC suites are
# "AVERAGE" in testssl 3.0).
FORBIDDEN_CATEGORIES = ["cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                        "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"]
OLD_PROTOCOLS = ["SSLv2", "SSLv3", "TLS1", "TLS1_1"]


def scan(proxy, certs, workdir):
    """The findings of one scan, by id (a list for ids that repeat)."""
    if not shutil.which("testssl"):
        pytest.fail("testssl is not installed (scripts/install-deps.sh installs testssl.sh)")
    out = os.path.join(workdir, "testssl.json")
    # NXCONNECT points testssl's outbound checks (it has none left with
    # --nodns none, but keep it from reaching out) at a closed port.
    env = dict(os.environ, NXCONNECT="127.0.0.1:1")
    cmd = ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--fast", "--nodns", "none",
           "-p", "-s", "-f", "-S", "-h", "-U", "-E", "--add-ca", f"{certs}/ca.pem", "--jsonfile", out,
           proxy.url("/echo")]
    run = subprocess.run(cmd, env=env, capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    if not os.path.exists(out):
        pytest.fail(f"testssl wrote no findings (exit {run.returncode}):\n{run.stdout.decode()[-3000:]}"
                    f"\n{run.stderr.decode()[-3000:]}")
    with open(out) as f:
        findings = json.load(f)
    by_id = {}
    for item in findings:
        by_id.setdefault(item["id"], []).append(item)
    fatal = [f for f in findings if f["severity"] == "FATAL" or f["id"] == "scanProblem"]
    assert not fatal, "testssl could not scan:\n" + show(fatal)
    return by_id


def show(items):
    return "\n".join(f"  {i['id']} [{i['severity']}] {i['finding']}" for i in items)


def first(by_id, key):
    items = by_id.get(key)
    assert items, f"testssl reported no {key} finding; ids seen: {sorted(by_id)}"
    return items[0]


def protocols_offered(by_id):
    return {p for p in OLD_PROTOCOLS + ["TLS1_2", "TLS1_3"] if first(by_id, p)["finding"].startswith("offered")}


def ciphers(by_id):
    """(id, OpenSSL name, key exchange, encryption) per suite testssl found."""
    out = []
    for key, items in by_id.items():
        if key.startswith("cipher-tls") or key.startswith("cipher-ssl"):
            for item in items:
                cols = item["finding"].split()
                # "TLS 1.2   xc02b   ECDHE-ECDSA-AES128-GCM-SHA256   ECDH 253   AESGCM   128   TLS_..."
                out.append((key, cols[3], cols[4], cols[6], item))
    return out


def check_common(by_id):
    """What every configuration must show: no vulnerability, no weak cipher
    category, forward secrecy, HSTS."""
    missing = REQUIRED_CHECKS - set(by_id)
    assert not missing, f"vulnerability checks missing from the scan: {sorted(missing)}"
    vulnerable = [i for key in VULNERABILITY_IDS for i in by_id.get(key, []) if i["severity"] in BAD_SEVERITIES]
    assert not vulnerable, "testssl reports vulnerabilities:\n" + show(vulnerable)
    weak = [first(by_id, c) for c in FORBIDDEN_CATEGORIES if first(by_id, c)["finding"] != "not offered"]
    assert not weak, "weak cipher categories offered:\n" + show(weak)
    fs = first(by_id, "PFS")
    assert fs["finding"].startswith("offered") and fs["severity"] == "OK", "forward secrecy:\n" + show([fs])
    hsts = by_id.get("HSTS_time") or by_id.get("HSTS", [])
    assert hsts and hsts[0]["severity"] == "OK", "HSTS missing or too short:\n" + show(hsts)


def test_default_offers_tls13_only(proxy, certs, workdir):
    by_id = scan(proxy, certs, workdir)
    offered = protocols_offered(by_id)
    assert offered == {"TLS1_3"}, "protocols offered:\n" + show(
        [first(by_id, p) for p in OLD_PROTOCOLS + ["TLS1_2", "TLS1_3"]])
    suites = ciphers(by_id)
    assert suites, "testssl listed no cipher suites"
    not13 = [s[4] for s in suites if not s[0].startswith("cipher-tls1_3_")]
    assert not not13, "suites outside TLS 1.3:\n" + show(not13)
    check_common(by_id)


def test_tls12_enabled_offers_forward_secret_aead_suites_only(make_proxy, certs, workdir):
    p = make_proxy({"tls": {"min_version": "1.2"}})
    by_id = scan(p, certs, workdir)
    offered = protocols_offered(by_id)
    assert offered == {"TLS1_2", "TLS1_3"}, "protocols offered:\n" + show(
        [first(by_id, k) for k in OLD_PROTOCOLS + ["TLS1_2", "TLS1_3"]])
    suites = ciphers(by_id)
    tls12 = [s for s in suites if s[0].startswith("cipher-tls1_2_")]
    assert tls12, "TLS 1.2 is offered but testssl listed no TLS 1.2 suite"
    bad = [s[4] for s in suites if not s[0].startswith(("cipher-tls1_2_", "cipher-tls1_3_"))]
    # Forward secrecy: an ephemeral (EC)DH key exchange; AEAD: GCM or
    # ChaCha20-Poly1305.
    bad += [s[4] for s in tls12 if not s[1].startswith("ECDHE-") or s[2] != "ECDH" or s[3] not in ("AESGCM", "CHACHA20")]
    assert not bad, "suites that are not forward-secret AEAD:\n" + show(bad)
    check_common(by_id)
