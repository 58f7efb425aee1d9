"""phiguard keys rewrap: after a rotation, every envelope of an export is
re-encrypted under the new active key, same mode, same field, and opens to
the same value with a keyring that no longer holds the old key.

The envelopes are made here, in Python, with an independent implementation
of the format (docs/phi.md: HKDF-SHA256 labels, AES-256-GCM and AES-256-SIV
from python3-cryptography), so the test also checks that phiguard reads and
writes the documented format, not merely its own output."""
import base64
import json
import os
import re
import subprocess

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phiguard_harness import BIN, TOP

POLICY = os.path.join(TOP, "conf", "policy.yaml")
ENV_RE = re.compile(r"^phi:v1:([A-Za-z0-9_-]+):([rd]):([A-Za-z0-9_-]+)$")


# ---- the envelope, as docs/phi.md describes it ----

def hkdf(key, info, n):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=None, info=info).derive(key)


def keyring_secrets(path):
    keys, active = {}, None
    for line in open(path).read().splitlines():
        if not line or line.startswith("#"):
            continue
        a, b = line.split()
        if a == "active":
            active = b
        else:
            keys[a] = base64.b64decode(b)
    return keys, active


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def seal(secret, kid, mode, field, value):
    """value: a str, int/float or bool, sealed with its JSON type."""
    if isinstance(value, bool):
        plain = b"b" + (b"true" if value else b"false")
    elif isinstance(value, (int, float)):
        plain = b"n" + str(value).encode()
    else:
        plain = b"s" + value.encode()
    aad = f"v1|{kid}|{mode}|{field}".encode()
    if mode == "r":
        nonce = os.urandom(12)
        blob = nonce + AESGCM(hkdf(secret, b"phiguard envelope v1 gcm", 32)).encrypt(nonce, plain, aad)
    else:
        root = hkdf(secret, b"phiguard envelope v1 siv", 64)
        out = AESSIV(hkdf(root, b"phiguard envelope v1 field|" + field.encode(), 64)).encrypt(plain, [aad])
        blob = out[16:] + out[:16]  # the envelope keeps ciphertext, then the SIV tag
    return f"phi:v1:{kid}:{mode}:{b64url(blob)}"


def open_envelope(keys, field, env):
    """(JSON type byte, value text) with keys {kid: secret}; raises when it does not open."""
    kid, mode, payload = ENV_RE.match(env).groups()
    secret = keys[kid]
    blob = unb64url(payload)
    aad = f"v1|{kid}|{mode}|{field}".encode()
    if mode == "r":
        plain = AESGCM(hkdf(secret, b"phiguard envelope v1 gcm", 32)).decrypt(blob[:12], blob[12:], aad)
    else:
        root = hkdf(secret, b"phiguard envelope v1 siv", 64)
        key = hkdf(root, b"phiguard envelope v1 field|" + field.encode(), 64)
        plain = AESSIV(key).decrypt(blob[-16:] + blob[:-16], [aad])
    return chr(plain[0]), plain[1:].decode()


# ---- an export to rewrap ----

# (logical field, mode, value): fields of conf/policy.yaml, both directions.
VALUES = [
    ("Patient.identifier.value", "d", "123456789"),
    ("Patient.name.family", "r", "Chalmers"),
    ("Patient.name.given", "r", "Peter"),
    ("Patient.birthDate", "r", "1974-12-25"),
    ("Patient.telecom.value", "r", 5555647),
    ("Patient.address.city", "r", "PleasantVille"),
    ("Observation.valueString", "r", "feels better"),
    ("Observation.note.text", "r", True),
]


def envelopes(doc):
    """Every envelope string in a parsed document, in order."""
    if isinstance(doc, dict):
        for v in doc.values():
            yield from envelopes(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from envelopes(v)
    elif isinstance(doc, str) and doc.startswith("phi:v1:"):
        yield doc


def export(secret, kid, n=3):
    """NDJSON: Patients whose PHI fields hold envelopes, one of them in a
    place no selector names (an extension): rewrap finds envelopes anywhere."""
    lines, fields = [], []
    for i in range(n):
        e = {f: seal(secret, kid, m, f, v) for f, m, v in VALUES}
        doc = {
            "resourceType": "Patient", "id": f"p{i}", "active": True, "meta": {"versionId": str(i)},
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": e["Patient.identifier.value"]}],
            "name": [{"family": e["Patient.name.family"], "given": [e["Patient.name.given"], "plain"]}],
            "birthDate": e["Patient.birthDate"],
            "telecom": [{"system": "phone", "value": e["Patient.telecom.value"]}],
            "address": [{"city": e["Patient.address.city"], "state": "Vic"}],
            "extension": [{"url": "x", "valueString": e["Observation.valueString"],
                           "nested": [[{"deep": e["Observation.note.text"]}]]}],
            "count": 0,
        }
        lines.append(json.dumps(doc).replace('"count": 0', '"count": 1.50e0'))  # a number's text, kept
        fields.extend([f for f, _, _ in VALUES])
    return "\n".join(lines) + "\n", fields


def keys_cmd(*args, **kw):
    return subprocess.run([BIN, "keys", *args], capture_output=True, text=True, timeout=60, **kw)


def same_but_envelopes(a, b):
    """Equal documents once every envelope is replaced by a placeholder."""
    def blank(d):
        if isinstance(d, dict):
            return {k: blank(v) for k, v in d.items()}
        if isinstance(d, list):
            return [blank(v) for v in d]
        return "ENV" if isinstance(d, str) and d.startswith("phi:v1:") else d
    return blank(a) == blank(b)


def test_rewrap_after_rotation(tmp_path):
    ring = tmp_path / "phi.keyring"
    assert keys_cmd("generate", "--keyring", str(ring)).returncode == 0
    keys, active = keyring_secrets(ring)
    assert active == "k1"
    text, fields = export(keys["k1"], "k1")
    (tmp_path / "export.ndjson").write_text(text)

    r = keys_cmd("rotate", "--keyring", str(ring))
    assert r.returncode == 0, r.stderr
    keys, active = keyring_secrets(ring)
    assert active == "k2"

    out = tmp_path / "rewrapped.ndjson"
    r = keys_cmd("rewrap", "--keyring", str(ring), "--policy", POLICY, "-i", str(tmp_path / "export.ndjson"),
                 "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert f"rewrapped {len(fields)} envelopes under k2 (0 already under it)" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["export.ndjson", "phi.keyring", "rewrapped.ndjson"]

    before = [json.loads(l) for l in text.splitlines()]
    after = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(after) == len(before)
    new_only = {"k2": keys["k2"]}  # a keyring without the old key
    n = 0
    for b, a in zip(before, after):
        assert same_but_envelopes(a, b)
        for old, new, field in zip(envelopes(b), envelopes(a), fields[n:]):
            okid, omode, _ = ENV_RE.match(old).groups()
            nkid, nmode, _ = ENV_RE.match(new).groups()
            assert (okid, nkid, nmode) == ("k1", "k2", omode)
            assert open_envelope(new_only, field, new) == open_envelope({"k1": keys["k1"]}, field, old)
            if nmode == "d":  # deterministic: what a fresh seal under k2 gives, so searches match
                assert new == seal(keys["k2"], "k2", "d", field, open_envelope(new_only, field, new)[1])
            n += 1
    assert n == len(fields)
    assert '"count":1.50e0' in out.read_text()

    # phiguard itself opens the result with only k2: rotate a k2-only ring
    # and rewrap again, through stdin and stdout.
    ring2 = tmp_path / "k2-only.keyring"
    ring2.write_text(f"active k2\nk2 {base64.b64encode(keys['k2']).decode()}\n")
    ring2.chmod(0o600)
    assert keys_cmd("rotate", "--keyring", str(ring2)).returncode == 0
    keys2, active2 = keyring_secrets(ring2)
    r = keys_cmd("rewrap", "--keyring", str(ring2), "--policy", POLICY, input=out.read_text())
    assert r.returncode == 0, r.stderr
    assert active2 in r.stderr and f"rewrapped {len(fields)} envelopes" in r.stderr
    again = [json.loads(l) for l in r.stdout.splitlines()]
    m = 0
    for a, c in zip(after, again):
        for new, newer, field in zip(envelopes(a), envelopes(c), fields[m:]):
            assert ENV_RE.match(newer).group(1) == active2
            assert open_envelope(keys2, field, newer) == open_envelope(new_only, field, new)
            m += 1
    assert m == len(fields)

    # Already under the active key: left as they are.
    r = keys_cmd("rewrap", "--keyring", str(ring), "--policy", POLICY, "-i", str(out))
    assert r.returncode == 0, r.stderr
    assert f"rewrapped 0 envelopes under k2 ({len(fields)} already under it)" in r.stderr
    assert r.stdout == out.read_text()


def test_rewrap_refuses_what_does_not_open(tmp_path):
    ring = tmp_path / "phi.keyring"
    assert keys_cmd("generate", "--keyring", str(ring)).returncode == 0
    keys, _ = keyring_secrets(ring)
    assert keys_cmd("rotate", "--keyring", str(ring)).returncode == 0
    good = seal(keys["k1"], "k1", "r", "Patient.name.family", "Doe")
    unknown_field = seal(keys["k1"], "k1", "r", "Patient.secret.thing", "Zebulon")
    foreign = seal(os.urandom(32), "k9", "d", "Patient.identifier.value", "Xanthippe")
    body = json.dumps({"a": good, "b": [unknown_field, {"c": foreign}]}) + "\n"
    (tmp_path / "in.json").write_text(body)
    out = tmp_path / "out.json"
    r = keys_cmd("rewrap", "--keyring", str(ring), "--policy", POLICY, "-i", str(tmp_path / "in.json"),
                 "-o", str(out))
    assert r.returncode == 1
    offset = body.index(unknown_field) + len(unknown_field) + 1  # the string's closing quote
    assert f"2 envelopes open under no PHI field" in r.stderr
    assert f"the first ends at byte {offset}" in r.stderr
    for secret in ("Zebulon", "Xanthippe", "Doe", unknown_field, foreign):
        assert secret not in r.stderr
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["in.json", "phi.keyring"]  # no temporary file left

    # Invalid JSON: refused with an offset, never the value.
    (tmp_path / "bad.json").write_text('{"a": "Zebulon" "b"}')
    r = keys_cmd("rewrap", "--keyring", str(ring), "--policy", POLICY, "-i", str(tmp_path / "bad.json"),
                 "-o", str(out))
    assert r.returncode == 1
    assert "invalid JSON" in r.stderr and "at byte" in r.stderr and "Zebulon" not in r.stderr
    assert not out.exists()

    # Usage errors.
    assert keys_cmd("rewrap", "--keyring", str(ring)).returncode == 2  # no policy
    assert keys_cmd("rewrap", "--keyring", str(ring), "--policy", POLICY, "--id", "k5").returncode == 2


def test_old_command_names_still_work(tmp_path):
    ring = tmp_path / "phi.keyring"
    r = keys_cmd("phi-generate", "--keyring", str(ring))
    assert r.returncode == 0, r.stderr
    r = keys_cmd("phi-rotate", "--keyring", str(ring))
    assert r.returncode == 0 and "added k2 and made it active (2 keys)" in r.stdout
