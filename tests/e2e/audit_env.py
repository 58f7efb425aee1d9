"""The audit trail for end-to-end tests: a signing key pair made with
phiguard's own command, a spool directory, the config overrides, and a
reader of what Redis holds."""
import json
import os
import subprocess

BIN = os.environ.get("PHIGUARD_BIN", "build/phiguard")


def audit_config(workdir, redis_address, mode="strict", **extra):
    key, pub = os.path.join(workdir, "audit.key"), os.path.join(workdir, "audit.pub")
    if not os.path.exists(key):
        subprocess.run([BIN, "keys", "audit-generate", "--private", key, "--public", pub], check=True,
                       capture_output=True)
    audit = {"spool_dir": os.path.join(workdir, "spool"), "signing_key_file": key, "mode": mode,
             "checkpoint_interval": "200ms", "heartbeat": "2s"}
    audit.update(extra)
    return {"redis": {"address": redis_address}, "audit": audit}


def records(client, chain=None):
    """Every stored record (parsed), per chain, in stored order."""
    chains = [chain] if chain else sorted(c.decode() for c in client.smembers("audit:writers"))
    out = {}
    for c in chains:
        out[c] = [json.loads(fields[b"r"]) for _, fields in client.xrange(f"audit:{c}")]
    return out


def audit_cli(proxy, *args):
    return subprocess.run([BIN, "audit", *args[:1], "-c", proxy.config_path, *args[1:]], capture_output=True,
                          text=True, timeout=60)


def verify(proxy, workdir, *extra):
    return audit_cli(proxy, "verify", "--public", os.path.join(workdir, "audit.pub"), *extra)
