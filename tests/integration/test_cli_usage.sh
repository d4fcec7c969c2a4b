#!/usr/bin/env bash
# test_cli_usage.sh JWTSESSION_BIN - the CLI's own help (issue #16 item 10): --help and -h print
# the commands and every global option and exit 0, --version prints the version, and a global
# option given after the command is refused with a hint that it goes first. No store needed.
set -uo pipefail
bin=${1:?usage: test_cli_usage.sh JWTSESSION_BIN}
passed=0 failed=0
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}
has() { [[ "$1" == *"$2"* ]]; }

for flag in --help -h; do
  out=$("$bin" $flag 2>&1); rc=$?
  check "$flag exits 0" test $rc -eq 0
  for g in --store --key --issuer --audience --access-ttl --refresh-ttl --idle-timeout --max-sessions \
           --refresh-grace JWTSESSION_STORE --version; do
    check "$flag lists $g" has "$out" "$g"
  done
  check "$flag lists the session command" has "$out" "session"
done
check "help (the command) exits 0" "$bin" help
# --help after global options still works
check "--store memory --help exits 0" "$bin" --store memory --help

out=$("$bin" --version); rc=$?
check "--version exits 0" test $rc -eq 0
check "--version prints 'jwtsession X.Y.Z'" bash -c '[[ "$0" =~ ^jwtsession\ [0-9]+\.[0-9]+\.[0-9]+$ ]]' "$out"

err=$("$bin" --bogus 2>&1); rc=$?
check "an unknown global option exits 2" test $rc -eq 2
check "... pointing at --help" has "$err" "jwtsession --help"

for opt in "--store memory" "--store=memory" "--issuer https://x" "--refresh-grace 5s"; do
  err=$("$bin" session create --user alice $opt 2>&1); rc=$?
  check "session create ... $opt exits 2" test $rc -eq 2
  check "... with a hint that ${opt%% *} goes before the command" has "$err" "hint: ${opt%%[ =]*} is a global option: it goes before the command"
done
err=$("$bin" session list --bogus 2>&1)
check "a plain unknown option gets no global hint" bash -c '! [[ "$0" == *hint:* ]]' "$err"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
