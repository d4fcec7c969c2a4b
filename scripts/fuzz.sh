#!/usr/bin/env bash
# fuzz.sh [SECONDS] - build the libFuzzer targets in build-fuzz (clang, ASan+UBSan, -DJWTS_FUZZ=ON)
# and run each for SECONDS (default 30) on its seed corpus. Fails on any crash or sanitizer report.
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
status=0
for t in "${targets[@]}"; do
  work="$build/tests/fuzz/corpus-work/$t"
  mkdir -p "$work"
  echo "== $t (${secs}s)"
  if ! "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/tests/fuzz/$t-" "$work" "$root/tests/fuzz/corpus/$t"; then
    echo "fuzz.sh: $t FAILED (artifacts: $build/tests/fuzz/$t-*)" >&2
    status=1
  fi
done
exit $status
