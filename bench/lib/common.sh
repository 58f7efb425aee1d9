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
