"""The configuration, policy and users examples of docs/authentication.md,
docs/audit.md and docs/phi.md are valid as written: each is checked by
phiguard's own checkers."""
import os
import re
import subprocess

BIN = os.environ.get("PHIGUARD_BIN", "build/phiguard")
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = os.path.join(TOP, "docs", "authentication.md")


def yaml_blocks(first_line, doc=DOC):
    text = open(doc).read()
    return [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith(first_line)]


def test_config_example_checks(tmp_path):
    (block,) = yaml_blocks("# phiguard.yaml")
    cfg = tmp_path / "phiguard.yaml"
    cfg.write_text('listen: "127.0.0.1:8443"\ntls: {certificate: c.pem, key: k.pem}\n'
                   'upstream: {address: "127.0.0.1:8080"}\n' + block)
    r = subprocess.run([BIN, "config", "check", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_policy_example_checks(tmp_path):
    (block,) = yaml_blocks("# policy.yaml")
    pol = tmp_path / "policy.yaml"
    pol.write_text("version: 1\nroutes:\n  - {name: auth, methods: \"*\", path: /auth/**, public: true}\n" + block)
    r = subprocess.run([BIN, "policy", "check", str(pol)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_users_example_checks(tmp_path):
    (block,) = yaml_blocks("users:")
    real_hash = open(os.path.join(TOP, "conf", "users.yaml")).read().split('password: "')[1].split('"')[0]
    users = tmp_path / "users.yaml"
    users.write_text(block.replace("$argon2id$v=19$m=65536,t=3,p=1$...$...", real_hash))
    r = subprocess.run([BIN, "user", "check", str(users)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_audit_config_example_checks(tmp_path):
    (block,) = yaml_blocks("# phiguard.yaml", os.path.join(TOP, "docs", "audit.md"))
    cfg = tmp_path / "phiguard.yaml"
    cfg.write_text('listen: "127.0.0.1:8443"\ntls: {certificate: c.pem, key: k.pem}\n'
                   'upstream: {address: "127.0.0.1:8080"}\n' + block)
    r = subprocess.run([BIN, "config", "check", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def fenced_blocks(doc):
    """Every fenced block's text, whatever its language tag; a block inside
    a list item (its fence indented) comes without that indentation."""
    out = []
    for indent, body in re.findall(r"^( *)```[a-z]*\n(.*?)^\1```", open(doc).read(), re.S | re.M):
        out.append("".join(line[len(indent):] if line.startswith(indent) else line
                           for line in body.splitlines(keepends=True)))
    return out


PHI_DOC = os.path.join(TOP, "docs", "phi.md")


def test_phi_config_and_policy_examples_check(tmp_path):
    (cfg_block,) = [b for b in fenced_blocks(PHI_DOC) if b.startswith("# phiguard.yaml")]
    (pol_block,) = [b for b in fenced_blocks(PHI_DOC) if b.startswith("# policy.yaml")]
    ring = tmp_path / "phi.keyring"
    r = subprocess.run([BIN, "keys", "generate", "--keyring", str(ring)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    cfg = tmp_path / "phiguard.yaml"
    cfg.write_text('listen: "127.0.0.1:8443"\ntls: {certificate: c.pem, key: k.pem}\n'
                   'upstream: {address: "127.0.0.1:8080"}\n' + cfg_block.replace("/etc/phiguard/phi.keyring", str(ring)))
    r = subprocess.run([BIN, "config", "check", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    pol = tmp_path / "policy.yaml"
    pol.write_text("version: 1\n" + pol_block)
    r = subprocess.run([BIN, "policy", "check", str(pol)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_phi_keyring_example_parses(tmp_path):
    (block,) = [b for b in fenced_blocks(PHI_DOC) if b.startswith("# phiguard PHI keyring")]
    ring = tmp_path / "phi.keyring"
    ring.write_text(block)
    ring.chmod(0o600)
    r = subprocess.run([BIN, "keys", "rotate", "--keyring", str(ring)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr  # rotate reads and checks the keyring first
    assert "added k3 and made it active (3 keys)" in r.stdout


def test_phi_key_commands_exist():
    """Every `phiguard keys ...` command docs/phi.md shows is one phiguard
    knows: its usage names it (an unknown one falls to the audit keys')."""
    text = open(os.path.join(TOP, "docs", "phi.md")).read()
    subs = set(re.findall(r"^\$ phiguard keys ([a-z-]+)", text, re.M))
    assert {"generate", "rotate", "rewrap"} <= subs
    for sub in subs:
        r = subprocess.run([BIN, "keys", sub], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and f"phiguard keys {sub} " in r.stderr, (sub, r.stderr)


def test_audit_tracking_policy_example_checks(tmp_path):
    (block,) = yaml_blocks("# policy.yaml", os.path.join(TOP, "docs", "audit.md"))
    pol = tmp_path / "policy.yaml"
    pol.write_text("version: 1\n" + block)
    r = subprocess.run([BIN, "policy", "check", str(pol)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_monitoring_config_examples_check(tmp_path):
    blocks = yaml_blocks("# phiguard.yaml", os.path.join(TOP, "docs", "monitoring.md"))
    assert len(blocks) == 2  # alerts, detection
    for block in blocks:
        cfg = tmp_path / "phiguard.yaml"
        cfg.write_text('listen: "127.0.0.1:8443"\ntls: {certificate: c.pem, key: k.pem}\n'
                       'upstream: {address: "127.0.0.1:8080"}\n' + block)
        r = subprocess.run([BIN, "config", "check", str(cfg)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr


POLICY_DOC = os.path.join(TOP, "docs", "policy.md")


def test_rate_limit_policy_example_checks(tmp_path):
    (block,) = yaml_blocks("# policy.yaml: rate limits", POLICY_DOC)
    pol = tmp_path / "policy.yaml"
    pol.write_text("version: 1\nroutes:\n  - {name: export, methods: [GET], path: /export, permissions: [export:bulk]}\n"
                   "permissions: [export:bulk]\n" + block)
    r = subprocess.run([BIN, "policy", "check", str(pol)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_rate_limit_answer_example_matches_the_headers_phiguard_sends():
    """The 429 in docs/policy.md has the header shapes test_ratelimit.py
    checks on real answers."""
    (block,) = [b for b in fenced_blocks(POLICY_DOC) if b.startswith("HTTP/1.1 429")]
    h = dict(line.split(": ", 1) for line in block.splitlines()[1:] if ": " in line)
    retry = h["Retry-After"]
    assert re.fullmatch(r"[1-9][0-9]*", retry)
    assert re.fullmatch(r'"exports";q=10;w=3600;phiguard-burst=2', h["RateLimit-Policy"])
    assert h["RateLimit"] == f'"exports";r=0;t={retry}'
