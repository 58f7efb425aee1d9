#!/usr/bin/env bash
# phiguard against nginx, same machine, same certificate, same backend.
#
#   bench/run.sh [PATH/TO/phiguard]        (make bench)
#
# Knobs (environment): ROUNDS (5), DURATION seconds per run (8),
# CONNECTIONS (50), SCENARIOS ("keepalive handshake handshake_capped body64k"),
# PROXY_QUOTA (percent of a core for handshake_capped, 50).
#
# Pinning on a 2-core machine: the load generator (wrk) and the backend on
# core 0, the proxy under test alone on core 1, one worker for both proxies,
# so the comparison is per core. Contenders alternate within each round and
# the medians over rounds are reported, with the proxy's CPU time per
# request from /proc (the least noisy figure on a shared machine).
set -euo pipefail
bin=$(readlink -f "${1:-build/phiguard}")
top=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-50}
SCENARIOS=${SCENARIOS:-"keepalive handshake handshake_capped body64k"}
PROXY_QUOTA=${PROXY_QUOTA:-50}
LOAD_CPU=0
PROXY_CPU=1

for tool in wrk nginx openssl curl taskset; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (make deps)"; exit 1; }
done
[ -x "$bin" ] || { echo "bench: no phiguard binary at $bin (make build)"; exit 1; }

work=$(mktemp -d /tmp/phiguard-bench.XXXXXX)
out_dir="$top/bench/out"
mkdir -p "$out_dir"
pids=()
cgroot=/sys/fs/cgroup/cpu
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for g in pgbench-nginx pgbench-phiguard; do rmdir "$cgroot/$g" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
head -c 65536 /dev/urandom > "$work/64k.bin"
# nginx workers run as nobody: let them read the files.
chmod 755 "$work"; chmod 644 "$work"/*

backend_port=$(port); nginx_port=$(port); pg_port=$(port); pg_admin=$(port)

# The backend: nginx answering a small fixed body, and a 64 KiB file.
cat > "$work/backend.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/backend.pid;
error_log $work/backend.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$backend_port;
    keepalive_requests 1000000;
    location = /64k { alias $work/64k.bin; }
    location / { return 200 "hello from the backend, a small body\n"; }
  }
}
CONF

# nginx as a TLS 1.3 reverse proxy doing the same header work as phiguard:
# upstream keep-alive, the five security headers, a request id, forwarding
# headers, X-Powered-By hidden.
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream app { server 127.0.0.1:$backend_port; keepalive 256; }
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.3;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Request-Id \$request_id;
      proxy_hide_header X-Powered-By;
      add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;
      add_header X-Content-Type-Options nosniff always;
      add_header X-Frame-Options DENY always;
      add_header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'" always;
      add_header Referrer-Policy no-referrer always;
      add_header X-Request-Id \$request_id always;
    }
  }
}
CONF

cat > "$work/phiguard.yaml" <<CONF
listen: "127.0.0.1:$pg_port"
workers: 1
tls: {certificate: $work/cert.pem, key: $work/key.pem, min_version: "1.3"}
upstream: {address: "127.0.0.1:$backend_port", max_idle: 256}
admin: {listen: "127.0.0.1:$pg_admin"}
limits: {max_connections: 100000}
log: {level: warn, access: false}
CONF

taskset -c $LOAD_CPU nginx -c "$work/backend.conf" & pids+=($!)
taskset -c $PROXY_CPU nginx -c "$work/nginx.conf" & pids+=($!)
taskset -c $PROXY_CPU "$bin" serve -c "$work/phiguard.yaml" 2>"$work/phiguard.log" & pg_pid=$!; pids+=($pg_pid)

ready() { for _ in $(seq 1 100); do curl -fsk -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }
ready "http://127.0.0.1:$backend_port/" || { echo "bench: backend did not start"; cat "$work/backend.err"; exit 1; }
ready "https://127.0.0.1:$nginx_port/" || { echo "bench: nginx did not start"; cat "$work/nginx.err"; exit 1; }
ready "http://127.0.0.1:$pg_admin/readyz" || { echo "bench: phiguard did not start"; cat "$work/phiguard.log"; exit 1; }
for url in "https://127.0.0.1:$nginx_port/" "https://127.0.0.1:$pg_port/"; do
  code=$(curl -sk -o /dev/null -w '%{http_code}' "$url")
  [ "$code" = 200 ] || { echo "bench: $url answered $code"; exit 1; }
done
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# handshake_capped: with wrk and the backend saturating CPU 0, a new-connection
# run measures the load generator as much as the proxy (a proxy that answers
# faster leaves wrk fewer events per wakeup, so wrk spends more per
# connection). Capping each proxy at PROXY_QUOTA% of its core (cgroup v1 CPU
# quota) makes the proxy the bottleneck, so handshakes/s measures the proxy.
capped_ok=0
if [ -w "$cgroot" ] && mkdir -p "$cgroot/pgbench-nginx" "$cgroot/pgbench-phiguard" 2>/dev/null; then
  for g in pgbench-nginx pgbench-phiguard; do
    echo 100000 > "$cgroot/$g/cpu.cfs_period_us"
    echo $((PROXY_QUOTA * 1000)) > "$cgroot/$g/cpu.cfs_quota_us"
  done
  capped_ok=1
fi
# cap PID GROUP | uncap PID: move every thread of PID in or out
cap() { for t in /proc/$1/task/*; do echo "${t##*/}" > "$cgroot/$2/tasks"; done; }
uncap() { for t in /proc/$1/task/*; do echo "${t##*/}" > "$cgroot/tasks"; done; }

# run NAME PID URL SCENARIO -> one result line
run() {
  local name=$1 pid=$2 base=$3 scenario=$4 path=/ extra=()
  case $scenario in
    handshake|handshake_capped) extra=(-H "Connection: close") ;;
    body64k) path=/64k ;;
  esac
  local t0=0 t1=0
  [ "$scenario" = handshake_capped ] && cap "$pid" "pgbench-$name"
  [ -n "$pid" ] && t0=$(cpu_ticks "$pid")
  local out
  out=$(taskset -c $LOAD_CPU wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${extra[@]}" "$base$path")
  [ -n "$pid" ] && t1=$(cpu_ticks "$pid")
  [ "$scenario" = handshake_capped ] && uncap "$pid"
  echo "$out" > "$work/last-wrk.txt"
  /usr/bin/python3 "$top/bench/parse_wrk.py" "$name" "$scenario" "$((t1 - t0))" "$(getconf CLK_TCK)" < "$work/last-wrk.txt"
}

results="$out_dir/results-$(date -u +%Y%m%dT%H%M%SZ).tsv"
echo -e "contender\tscenario\trps\tp50_ms\tp99_ms\trequests\terrors\tcpu_us_per_req" > "$results"
echo "bench: $ROUNDS rounds x ${DURATION}s, $CONNECTIONS connections; wrk+backend on CPU $LOAD_CPU, proxy on CPU $PROXY_CPU" >&2
for round in $(seq 1 "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    if [ "$scenario" = handshake_capped ] && [ $capped_ok = 0 ]; then
      echo "bench: no writable cgroup v1 cpu controller: skipping handshake_capped" >&2; continue
    fi
    if [ "${scenario#handshake}" = "$scenario" ]; then
      run backend "" "http://127.0.0.1:$backend_port" "$scenario" >> "$results"
    fi
    # Alternate which proxy goes first, so drift in the machine's load
    # does not favour one of them.
    if [ $((round % 2)) -eq 1 ]; then order="nginx phiguard"; else order="phiguard nginx"; fi
    for who in $order; do
      if [ $who = nginx ]; then
        run nginx "$nginx_worker" "https://127.0.0.1:$nginx_port" "$scenario" >> "$results"
      else
        run phiguard "$pg_pid" "https://127.0.0.1:$pg_port" "$scenario" >> "$results"
      fi
    done
    echo "bench: round $round $scenario done" >&2
  done
done
/usr/bin/python3 "$top/bench/summarize.py" "$results" "$ROUNDS" "$DURATION" "$CONNECTIONS" | tee "${results%.tsv}.md"
