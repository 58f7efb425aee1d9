#!/usr/bin/env bash
# `make demo`: a sample EHR-like backend on loopback with phiguard in front
# of it, on free ports, with a fresh self-signed certificate. Ctrl-C stops
# both. Everything lives in .demo/ (git-ignored).
set -euo pipefail
bin=${1:-build/phiguard}
case "$bin" in /*) ;; *) bin="$(pwd)/$bin" ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/.demo"
mkdir -p "$dir"
cd "$dir"

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if [ ! -f cert.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout key.pem -out cert.pem 2>/dev/null
fi

# Session and MFA keys for the demo only (mode 0600: phiguard refuses others).
umask 077
[ -f session.key ] || openssl rand -base64 48 > session.key
[ -f mfa.key ] || openssl rand -hex 32 > mfa.key
[ -f audit.key ] || "$bin" keys audit-generate --private audit.key --public audit.pub >/dev/null
[ -f phi.keyring ] || "$bin" keys generate --keyring phi.keyring >/dev/null
umask 022

backend_port=$(free_port)
proxy_port=$(free_port)
admin_port=$(free_port)

cat > phiguard.yaml <<YAML
listen: "127.0.0.1:${proxy_port}"
workers: 2
tls:
  certificate: cert.pem
  key: key.pem
upstream:
  address: "127.0.0.1:${backend_port}"
admin:
  listen: "127.0.0.1:${admin_port}"
policy:
  file: $top/conf/policy.yaml
redis:
  address: "unix:$dir/redis.sock"
auth:
  users_file: $top/conf/users.yaml
  token_key_file: session.key
  mfa_key_file: mfa.key
  issuer: phiguard-demo
phi:
  keyring_file: phi.keyring
audit:
  spool_dir: $dir/spool
  signing_key_file: audit.key
log:
  level: info
  access: true
YAML

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 --save "" --appendonly no \
  --dir "$dir" >redis.log 2>&1 &
pids+=($!)
/usr/bin/python3 "$top/scripts/sample_backend.py" --listen "127.0.0.1:${backend_port}" >backend.log 2>&1 &
pids+=($!)
"$bin" serve -c phiguard.yaml 2>phiguard.log &
pids+=($!)

for _ in $(seq 1 50); do
  if curl -fsS "http://127.0.0.1:${admin_port}/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:${admin_port}/readyz" >/dev/null || { echo "phiguard did not start; see $dir/phiguard.log"; exit 1; }

cat <<TXT

phiguard is running in front of the sample EHR backend.

  https://localhost:${proxy_port}/            (TLS 1.3, self-signed: $dir/cert.pem)
  backend (loopback only): http://127.0.0.1:${backend_port}/
  admin: http://127.0.0.1:${admin_port}/healthz  /readyz

Sign in with a browser at https://localhost:${proxy_port}/auth/login
(demo users in docs/authentication.md: n.joy / demo-nurse-password has no
second factor; dr.grey / demo-physician-pass enrolls a TOTP app first).

Or with curl (the token is the "token" member of the answer):
  curl --cacert $dir/cert.pem -H 'Content-Type: application/json' \\
       -d '{"username":"n.joy","password":"demo-nurse-password"}' https://localhost:${proxy_port}/auth/login
  curl --cacert $dir/cert.pem -H "Authorization: Bearer \$TOKEN" https://localhost:${proxy_port}/fhir/Patient

Every request is in the audit trail (Redis streams audit:*); check it with
  $bin audit verify -c $dir/phiguard.yaml --public $dir/audit.pub

Logs: $dir/phiguard.log (one JSON object per line). Ctrl-C stops the demo.
TXT
wait "${pids[2]}"
