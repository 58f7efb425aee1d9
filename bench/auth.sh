#!/usr/bin/env bash
# The cost of authentication (issue 4's targets), phiguard alone:
#
#   bench/auth.sh [PATH/TO/phiguard]                      (make bench-auth)
#
# 1. session: requests/s on a route that needs a session (Bearer token,
#    1-second worker cache, Redis behind it) against the same route made
#    public. Target: >= 0.90.
# 2. logins: wrk's p99 latency on an authenticated route while another
#    client performs LOGIN_RATE password logins per second (default Argon2id
#    parameters), against the same run while that client sends LOGIN_RATE
#    cheap requests per second instead. Target: <= 2.0.
#
# Knobs: ROUNDS (5), DURATION (5 s), CONNECTIONS (50), LOGIN_RATE (20), VARIANTS
# ("public session no_logins logins"), ARGON2_NICE (19: auth.argon2_nice),
# LOAD_CPU (0: wrk, the login client, the backend, Redis), PROXY_CPU (1:
# phiguard, one worker, and its hashing thread), KEEP_WORK.
# The variants alternate within each round, in rotating order; medians over
# rounds are reported. Results: a Markdown table on stdout and
# bench/out/auth-*.{tsv,md}.
set -euo pipefail
bench_dir=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$bench_dir/.." && pwd)
. "$bench_dir/lib/common.sh"
. "$bench_dir/lib/contenders.sh"

LOGIN_RATE=${LOGIN_RATE:-20}
ARGON2_NICE=${ARGON2_NICE:-19}
bench_setup "${1:-}" LOGIN_RATE ARGON2_NICE

bench_init phiguard-bench-auth

make_cert
read -r backend_port pg_port pg_admin_port <<<"$(free_ports 3)"
start_backend

start_redis_unix

(umask 077 && openssl rand -base64 48 > "$work/session.key" && openssl rand -hex 32 > "$work/mfa.key")
cat > "$work/policy.yaml" <<'YAML'
version: 1
routes:
  - {name: auth, methods: "*", path: /auth/**, public: true}
  - {name: public, methods: [GET], path: /public, public: true}
  - {name: private, methods: [GET], path: /private, permissions: [patient:read]}
sessions: {max_concurrent: 3, on_limit: end_oldest}
# The side client signs in 20 times a second from one address as one user:
# the sign-in limits must let that through, or no password would be hashed.
login_limits:
  ip: {rate: 1000/s, burst: 1000}
  username: {rate: 1000/s, burst: 1000}
YAML
cp "$bin" "$work/phiguard"
cat > "$work/phiguard.yaml" <<CONF
listen: "127.0.0.1:$pg_port"
workers: 1
tls: {certificate: $work/cert.pem, key: $work/key.pem}
upstream: {address: "127.0.0.1:$backend_port", max_idle: 256}
admin: {listen: "127.0.0.1:$pg_admin_port"}
policy: {file: $work/policy.yaml}
redis: {address: "unix:$work/redis.sock"}
auth: {users_file: $top/conf/users.yaml, token_key_file: $work/session.key, mfa_key_file: $work/mfa.key,
       argon2_nice: $ARGON2_NICE}
log: {level: warn, access: false}
CONF
taskset -c "$PROXY_CPU" "$work/phiguard" serve -c "$work/phiguard.yaml" 2>"$work/phiguard.log" &
phiguard_pid=$!
track "$phiguard_pid"
wait_200 "http://127.0.0.1:$pg_admin_port/readyz" 100 || die "phiguard did not start: $(tail -5 "$work/phiguard.log")"
base="https://127.0.0.1:$pg_port"
token=$(curl -s --cacert "$work/cert.pem" -H 'Content-Type: application/json' \
  -d '{"username":"n.joy","password":"demo-nurse-password"}' "$base/auth/login" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || die "login failed"
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/cert.pem" -H "Authorization: Bearer $token" "$base/private")" = 200 ] ||
  die "the token does not open /private"
[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/cert.pem" "$base/private")" = 401 ] ||
  die "/private answers without a session"


# measure ROUND VARIANT: one wrk run (and the side load of the logins
# variants); TSV lines on stdout.
measure() {
  local round=$1 variant=$2 path=/private side=""
  local hdr=(-H "Authorization: Bearer $token")
  case $variant in
    public) path=/public hdr=() ;;
    no_logins) side=get ;;
    logins) side=login ;;
  esac
  local t0 t1 side_pid=""
  t0=$(cpu_ticks "$phiguard_pid")
  if [ -n "$side" ]; then
    # Another user than the one wrk's token belongs to: the logins' own
    # sessions churn (end_oldest) without ending wrk's.
    if [ $side = login ]; then args=(login b.clerk demo-billing-password); else args=(get /public); fi
    taskset -c "$LOAD_CPU" /usr/bin/python3 "$bench_dir/login_load.py" "$base" "$LOGIN_RATE" "$DURATION" \
      "$work/cert.pem" "${args[@]}" > "$work/side.json" 2>"$work/side.err" &
    side_pid=$!
  fi
  wrk_run "$work/wrk.out" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${hdr[@]}" "$base$path"
  [ -z "$side_pid" ] || wait "$side_pid" || die "the login client failed: $(tail -3 "$work/side.err")"
  kill -0 "$phiguard_pid" 2>/dev/null || die "phiguard died: $(tail -5 "$work/phiguard.log")"
  t1=$(cpu_ticks "$phiguard_pid")
  local line errors
  errors=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$work/wrk.out")
  [ -z "$errors" ] || die "$variant: $errors responses were not 2xx (the session ended?): $(tail -3 "$work/phiguard.log")"
  line=$(/usr/bin/python3 "$bench_dir/parse_wrk.py" "$round" phiguard "$variant" "$((t1 - t0))" "$(getconf CLK_TCK)" \
    < "$work/wrk.out")
  echo -e "$line\t$( [ -n "$side" ] && cat "$work/side.json" || echo '')"
}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$bench_dir/out"
results="$bench_dir/out/auth-$stamp.tsv"
{
  echo "command: ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS LOGIN_RATE=$LOGIN_RATE bench/auth.sh"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "machine: $(nproc --all) × $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "pinning: wrk -t1, the side client, the backend and Redis on CPU $LOAD_CPU; phiguard (1 worker + 1 hashing thread at nice $ARGON2_NICE) on CPU $PROXY_CPU"
} > "$work/meta.txt"
sed 's/^/bench: /' "$work/meta.txt" >&2
wrk_run "$work/warmup.out" -c"$CONNECTIONS" -d1s -H "Authorization: Bearer $token" "$base/private"

echo -e "round\tcontender\tvariant\trps\tp50_ms\tp99_ms\trequests\tseconds\terrors\tcpu_ticks\tcpu_us_per_req\tside" > "$results"
read -r -a variants <<<"${VARIANTS:-public session no_logins logins}"
for round in $(seq 1 "$ROUNDS"); do
  for ((i = 0; i < ${#variants[@]}; i++)); do
    measure "$round" "${variants[(i + round - 1) % ${#variants[@]}]}" >> "$results"
  done
  say "round $round/$ROUNDS done"
done
/usr/bin/python3 "$bench_dir/summarize_auth.py" "$results" "$work/meta.txt" > "${results%.tsv}.md"
cat "${results%.tsv}.md"
say "raw results: $results"
