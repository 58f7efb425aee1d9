"""oidc_auth through the real proxy: tokens minted by a test IdP (Debian's
python3-jwt), a JWKS file written by the test, a real backend that shows
what phiguard forwarded, and RBAC following the mapped roles."""
import json
import os
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))
from conftest import backend, certs, make_proxy, workdir  # noqa: F401,E402  (tests/e2e fixtures)
from idp import IdP, hs256, tamper, unsigned  # noqa: E402
from phiguard_harness import BIN, Proxy  # noqa: E402

PLUGIN = os.path.join(os.environ.get("PHIGUARD_PLUGIN_DIR", ""), "oidc_auth.so")

POLICY = """version: 1
routes:
  - {name: health, methods: [GET], path: /healthz, public: true}
  - {name: observation-read, methods: [GET], path: "/fhir/Observation/{id}", permissions: [observation:read],
     entity: Observation}
  - {name: patient-read, methods: [GET], path: "/fhir/Patient/{id}", permissions: [patient:read], entity: Patient}
"""

ROLE_MAP = {"ehr-physicians": "physician", "ehr-billing": "billing", "ehr-nurses": ["nurse"]}


def plugin_config(jwks, **over):
    cfg = {"issuer": IdP().issuer, "audience": "phiguard", "jwks_file": jwks, "leeway_s": 30,
           "roles_claim": "realm_access.roles", "role_map": ROLE_MAP, "reload_interval_ms": 200}
    cfg.update(over)
    return cfg


def write_policy(workdir):
    path = os.path.join(workdir, "policy.yaml")
    with open(path, "w") as f:
        f.write(POLICY)
    return path


@pytest.fixture
def idp():
    i = IdP()
    i.add_rsa("rs-1")
    i.add_ec("ec-1")
    i.add_rsa("rs-2")
    i.add_rsa("stranger")
    return i


@pytest.fixture
def jwks(idp, workdir):
    path = os.path.join(workdir, "idp-jwks.json")
    idp.write_jwks(path, ["rs-1", "ec-1"])
    return path


@pytest.fixture
def oidc(make_proxy, workdir, jwks):
    return make_proxy({"policy": {"file": write_policy(workdir)},
                       "plugins": [{"path": PLUGIN, "config": plugin_config(jwks)}]})


def get(proxy, certs, path, token=None, scheme="Bearer"):
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    return requests.get(proxy.url(path), headers=headers, verify=f"{certs}/ca.pem", timeout=10)


def allowed(r):
    """phiguard let the request through: the backend answered (a 404 of its
    own included), not phiguard's 401, 403 or 500."""
    return r.status_code not in (401, 403) and r.status_code < 500


def seen_by(backend):
    """What reached the backend, without the harness's own /_log reads."""
    return [x for x in backend.requests_seen() if not x["path"].startswith("/_log")]


def forwarded(backend):
    seen = seen_by(backend)
    assert len(seen) == 1, seen
    return {k.lower(): v for k, v in seen[0]["headers"]}


def test_rs256_and_es256_tokens_carry_the_mapped_roles(oidc, idp, backend, certs):
    backend.clear()
    t = idp.token("rs-1", groups=["ehr-physicians", "offline_access"], preferred_username="dr.house")
    r = get(oidc, certs, "/fhir/Observation/1", t)
    assert allowed(r), (r.status_code, r.text)
    sent = forwarded(backend)
    assert sent["x-auth-roles"] == "physician"  # offline_access is not in role_map: not a role
    assert sent["x-auth-user"] == "dr.house"
    assert sent["x-auth-user-id"] == f"{idp.issuer}|248289761001"
    assert sent["x-auth-method"] == "oidc"
    assert "authorization" not in sent  # the IdP's token stays with phiguard

    # ES256, and RBAC follows the mapped role: billing reads patients, not observations.
    backend.clear()
    t = idp.token("ec-1", sub="billing-7", groups=["ehr-billing"], email="b7@clinic.test")
    assert get(oidc, certs, "/fhir/Observation/1", t).status_code == 403
    assert seen_by(backend) == []
    r = get(oidc, certs, "/fhir/Patient/1", t)
    assert allowed(r), (r.status_code, r.text)
    sent = forwarded(backend)
    assert sent["x-auth-roles"] == "billing"
    assert sent["x-auth-user"] == "b7@clinic.test"

    # A large token (an IdP that lists every group, as Entra ID may): over
    # 4 KiB, far beyond a session token, still read whole.
    backend.clear()
    big = idp.token("rs-1", groups=["ehr-physicians"] + [f"group-{i:04d}-of-a-large-directory" for i in range(120)])
    assert len(big) > 4096
    assert allowed(get(oidc, certs, "/fhir/Observation/1", big))
    assert forwarded(backend)["x-auth-roles"] == "physician"

    # Expired 5 s ago, inside the 30 s leeway: phiguard's own check of the
    # identity's expires_at agrees with the plugin's.
    assert allowed(get(oidc, certs, "/fhir/Patient/1", idp.token("rs-1", groups=["ehr-physicians"], lifetime=-5)))

    # A user whose groups map to nothing holds no permission.
    backend.clear()
    assert get(oidc, certs, "/fhir/Patient/1", idp.token("rs-1", groups=["ehr-visitors"])).status_code == 403
    assert seen_by(backend) == []


def test_invalid_tokens_are_refused(oidc, idp, backend, certs):
    now = int(time.time())
    pem = idp.public_pem("rs-1")
    good = idp.token("rs-1", groups=["ehr-physicians"])
    cases = {
        "expired": idp.token("rs-1", groups=["ehr-physicians"], lifetime=-120),
        "wrong audience": idp.token("rs-1", idp.claims(groups=["ehr-physicians"], aud="other-app")),
        "wrong issuer": idp.token("rs-1", idp.claims(groups=["ehr-physicians"], iss="https://evil.test")),
        "wrong key": idp.token("rs-1", key_of="stranger", groups=["ehr-physicians"]),
        "unknown kid": idp.token("stranger", groups=["ehr-physicians"]),
        "alg none": unsigned({"alg": "none", "kid": "rs-1"}, idp.claims(groups=["ehr-physicians"])),
        "alg none, signed": unsigned({"alg": "none", "kid": "rs-1"}, idp.claims(groups=["ehr-physicians"]), "AAAA"),
        "HS256 with the public key": hs256({"alg": "HS256", "kid": "rs-1"}, idp.claims(groups=["ehr-physicians"]),
                                           pem),
        "RS256 under the EC key": idp.token("ec-1", key_of="rs-1", groups=["ehr-physicians"]),
        "tampered payload": tamper(good, sub="someone-else"),
        "not yet valid": idp.token("rs-1", idp.claims(groups=["ehr-physicians"], nbf=now + 600)),
    }
    backend.clear()
    for name, token in cases.items():
        r = get(oidc, certs, "/fhir/Patient/1", token)
        assert r.status_code == 401, (name, r.status_code, r.text)
    assert seen_by(backend) == []
    # The reasons are logged; no token, or any part of one, ever is.
    refused = [x["message"] for x in oidc.logs("plugin") if "token refused" in x.get("message", "")]
    assert any("expired" in m for m in refused)
    assert any("aud does not name" in m for m in refused)
    assert any("alg none is not allowed" in m for m in refused)
    assert any("alg HS256 is not allowed" in m for m in refused)
    assert any("does not match key ec-1" in m for m in refused)
    assert any("signature does not verify" in m for m in refused)
    log = oidc.stderr()
    for token in cases.values():
        for part in token.split("."):
            assert len(part) < 20 or part not in log
    # and the good one still passes
    assert allowed(get(oidc, certs, "/fhir/Patient/1", good))


def wait_until(predicate, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_key_rotation_and_a_broken_jwks(oidc, idp, backend, certs, jwks):
    old = idp.token("rs-1", groups=["ehr-physicians"])
    new = idp.token("rs-2", groups=["ehr-physicians"])
    assert allowed(get(oidc, certs, "/fhir/Patient/1", old))
    assert get(oidc, certs, "/fhir/Patient/1", new).status_code == 401

    idp.write_jwks(jwks, ["rs-2", "ec-1"])  # rs-1 retired, rs-2 published
    assert wait_until(lambda: allowed(get(oidc, certs, "/fhir/Patient/1", new)))
    assert get(oidc, certs, "/fhir/Patient/1", old).status_code == 401
    assert any("reloaded: 2 keys" in x["message"] for x in oidc.logs("plugin"))

    # A write that leaves the file broken keeps the keys in use, and says so.
    with open(jwks, "w") as f:
        f.write('{"keys": [{"kty": "RSA", "kid": "rs-3"')
    assert wait_until(lambda: any("JWKS refused" in x["message"] for x in oidc.logs("plugin")))
    assert wait_until(lambda: any(a.get("rule") == "oidc_jwks_refused" for a in oidc.logs("alert")))
    assert allowed(get(oidc, certs, "/fhir/Patient/1", new))
    assert get(oidc, certs, "/fhir/Patient/1", old).status_code == 401


def test_forward_token_passes_the_token_on(make_proxy, workdir, jwks, idp, backend, certs):
    p = make_proxy({"policy": {"file": write_policy(workdir)},
                    "plugins": [{"path": PLUGIN, "config": plugin_config(jwks, forward_token=True)}]})
    backend.clear()
    t = idp.token("rs-1", groups=["ehr-physicians"])
    assert allowed(get(p, certs, "/fhir/Patient/1", t))
    assert forwarded(backend)["authorization"] == f"Bearer {t}"


def test_phiguard_still_serves_other_requests(oidc, backend, certs):
    # No token: the plugin declines; the route needs a permission: 401 from phiguard itself.
    assert get(oidc, certs, "/fhir/Patient/1").status_code == 401
    assert get(oidc, certs, "/fhir/Patient/1", "dXNlcjpwYXNz", scheme="Basic").status_code == 401
    assert allowed(get(oidc, certs, "/healthz"))


def start_failing(workdir, certs, backend, config, name):
    p = Proxy(workdir, certs, backend.address, {"policy": {"file": write_policy(workdir)},
                                                 "plugins": [{"path": PLUGIN, "config": config}]}, name)
    p.start(wait=False)
    try:
        p.proc.wait(timeout=20)
    finally:
        p.stop()
    assert p.proc.returncode != 0
    return p.stderr()


def test_a_bad_config_or_jwks_stops_start_up(workdir, certs, backend, jwks):
    err = start_failing(workdir, certs, backend, plugin_config(jwks, leeway=5), "bad-key")
    assert 'key \\"leeway\\" is not known' in err or 'key "leeway" is not known' in err
    err = start_failing(workdir, certs, backend, plugin_config(os.path.join(workdir, "missing.json")), "no-jwks")
    assert "cannot open" in err and "missing.json" in err
    broken = os.path.join(workdir, "broken.json")
    with open(broken, "w") as f:
        json.dump({"keys": [{"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"}]}, f)
    err = start_failing(workdir, certs, backend, plugin_config(broken), "short-key")
    assert "at least 2048" in err


def yaml_block(doc, first_line):
    import re
    text = open(doc).read()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith(first_line)]
    return block


def test_the_docs_example_works(make_proxy, workdir, idp, backend, certs):
    """docs/plugin-oidc.md's configuration, as written, in a running proxy."""
    doc = os.path.join(os.environ.get("PHIGUARD_SOURCE_DIR", ""), "docs", "plugin-oidc.md")
    block = yaml_block(doc, "# phiguard.yaml")
    jwks_path = os.path.join(workdir, "idp-jwks.json")
    block = block.replace("/usr/lib/phiguard/plugins/oidc_auth.so", PLUGIN)
    block = block.replace("/var/lib/phiguard/idp-jwks.json", jwks_path)
    docs_idp = IdP(issuer="https://login.clinic.example/realms/staff", audience="phiguard-ehr")
    docs_idp.add_rsa("2024-rs")
    docs_idp.write_jwks(jwks_path, ["2024-rs"])
    p = make_proxy({"policy": {"file": write_policy(workdir)}}, start=False, name="docs")
    # The harness's config is JSON; each top-level key becomes one YAML
    # line (JSON is YAML), and the example's block follows as written.
    with open(p.config_path, "w") as f:
        for k, v in p.config.items():
            f.write(f"{k}: {json.dumps(v)}\n")
        f.write(block)
    p.start()
    backend.clear()
    t = docs_idp.token("2024-rs", docs_idp.claims(sub="f1c2", groups=["ehr-physicians"], email_verified=True,
                                                  preferred_username="dr.grey"))
    r = get(p, certs, "/fhir/Observation/1", t)
    assert allowed(r), (r.status_code, r.text)
    sent = forwarded(backend)
    assert sent["x-auth-roles"] == "physician"
    assert sent["x-auth-user"] == "dr.grey"
    # required_claims in the example: an unverified e-mail is refused
    t = docs_idp.token("2024-rs", docs_idp.claims(groups=["ehr-physicians"], email_verified=False))
    assert get(p, certs, "/fhir/Observation/1", t).status_code == 401
