# check.sh - sourced by the shell test suites: check NAME COMMAND... runs COMMAND, counts it passed
# or failed (naming a failure on stderr); a suite ends by printing $passed and $failed and exiting
# non-zero when $failed is not 0.
passed=0 failed=0
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
