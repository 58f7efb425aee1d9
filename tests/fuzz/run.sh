#!/usr/bin/env bash
# Runs every fuzz_<name> binary in DIR for SECONDS each, starting from
# tests/fuzz/corpus/<name>/. A crash fails the run; its input is left in
# tests/fuzz/crashes/ to be fixed and then added to the corpus.
set -euo pipefail
dir=$1 seconds=${2:-60}
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$top/tests/fuzz/crashes"
status=0
for bin in "$dir"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); name=${name#fuzz_}
  work=$(mktemp -d)
  cp -r "$top/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" "$work" -max_total_time="$seconds" -artifact_prefix="$top/tests/fuzz/crashes/$name-" \
       -print_final_stats=1 >"$work.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -40 "$work.log"; status=1
  else
    grep -E "stat::number_of_executed_units" "$work.log" || true
  fi
  rm -rf "$work" "$work.log"
done
exit $status
