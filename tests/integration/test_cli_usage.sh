#!/usr/bin/env bash
# test_cli_usage.sh JWTSESSION_BIN JWTSESSIOND_BIN - the CLI's own help (issue #16 item 10):
# --help and -h print the commands and every global option and exit 0, --version prints the
# version, and a global option given after the command is refused with a hint that it goes first.
# And its defaults (item 11): every global option's default is jwtsessiond's, a token the CLI
# makes carries the daemon's default issuer, and session create on the memory store warns that
# nothing can use its tokens later. No store needed.
set -uo pipefail
bin=${1:?usage: test_cli_usage.sh JWTSESSION_BIN JWTSESSIOND_BIN}
daemon=${2:?usage: test_cli_usage.sh JWTSESSION_BIN JWTSESSIOND_BIN}
. "$(dirname "$0")/check.sh"
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
# zero means the default everywhere (issue #16 item 4): where that is not zero, 0 is refused
err=$("$bin" --refresh-grace 0 session create --user alice 2>&1); rc=$?
check "--refresh-grace 0 exits 2" test $rc -eq 2
check "... saying to write off" has "$err" "write off to turn it off"
"$bin" --refresh-grace off --idle-timeout off --max-sessions off session create --user alice >/dev/null 2>&1; rc=$?
check "off turns refresh-grace, idle-timeout and max-sessions off" test $rc -eq 0
err=$("$bin" session list --bogus 2>&1)
check "a plain unknown option gets no global hint" bash -c '! [[ "$0" == *hint:* ]]' "$err"

# one set of defaults: each global option's [default X] in `jwtsession --help` is the daemon's
cli_help=$("$bin" --help) daemon_help=$("$daemon" --help 2>&1)
daemon_entry() { awk -v o="  --$1 " 'index($0, o) == 1 {on = 1; print; next} /^  --/ {on = 0} on' <<<"$daemon_help"; }
for opt in store issuer access-ttl refresh-ttl idle-timeout max-sessions refresh-grace; do
  c=$(grep -E "^  --$opt " <<<"$cli_help" | sed -n 's/.*\[default \([^]]*\)\].*/\1/p')
  d=$(daemon_entry "$opt" | sed -n 's/.*; default \([^]]*\)\].*/\1/p')
  check "--$opt: the CLI's default ($c) is the daemon's ($d)" bash -c '[ -n "$0" ] && [ "$0" = "$1" ]' "$c" "$d"
done
for opt in key audience; do
  check "--$opt: no default in either program" bash -c '! grep -q "default" <<<"$1" && ! grep -E "^  --$0 " <<<"$2" | grep -qF "[default"' "$opt" "$(daemon_entry "$opt")" "$cli_help"
done
out=$(env -u JWTSESSION_ISSUER "$bin" session create --user alice 2>"${TMPDIR:-/tmp}/cli_usage_err.$$"); rc=$?
err=$(cat "${TMPDIR:-/tmp}/cli_usage_err.$$"); rm -f "${TMPDIR:-/tmp}/cli_usage_err.$$"
check "session create on the memory store exits 0" test $rc -eq 0
check "... warning that the memory store's tokens can be used nowhere later" has "$err" "warning: the memory store"
iss=$(/usr/bin/python3 -c 'import sys,json,base64; t=json.loads(sys.argv[1])["access_token"].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(t+"=="*2)).get("iss",""))' "$out" 2>/dev/null)
check "... its access token carries the daemon's default issuer (jwtsession), got '$iss'" test "$iss" = jwtsession
out=$("$bin" --issuer "" session create --user alice 2>/dev/null)
iss=$(/usr/bin/python3 -c 'import sys,json,base64; t=json.loads(sys.argv[1])["access_token"].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(t+"=="*2)).get("iss","<none>"))' "$out" 2>/dev/null)
check "--issuer \"\" means no iss claim, as in the daemon" test "$iss" = "<none>"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
