"""A real browser (Debian's headless Chromium, driven by playwright-core
from npm) signs in through the HTML pages with a TOTP code, reaches a
protected page, and saves a screenshot under the test output directory."""
import json
import os
import shutil
import subprocess

import pytest

from auth_env import PASSWORDS, TOP, auth_config
from redis_fixture import redis_server  # noqa: F401 (fixture)

BROWSER_DIR = os.path.join(TOP, "tests", "browser")


def test_browser_signs_in_with_totp(make_proxy, workdir, redis_server, tmp_path):
    if not os.path.exists("/usr/bin/chromium") or not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules")):
        pytest.fail("chromium or playwright-core missing: run scripts/install-deps.sh")
    p = make_proxy(auth_config(workdir, redis_server.address))
    out = os.path.join(os.environ.get("PHIGUARD_TEST_OUTPUT", str(tmp_path)), "browser")
    os.makedirs(out, exist_ok=True)
    shot = os.path.join(out, "after-login.png")
    if os.path.exists(shot):
        os.unlink(shot)
    r = subprocess.run([shutil.which("node") or "/usr/bin/node", os.path.join(BROWSER_DIR, "login.mjs"),
                        f"https://localhost:{p.port}", "dr.grey", PASSWORDS["dr.grey"], out],
                       capture_output=True, text=True, timeout=120, cwd=BROWSER_DIR)
    assert r.returncode == 0, r.stdout + r.stderr
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["url"] == f"https://localhost:{p.port}/fhir/Patient"
    c = seen["cookie"]
    assert c["httpOnly"] is True and c["secure"] is True and c["sameSite"] == "Strict"
    assert c["path"] == "/" and c["domain"] == "localhost"
    assert c["expires"] == -1  # a session cookie: gone when the browser closes
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    events = [e["type"] for e in p.logs("security_event")]
    assert "mfa_enrolled" in events and "session_started" in events
