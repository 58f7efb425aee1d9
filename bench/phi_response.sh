#!/usr/bin/env bash
# Instructions per body of bench_phi_response, counted by callgrind (for
# machines where perf events are refused, and because instruction counts
# are steady where wall time on a shared machine is not), then its own
# timing run.
#
#   bench/phi_response.sh [BUILD_DIR] [ITERATIONS] [PATIENT.json]   (defaults: build, 2000, the built-in one)
#
# With PATIENT.json the bodies are that Patient (bench/phi/patient.py makes
# bench/phi.sh's from HL7's f001).
set -euo pipefail
build=${1:-build}
iters=${2:-2000}
patient=${3:-}
bin=$build/bench/bench_phi_response
[ -x "$bin" ] || { echo "no $bin (make build)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is missing" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$iters" 1 $patient >/dev/null 2>&1
# The functions' own lines ("N (P%)  file:reveal_loop [binary]"), not the
# call sites that repeat them with "=>".
callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
  awk -v n="$iters" '$3 ~ /:(reveal|seal)_loop$/ { gsub(",", "", $1); name = $3; sub(/.*:/, "", name);
       printf "%-12s %10.0f instructions/body (callgrind)\n", name, $1 / n }'
"$bin" 20000 5 $patient
