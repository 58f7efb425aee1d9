#!/usr/bin/env bash
# `make demo`: a sample EHR-like backend on loopback with phiguard in front
# of it, on free ports, with a fresh self-signed certificate. Ctrl-C stops
# both. Everything lives in .demo/ (git-ignored).
set -euo pipefail
bin=${1:-build/phiguard}
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

/usr/bin/python3 "$top/scripts/sample_backend.py" --listen "127.0.0.1:${backend_port}" >backend.log 2>&1 &
pids+=($!)
"$top/$bin" serve -c phiguard.yaml 2>phiguard.log &
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

Try it:
  curl --cacert $dir/cert.pem https://localhost:${proxy_port}/
  curl --cacert $dir/cert.pem -i https://localhost:${proxy_port}/echo
  curl --cacert $dir/cert.pem -X POST -H 'Content-Type: application/fhir+json' \\
       -d '{"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}]}' \\
       https://localhost:${proxy_port}/fhir/Patient
  curl --cacert $dir/cert.pem https://localhost:${proxy_port}/fhir/Patient/p1

Logs: $dir/phiguard.log (one JSON object per line). Ctrl-C stops the demo.
TXT
wait "${pids[1]}"
