#!/usr/bin/env bash
# valgrind-tests.sh BUILD_DIR [LABEL] - run every CTest test with LABEL (default: unit) under
# valgrind memcheck; any invalid access or definite/indirect leak fails the run.
set -euo pipefail
build=${1:-build}
label=${2:-unit}
mapfile -t cmds < <(ctest --test-dir "$build" -L "$label" --show-only=json-v1 | python3 -c '
import json, shlex, sys
for t in json.load(sys.stdin)["tests"]:
    print(shlex.join(t["command"]))')
if [ ${#cmds[@]} -eq 0 ]; then echo "valgrind-tests: no test has label $label in $build" >&2; exit 1; fi
status=0
for cmd in "${cmds[@]}"; do
  name=$(basename "${cmd%% *}")
  if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
       --show-leak-kinds=definite,indirect $cmd >"$build/valgrind-$name.log" 2>&1; then
    echo "valgrind: $name clean"
  else
    echo "valgrind: $name FAILED"; tail -40 "$build/valgrind-$name.log"; status=1
  fi
done
exit $status
