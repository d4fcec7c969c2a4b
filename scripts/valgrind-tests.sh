#!/usr/bin/env bash
# valgrind-tests.sh BUILD_DIR [LABEL] - run every CTest test with LABEL (default: unit) under
# valgrind memcheck, JOBS (default 2) at a time; any invalid access or definite/indirect leak fails
# the run. Each test's report is BUILD_DIR/valgrind-NAME.log. JWTS_TEST_VALGRIND is set, for the
# suites that leave out what is only slow there (tests/unit/test_jose_keys.c).
set -euo pipefail
build=${1:-build}
label=${2:-unit}
jobs=${JOBS:-2}
export JWTS_TEST_VALGRIND=1
mapfile -t cmds < <(ctest --test-dir "$build" -L "$label" --show-only=json-v1 | python3 -c '
import json, shlex, sys
for t in json.load(sys.stdin)["tests"]:
    print(shlex.join(t["command"]))')
if [ ${#cmds[@]} -eq 0 ]; then echo "valgrind-tests: no test has label $label in $build" >&2; exit 1; fi
rm -f "$build"/valgrind-*.failed
run_one() {
  local name
  name=$(basename "${1%% *}")
  # shellcheck disable=SC2086 # the command line is split into its words on purpose
  if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
       --show-leak-kinds=definite,indirect $1 >"$build/valgrind-$name.log" 2>&1; then
    echo "valgrind: $name clean"
  else
    echo "valgrind: $name FAILED"; touch "$build/valgrind-$name.failed"
  fi
}
for cmd in "${cmds[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$cmd" &
done
wait
status=0
for failed in "$build"/valgrind-*.failed; do
  [ -e "$failed" ] || continue
  echo "== ${failed%.failed}.log"; tail -40 "${failed%.failed}.log"; status=1
done
exit $status
