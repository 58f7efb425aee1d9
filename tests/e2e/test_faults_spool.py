"""Fault injection: the audit spool's disk fills while Redis is away.
Strict mode fails closed (503 audit_unavailable), a critical alert is
raised and the log says why; once there is room again (the file size limit
raised, or space freed on a small tmpfs) requests are served without a
restart, and once Redis is back every record answered 200 reaches it and
the chain verifies. Two ways to fill the disk: a file size limit
(RLIMIT_FSIZE, EFBIG; works for any user) and a small tmpfs (ENOSPC; needs
root, skipped otherwise)."""
import os
import resource
import signal
import subprocess
import time

import pytest

from audit_env import audit_config, verify
from fault_env import durable_redis, get, Load, assert_chains_whole, request_records, stored_records, wait_for
from phiguard_harness import BIN, deep_merge

LIMIT = 96 * 1024



def start_with(p, preexec=None):
    p.proc = subprocess.Popen([BIN, "serve", "-c", p.config_path], stdout=subprocess.DEVNULL,
                              stderr=open(p.log_path, "w"), preexec_fn=preexec)
    p.wait_ready()
    return p


def small_files():
    """In the child: files may not grow past LIMIT (soft limit; the hard
    one stays, so the test can raise it again with prlimit). SIGXFSZ is
    ignored here, as a caller might leave it; phiguard must cope either way."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, hard))


def small_files_default_signal():
    """As small_files, but SIGXFSZ left at its default (terminate): phiguard
    must ignore it itself, or the first write past the limit kills it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, hard))


def metric(p, name, **labels):
    _, body = p.admin("/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_records(p, rc, ids):
    """Waits until every request id has its record in Redis; says what is
    missing and where the chain has gaps when that does not happen."""
    try:
        wait_for(lambda: set(ids) <= set(request_records(rc)), timeout=30, what="every record in Redis")
    except AssertionError:
        missing = set(ids) - set(request_records(rc))
        seqs = sorted(s for _, s, _ in stored_records(rc))
        gaps = [x for x in range(1, seqs[-1] + 1) if x not in set(seqs)] if seqs else []
        raise AssertionError(f"{len(missing)} of {len(ids)} records missing; seqs absent {gaps[:10]}; "
                             f"/audit {p.admin('/audit')[1][:400]}")


def run_disk_full(p, redis, fill, make_room):
    load = Load(p, threads=4, seconds=120).start()
    try:
        load.wait_answers(20, 200)
        redis.stop()  # records pile up in the spool only
        fill()
        load.wait_answers(20, 503, timeout=60)
        failed = p.wait_log("audit_spool_failed")[0]
        assert failed["kind"] == "full" and failed["error"] and "503" in failed["mode"], failed
        assert any(a["rule"] == "audit_spool_failed" and a["severity"] == "critical" for a in p.logs("alert"))
        assert metric(p, "phiguard_alerts_total", rule="audit_spool_failed") >= 1
        make_room()  # room again, Redis still away: served without a restart
        load.wait_answers(20, 200, timeout=60)
        redis.start()
        load.wait_answers(20, 200)
    finally:
        answers = load.stop()
    assert not load.failures, load.failures[:3]
    assert {c for c, _, _ in answers} == {200, 503}
    assert {e for c, _, e in answers if c == 503} == {"audit_unavailable"}
    ok = [rid for c, rid, _ in answers if c == 200]
    rc = redis.client()
    wait_records(p, rc, ok)
    recs = request_records(rc)
    assert all(len(recs[rid]) == 1 for rid in ok)
    assert_chains_whole(rc)
    time.sleep(0.7)
    v = verify(p, p.workdir)
    assert v.returncode == 0, v.stdout + v.stderr
    assert p.logs("audit_spool_recovered")


def cfg_for(workdir, redis):
    return deep_merge(audit_config(workdir, redis.address), {"log": {"level": "info", "access": False},
                                                             "redis": {"command_timeout": "300ms"}})


@pytest.mark.parametrize("child_setup", [small_files, small_files_default_signal])
def test_file_size_limit_fails_closed_then_recovers(make_proxy, workdir, child_setup):
    redis = durable_redis()
    try:
        p = start_with(make_proxy(cfg_for(workdir, redis), start=False), child_setup)

        def make_room():
            resource.prlimit(p.proc.pid, resource.RLIMIT_FSIZE, resource.getrlimit(resource.RLIMIT_FSIZE))
        run_disk_full(p, redis, lambda: None, make_room)
    finally:
        redis.cleanup()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root; the file size limit variant covers the rest")
def test_full_tmpfs_fails_closed_then_recovers(make_proxy, workdir):
    redis = durable_redis()
    p = None
    spool = os.path.join(workdir, "spool")
    os.makedirs(spool)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", spool], check=True)
    filler = os.path.join(spool, "filler")
    try:
        p = make_proxy(cfg_for(workdir, redis))

        def fill():
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:  # leaves about 48 KiB, or less when the spool holds more
                os.write(fd, b"\0" * (464 * 1024))
            except OSError:
                pass
            finally:
                os.close(fd)
        run_disk_full(p, redis, fill, lambda: os.unlink(filler))
    finally:
        redis.cleanup()
        try:
            if p:
                p.stop()  # before the unmount: its files are there
        finally:
            subprocess.run(["umount", "-l", spool], check=False)


@pytest.mark.parametrize("memory", ["64MiB", "1MiB"])
def test_async_mode_keeps_records_in_memory_while_the_disk_is_full(make_proxy, workdir, memory):
    """Async mode does not hold responses: with the spool full and Redis
    away, records wait in memory (audit.memory_limit) and reach Redis, in
    order and whole, once it is back. When memory is full too, a record has
    nowhere to go and its request is refused (503 audit_unavailable)."""
    redis = durable_redis()
    try:
        cfg = deep_merge(cfg_for(workdir, redis), {"audit": {"mode": "async", "memory_limit": memory}})
        p = start_with(make_proxy(cfg, start=False), small_files)
        load = Load(p, threads=4, seconds=120).start()
        try:
            load.wait_answers(20, 200)
            redis.stop()
            p.wait_log("audit_spool_failed", timeout=60)
            if memory == "1MiB":
                load.wait_answers(20, 503, timeout=90)  # ~1,700 records fill 1 MiB
            else:
                load.wait_answers(200, 200)
            redis.start()
            load.wait_answers(20, 200)
        finally:
            answers = load.stop()
        assert not load.failures, load.failures[:3]
        assert {c for c, _, _ in answers} == ({200, 503} if memory == "1MiB" else {200})
        assert {e for c, _, e in answers if c == 503} <= {"audit_unavailable"}
        assert "async" in p.logs("audit_spool_failed")[0]["mode"]
        # Once Redis has every record the file missed, the file is emptied
        # and takes records again.
        extra = []
        wait_for(lambda: extra.append(get(p, "/echo").headers["X-Request-Id"]) or p.logs("audit_spool_recovered"),
                 timeout=30, what="the spool taking records again", step=0.2)
        answers += [(200, rid, None) for rid in extra]
        rc = redis.client()
        ok = [rid for c, rid, _ in answers if c == 200]
        wait_records(p, rc, ok)
        assert all(len(r) == 1 for r in request_records(rc).values())
        assert_chains_whole(rc)
        time.sleep(0.7)
        v = verify(p, p.workdir)
        assert v.returncode == 0, v.stdout + v.stderr
    finally:
        redis.cleanup()
