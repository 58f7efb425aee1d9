"""The container image's file system (scripts/container-rootfs.sh, what the
Dockerfile's last stage holds) is enough to run phiguard: in a chroot of it,
as uid 10001, with no shell, phiguard serves TLS and answers its admin
probes. chroot needs root, as `make test` runs."""
import os
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

TOP = os.environ.get("PHIGUARD_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("PHIGUARD_BIN", os.path.join(TOP, "build", "phiguard"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rootfs(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("chroot needs root (make test runs as root)")
    dest = tmp_path / "rootfs"
    subprocess.run(["bash", os.path.join(TOP, "scripts", "container-rootfs.sh"), BIN, str(dest)],
                   check=True, timeout=60)
    return dest


def test_only_the_binary_and_its_libraries(rootfs):
    files = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*") if p.is_file())
    assert "usr/bin/phiguard" in files and "etc/passwd" in files
    others = [f for f in files if f not in ("usr/bin/phiguard", "etc/passwd", "etc/group")]
    assert others and all(".so" in os.path.basename(f) for f in others), others
    for shell in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/bash"):
        assert not (rootfs / shell).exists()


def serve_in_chroot(rootfs, extra_config=""):
    """Starts phiguard in rootfs as uid 10001 and waits for /healthz: the
    process (still running), the TLS port and the certificate."""
    conf = rootfs / "etc" / "phiguard"
    conf.mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(conf / "tls.key"), "-out", str(conf / "tls.crt")],
                   check=True, capture_output=True, timeout=30)
    os.chown(conf / "tls.key", 10001, 10001)
    os.chmod(conf / "tls.key", 0o600)
    tls_port, admin_port, up_port = free_port(), free_port(), free_port()
    (conf / "phiguard.yaml").write_text(
        f'listen: "127.0.0.1:{tls_port}"\nworkers: 1\n'
        "tls: {certificate: /etc/phiguard/tls.crt, key: /etc/phiguard/tls.key}\n"
        f'upstream: {{address: "127.0.0.1:{up_port}"}}\n'
        f'admin: {{listen: "127.0.0.1:{admin_port}"}}\n' + extra_config)
    proc = subprocess.Popen(["chroot", "--userspec=10001:10001", str(rootfs),
                             "/usr/bin/phiguard", "serve", "-c", "/etc/phiguard/phiguard.yaml"],
                            stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, tls_port, conf / "tls.crt"
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read())
            time.sleep(0.1)
    proc.terminate()
    raise AssertionError("phiguard did not become healthy in the chroot")


def test_serves_in_a_chroot_as_non_root(rootfs):
    proc, tls_port, cert = serve_in_chroot(rootfs)
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.version() == "TLSv1.3"
        with open(f"/proc/{proc.pid}/status") as f:
            uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
        # proc is chroot's pid, which exec'd phiguard in place.
        assert set(uids) == {"10001"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_plugins_are_installed_with_their_libraries_and_load(tmp_path):
    """In-tree plugins given to the script land in /usr/lib/phiguard/plugins
    with the libraries they need (here a test plugin linking libyajl), and
    phiguard loads them in the chroot."""
    if os.geteuid() != 0:
        pytest.fail("chroot needs root (make test runs as root)")
    plugin_dir = os.environ.get("PHIGUARD_TEST_PLUGIN_DIR", os.path.join(TOP, "build", "test-plugins"))
    dest = tmp_path / "rootfs"
    subprocess.run(["bash", os.path.join(TOP, "scripts", "container-rootfs.sh"), BIN, str(dest),
                    os.path.join(plugin_dir, "every_hook.so")], check=True, timeout=60)
    installed = dest / "usr" / "lib" / "phiguard" / "plugins" / "every_hook.so"
    assert installed.is_file()
    assert any("libyajl" in p.name for p in dest.rglob("*") if p.is_file())
    proc, _, _ = serve_in_chroot(dest, "plugins:\n  - path: /usr/lib/phiguard/plugins/every_hook.so\n"
                                       "    config: {greeting: hi, role: physician}\n")
    proc.terminate()
    proc.wait(timeout=30)
    assert '"msg":"plugin_loaded"' in proc.stderr.read()
