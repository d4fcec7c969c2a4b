#!/usr/bin/env bash
# test_cli_events.sh JWTSESSION_BIN - the Redis events stream from the CLI on the CTest fixture's
# redis-server: the sh block of docs/events.md run as written (its Redis and stream swapped for
# the test's), then two consumers of one group sharing the events, disjoint and together all.
set -uo pipefail
bin=${1:?usage: test_cli_events.sh JWTSESSION_BIN}
dir=${JWTS_TEST_REDIS_DIR:?run through ctest (redis fixture)}
src=$(cd "$(dirname "$0")/../.." && pwd)
port=$(cat "$dir/port")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/check.sh"
stream="cli-events-$$-$RANDOM"
url="redis://127.0.0.1:$port/4?events=$stream\&key_prefix=$stream:"

# the documented block, as written but for the Redis address and stream
block=$(awk '/test_cli_events.sh runs this block/ {on=1; next} on && /^```sh/ {inb=1; next} inb && /^```/ {exit} inb' \
  "$src/docs/events.md")
check "docs/events.md has the block" test -n "$block"
script=$(sed -e "s|redis://127.0.0.1:6379?events=jwts:events|$url|" -e "s|^jwtsession |\"\$JWTS_BIN\" |" \
  -e "s|&& jwtsession |\&\& \"\$JWTS_BIN\" |" <<<"$block")
(cd "$work" && JWTS_BIN=$bin bash -e -c "$script" >"$work/out" 2>"$work/err")
check "the block runs" test $? -eq 0
out=$(grep '^{"id":' "$work/out") # the events (revoke-user prints its count too)
sid=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["session_id"])' "$work/session.json")
check "two events" test "$(wc -l <<<"$out")" -eq 2
check "created first" grep -q "^{\"id\":\"[0-9-]*\",\"type\":\"created\",\"user_id\":\"alice\",\"session_id\":\"$sid\"" <<<"$(sed -n 1p <<<"$out")"
check "then revoked by the admin" grep -q "\"type\":\"revoked\".*\"session_id\":\"$sid\".*\"reason\":\"admin\"" <<<"$(sed -n 2p <<<"$out")"
check "no token in the events" test "$(grep -c refresh_token <<<"$out")" -eq 0
again=$("$bin" --store "redis://127.0.0.1:$port/4?events=$stream&key_prefix=$stream:" events tail --group audit \
  --consumer audit-1 --once)
check "acknowledged: nothing comes again" test -z "$again"

# two consumers of one group split the events; together they are all of them
export JWTSESSION_STORE="redis://127.0.0.1:$port/4?events=$stream&key_prefix=$stream:"
export JWTSESSION_KEY="$work/key.jwk"
for i in 1 2 3 4 5 6; do "$bin" session create --user "bob$i" >/dev/null || failed=$((failed + 1)); done
: >"$work/c1" && : >"$work/c2"
for round in 1 2 3 4 5 6; do
  "$bin" events tail --group split --consumer c1 --count 2 --once >>"$work/c1"
  "$bin" events tail --group split --consumer c2 --count 1 --once >>"$work/c2"
done
check "c1 got some" test -s "$work/c1"
check "c2 got some" test -s "$work/c2"
check "together all 8" test "$(cat "$work/c1" "$work/c2" | wc -l)" -eq 8
check "disjoint" test "$(cat "$work/c1" "$work/c2" | sort -u | wc -l)" -eq 8
check "bad usage exits 2" bash -c "\"$bin\" events tail --group g; test \$? -eq 2" 2>/dev/null

echo "test_cli_events: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
