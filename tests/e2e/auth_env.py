"""Password logins for end-to-end tests: a policy with short timeouts, the
secret files phiguard needs (mode 0600), the demo users of conf/users.yaml
(passwords in docs/authentication.md), and small clients for the login
steps. TOTP codes come from Debian's oathtool, an implementation
independent of phiguard's."""
import json
import os
import secrets
import shutil
import subprocess
import time

import requests

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
USERS = os.path.join(TOP, "conf", "users.yaml")
PASSWORDS = {
    "dr.grey": "demo-physician-pass",
    "n.joy": "demo-nurse-password",
    "b.clerk": "demo-billing-password",
    "owner": "demo-owner-password",
    "sec.admin": "demo-security-password",
}

POLICY = """version: 1
routes:
  - {name: health, methods: [GET, HEAD], path: /healthz, public: true}
  - {name: auth, methods: "*", path: /auth/**, public: true}
  - {name: patient-read, methods: [GET], path: "/fhir/Patient/{id}", permissions: [patient:read], entity: Patient}
  - {name: patient-search, methods: [GET], path: /fhir/Patient, permissions: [patient:read], entity: Patient}
  - {name: echo, methods: "*", path: /echo, permissions: [patient:read]}
  - {name: headers, methods: [GET], path: /headers, permissions: [patient:read]}
  - {name: ws, methods: [GET], path: /ws, permissions: [patient:read]}
  - {name: export, methods: [GET], path: "/export/{id}", permissions: [records:export]}
sessions: {idle_timeout: %(idle)s, absolute_lifetime: 1h, max_concurrent: %(max)d, on_limit: %(on_limit)s,
           end_on_ip_change: %(ip_change)s}
lockout: {max_failures: 5, window: 1m, duration: %(lock)s}
break_glass: {header: X-Break-Glass-Reason, window: 10m, reason_min_length: 10}
"""


def write_secret(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    return path


def auth_config(workdir, redis_address, idle="30m", max_sessions=3, on_limit="refuse", lock="30m",
                assertion=False, end_on_ip_change=False, redis_user=None, redis_password=None):
    """Config overrides turning password logins on, against redis_address."""
    policy = os.path.join(workdir, "policy.yaml")
    with open(policy, "w") as f:
        f.write(POLICY % {"idle": idle, "max": max_sessions, "on_limit": on_limit, "lock": lock,
                          "ip_change": "true" if end_on_ip_change else "false"})
    token_key = os.path.join(workdir, "token.key")
    mfa_key = os.path.join(workdir, "mfa.key")
    if not os.path.exists(token_key):
        write_secret(token_key, secrets.token_urlsafe(48).encode())
        write_secret(mfa_key, secrets.token_hex(32).encode() + b"\n")
    auth = {"users_file": USERS, "token_key_file": token_key, "mfa_key_file": mfa_key, "issuer": "phiguard-test"}
    if assertion:
        key = os.path.join(workdir, "assertion.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-out", key], check=True, capture_output=True)
        os.chmod(key, 0o600)
        subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", key + ".pub"], check=True,
                       capture_output=True)
        auth["assertion_key_file"] = key
    redis_cfg = {"address": redis_address}
    if redis_user:
        redis_cfg["username"] = redis_user
        redis_cfg["password_file"] = write_secret(os.path.join(workdir, "redis.password"), redis_password.encode())
    return {"policy": {"file": policy}, "redis": redis_cfg, "auth": auth}


def totp(secret, offset=0):
    """The code of the step offset steps from now."""
    at = int(time.time()) + 30 * offset
    return subprocess.run(["oathtool", "--totp", "-b", "-N", f"@{at}", secret], check=True,
                          capture_output=True, text=True).stdout.strip()


class Client:
    """One API client of one proxy (its own cookie jar)."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.s = requests.Session()
        self.ca = os.path.join(proxy.certs, "ca.pem")

    def url(self, path):
        return f"https://127.0.0.1:{self.proxy.port}{path}"

    def post(self, path, body=None, **kw):
        kw.setdefault("timeout", 30)
        return self.s.post(self.url(path), json=body, verify=self.ca, **kw)

    def get(self, path, **kw):
        kw.setdefault("timeout", 30)
        return self.s.get(self.url(path), verify=self.ca, **kw)

    def post_form(self, path, data, **kw):
        kw.setdefault("timeout", 30)
        return self.s.post(self.url(path), data=data, verify=self.ca, **kw)

    def login(self, username, password=None):
        return self.post("/auth/login", {"username": username, "password": password or PASSWORDS[username]})

    def enroll_and_login(self, username):
        """Password, enrollment of a fresh secret, activation: a session.
        Returns the base32 secret."""
        r = self.login(username)
        assert r.status_code == 200, r.text
        j = r.json()
        assert j["status"] == "enrollment_pending", j
        ticket, secret = j["mfa_token"], j["secret"]
        assert j["otpauth_uri"].startswith("otpauth://totp/") and j["qr_svg"].startswith("<svg")
        r = self.post("/auth/mfa/activate", {"mfa_token": ticket, "code": totp(secret)})
        assert r.status_code == 200, r.text
        return secret


def bearer(token):
    return {"Authorization": f"Bearer {token}"}
