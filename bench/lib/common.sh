# shellcheck shell=bash
# Helpers shared by bench/run.sh: messages, ports, templates, readiness,
# CPU accounting from /proc, and the registry of everything started, so that
# one trap can stop it all (normal end, error, Ctrl-C or SIGTERM).

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

# Processes started by the bench, stopped in reverse order by stop_all.
started_pids=()
track() { started_pids+=("$1"); }

# Stop every tracked process: SIGTERM, up to 5 s of grace, then SIGKILL.
# nginx masters stop their workers on SIGTERM; a worker whose master died
# anyway is tracked too and killed here.
stop_all() {
  local p i
  for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${started_pids[i]}" 2>/dev/null || true
  done
  for _ in $(seq 1 50); do
    local alive=0
    for p in "${started_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${started_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  started_pids=()
}

# free_ports N: N distinct loopback TCP ports, all held open while chosen so
# that they differ; the kernel picks them (bind to port 0).
free_ports() {
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
PY
}

# render TEMPLATE OUT NAME=VALUE...: replace each @NAME@; a placeholder left
# over is an error (a template and this script out of step).
render() {
  local tmpl=$1 out=$2 kv args=()
  shift 2
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$tmpl" > "$out"
  if grep -qE '@[A-Z_]+@' "$out"; then
    die "$tmpl: placeholder not filled: $(grep -oE '@[A-Z_]+@' "$out" | sort -u | tr '\n' ' ')"
  fi
}

# http_code URL: the status curl gets (000 when nothing answers).
http_code() { curl -sk -o /dev/null --max-time 2 -w '%{http_code}' "$1" || true; }

# wait_200 URL [TRIES]: poll every 0.1 s until URL answers 200.
wait_200() {
  local url=$1 tries=${2:-100}
  for _ in $(seq 1 "$tries"); do
    [ "$(http_code "$url")" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}

# cpu_ticks PID: user + system clock ticks of the whole process (all its
# threads). The fields are counted after the ")" that ends the command name,
# which may itself hold spaces: utime and stime are the 12th and 13th there.
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat") || die "process $1 is gone"
  stat=${stat##*) }
  awk '{print $12 + $13}' <<<"$stat"
}

# tls_summary HOST:PORT: "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519 http/1.1",
# what a client offering ALPN http/1.1 negotiates.
tls_summary() {
  local out
  out=$(openssl s_client -connect "$1" -alpn http/1.1 </dev/null 2>&1) || true
  local proto cipher group alpn
  proto=$(sed -n 's/^New, \(TLSv[0-9.]*\), Cipher is \(.*\)$/\1/p' <<<"$out" | head -1)
  cipher=$(sed -n 's/^New, TLSv[0-9.]*, Cipher is \(.*\)$/\1/p' <<<"$out" | head -1)
  group=$(sed -n 's/^Server Temp Key: \([^,]*\),.*$/\1/p' <<<"$out" | head -1)
  alpn=$(sed -n 's/^ALPN protocol: \(.*\)$/\1/p' <<<"$out" | head -1)
  echo "${proto:-none} ${cipher:-none} ${group:-none} ${alpn:-none}"
}

# bench_init PREFIX: the run's temporary directory ($work, removed at exit
# unless KEEP_WORK=1) and the traps that stop everything started. A script
# with more to undo defines bench_cleanup before calling it.
bench_init() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  wrk_pid=""
  trap bench_on_exit EXIT
  trap 'say "interrupted"; exit 130' INT
  trap 'say "terminated"; exit 143' TERM HUP
}
bench_on_exit() {
  local rc=$?
  trap - EXIT INT TERM HUP
  [ -z "$wrk_pid" ] || kill -TERM "$wrk_pid" 2>/dev/null || true
  if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
  stop_all
  if [ "${KEEP_WORK:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}

# make_cert: a self-signed ECDSA P-256 certificate for localhost and
# 127.0.0.1 ($work/cert.pem, $work/key.pem), and the backend's 64 KiB file;
# readable by nginx's workers (nobody).
make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null ||
    die "openssl could not make the self-signed certificate"
  head -c 65536 /dev/urandom > "$work/64k.bin"
  chmod 755 "$work"
  chmod 644 "$work"/*
}

# start_redis_unix: redis-server on $work/redis.sock only, nothing on disk,
# on the load generator's core.
start_redis_unix() {
  taskset -c "$LOAD_CPU" redis-server --port 0 --unixsocket "$work/redis.sock" --unixsocketperm 700 --save "" \
    --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  track $!
  for _ in $(seq 1 50); do [ -S "$work/redis.sock" ] && return 0; sleep 0.1; done
  die "redis-server did not start: $(tail -3 "$work/redis.log")"
}

# wrk_run OUT ARGS...: wrk -t1 on the load core, in the background so that
# a signal reaches the trap at once rather than after the run.
wrk_run() {
  local out=$1
  shift
  taskset -c "$LOAD_CPU" wrk -t1 "$@" > "$out" 2>&1 &
  wrk_pid=$!
  local rc=0
  wait "$wrk_pid" || rc=$?
  wrk_pid=""
  [ $rc = 0 ] || die "wrk failed ($rc): $(tail -3 "$out")"
}

# bench_setup [PHIGUARD] [EXTRA_KNOB...]: the knobs every phiguard-alone
# bench shares (ROUNDS 5, DURATION 5 s, CONNECTIONS 50, LOAD_CPU 0,
# PROXY_CPU 1; an extra knob must have its default set before), each a
# whole number; the tools they run; and $bin, the phiguard binary.
bench_setup() {
  local given=${1:-}
  shift || true
  ROUNDS=${ROUNDS:-5}
  DURATION=${DURATION:-5}
  CONNECTIONS=${CONNECTIONS:-50}
  LOAD_CPU=${LOAD_CPU:-0}
  PROXY_CPU=${PROXY_CPU:-1}
  local knob tool
  for knob in ROUNDS DURATION CONNECTIONS LOAD_CPU PROXY_CPU "$@"; do
    [[ ${!knob} =~ ^[0-9]+$ ]] || die "$knob must be a whole number, not '${!knob}'"
  done
  for tool in wrk nginx openssl curl taskset redis-server /usr/bin/python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
  done
  bin=$(readlink -f "${given:-$top/build/phiguard}" || true)
  [ -n "$bin" ] && [ -x "$bin" ] || die "no phiguard binary at ${given:-$top/build/phiguard} (make build)"
}
