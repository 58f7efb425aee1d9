"""Shared pieces of the fault-injection tests (test_faults_*.py): bounded
waiting, a bounded concurrent client loop, a backend that can come back on
the same port, the audit records of a set of requests, and the proxy's
resident memory read from /proc."""
import json
import os
import subprocess
import threading
import time

import requests

from phiguard_harness import PY, TOP
from redis_fixture import RedisServer


def durable_redis():
    """A Redis that keeps what it acknowledged across a restart (AOF, fsync
    always), as a production Redis holding an audit trail must."""
    return RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]).start()


def wait_for(cond, timeout=15, what="condition", step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def get(proxy, path, session=None, **kw):
    kw.setdefault("timeout", 30)
    return (session or requests).get(proxy.url(path), verify=f"{proxy.certs}/ca.pem", **kw)


class Load:
    """`threads` clients, each with its own keep-alive session, sending GET
    `path` in a loop through the proxy until stop() or `seconds` pass. Every
    answer is kept as (status, request id, error code of a JSON body);
    transport errors are kept apart."""

    def __init__(self, proxy, path="/echo", threads=6, seconds=60, headers=None):
        self.proxy, self.path, self.seconds, self.headers = proxy, path, seconds, headers
        self.answers, self.failures = [], []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, i):
        s = requests.Session()
        deadline = time.monotonic() + self.seconds
        n = 0
        while not self.stopping.is_set() and time.monotonic() < deadline:
            n += 1
            try:
                r = get(self.proxy, f"{self.path}?t={i}&n={n}", session=s, timeout=20, headers=self.headers)
            except requests.RequestException as e:
                with self.lock:
                    self.failures.append(repr(e))
                time.sleep(0.01)
                continue
            try:
                err = r.json().get("error") if r.status_code >= 400 else None
            except ValueError:
                err = "not json"
            with self.lock:
                self.answers.append((r.status_code, r.headers.get("X-Request-Id"), err))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def count(self, status=None):
        with self.lock:
            return sum(1 for a in self.answers if status is None or a[0] == status)

    def wait_answers(self, n, status=None, timeout=30):
        start = self.count(status)
        wait_for(lambda: self.count(status) >= start + n, timeout=timeout, what=f"{n} more answers ({status})")

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)
        return self.answers


def stored_records(rc):
    """[(chain, seq, record)] of every chain in Redis."""
    out = []
    for c in sorted(x.decode() for x in rc.smembers("audit:writers")):
        for sid, fields in rc.xrange(f"audit:{c}"):
            out.append((c, int(sid.split(b"-")[0]), json.loads(fields[b"r"])))
    return out


def request_records(rc):
    """request id -> the list of its `rest` records (a request has one)."""
    out = {}
    for _, _, r in stored_records(rc):
        if r.get("type") == "rest" and r.get("request"):
            out.setdefault(r["request"], []).append(r)
    return out


def assert_chains_whole(rc):
    """Per chain, seqs 1..n with no gap and no duplicate."""
    seqs = {}
    for c, s, _ in stored_records(rc):
        seqs.setdefault(c, []).append(s)
    for c, s in seqs.items():
        assert s == list(range(s[0], s[0] + len(s))), f"{c}: seqs not contiguous: {s[:5]}..."


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class FixedBackend:
    """scripts/sample_backend.py on a port of our choosing, so that it can
    be killed and started again on the same address."""

    def __init__(self, workdir, port):
        self.workdir, self.port = workdir, port
        self.address = f"127.0.0.1:{port}"
        self.proc = None

    def start(self):
        port_file = os.path.join(self.workdir, f"fixed-backend-{self.port}.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.proc = subprocess.Popen([PY, os.path.join(TOP, "scripts", "sample_backend.py"), "--listen",
                                      self.address, "--port-file", port_file],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(port_file) or self.proc.poll() is not None, what="the backend")
        assert self.proc.poll() is None, "backend did not start"
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
