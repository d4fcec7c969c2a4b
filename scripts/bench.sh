#!/usr/bin/env bash
# bench.sh BUILD_DIR - run every benchmark program built in BUILD_DIR/bench, one after another.
set -euo pipefail
build=${1:-build}
status=0
for b in "$build"/bench/bench_*; do
  case "$b" in *.a) continue ;; esac
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" || status=1
  echo
done
exit $status
