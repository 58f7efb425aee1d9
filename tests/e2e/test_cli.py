"""The command line: help, version, configuration errors."""
import os
import subprocess

from phiguard_harness import BIN, TOP


def test_help_and_version():
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "serve -c FILE" in r.stdout
    r = subprocess.run([BIN, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("phiguard ")


def test_sample_config_checks():
    r = subprocess.run([BIN, "config", "check", os.path.join(TOP, "conf", "phiguard.yaml")], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr


def test_serve_with_bad_config_names_the_place(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text('listen: "127.0.0.1:8443"\ntls:\n  certificate: c.pem\n  key: k.pem\n  colour: blue\n'
                   'upstream:\n  address: "127.0.0.1:1"\n')
    r = subprocess.run([BIN, "serve", "-c", str(bad)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert f"{bad}:5:3: tls.colour: unknown key" in r.stderr


def test_serve_with_missing_certificate_fails_clearly(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text('listen: "127.0.0.1:1"\ntls:\n  certificate: nope.pem\n  key: nope.key\n'
                   'upstream:\n  address: "127.0.0.1:1"\nadmin:\n  listen: "127.0.0.1:2"\n')
    r = subprocess.run([BIN, "serve", "-c", str(cfg)], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "nope.pem" in r.stderr


def test_phi_keyring_generate_and_rotate(tmp_path):
    ring = tmp_path / "phi.keyring"
    r = subprocess.run([BIN, "keys", "phi-generate", "--keyring", str(ring)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (ring.stat().st_mode & 0o777) == 0o600
    first = ring.read_text()
    assert "active k1\nk1 " in first
    r = subprocess.run([BIN, "keys", "phi-generate", "--keyring", str(ring)], capture_output=True, text=True)
    assert r.returncode != 0 and "exists already" in r.stderr
    for _ in range(2):
        r = subprocess.run([BIN, "keys", "phi-rotate", "--keyring", str(ring)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    text = ring.read_text()
    assert "active k3\n" in text and text.count("\nk") == 3
    assert first.splitlines()[2] in text.splitlines()  # the old key stays: it still decrypts
    assert (ring.stat().st_mode & 0o777) == 0o600
    r = subprocess.run([BIN, "keys", "phi-rotate", "--keyring", str(ring), "--id", "k2"], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "given twice" in r.stderr  # never writes a ring that cannot be read
    assert ring.read_text() == text
