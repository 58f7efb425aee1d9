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
