#!/usr/bin/env bash
# PHI decryption in passing (issue 6's target), phiguard alone:
#
#   bench/phi.sh [PATH/TO/phiguard]                          (make bench-phi)
#
# Requests/s for a GET of a ~2 KB FHIR Patient whose six PHI fields the
# backend holds sealed and phiguard opens for the requester (variant phi),
# against the same GET of the same Patient stored in clear on a route with
# no PHI fields, passed through untouched (variant plain). Target: phi >=
# 0.70 of plain. Both variants go through one phiguard with the same Bearer
# session (a nurse, who reads all six fields); the backend is nginx serving
# the two files. The sealed file is made by phiguard itself: a second
# phiguard in front of scripts/sample_backend.py seals the Patient on a POST.
#
# Knobs: ROUNDS (5), DURATION (5 s), CONNECTIONS (50), VARIANTS ("plain phi"), LOAD_CPU (0: wrk,
# the backend, Redis), PROXY_CPU (1: phiguard, one worker), KEEP_WORK.
# Medians over rounds; the ratio is the median of per-round ratios.
set -euo pipefail
bench_dir=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$bench_dir/.." && pwd)
. "$bench_dir/lib/common.sh"
. "$bench_dir/lib/contenders.sh"

bench_setup "${1:-}"
fhir=${FHIR_DIR:-$top/../shared/fhir}
[ -d "$fhir" ] || fhir=/work/shared/fhir  # a clone away from the workplace layout
[ -f "$fhir/hl7/Patient-f001.json" ] || die "no FHIR test data at $fhir (set FHIR_DIR)"

bench_init phiguard-bench-phi
make_cert
mkdir -p "$work/fhir"
/usr/bin/python3 "$bench_dir/phi/patient.py" "$fhir/hl7/Patient-f001.json" "$work/fhir/plain.json"
read -r backend_port pg_port pg_admin_port sealer_port sealer_admin_port store_port <<<"$(free_ports 6)"
start_redis_unix
cp "$bin" "$work/phiguard"
(umask 077 && openssl rand -base64 48 > "$work/session.key" && openssl rand -hex 32 > "$work/mfa.key")
"$work/phiguard" keys generate --keyring "$work/phi.keyring" >/dev/null

cat > "$work/policy.yaml" <<'YAML'
version: 1
routes:
  - {name: auth, methods: "*", path: /auth/**, public: true}
  - {name: plain, methods: [GET], path: /fhir-static/plain.json, permissions: [patient:read]}
  - name: phi
    methods: [GET]
    path: /fhir-static/sealed.json
    entity: Patient
    permissions: [patient:read]
    phi:
      response: &fields
        - {path: "$.name[*].family", read: phi:read:demographics, others: mask}
        - {path: "$.name[*].given[*]", read: phi:read:demographics, others: mask}
        - {path: "$.birthDate", read: phi:read:demographics, others: redact}
        - {path: "$.telecom[*].value", read: phi:read:contact, others: mask, mask: last4}
        - {path: "$.address[*].line[*]", read: phi:read:contact, others: redact}
        - {path: "$.address[*].city", read: phi:read:contact, others: redact}
  - name: seal
    methods: [POST]
    path: /fhir/Patient
    entity: Patient
    public: true
    phi:
      request: *fields
sessions: {max_concurrent: 3, on_limit: end_oldest}
YAML

# phiguard's config for UPSTREAM on PORT/ADMIN.
write_config() {
  cat > "$1" <<CONF
listen: "127.0.0.1:$2"
workers: 1
tls: {certificate: $work/cert.pem, key: $work/key.pem}
upstream: {address: "127.0.0.1:$4", max_idle: 256}
admin: {listen: "127.0.0.1:$3"}
policy: {file: $work/policy.yaml}
redis: {address: "unix:$work/redis.sock"}
auth: {users_file: $top/conf/users.yaml, token_key_file: $work/session.key, mfa_key_file: $work/mfa.key}
phi: {keyring_file: $work/phi.keyring, scan_responses: phi_routes}
log: {level: warn, access: false}
CONF
}

# The sealed copy: POST the Patient through a phiguard in front of the
# sample backend, read back what the backend stored.
/usr/bin/python3 "$top/scripts/sample_backend.py" --listen "127.0.0.1:$store_port" >/dev/null 2>"$work/store.log" &
track $!
write_config "$work/sealer.yaml" "$sealer_port" "$sealer_admin_port" "$store_port"
"$work/phiguard" serve -c "$work/sealer.yaml" 2>"$work/sealer.log" &
sealer_pid=$!
track "$sealer_pid"
wait_200 "http://127.0.0.1:$sealer_admin_port/readyz" 100 || die "the sealing phiguard did not start: $(tail -3 "$work/sealer.log")"
wait_200 "http://127.0.0.1:$store_port/" 100 || die "the sample backend did not start"
id=$(curl -sf --cacert "$work/cert.pem" -H 'Content-Type: application/fhir+json' --data-binary @"$work/fhir/plain.json" \
  "https://127.0.0.1:$sealer_port/fhir/Patient" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') ||
  die "sealing the Patient failed: $(tail -3 "$work/sealer.log")"
curl -sf "http://127.0.0.1:$store_port/fhir/Patient/$id" > "$work/fhir/sealed.json" || die "reading the sealed Patient failed"
kill "$sealer_pid"
sealed_fields=$(grep -o '"phi:v1:' "$work/fhir/sealed.json" | wc -l)
[ "$sealed_fields" = 6 ] || die "the sealed Patient holds $sealed_fields envelopes, not 6"
chmod 644 "$work/fhir"/*
chmod 755 "$work/fhir"

start_backend
write_config "$work/phiguard.yaml" "$pg_port" "$pg_admin_port" "$backend_port"
taskset -c "$PROXY_CPU" "$work/phiguard" serve -c "$work/phiguard.yaml" 2>"$work/phiguard.log" &
phiguard_pid=$!
track "$phiguard_pid"
wait_200 "http://127.0.0.1:$pg_admin_port/readyz" 100 || die "phiguard did not start: $(tail -5 "$work/phiguard.log")"
base="https://127.0.0.1:$pg_port"
token=$(curl -s --cacert "$work/cert.pem" -H 'Content-Type: application/json' \
  -d '{"username":"n.joy","password":"demo-nurse-password"}' "$base/auth/login" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || die "login failed"
auth=(-H "Authorization: Bearer $token")
# Both variants answer the same Patient, in clear, before anything is measured.
curl -sf --cacert "$work/cert.pem" "${auth[@]}" "$base/fhir-static/plain.json" > "$work/got-plain.json" || die "plain GET failed"
curl -sf --cacert "$work/cert.pem" "${auth[@]}" "$base/fhir-static/sealed.json" > "$work/got-phi.json" || die "phi GET failed"
/usr/bin/python3 - "$work/got-plain.json" "$work/got-phi.json" <<'PY' || die "the phi variant does not answer the plain Patient"
import json, sys
a, b = (json.load(open(x)) for x in sys.argv[1:3])
b["id"] = a.get("id", b.get("id"))
sys.exit(0 if a == b else 1)
PY
plain_bytes=$(wc -c < "$work/fhir/plain.json")
sealed_bytes=$(wc -c < "$work/fhir/sealed.json")

measure() {
  local round=$1 variant=$2 path
  case $variant in plain) path=/fhir-static/plain.json ;; phi) path=/fhir-static/sealed.json ;; esac
  local t0 t1
  t0=$(cpu_ticks "$phiguard_pid")
  wrk_run "$work/wrk.out" -c"$CONNECTIONS" -d"${DURATION}s" --latency "${auth[@]}" "$base$path"
  kill -0 "$phiguard_pid" 2>/dev/null || die "phiguard died: $(tail -5 "$work/phiguard.log")"
  t1=$(cpu_ticks "$phiguard_pid")
  local errors
  errors=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$work/wrk.out")
  [ -z "$errors" ] || die "$variant: $errors responses were not 2xx: $(tail -3 "$work/phiguard.log")"
  /usr/bin/python3 "$bench_dir/parse_wrk.py" "$round" phiguard "$variant" "$((t1 - t0))" "$(getconf CLK_TCK)" < "$work/wrk.out"
}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$bench_dir/out"
results="$bench_dir/out/phi-$stamp.tsv"
{
  echo "command: ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS bench/phi.sh"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "machine: $(nproc --all) × $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "pinning: wrk -t1, the backend (nginx) and Redis on CPU $LOAD_CPU; phiguard (1 worker) on CPU $PROXY_CPU"
  echo "bodies: the Patient in clear $plain_bytes bytes; sealed (6 envelopes, mode r) $sealed_bytes bytes"
} > "$work/meta.txt"
sed 's/^/bench: /' "$work/meta.txt" >&2
wrk_run "$work/warmup.out" -c"$CONNECTIONS" -d1s "${auth[@]}" "$base/fhir-static/sealed.json"

echo -e "round\tcontender\tvariant\trps\tp50_ms\tp99_ms\trequests\tseconds\terrors\tcpu_ticks\tcpu_us_per_req" > "$results"
read -r -a variants <<<"${VARIANTS:-plain phi}"
for round in $(seq 1 "$ROUNDS"); do
  for ((i = 0; i < ${#variants[@]}; i++)); do
    measure "$round" "${variants[(i + round - 1) % ${#variants[@]}]}" >> "$results"
  done
  say "round $round/$ROUNDS done"
done
/usr/bin/python3 "$bench_dir/summarize_phi.py" "$results" "$work/meta.txt" > "${results%.tsv}.md"
cat "${results%.tsv}.md"
say "raw results: $results"
