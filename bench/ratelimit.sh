#!/usr/bin/env bash
# The cost of deciding rate limits, phiguard alone:
#
#   bench/ratelimit.sh [PATH/TO/phiguard]                (make bench-ratelimit)
#
# Requests/s on a public route with no rate limit, with a local one (the
# process's shared table) and with a global one (one Redis script call per
# request), from the same binary. The limit is set far above what wrk can
# send (100000/s, burst 1000000, per client IP: every wrk connection is the
# same key, the hottest case), so it never refuses: what is measured is the
# cost of the decision. A refused request would show in the table.
#
# Knobs: ROUNDS (5), DURATION (5 s), CONNECTIONS (50), VARIANTS ("none local
# global"), LOAD_CPU (0: wrk, the backend, Redis), PROXY_CPU (1: phiguard,
# one worker), KEEP_WORK. One phiguard per variant, started once; only the
# one being measured gets load; variants alternate in rotating order each
# round. Medians over rounds; ratios are medians of per-round ratios.
set -euo pipefail
bench_dir=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$bench_dir/.." && pwd)
. "$bench_dir/lib/common.sh"
. "$bench_dir/lib/contenders.sh"

read -r -a variants <<<"${VARIANTS:-none local global}"
for v in "${variants[@]}"; do
  case $v in none | local | global) ;; *) die "unknown variant '$v' (none, local, global)" ;; esac
done
bench_setup "${1:-}"

bench_init phiguard-bench-ratelimit

make_cert
read -r backend_port <<<"$(free_ports 1)"
start_backend
start_redis_unix
cp "$bin" "$work/phiguard"

declare -A port admin pid
for v in "${variants[@]}"; do
  read -r port[$v] admin[$v] <<<"$(free_ports 2)"
  {
    printf 'version: 1\nroutes:\n  - {name: all, methods: "*", path: /**, public: true}\n'
    [ "$v" = none ] || printf 'rate_limits:\n  - {name: bench, key: [ip], scope: %s, rate: 100000/s, burst: 1000000}\n' "$v"
  } > "$work/policy-$v.yaml"
  "$work/phiguard" policy check "$work/policy-$v.yaml" >/dev/null || die "policy-$v.yaml does not check"
  cat > "$work/$v.yaml" <<CONF
listen: "127.0.0.1:${port[$v]}"
workers: 1
instance_id: bench-$v
tls: {certificate: $work/cert.pem, key: $work/key.pem}
upstream: {address: "127.0.0.1:$backend_port", max_idle: 256}
admin: {listen: "127.0.0.1:${admin[$v]}"}
policy: {file: $work/policy-$v.yaml}
redis: {address: "unix:$work/redis.sock"}
log: {level: warn, access: false}
CONF
  taskset -c "$PROXY_CPU" "$work/phiguard" serve -c "$work/$v.yaml" 2>"$work/$v.log" &
  pid[$v]=$!
  track "${pid[$v]}"
  wait_200 "http://127.0.0.1:${admin[$v]}/readyz" 100 || die "phiguard ($v) did not start: $(tail -5 "$work/$v.log")"
done

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$bench_dir/out"
results="$bench_dir/out/ratelimit-$stamp.tsv"
{
  echo "command: ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS VARIANTS=\"${variants[*]}\" bench/ratelimit.sh"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "machine: $(nproc --all) × $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "pinning: wrk -t1, the backend and Redis (unix socket, no persistence) on CPU $LOAD_CPU; phiguard (1 worker) on CPU $PROXY_CPU"
} > "$work/meta.txt"
sed 's/^/bench: /' "$work/meta.txt" >&2
for v in "${variants[@]}"; do wrk_run "$work/warmup.out" -c"$CONNECTIONS" -d1s "https://127.0.0.1:${port[$v]}/"; done

echo -e "round\tcontender\tvariant\trps\tp50_ms\tp99_ms\trequests\tseconds\terrors\tcpu_ticks\tcpu_us_per_req" > "$results"
for round in $(seq 1 "$ROUNDS"); do
  for ((i = 0; i < ${#variants[@]}; i++)); do
    v=${variants[(i + round - 1) % ${#variants[@]}]}
    t0=$(cpu_ticks "${pid[$v]}")
    wrk_run "$work/wrk.out" -c"$CONNECTIONS" -d"${DURATION}s" --latency "https://127.0.0.1:${port[$v]}/"
    t1=$(cpu_ticks "${pid[$v]}")
    /usr/bin/python3 "$bench_dir/parse_wrk.py" "$round" phiguard "$v" "$((t1 - t0))" "$(getconf CLK_TCK)" \
      < "$work/wrk.out" >> "$results"
  done
  say "round $round/$ROUNDS done"
done
# A global limit that fell back to the local table measured the wrong thing.
for v in "${variants[@]}"; do
  if grep -q '"msg":"ratelimit_fallback"' "$work/$v.log"; then
    say "warning: $v fell back to local decisions during the run: $(grep -m1 ratelimit_fallback "$work/$v.log")"
  fi
done
/usr/bin/python3 "$bench_dir/summarize_ratelimit.py" "$results" "$work/meta.txt" > "${results%.tsv}.md"
cat "${results%.tsv}.md"
say "raw results: $results"
