"""A real redis-server for end-to-end tests, and helpers for fault tests.

Each server lives in its own temp directory, listens on a loopback port
chosen at run time (or only on a unix socket there), keeps nothing on disk
(--save "" --appendonly no), and is killed at teardown. Use it from a test
module with

    from redis_fixture import redis_server            # noqa: F401 (fixture)

    def test_x(redis_server):
        cfg = {"redis": {"address": redis_server.address}}
        ...
        redis_server.kill()      # Redis dies: phiguard must cope
        redis_server.start()     # same address again
        redis_server.client().xlen("audit:...")

or build one directly: RedisServer(unix=True, username="phiguard",
password="...", acl=PHIGUARD_ACL).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

# The ACL docs/redis.md recommends for phiguard's own Redis user, as
# redis-server arguments after "--user <name> on >password". Ordinary state
# may be read, written and deleted; audit keys (audit:*) may only be
# appended to and read: no XDEL, XTRIM, DEL, UNLINK, RENAME, EXPIRE or
# FLUSH*. tests/e2e/test_redis_fixture.py checks that this text is the one
# docs/redis.md shows, and that Redis enforces it.
PHIGUARD_ACL = (
    "resetkeys resetchannels &phiguard:* "
    "~session:* ~user:* ~mfa:* ~lockout:* ~rl:* ~alert:* ~block:* ~{u:* ~{s:* "
    "+@all -@dangerous -@admin -@scripting +eval +evalsha +script|load +script|exists +ping +info "
    "(~audit:* +xadd +xrange +xrevrange +xlen +xinfo +sadd +smembers +sismember +scard +sscan "
    "+hset +hget +hgetall +hmget +exists +type)"
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server process. start() may be called again after stop()
    or kill(): it comes back on the same address, empty."""

    def __init__(self, unix=False, username=None, password=None, acl=None, extra_args=(), directory=None):
        self.own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="pg-redis-")
        self.unix = unix
        self.socket_path = os.path.join(self.dir, "redis.sock") if unix else None
        self.port = 0 if unix else free_port()
        self.username = username
        self.password = password
        self.acl = acl
        self.extra_args = list(extra_args)
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None

    @property
    def address(self):
        """As phiguard's redis.address takes it."""
        return f"unix:{self.socket_path}" if self.unix else f"127.0.0.1:{self.port}"

    def _args(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--logfile", self.log_path, "--enable-debug-command", "local"]
        if self.unix:
            args += ["--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        if self.username:
            rules = (self.acl or "~* &* +@all").split()
            args += ["--user", "default", "off", "--user", self.username, "on", ">" + self.password] + rules
        elif self.password:
            args += ["--requirepass", self.password]
        return args + self.extra_args

    def start(self, timeout=10.0):
        if self.proc is not None:
            raise RuntimeError("redis-server is already running")
        for attempt in range(3):
            if self.unix and os.path.exists(self.socket_path):
                os.unlink(self.socket_path)
            self.proc = subprocess.Popen(self._args(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if self.client(socket_timeout=1).ping():
                        return self
                except redis.exceptions.ConnectionError:
                    pass
                time.sleep(0.02)
            self._reap()
            if not self.unix and attempt < 2:
                self.port = free_port()  # someone took the port in between
        raise RuntimeError(f"redis-server did not start; log:\n{self.log()[-2000:]}")

    def _reap(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None

    def kill(self):
        """SIGKILL: no goodbye to clients, nothing saved."""
        self._reap()

    def stop(self):
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._reap()

    def restart(self):
        self.kill()
        return self.start()

    def freeze(self):
        """SIGSTOP: connections stay open and nothing answers (a hung server)."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, **kw):
        """A redis-py client with this server's credentials (bytes replies)."""
        auth = {"username": self.username, "password": self.password}
        if self.unix:
            return redis.Redis(unix_socket_path=self.socket_path, **auth, **kw)
        return redis.Redis(host="127.0.0.1", port=self.port, **auth, **kw)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()  # a stopped process cannot die of SIGTERM, but SIGKILL is fine either way
        self.kill()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def redis_server():
    """A fresh, empty redis-server on a loopback port."""
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_unix_server():
    """A fresh, empty redis-server on a unix socket only."""
    server = RedisServer(unix=True).start()
    yield server
    server.cleanup()


@pytest.fixture
def make_redis():
    """make_redis(**RedisServer kwargs) -> a started server; all are killed
    and their directories removed at teardown."""
    servers = []

    def make(**kw):
        server = RedisServer(**kw)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.cleanup()
