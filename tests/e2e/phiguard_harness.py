"""Helpers for end-to-end tests: real phiguard, real backend, real TLS.

Everything listens on 127.0.0.1 ports chosen at run time, lives in a temp
directory, and is stopped by the fixtures in conftest.py.
"""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

BIN = os.environ.get("PHIGUARD_BIN", "")
TOP = os.environ.get("PHIGUARD_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
PY = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=10, what="condition"):
    """Polls cond every 50 ms until it holds; fails after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1/localhost, a second server
    certificate (for reload tests), a client certificate from the CA, and a
    client certificate from another CA."""
    def key(name):
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{d}/{name}.key"])

    def ca(name):
        key(name)
        run(["openssl", "req", "-x509", "-new", "-key", f"{d}/{name}.key", "-subj", f"/CN={name}", "-days", "2",
             "-out", f"{d}/{name}.pem"])

    def leaf(name, signer, cn, ext):
        key(name)
        run(["openssl", "req", "-new", "-key", f"{d}/{name}.key", "-subj", f"/CN={cn}", "-out", f"{d}/{name}.csr"])
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        run(["openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{signer}.pem", "-CAkey",
             f"{d}/{signer}.key", "-CAcreateserial", "-days", "2", "-extfile", f"{d}/{name}.ext",
             "-out", f"{d}/{name}.pem"])

    ca("ca")
    ca("otherca")
    san = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    leaf("server", "ca", "phiguard-test-1", san)
    leaf("server2", "ca", "phiguard-test-2", san)
    leaf("client", "ca", "clinic-client", "extendedKeyUsage=clientAuth\n")
    leaf("rogue", "otherca", "rogue-client", "extendedKeyUsage=clientAuth\n")
    return d


def make_keyring(d, name="phi.keyring"):
    """A new PHI keyring made by phiguard's own command (mode 0600)."""
    path = os.path.join(d, name)
    run([BIN, "keys", "generate", "--keyring", path])
    return path


class Backend:
    def __init__(self, workdir):
        self.port_file = os.path.join(workdir, "backend.port")
        self.log_path = os.path.join(workdir, "backend.log")
        self.proc = subprocess.Popen(
            [PY, os.path.join(TOP, "scripts", "sample_backend.py"), "--listen", "127.0.0.1:0",
             "--port-file", self.port_file],
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))
        deadline = time.time() + 10
        while not os.path.exists(self.port_file):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("backend did not start")
            time.sleep(0.02)
        self.port = int(open(self.port_file).read())
        self.address = f"127.0.0.1:{self.port}"

    def get(self, path):
        with urllib.request.urlopen(f"http://{self.address}{path}", timeout=10) as r:
            return json.loads(r.read())

    def requests_seen(self):
        return self.get("/_log")

    def clear(self):
        self.get("/_log?clear=1")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def deep_merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Proxy:
    """phiguard serve with a generated configuration (YAML written as JSON,
    which YAML accepts)."""

    def __init__(self, workdir, certs, upstream, overrides=None, name="phiguard"):
        self.workdir = workdir
        self.certs = certs
        self.port = free_port()
        self.admin_port = free_port()
        cfg = {
            "listen": f"127.0.0.1:{self.port}",
            "workers": 1,
            "tls": {"certificate": f"{certs}/server.pem", "key": f"{certs}/server.key"},
            "upstream": {"address": upstream},
            "admin": {"listen": f"127.0.0.1:{self.admin_port}"},
            "log": {"level": "debug", "access": True},
        }
        self.config = deep_merge(cfg, overrides or {})
        self.config_path = os.path.join(workdir, f"{name}.yaml")
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=2)
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.proc = None

    def start(self, wait=True):
        self.proc = subprocess.Popen([BIN, "serve", "-c", self.config_path], stdout=subprocess.DEVNULL,
                                     stderr=open(self.log_path, "w"))
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"phiguard exited {self.proc.returncode}: {self.stderr()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        self.wait_redis_if_reachable(deadline)
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("phiguard did not become ready: " + self.stderr())

    def redis_reachable(self):
        address = self.config.get("redis", {}).get("address")
        if not address:
            return False
        try:
            if address.startswith("unix:"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(1)
                sock.connect(address[5:])
            else:
                host, port = address.rsplit(":", 1)
                sock = socket.create_connection((host, int(port)), timeout=1)
            sock.close()
            return True
        except OSError:
            return False

    def redis_up(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=1) as r:
                lines = [l for l in r.read().decode().splitlines() if l.startswith("phiguard_redis_up{")]
        except OSError:
            return False
        return bool(lines) and all(l.endswith(" 1") for l in lines)

    def wait_redis_if_reachable(self, deadline):
        """Ready means listening; a login needs the workers' Redis
        connections too (503 auth_unavailable until then). When the
        configured Redis accepts connections, wait for phiguard to report
        every worker's connection up, so that a test's first login does not
        race it. A test that starts phiguard with Redis down waits for
        nothing here."""
        if not self.redis_reachable():
            return
        while time.time() < deadline:
            if self.redis_up():
                return
            time.sleep(0.05)
        raise RuntimeError("phiguard did not connect to Redis: " + self.stderr())

    def url(self, path="/"):
        return f"https://127.0.0.1:{self.port}{path}"

    def admin(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        """SIGTERM, then wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def stderr(self):
        try:
            return open(self.log_path).read()
        except OSError:
            return ""

    def logs(self, msg=None):
        out = []
        for line in self.stderr().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if msg is None or obj.get("msg") == msg:
                out.append(obj)
        return out

    def wait_log(self, msg, timeout=10, count=1):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.logs(msg)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no log line {msg!r} in: {self.stderr()[-2000:]}")


def client_context(certs, cert=None, max_version=None, min_version=None):
    ctx = ssl.create_default_context(cafile=f"{certs}/ca.pem")
    if cert:
        ctx.load_cert_chain(f"{certs}/{cert}.pem", f"{certs}/{cert}.key")
    if max_version:
        ctx.maximum_version = max_version
    if min_version:
        ctx.minimum_version = min_version
    return ctx


def tls_connect(port, certs, timeout=10, **ctx_args):
    ctx = client_context(certs, **ctx_args)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_all(sock, timeout=10):
    """Reads until the peer closes (or the timeout passes)."""
    sock.settimeout(timeout)
    out = b""
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, ssl.SSLError, ConnectionResetError):
        pass
    return out


def raw_exchange(port, certs, data, timeout=10):
    """Sends raw bytes over TLS, returns everything until the close."""
    s = tls_connect(port, certs, timeout=timeout)
    try:
        s.sendall(data)
        return read_all(s, timeout)
    finally:
        s.close()


def parse_responses(data):
    """Splits a byte stream into (status, headers dict lower-case, body)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            body, data = rest[:n], rest[n:]
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    _, _, rest = rest.partition(b"\r\n")
                    break
                body += rest[:size]
                rest = rest[size + 2:]
            data = rest
        elif status in (100, 101, 204, 304):
            body, data = b"", rest
        else:
            body, data = rest, b""
        out.append((status, headers, body))
    return out
