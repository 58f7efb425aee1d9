"""The redis-server fixture other end-to-end tests build on, and the ACL
docs/redis.md recommends for phiguard's Redis user."""
import os
import re
import time

import pytest
import redis

from redis_fixture import PHIGUARD_ACL, make_redis, redis_server, redis_unix_server  # noqa: F401 (fixtures)

TOP = os.environ.get("PHIGUARD_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def test_tcp_server_survives_kill_and_restart_on_same_address(redis_server):
    address = redis_server.address
    assert re.fullmatch(r"127\.0\.0\.1:\d+", address)
    c = redis_server.client()
    c.set("k", "v")
    assert c.get("k") == b"v"
    redis_server.kill()
    assert not redis_server.running
    with pytest.raises(redis.exceptions.ConnectionError):
        redis_server.client(socket_timeout=1).ping()
    redis_server.start()
    assert redis_server.address == address
    assert redis_server.client().get("k") is None  # nothing kept on disk


def test_unix_server(redis_unix_server):
    assert redis_unix_server.address == f"unix:{redis_unix_server.socket_path}"
    assert redis_unix_server.client().ping()
    assert oct(os.stat(redis_unix_server.socket_path).st_mode & 0o777) == "0o700"
    redis_unix_server.stop()
    assert not os.path.exists(redis_unix_server.socket_path)


def test_frozen_server_answers_nothing_until_thawed(redis_server):
    c = redis_server.client(socket_timeout=0.3)
    redis_server.freeze()
    t0 = time.monotonic()
    with pytest.raises(redis.exceptions.TimeoutError):
        c.ping()
    assert time.monotonic() - t0 < 5
    redis_server.thaw()
    assert redis_server.client(socket_timeout=5).ping()


def test_cleanup_removes_process_and_directory(make_redis):
    s = make_redis(unix=True)
    pid, d = s.proc.pid, s.dir
    s.cleanup()
    assert not os.path.exists(d)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_recommended_acl_protects_audit_keys(make_redis):
    s = make_redis(username="phiguard", password="a-long-test-password", acl=PHIGUARD_ACL)
    c = s.client()
    chain = "audit:{c:w1}"
    first = c.xadd(chain, {"r": "1"})
    c.xadd(chain, {"r": "2"})
    assert c.xlen(chain) == 2
    assert [e[0] for e in c.xrange(chain)][0] == first
    c.sadd("audit:chains", "w1")
    assert c.smembers("audit:chains") == {b"w1"}
    for forbidden in (["XDEL", chain, first], ["XTRIM", chain, "MAXLEN", "0"], ["XTRIM", chain, "MINID", "0"],
                      ["DEL", chain], ["UNLINK", chain], ["EXPIRE", chain, "1"], ["RENAME", chain, "audit:x"],
                      ["SREM", "audit:chains", "w1"], ["FLUSHDB"], ["FLUSHALL"], ["CONFIG", "SET", "save", ""]):
        with pytest.raises(redis.exceptions.NoPermissionError):
            c.execute_command(*forbidden)
    assert c.xlen(chain) == 2
    # Ordinary state stays fully usable.
    c.set("session:abc", "x", ex=60)
    assert c.delete("session:abc") == 1
    assert c.incr("{u:42}:failures") == 1
    assert c.evalsha(c.script_load("return redis.call('INCR', KEYS[1])"), 1, "rl:ip:1") == 1
    assert c.publish("phiguard:revoke", "s1") == 0
    # Scripts are checked command by command too.
    with pytest.raises(redis.exceptions.ResponseError):
        c.eval("return redis.call('DEL', KEYS[1])", 1, chain)
    assert c.xlen(chain) == 2
    # Nobody gets in without the password.
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=s.port).ping()


def test_docs_show_the_tested_acl():
    with open(os.path.join(TOP, "docs", "redis.md")) as f:
        docs = " ".join(f.read().replace("\\\n", " ").split())
    assert " ".join(PHIGUARD_ACL.split()) in docs
