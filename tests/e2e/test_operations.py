"""docs/operations.md tried: every `# runbook: NAME` shell block of the
runbook is run here as written, by bash with -euo pipefail, with the
page's settings pointed at a real proxy, a real redis-server and real
files, and what it claims is checked: a Redis snapshot restored verifies,
an export verifies on its own, a spool restored replays, keys and
certificates rotate, and tampering is found where the page says."""
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
import requests

from audit_env import audit_config, records, verify
from auth_env import Client, auth_config, write_secret
from phiguard_harness import BIN, TOP, tls_connect
from redis_fixture import redis_server  # noqa: F401 (fixture)
from test_audit import durable_redis, wait_for
from test_docs_examples import fenced_blocks
from test_keys_rewrap import envelopes, export as phi_export, keyring_secrets, open_envelope

DOC = os.path.join(TOP, "docs", "operations.md")
MARK = re.compile(r"# runbook: ([a-z0-9-]+)( \(not tried by the tests: [^)]+\))?\n")
# Blocks that need what a test machine does not have; the page says so.
NOT_TRIED = {"backup-k8s-secrets", "rotate-k8s-secret", "alerts-api"}


def runbook_blocks():
    """{name: (text, not tried)} of every marked block of the page."""
    out = {}
    for block in fenced_blocks(DOC):
        m = MARK.match(block)
        assert m or not block.startswith("# runbook:"), f"a malformed marker: {block.splitlines()[0]}"
        if m:
            assert m.group(1) not in out, f"two blocks named {m.group(1)}"
            out[m.group(1)] = (block, bool(m.group(2)))
    return out


BLOCKS = runbook_blocks()


def setting_names():
    return re.findall(r"^([A-Z_]+)=", BLOCKS["settings"][0], re.M)


@pytest.fixture(scope="module")
def shell_env():
    """PATH with `phiguard` being the binary under test."""
    d = tempfile.mkdtemp(prefix="pg-ops-bin-")
    os.symlink(os.path.abspath(BIN), os.path.join(d, "phiguard"))
    env = dict(os.environ, PATH=d + os.pathsep + os.environ["PATH"])
    yield env
    shutil.rmtree(d, ignore_errors=True)


def settings(workdir, proxy=None, redis=None, **over):
    """A value for every setting of the page, for this test's processes."""
    v = {
        "CONF": proxy.config_path if proxy else os.path.join(workdir, "phiguard.yaml"),
        "POLICY": os.path.join(TOP, "conf", "policy.yaml"),
        "SECRETS": os.path.join(workdir, "secrets"),
        "PUB": os.path.join(workdir, "audit.pub"),
        "PREVIOUS_PUB": os.path.join(workdir, "audit-previous.pub"),
        "SPOOL": os.path.join(workdir, "spool"),
        "TLS_CERT": os.path.join(workdir, "tls", "tls.crt"),
        "TLS_KEY": os.path.join(workdir, "tls", "tls.key"),
        "CLIENT_CA": os.path.join(workdir, "tls", "client-ca.pem"),
        "LISTEN": f"127.0.0.1:{proxy.port}" if proxy else "127.0.0.1:1",
        "ADMIN": f"http://127.0.0.1:{proxy.admin_port}" if proxy else "http://127.0.0.1:1",
        "PID": str(proxy.proc.pid) if proxy and proxy.proc else "0",
        "LOG_CMD": f"cat {proxy.log_path}" if proxy else "true",
        "REDIS_CLI": f"redis-cli -h 127.0.0.1 -p {redis.port}" if redis else "false",
        "REDIS_DIR": redis.dir if redis else workdir,
        "RETENTION_CONF": proxy.config_path if proxy else os.path.join(workdir, "phiguard.yaml"),
        "BACKUP": os.path.join(workdir, "backup"),
        "BACKUP_PASSFILE": os.path.join(workdir, "backup.pass"),
        "EVIDENCE": os.path.join(workdir, "evidence"),
    }
    v.update(over)
    assert set(v) == set(setting_names()), "the test and the page's settings differ"
    return v


def run_block(env, values, name, expect=0):
    """The page's block, as written, after the settings."""
    text, not_tried = BLOCKS[name]
    assert not not_tried, name
    script = "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()) + text
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120,
                       env=dict(env, TMPDIR=values["BACKUP"]), cwd=values["BACKUP"])
    if expect is not None:
        assert r.returncode == expect, f"{name}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def get(proxy, path):
    return requests.get(proxy.url(path), verify=f"{proxy.certs}/ca.pem", timeout=30)


@pytest.fixture
def durable(workdir):
    """A Redis that keeps what it acknowledged (append-only, fsync always),
    in a directory of its own; killed at teardown."""
    server = durable_redis()
    yield server
    server.cleanup()


@pytest.fixture
def backup_dir(workdir):
    d = os.path.join(workdir, "backup")
    os.makedirs(d)
    yield d
    for pidfile in glob.glob(os.path.join(d, "*", "redis.pid")):  # a drill that stopped half-way
        try:
            os.kill(int(open(pidfile).read()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def covered(proxy, workdir, chain, rc):
    """True once the newest checkpoint counts every record of the chain."""
    n = len(records(rc, chain)[chain])
    v = verify(proxy, workdir)
    return v.returncode == 0 and f"(newest counts {n})" in v.stdout


def audited_proxy(make_proxy, workdir, redis, requests_count=8, **audit):
    p = make_proxy(audit_config(workdir, redis.address, checkpoint_interval="100ms", **audit))
    for i in range(requests_count):
        assert get(p, f"/echo?i={i}").status_code == 200
    rc = redis.client()
    chain = next(iter(rc.smembers("audit:writers"))).decode()
    wait_for(lambda: covered(p, workdir, chain, rc), timeout=30, what="a checkpoint counting every record")
    return p, rc, chain


def test_every_block_is_tried_or_says_why():
    names = set(BLOCKS)
    assert {"settings", "backup-redis", "backup-export", "restore-redis-aof", "rotate-phi", "rotate-tls",
            "integrity-locate", "drill", "health", "trim"} <= names
    source = open(__file__).read()
    tried = set(re.findall(r'run_block\(env, [^"\n]*"([a-z0-9-]+)"', source))
    for name, (_, not_tried) in BLOCKS.items():
        if name == "settings":
            continue
        if name in NOT_TRIED:
            assert not_tried, f"{name}: the page must say why it is not tried"
        else:
            assert name in tried and not not_tried, f"{name}: no test runs it"


def test_redis_snapshot_restore_export_trim_and_drill(make_proxy, workdir, durable, backup_dir, shell_env):
    env = shell_env
    p, rc, chain = audited_proxy(make_proxy, workdir, durable)
    v = settings(workdir, p, durable)
    health = run_block(env, v, "health")
    assert '{"status":"ok"}' in health.stdout and '{"status":"ready"}' in health.stdout
    assert re.search(r"^phiguard_redis_up\{worker=\"0\"\} 1$", health.stdout, re.M), health.stdout
    assert re.search(r"^phiguard_audit_spool_depth\{worker=\"0\"\} 0$", health.stdout, re.M), health.stdout
    assert p.stop() == 0
    before = records(rc, chain)[chain]

    run_block(env, v, "backup-redis")
    assert os.path.getsize(os.path.join(backup_dir, "redis.rdb")) > 0
    exported = run_block(env, v, "backup-export")
    assert f"{chain}: ok, records 1..{len(before)}" in exported.stdout and "1 chains, 0 failed" in exported.stdout
    lines = open(os.path.join(backup_dir, "audit.ndjson")).read().splitlines()
    assert [json.loads(x)["seq"] for x in lines if x.startswith('{"seq":')] == list(range(1, len(before) + 1))
    assert any(json.loads(x).get("checkpoint") for x in lines)
    run_block(env, v, "backup-log-checkpoints")
    from_log = [json.loads(x) for x in open(os.path.join(backup_dir, "log-checkpoints.ndjson"))]
    assert from_log and all(c["chain"] == chain and c["checkpoint"].startswith(chain + "\n") for c in from_log)

    # The drill: the snapshot in a scratch Redis, record 2 deleted there, found.
    drill = run_block(env, v, "drill")
    assert f"{chain}: ok, records 1..{len(before)}" in drill.stdout
    assert f"{chain}: FAILED at seq 2: SEQ_GAP: record deleted (seq gap): seq 2 to 2 are missing" in drill.stdout
    assert not glob.glob(os.path.join(backup_dir, "tmp.*")), "the drill leaves nothing behind"
    assert rc.xlen(f"audit:{chain}") == len(before)  # the live trail was not touched

    # Disaster: Redis loses everything; restore the snapshot as the page says.
    rc.flushall()
    assert "no audit chains in Redis" in verify(p, workdir).stdout
    durable.stop()
    run_block(env, v, "restore-redis-files")
    assert os.path.isdir(os.path.join(durable.dir, "appendonlydir.before-restore"))
    durable.extra_args = ["--appendonly", "no"]  # step 4: this one start loads the snapshot
    durable.start()
    restored = run_block(env, v, "restore-redis-aof")
    assert f"{chain}: ok, records 1..{len(before)}" in restored.stdout
    durable.stop()
    durable.extra_args = ["--appendonly", "yes", "--appendfsync", "always"]  # step 6: the usual start
    durable.start()
    assert records(durable.client(), chain)[chain] == before  # from the new append-only file
    assert verify(p, workdir).returncode == 0

    # phiguard continues the chain on the restored Redis, and retention
    # trimming (nothing is 2555 days old here) keeps it verifiable.
    p.start()
    assert get(p, "/echo?after=restore").status_code == 200
    wait_for(lambda: covered(p, workdir, chain, durable.client()), timeout=30, what="the new records checkpointed")
    trim = run_block(env, v, "trim")
    assert f"{chain}: nothing to trim" in trim.stdout
    assert trim.stdout.count(f"{chain}: ok, records 1..") == 2  # the export, then the trail after the trim
    searched = run_block(env, v, "log-search")
    assert all(json.loads(x)["msg"] for x in searched.stdout.splitlines())


def test_integrity_failure_evidence_locate_and_log_checkpoints(make_proxy, workdir, redis_server, backup_dir,
                                                                shell_env):
    env = shell_env
    p, rc, chain = audited_proxy(make_proxy, workdir, redis_server, requests_count=12, checkpoint_records=5)
    assert p.stop() == 0
    v = settings(workdir, p, redis_server)
    stored = [(int(i.split(b"-")[0]), f) for i, f in rc.xrange(f"audit:{chain}")]
    n = len(stored)

    # A field of record 5 changed in Redis, its h left: HASH_MISMATCH at 5.
    assert b'"outcome":0,' in dict(stored)[5][b"r"]
    rc.delete(f"audit:{chain}")
    for seq, f in stored:
        r = f[b"r"].replace(b'"outcome":0,', b'"outcome":4,') if seq == 5 else f[b"r"]
        rc.xadd(f"audit:{chain}", {"h": f[b"h"], "r": r}, id=f"{seq}-0")
    run_block(env, v, "integrity-evidence")
    ev = v["EVIDENCE"]
    report = open(os.path.join(ev, "verify.txt")).read()
    assert f"{chain}: FAILED at seq 5: HASH_MISMATCH" in report, report
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=ev, capture_output=True).returncode == 0
    assert os.path.getsize(os.path.join(ev, "redis.rdb")) > 0
    located = run_block(env, v, "integrity-locate")
    assert f"== {chain} around seq 5" in located.stdout
    assert '"seq":4,' in located.stdout and '"seq":6,' in located.stdout and "time " in located.stdout

    # The tail deleted with the checkpoints counting it: Redis alone looks
    # whole, the checkpoint copies in the log show what is missing.
    rc.delete(f"audit:{chain}")
    for seq, f in stored[:7]:
        rc.xadd(f"audit:{chain}", {"h": f[b"h"], "r": f[b"r"]}, id=f"{seq}-0")
    for cid, f in rc.xrange(f"audit:checkpoints:{chain}"):
        if int(f[b"n"].split(b"\n")[1]) > 7:
            rc.xdel(f"audit:checkpoints:{chain}", cid)
    assert verify(p, workdir).returncode == 0, "Redis alone cannot tell"
    logs = run_block(env, v, "integrity-log-checkpoints", expect=1)
    assert f"{chain}: FAILED at seq 8: CHECKPOINT_BEYOND_END" in logs.stdout, logs.stdout
    assert n >= 12


def test_spool_backup_and_restore_replays_what_redis_did_not_have(make_proxy, workdir, durable, backup_dir,
                                                                   shell_env):
    env = shell_env
    p, rc, chain = audited_proxy(make_proxy, workdir, durable, requests_count=3)
    durable.kill()  # Redis away: records wait in the spool (strict mode: fsynced)
    ids = [get(p, f"/echo?away={i}").headers["X-Request-Id"] for i in range(5)]
    assert p.stop() == 0
    v = settings(workdir, p, durable)
    assert any(os.path.getsize(f) > 0 for f in glob.glob(os.path.join(v["SPOOL"], "*.spool")))
    run_block(env, v, "backup-spool")
    shutil.rmtree(v["SPOOL"])  # the disk is replaced
    run_block(env, v, "restore-spool")
    durable.start()
    p.start()
    rc = durable.client()
    wait_for(lambda: set(ids) <= {x.get("request") for x in records(rc, chain)[chain]},
             what="the spooled records in Redis")
    wait_for(lambda: covered(p, workdir, chain, rc), timeout=30, what="a checkpoint over them")
    assert "audit_chain_conflict" not in p.stderr()


def test_secrets_backup_and_restore(workdir, backup_dir, shell_env):
    env = shell_env
    v = settings(workdir)
    s = v["SECRETS"]
    os.makedirs(s, mode=0o700)
    subprocess.run([BIN, "keys", "generate", "--keyring", f"{s}/phi.keyring"], check=True, capture_output=True)
    subprocess.run([BIN, "keys", "audit-generate", "--private", f"{s}/audit.key", "--public", v["PUB"]], check=True,
                   capture_output=True)
    write_secret(f"{s}/session.key", os.urandom(48).hex().encode())
    write_secret(f"{s}/mfa.key", os.urandom(32).hex().encode())
    write_secret(f"{s}/users.yaml", open(os.path.join(TOP, "conf", "users.yaml"), "rb").read())
    write_secret(v["BACKUP_PASSFILE"], b"a long backup passphrase kept in the vault\n")
    originals = {name: open(os.path.join(s, name), "rb").read() for name in os.listdir(s)}
    run_block(env, v, "backup-secrets")
    archive = open(os.path.join(backup_dir, "secrets.tar.gpg"), "rb").read()
    assert all(secret not in archive for secret in originals.values())  # encrypted
    shutil.rmtree(s)
    run_block(env, v, "restore-secrets")
    for name, data in originals.items():
        assert open(os.path.join(s, name), "rb").read() == data
        assert os.stat(os.path.join(s, name)).st_mode & 0o777 == 0o600
    assert open(os.path.join(backup_dir, "audit.pub")).read() == open(v["PUB"]).read()


def test_phi_key_rotate_rewrap_retire(make_proxy, workdir, backup_dir, shell_env):
    env = shell_env
    secrets_dir = os.path.join(workdir, "secrets")
    os.makedirs(secrets_dir, mode=0o700)
    ring = os.path.join(secrets_dir, "phi.keyring")
    subprocess.run([BIN, "keys", "generate", "--keyring", ring], check=True, capture_output=True)
    p = make_proxy({"phi": {"keyring_file": ring}})
    v = settings(workdir, p)
    keys, active = keyring_secrets(ring)
    text, fields = phi_export(keys[active], active)  # what the app stored, sealed under k1
    open(os.path.join(backup_dir, "Patient.ndjson"), "w").write(text)

    out = run_block(env, v, "rotate-phi")
    assert "added k2 and made it active (2 keys)" in out.stdout
    wait_for(lambda: any(x.get("active") == "k2" for x in p.logs("phi_keyring_loaded")), timeout=30, what="k2 loaded")
    out = run_block(env, v, "rewrap")
    assert f"rewrapped {len(fields)} envelopes under k2 (0 already under it)" in out.stderr

    out = run_block(env, v, "retire-phi")
    assert "removed k1 (1 keys left)" in out.stdout
    assert f"rewrapped 0 envelopes under k2 ({len(fields)} already under it)" in out.stderr
    wait_for(lambda: any(x.get("keys") == 1 for x in p.logs("phi_keyring_loaded")), timeout=30, what="the one-key ring loaded")
    keys_now, _ = keyring_secrets(ring)
    assert set(keys_now) == {"k2"} and os.stat(ring).st_mode & 0o777 == 0o600
    rewrapped = open(os.path.join(backup_dir, "Patient.rewrapped.ndjson")).read().splitlines()
    envs = [e for line in rewrapped for e in envelopes(json.loads(line))]
    assert len(envs) == len(fields)
    for field, env_text in zip(fields, envs):
        open_envelope(keys_now, field, env_text)  # opens without k1
    # Retiring before the rewrap would strand data: the old export fails.
    r = subprocess.run([BIN, "keys", "rewrap", "--keyring", ring, "--policy", v["POLICY"], "-i",
                        os.path.join(backup_dir, "Patient.ndjson")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "open under no PHI field of the policy with this keyring" in r.stderr
    # The active key cannot be retired, nor an unknown one.
    for kid, why in (("k2", "k2 is the active key"), ("k7", "no key k7")):
        r = subprocess.run([BIN, "keys", "retire", "--keyring", ring, "--id", kid], capture_output=True, text=True)
        assert r.returncode == 1 and why in r.stderr
    assert set(keyring_secrets(ring)[0]) == {"k2"}


def test_checkpoint_signing_key_rotation(make_proxy, workdir, redis_server, backup_dir, shell_env):
    env = shell_env
    p, rc, chain = audited_proxy(make_proxy, workdir, redis_server, requests_count=4)
    assert p.stop() == 0
    v = settings(workdir, p, redis_server, SECRETS=workdir)
    out = run_block(env, v, "rotate-audit-key")
    assert "verifier key: phiguard-audit+" in out.stdout
    assert open(v["PREVIOUS_PUB"]).read() == open(v["PUB"]).read()
    # Step 2: the new key signs, the earlier one is still trusted.
    cfg = audit_config(workdir, redis_server.address, checkpoint_interval="100ms", verify_interval="1s",
                       signing_key_file=os.path.join(workdir, "audit.key.new"),
                       previous_public_keys=v["PREVIOUS_PUB"])
    q = make_proxy(cfg, name="after-rotation")
    for i in range(4):
        assert get(q, f"/echo?new={i}").status_code == 200
    v = settings(workdir, q, redis_server, SECRETS=workdir)
    n = lambda: len(records(rc, chain)[chain])  # noqa: E731
    wait_for(lambda: f"(newest counts {n()})" in run_block(env, v, "verify-two-keys", expect=None).stdout,
             what="a checkpoint of the new key")
    both = run_block(env, v, "verify-two-keys")
    assert f"{chain}: ok, records 1..{n()}" in both.stdout
    old_only = verify(q, workdir)
    assert old_only.returncode == 1 and "CHECKPOINT_SIGNATURE" in old_only.stdout, old_only.stdout
    # The scheduled verification trusts audit.previous_public_keys too.
    wait_for(lambda: (rc.get("audit:integrity") or b"").startswith(b'{"time"') and
             json.loads(rc.get("audit:integrity"))["records"] == n(), timeout=30, what="a scheduled verification of it all")
    assert json.loads(rc.get("audit:integrity"))["status"] == "ok", rc.get("audit:integrity")
    # So does audit trim, which verifies before it cuts.
    trim = subprocess.run([BIN, "audit", "trim", "-c", q.config_path, "--before", "2000-01-01"],
                          capture_output=True, text=True, timeout=60)
    assert trim.returncode == 0 and f"{chain}: nothing to trim" in trim.stdout, trim.stdout + trim.stderr
    # A bundle with something else than a public key in it is refused.
    bad = os.path.join(workdir, "bad.pub")
    open(bad, "w").write(open(v["PUB"]).read() + open(os.path.join(workdir, "audit.key.new")).read()
                         .replace("PRIVATE", "PUBLIC"))
    r = subprocess.run([BIN, "audit", "verify", "-c", q.config_path, "--public", bad], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "key 2: not an Ed25519 public key in PEM" in r.stderr, r.stderr


def redis_up(proxy):
    """True once the worker's Redis connection answers (sign-in needs it)."""
    status, body = proxy.admin("/metrics")
    return status == 200 and re.search(rb'^phiguard_redis_up\{worker="0"\} 1$', body, re.M) is not None


def test_session_token_key_rotation_signs_everyone_out(make_proxy, workdir, redis_server, backup_dir, shell_env):
    env = shell_env
    secrets_dir = os.path.join(workdir, "secrets")
    os.makedirs(secrets_dir, mode=0o700)
    key = write_secret(os.path.join(secrets_dir, "session.key"), os.urandom(48).hex().encode())
    cfg = auth_config(workdir, redis_server.address)
    cfg["auth"]["token_key_file"] = key
    p = make_proxy(cfg)
    wait_for(lambda: redis_up(p), timeout=30, what="Redis connected")
    c = Client(p)
    assert c.login("n.joy").status_code == 200 and c.get("/echo").status_code == 200
    old = open(key, "rb").read()
    run_block(env, settings(workdir, p, redis_server), "rotate-token-key")
    assert open(key, "rb").read() != old and os.stat(key).st_mode & 0o777 == 0o600
    assert p.stop() == 0
    p.start()
    wait_for(lambda: redis_up(p), timeout=30, what="Redis connected")
    r = c.get("/echo")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert c.login("n.joy").status_code == 200 and c.get("/echo").status_code == 200


def peer_cn(port, certs, **kw):
    s = tls_connect(port, certs, **kw)
    try:
        return dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
    finally:
        s.close()


def test_tls_certificate_and_client_ca_rotation(make_proxy, workdir, certs, backup_dir, shell_env):
    env = shell_env
    tls = os.path.join(workdir, "tls")
    os.makedirs(tls)
    shutil.copy(f"{certs}/server.pem", f"{tls}/tls.crt")
    shutil.copy(f"{certs}/server.key", f"{tls}/tls.key")
    shutil.copy(f"{certs}/ca.pem", f"{tls}/client-ca.pem")
    p = make_proxy({"tls": {"certificate": f"{tls}/tls.crt", "key": f"{tls}/tls.key",
                            "client_ca": f"{tls}/client-ca.pem", "client_auth": "optional"}})
    v = settings(workdir, p)
    assert peer_cn(p.port, certs) == "phiguard-test-1"

    new = os.path.join(backup_dir, "new-tls")
    os.makedirs(new)
    shutil.copy(f"{certs}/server2.pem", f"{new}/tls.crt")
    shutil.copy(f"{certs}/server2.key", f"{new}/tls.key")
    reloads = len(p.logs("tls_reloaded"))
    out = run_block(env, v, "rotate-tls")
    assert "subject=CN = phiguard-test-2" in out.stdout
    p.wait_log("tls_reloaded", count=reloads + 1)
    wait_for(lambda: peer_cn(p.port, certs) == "phiguard-test-2", timeout=30, what="the new certificate served")
    assert "phiguard-test-2" in run_block(env, v, "check-tls").stdout
    # A key that does not match the certificate stops the procedure before
    # anything is installed.
    shutil.copy(f"{certs}/server.key", f"{new}/tls.key")
    assert run_block(env, v, "rotate-tls", expect=None).returncode != 0
    assert open(f"{tls}/tls.key").read() == open(f"{certs}/server2.key").read()

    # Client certificates of another CA: refused, then accepted once the
    # CA is in the bundle.
    def rogue_handshake():
        """TLS 1.3: a refused client certificate shows on the first read."""
        try:
            s = tls_connect(p.port, certs, cert="rogue")
            try:
                s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
                return s.recv(12).startswith(b"HTTP/1.1")
            finally:
                s.close()
        except OSError:
            return False
    assert not rogue_handshake()
    shutil.copy(f"{certs}/otherca.pem", os.path.join(backup_dir, "new-client-ca.pem"))
    run_block(env, v, "rotate-client-ca")
    wait_for(rogue_handshake, timeout=30, what="the new client CA trusted")
    assert peer_cn(p.port, certs, cert="client") == "phiguard-test-2"  # the old CA's clients still pass


def test_export_file_options_are_refused_where_they_mean_nothing(workdir):
    def audit(*args):
        return subprocess.run([BIN, "audit", *args], capture_output=True, text=True, timeout=30)
    cfg = os.path.join(workdir, "x.yaml")
    r = audit("export", "-c", cfg, "--format", "fhir", "--checkpoints")
    assert r.returncode == 2 and "--checkpoints is for audit export --format json" in r.stderr
    r = audit("export", "-c", cfg, "--input", cfg)
    assert r.returncode == 2 and "--input is for audit verify" in r.stderr
    r = audit("verify", "--input", os.path.join(workdir, "missing.ndjson"), "--public", cfg)
    assert r.returncode == 2 and "missing.ndjson" in r.stderr
    r = audit("verify", "--public", cfg)
    assert r.returncode == 2 and "-c FILE" in r.stderr
    empty = os.path.join(workdir, "empty.ndjson")
    open(empty, "w").close()
    pub = os.path.join(workdir, "audit.pub")
    subprocess.run([BIN, "keys", "audit-generate", "--private", os.path.join(workdir, "audit.key"), "--public", pub],
                   check=True, capture_output=True)
    r = audit("verify", "--input", empty, "--public", pub)  # an empty backup is not a good one
    assert r.returncode == 1 and f"no audit chains in {empty}" in r.stdout
