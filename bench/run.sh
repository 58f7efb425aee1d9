#!/usr/bin/env bash
# phiguard against nginx: same machine, same certificate, same backend.
#
#   bench/run.sh [PATH/TO/phiguard]            (make bench: build/phiguard)
#
# Knobs (environment):
#   ROUNDS       rounds; contenders alternate within each round (5)
#   DURATION     seconds per wrk run (5)
#   CONNECTIONS  wrk connections (50)
#   SCENARIOS    "keepalive handshake handshake_capped body64k"
#   CONTENDERS   "backend nginx phiguard" ("backend nginx" needs no binary)
#   PROXY_QUOTA  percent of its core each proxy gets in handshake_capped (50)
#   WARMUP       seconds of unrecorded load per contender before round 1 (1)
#   LOAD_CPU     core for wrk and the backend (0)
#   PROXY_CPU    core for the proxy under test (1)
#   KEEP_WORK    1 keeps the temporary directory (configs, logs) for a look
#
# wrk -t1 and the backend share LOAD_CPU; the proxy under test has PROXY_CPU
# to itself; both proxies run one worker, so the comparison is per core.
# Contenders alternate within each round (their order rotates every round),
# and medians over rounds are reported: the machine is shared and noisy. The
# proxy's CPU time per request (user+system from /proc/PID/stat over a run,
# divided by the requests wrk completed) is the steadiest figure of all.
# Results: a Markdown table on stdout, and bench/out/results-*.{tsv,md}.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
bench_dir=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$bench_dir/.." && pwd)
. "$bench_dir/lib/common.sh"
. "$bench_dir/lib/cpucap.sh"
. "$bench_dir/lib/contenders.sh"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-50}
SCENARIOS=${SCENARIOS:-"keepalive handshake handshake_capped body64k"}
CONTENDERS=${CONTENDERS:-"backend nginx phiguard"}
PROXY_QUOTA=${PROXY_QUOTA:-50}
WARMUP=${WARMUP:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}

for knob in ROUNDS DURATION CONNECTIONS PROXY_QUOTA WARMUP LOAD_CPU PROXY_CPU; do
  [[ ${!knob} =~ ^[0-9]+$ ]] || die "$knob must be a whole number, not '${!knob}'"
done
if [ "$ROUNDS" -lt 1 ] || [ "$DURATION" -lt 1 ] || [ "$CONNECTIONS" -lt 1 ]; then
  die "ROUNDS, DURATION and CONNECTIONS must be at least 1"
fi
if [ "$PROXY_QUOTA" -lt 1 ] || [ "$PROXY_QUOTA" -gt 100 ]; then die "PROXY_QUOTA is a percentage: 1..100"; fi
for s in $SCENARIOS; do
  case $s in keepalive | handshake | handshake_capped | body64k) ;;
  *) die "unknown scenario '$s' (keepalive, handshake, handshake_capped, body64k)" ;;
  esac
done
has() { [[ " $CONTENDERS " == *" $1 "* ]]; }
for c in $CONTENDERS; do
  case $c in backend | nginx | phiguard) ;; *) die "unknown contender '$c' (backend, nginx, phiguard)" ;; esac
done

for tool in wrk nginx openssl curl taskset pgrep /usr/bin/python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
done
cores=$(nproc --all)
for knob in LOAD_CPU PROXY_CPU; do
  [ "${!knob}" -lt "$cores" ] || die "$knob=${!knob}, but this machine has CPUs 0..$((cores - 1))"
done
[ "$LOAD_CPU" != "$PROXY_CPU" ] || say "warning: LOAD_CPU = PROXY_CPU: load generator and proxy share a core"

bin=""
if has phiguard; then
  bin=$(readlink -f "${1:-$top/build/phiguard}" || true)
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    die "no phiguard binary at ${1:-$top/build/phiguard} (make build), or run without it: CONTENDERS=\"backend nginx\" $0"
  fi
fi

bench_cleanup() { cpucap_remove; }
bench_init phiguard-bench
make_cert

read -r backend_port nginx_port pg_port pg_admin_port <<<"$(free_ports 4)"
nginx_pid=""
phiguard_pid=""

# The backend serves every contender, so it always runs.
start_backend
has nginx && start_nginx
has phiguard && start_phiguard "$bin"

# Both proxies must negotiate the same thing with wrk's OpenSSL, or the
# comparison is not of equal work.
tls_nginx="" tls_phiguard=""
for who in nginx phiguard; do
  has "$who" || continue
  port_var=${who/phiguard/pg}_port
  summary=$(tls_summary "127.0.0.1:${!port_var}")
  [[ $summary == "TLSv1.3 "*" http/1.1" ]] || die "$who negotiates '$summary', expected TLSv1.3 with ALPN http/1.1"
  printf -v "tls_$who" '%s' "$summary"
done
if has nginx && has phiguard && [ "$tls_nginx" != "$tls_phiguard" ]; then
  say "warning: the proxies negotiate differently: nginx '$tls_nginx', phiguard '$tls_phiguard'"
fi

capped_ok=0
if [[ " $SCENARIOS " == *" handshake_capped "* ]]; then
  if cpucap_init "$PROXY_QUOTA"; then capped_ok=1; else
    say "no writable cgroup v1 cpu controller: handshake_capped is skipped"
  fi
fi

url_of() {
  case $1 in
    backend) echo "http://127.0.0.1:$backend_port" ;;
    nginx) echo "https://127.0.0.1:$nginx_port" ;;
    phiguard) echo "https://127.0.0.1:$pg_port" ;;
  esac
}
pid_of() {
  case $1 in backend) echo "" ;; nginx) echo "$nginx_pid" ;; phiguard) echo "$phiguard_pid" ;; esac
}


# measure ROUND CONTENDER SCENARIO: one wrk run, one TSV line on stdout.
measure() {
  local round=$1 who=$2 scenario=$3 path=/ extra=()
  case $scenario in
    handshake | handshake_capped) extra=(-H "Connection: close") ;;
    body64k) path=/64k ;;
  esac
  local pid t0=0 t1=0
  pid=$(pid_of "$who")
  if [ "$scenario" = handshake_capped ]; then cpucap_enter "$pid"; fi
  [ -z "$pid" ] || t0=$(cpu_ticks "$pid")
  wrk_run "$work/wrk.out" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${extra[@]}" "$(url_of "$who")$path"
  if [ -n "$pid" ]; then
    kill -0 "$pid" 2>/dev/null || die "$who (pid $pid) died during the $scenario run: $(tail -5 "$work/$who".{log,err} 2>/dev/null)"
    t1=$(cpu_ticks "$pid")
  fi
  if [ "$scenario" = handshake_capped ]; then cpucap_leave "$pid"; fi
  /usr/bin/python3 "$bench_dir/parse_wrk.py" "$round" "$who" "$scenario" "$((t1 - t0))" "$(getconf CLK_TCK)" \
    < "$work/wrk.out" || die "could not read wrk's output for $who/$scenario: $(head -5 "$work/wrk.out")"
}

# Scenario -> its contenders, in CONTENDERS' order. A plain-HTTP backend does
# no handshake, so the handshake scenarios compare the proxies only.
contenders_of() {
  local c list=()
  for c in $CONTENDERS; do
    case $1 in handshake*) [ "$c" = backend ] && continue ;; esac
    list+=("$c")
  done
  echo "${list[@]}"
}

# rotate N WORDS...: the words rotated left by N, so that each contender runs
# first, second and last equally often and drift favours none.
rotate() {
  local n=$1
  shift
  local a=("$@") i
  for ((i = 0; i < ${#a[@]}; i++)); do printf '%s ' "${a[(i + n) % ${#a[@]}]}"; done
}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out_dir="$bench_dir/out"
mkdir -p "$out_dir"
results="$out_dir/results-$stamp.tsv"
meta="$work/meta.txt"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
  echo "command: ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS SCENARIOS=\"$SCENARIOS\" CONTENDERS=\"$CONTENDERS\" bench/run.sh${bin:+ ${1:-build/phiguard}}"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "machine: $cores × $cpu_model; $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(openssl version | cut -d' ' -f1-2), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "pinning: wrk -t1 and the backend (nginx, 1 worker) on CPU $LOAD_CPU; the proxy under test (1 worker) alone on CPU $PROXY_CPU"
  [ -z "$tls_nginx" ] || echo "nginx TLS: $tls_nginx"
  [ -z "$tls_phiguard" ] || echo "phiguard TLS: $tls_phiguard"
  [ -z "$bin" ] || echo "phiguard binary: $bin (sha256 $(sha256sum "$bin" | cut -c1-12))"
  [ $capped_ok = 0 ] || echo "handshake_capped: each proxy held to $PROXY_QUOTA% of its core (cgroup v1 cpu quota)"
} > "$meta"
sed 's/^/bench: /' "$meta" >&2

if [ "$WARMUP" -gt 0 ]; then
  for who in $CONTENDERS; do
    wrk_run "$work/warmup.out" -c"$CONNECTIONS" -d"${WARMUP}s" "$(url_of "$who")/"
  done
fi

echo -e "round\tcontender\tscenario\trps\tp50_ms\tp99_ms\trequests\tseconds\terrors\tcpu_ticks\tcpu_us_per_req" > "$results"
started=$SECONDS
for round in $(seq 1 "$ROUNDS"); do
  for scenario in $SCENARIOS; do
    [ "$scenario" != handshake_capped ] || [ $capped_ok = 1 ] || continue
    # shellcheck disable=SC2046
    for who in $(rotate $((round - 1)) $(contenders_of "$scenario")); do
      measure "$round" "$who" "$scenario" >> "$results"
    done
  done
  say "round $round/$ROUNDS done ($((SECONDS - started)) s)"
done

/usr/bin/python3 "$bench_dir/summarize.py" "$results" "$meta" "$(getconf CLK_TCK)" > "${results%.tsv}.md"
cp "${results%.tsv}.md" "$out_dir/latest.md"
cat "${results%.tsv}.md"
say "raw results: $results; table: ${results%.tsv}.md (and bench/out/latest.md)"
