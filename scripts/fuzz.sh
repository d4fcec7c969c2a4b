#!/usr/bin/env bash
# fuzz.sh [SECONDS] - build the libFuzzer targets in build-fuzz (clang, ASan+UBSan, -DJWTS_FUZZ=ON)
# and run each for SECONDS (default 30) on its seed corpus, JOBS (default 2) at a time. Fails on any crash or sanitizer report.
# New inputs go to build-fuzz/tests/fuzz/corpus-work/<target>; the seeds in tests/fuzz/corpus stay.
set -euo pipefail
secs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
command -v clang >/dev/null || { echo "fuzz.sh: clang is required" >&2; exit 1; }
CC=clang cmake -S "$root" -B "$build" -DJWTS_FUZZ=ON -DJWTS_SANITIZE=address -DJWTS_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for src in "$root"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "$src" .c)"); done
lock=(flock /tmp/jwts-build.lock)
command -v flock >/dev/null || lock=()
"${lock[@]}" cmake --build "$build" -j2 --target "${targets[@]}"
"$root/scripts/check-suites.sh" "$build" fuzz # every target in tests/suites.list is built and registered
# JOBS (default 2) targets at a time, each writing its own log; a failed target's log is printed.
jobs=${JOBS:-2}
run_one() {
  local t=$1 work="$build/tests/fuzz/corpus-work/$1"
  mkdir -p "$work"
  if "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/tests/fuzz/$t-" "$work" "$root/tests/fuzz/corpus/$t" >"$build/tests/fuzz/$t.log" 2>&1; then
    echo "== $t (${secs}s): $(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$build/tests/fuzz/$t.log")"
  else
    echo "fuzz.sh: $t FAILED (log: $build/tests/fuzz/$t.log, artifacts: $build/tests/fuzz/$t-*)" >&2
    tail -60 "$build/tests/fuzz/$t.log" >&2
    touch "$build/tests/fuzz/$t.failed"
  fi
}
rm -f "$build"/tests/fuzz/*.failed
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$t" &
done
wait
if compgen -G "$build/tests/fuzz/*.failed" >/dev/null; then exit 1; fi
