#!/usr/bin/env bash
# The cost of the audit trail (issue 5's target), phiguard alone:
#
#   bench/audit.sh [PATH/TO/phiguard]                    (make bench-audit)
#
# Requests/s on a public route with the audit trail in strict mode (every
# response waits until its record is fsynced in the spool or stored in
# Redis) against the same binary with the audit trail off; and async mode
# for comparison. Target: strict >= 0.85 of off. Also reported: records/s
# into Redis per writer and the spool's fsync batch sizes (from the admin
# listener's /audit).
#
# Knobs: ROUNDS (5), DURATION (5 s), CONNECTIONS (50), VARIANTS ("off strict
# async"), LOAD_CPU (0: wrk, the backend, Redis), PROXY_CPU (1: phiguard, one
# worker, its I/O threads), KEEP_WORK. One phiguard per variant, started
# once; only the one being measured gets load. Medians over rounds; ratios
# are medians of per-round ratios.
set -euo pipefail
bench_dir=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$bench_dir/.." && pwd)
. "$bench_dir/lib/common.sh"
. "$bench_dir/lib/contenders.sh"

read -r -a variants <<<"${VARIANTS:-off strict async}"
for v in "${variants[@]}"; do
  case $v in off | strict | async) ;; *) die "unknown variant '$v' (off, strict, async)" ;; esac
done
bench_setup "${1:-}"

bench_init phiguard-bench-audit

make_cert
read -r backend_port <<<"$(free_ports 1)"
start_backend

start_redis_unix
cp "$bin" "$work/phiguard"
"$work/phiguard" keys audit-generate --private "$work/audit.key" --public "$work/audit.pub" >/dev/null
printf 'version: 1\nroutes:\n  - {name: all, methods: "*", path: /**, public: true}\n' > "$work/policy.yaml"

declare -A port admin pid
for v in "${variants[@]}"; do
  read -r port[$v] admin[$v] <<<"$(free_ports 2)"
  audit=""
  [ "$v" = off ] || audit="audit: {spool_dir: $work/spool-$v, signing_key_file: $work/audit.key, mode: $v}"
  cat > "$work/$v.yaml" <<CONF
listen: "127.0.0.1:${port[$v]}"
workers: 1
instance_id: bench-$v
tls: {certificate: $work/cert.pem, key: $work/key.pem}
upstream: {address: "127.0.0.1:$backend_port", max_idle: 256}
admin: {listen: "127.0.0.1:${admin[$v]}"}
policy: {file: $work/policy.yaml}
redis: {address: "unix:$work/redis.sock"}
$audit
log: {level: warn, access: false}
CONF
  taskset -c "$PROXY_CPU" "$work/phiguard" serve -c "$work/$v.yaml" 2>"$work/$v.log" &
  pid[$v]=$!
  track "${pid[$v]}"
  wait_200 "http://127.0.0.1:${admin[$v]}/readyz" 100 || die "phiguard ($v) did not start: $(tail -5 "$work/$v.log")"
done


stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$bench_dir/out"
results="$bench_dir/out/audit-$stamp.tsv"
{
  echo "command: ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS VARIANTS=\"${variants[*]}\" bench/audit.sh"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "machine: $(nproc --all) × $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); spool on $(df -P "$work" | awk 'NR==2 {print $1}')"
  echo "pinning: wrk -t1, the backend and Redis (unix socket, no persistence) on CPU $LOAD_CPU; phiguard (1 worker + its I/O threads) on CPU $PROXY_CPU"
} > "$work/meta.txt"
sed 's/^/bench: /' "$work/meta.txt" >&2
for v in "${variants[@]}"; do wrk_run "$work/warmup.out" -c"$CONNECTIONS" -d1s "https://127.0.0.1:${port[$v]}/"; done

echo -e "round\tcontender\tvariant\trps\tp50_ms\tp99_ms\trequests\tseconds\terrors\tcpu_ticks\tcpu_us_per_req\taudit" > "$results"
for round in $(seq 1 "$ROUNDS"); do
  for ((i = 0; i < ${#variants[@]}; i++)); do
    v=${variants[(i + round - 1) % ${#variants[@]}]}
    before=$(curl -s "http://127.0.0.1:${admin[$v]}/audit")
    t0=$(cpu_ticks "${pid[$v]}")
    wrk_run "$work/wrk.out" -c"$CONNECTIONS" -d"${DURATION}s" --latency "https://127.0.0.1:${port[$v]}/"
    t1=$(cpu_ticks "${pid[$v]}")
    sleep 0.3 # the last acknowledgements
    after=$(curl -s "http://127.0.0.1:${admin[$v]}/audit")
    line=$(/usr/bin/python3 "$bench_dir/parse_wrk.py" "$round" phiguard "$v" "$((t1 - t0))" "$(getconf CLK_TCK)" < "$work/wrk.out")
    echo -e "$line\t$(/usr/bin/python3 -c 'import json,sys; b,a=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(json.dumps({"before":b,"after":a}))' "$before" "$after")" >> "$results"
  done
  say "round $round/$ROUNDS done"
done
/usr/bin/python3 "$bench_dir/summarize_audit.py" "$results" "$work/meta.txt" "$DURATION" > "${results%.tsv}.md"
cat "${results%.tsv}.md"
say "raw results: $results"
if [ "${#variants[@]}" -gt 1 ] && [ -n "${pid[strict]:-}" ]; then
  "$work/phiguard" audit verify -c "$work/strict.yaml" --public "$work/audit.pub" | tail -1 >&2
fi
