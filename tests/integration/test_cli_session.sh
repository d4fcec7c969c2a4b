#!/usr/bin/env bash
# test_cli_session.sh JWTSESSION_BIN - the session lifecycle end to end from the CLI on the real
# redis-server of the CTest fixture (JWTS_TEST_REDIS_DIR): create, validate, refresh (and the
# grace-window replay), list, revoke, revoke-user, the reuse-after-grace theft path, the stable
# error form "error: JWTS_E_<NAME>: <detail>" with a non-zero exit, the user id grammar and the
# aud rule (a token naming an audience is refused where none is configured).
set -uo pipefail
bin=${1:?usage: test_cli_session.sh JWTSESSION_BIN}
dir=${JWTS_TEST_REDIS_DIR:?run through ctest (redis fixture)}
port=$(cat "$dir/port")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/check.sh"
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

export JWTSESSION_STORE="redis://127.0.0.1:$port/3"
export JWTSESSION_ISSUER="https://auth.example.test"
"$bin" keygen --alg HS256 --kid cli-test --out "$work/key.jwk" || { echo "keygen failed" >&2; exit 1; }
export JWTSESSION_KEY="$work/key.jwk"
user="cli-user-$$-$RANDOM"

out=$("$bin" session create --user "$user" --metadata '{"device":"laptop"}')
check "create exits 0" test $? -eq 0
access=$(field access_token <<<"$out")
refresh=$(field refresh_token <<<"$out")
sid=$(field session_id <<<"$out")
check "create prints expires_in 900" test "$(field expires_in <<<"$out")" = 900
check "create prints refresh_expires_in" test "$(field refresh_expires_in <<<"$out")" -gt 0

out=$("$bin" session validate "$access")
check "validate exits 0" test $? -eq 0
check "validate names the user" test "$(field user_id <<<"$out")" = "$user"
check "validate names the session" test "$(field session_id <<<"$out")" = "$sid"

out=$("$bin" session refresh "$refresh")
check "refresh exits 0" test $? -eq 0
access2=$(field access_token <<<"$out")
refresh2=$(field refresh_token <<<"$out")
check "refresh rotates the refresh token" test "$refresh2" != "$refresh"
again=$("$bin" session refresh "$refresh")
check "a replay within grace gets the same pair" test "$(field refresh_token <<<"$again")" = "$refresh2"
check "... and the same access token" test "$(field access_token <<<"$again")" = "$access2"

out=$("$bin" session list --user "$user")
check "list shows one session" test "$(/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["sessions"]), d["sessions"][0]["metadata"]["device"])' <<<"$out")" = "1 laptop"
check "list never shows refresh state" bash -c '! grep -q "refresh\|sealed\|hash" <<<"$0"' "$out"

"$bin" session revoke --user "$user" -- "$sid" >/dev/null # ids may start with -
check "revoke exits 0" test $? -eq 0
err=$("$bin" session validate "$access2" 2>&1 >/dev/null)
rc=$?
check "validate after revoke fails" test $rc -ne 0
check "... with JWTS_E_REVOKED" bash -c '[[ "$0" == "error: JWTS_E_REVOKED: "* ]]' "$err"

# theft: a rotated token replayed after the grace window, once the new pair was used, revokes the session
out=$("$bin" --refresh-grace 1 session create --user "$user")
r1=$(field refresh_token <<<"$out")
out=$("$bin" --refresh-grace 1 session refresh "$r1")
a2=$(field access_token <<<"$out")
sleep 1.5
again=$("$bin" --refresh-grace 1 session refresh "$r1")
check "a retry after grace, before the new pair was used, gets the same refresh token" \
  test "$(field refresh_token <<<"$again")" = "$(field refresh_token <<<"$out")"
"$bin" session validate "$a2" >/dev/null
check "the new pair's access token validates" test $? -eq 0
err=$("$bin" --refresh-grace 1 session refresh "$r1" 2>&1 >/dev/null)
check "reuse after grace fails with JWTS_E_REFRESH_REUSED" bash -c '[[ "$0" == "error: JWTS_E_REFRESH_REUSED: "* ]]' "$err"
err=$("$bin" session validate "$a2" 2>&1 >/dev/null)
check "... and revokes the session" bash -c '[[ "$0" == "error: JWTS_E_REVOKED: "* ]]' "$err"

# revoke by session id alone (issue #16): the id carries its user's tag; --user, when given, must match
out=$("$bin" session create --user "$user")
a3=$(field access_token <<<"$out")
sid3=$(field session_id <<<"$out")
err=$("$bin" session revoke --user "$user-other" -- "$sid3" 2>&1 >/dev/null)
check "revoke with another user finds nothing" bash -c '[[ "$0" == "error: JWTS_E_NOT_FOUND: "* ]]' "$err"
"$bin" session validate "$a3" >/dev/null
check "... and leaves the session valid" test $? -eq 0
out=$("$bin" session revoke -- "$sid3")
check "revoke without --user exits 0" test $? -eq 0
check "... and says which session" test "$(field session_id <<<"$out")" = "$sid3"
err=$("$bin" session validate "$a3" 2>&1 >/dev/null)
check "... and the session is revoked" bash -c '[[ "$0" == "error: JWTS_E_REVOKED: "* ]]' "$err"
err=$("$bin" session revoke -- "$sid3" 2>&1 >/dev/null)
check "a second revoke by id is JWTS_E_NOT_FOUND" bash -c '[[ "$0" == "error: JWTS_E_NOT_FOUND: "* ]]' "$err"

for i in 1 2 3; do "$bin" session create --user "$user" >/dev/null; done
out=$("$bin" session revoke-user "$user")
check "revoke-user counts the sessions" test "$(field revoked <<<"$out")" = 3

# devices (docs/devices.md): --ip/--user-agent on create and refresh, shown by list;
# revoke-user --except keeps exactly that session
dev=$("$bin" session create --user "$user-dev" --ip 192.0.2.10 --user-agent 'Firefox/130.0')
other=$("$bin" session create --user "$user-dev")
"$bin" session refresh "$(field refresh_token <<<"$other")" --ip 2001:db8::5 --user-agent 'curl/8' >/dev/null
devices() { "$bin" session list --user "$user-dev" | /usr/bin/python3 -c 'import json,sys; print(sorted("%s %s" % (s["client_ip"], s["user_agent"]) for s in json.load(sys.stdin)["sessions"]))'; }
check "list shows each session's device" test "$(devices)" = "['192.0.2.10 Firefox/130.0', '2001:db8::5 curl/8']"
members=$("$bin" session list --user "$user-dev" | /usr/bin/python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["sessions"][0])))')
check "list shows the library's public view, units in the names (as jwtsessiond)" test "$members" = \
  "client_ip created_at_ms expires_at_ms idle_expires_at_ms last_seen_at_ms metadata session_id updated_at_ms user_agent user_id"
err=$("$bin" session create --user "$user-dev" --ip 300.1.1.1 2>&1 >/dev/null)
check "a bad --ip is refused" bash -c '[[ "$0" == "error: JWTS_E_INVALID_ARGUMENT: device.ip"* ]]' "$err"
"$bin" session create --user "$user-dev" >/dev/null
err=$("$bin" session revoke-user "$user-dev" --except AAAAAAAAAAAAAAAAAAAAAA 2>&1 >/dev/null)
check "revoke-user --except a missing session revokes nothing" bash -c '[[ "$0" == "error: JWTS_E_NOT_FOUND: "* ]]' "$err"
out=$("$bin" session revoke-user "$user-dev" --except "$(field session_id <<<"$dev")")
check "revoke-user --except revokes the others" test "$(field revoked <<<"$out")" = 2
check "... and keeps exactly that one" test "$(devices)" = "['192.0.2.10 Firefox/130.0']"

err=$("$bin" session validate not.a.token 2>&1 >/dev/null)
check "a malformed token gives JWTS_E_MALFORMED" bash -c '[[ "$0" == "error: JWTS_E_MALFORMED: "* ]]' "$err"
err=$(JWTSESSION_KEY= "$bin" session validate "$access" 2>&1 >/dev/null)
check "validate without a key is a usage error" bash -c '[[ "$0" == "error: JWTS_E_INVALID_ARGUMENT: "* ]]' "$err"
"$bin" --max-sessions nope session list --user "$user" 2>/dev/null
check "a bad global option exits 2" test $? -eq 2
err=$("$bin" --store "redis://127.0.0.1:1" session list --user "$user" 2>&1 >/dev/null)
check "an unreachable store gives JWTS_E_UNAVAILABLE" bash -c '[[ "$0" == "error: JWTS_E_UNAVAILABLE: "* ]]' "$err"
out=$("$bin" --max-sessions 1 session create --user "$user-limited")
err=$("$bin" --max-sessions 1 session create --user "$user-limited" 2>&1 >/dev/null)
check "max-sessions refuses with JWTS_E_LIMIT" bash -c '[[ "$0" == "error: JWTS_E_LIMIT: "* ]]' "$err"

# user ids a proxy would change are refused by the library (issue #12 item 4); inner spaces are fine
for bad in " $user" "$user " " "; do
  err=$("$bin" session create --user "$bad" 2>&1 >/dev/null)
  check "create refuses the user id \"$bad\" with JWTS_E_INVALID_ARGUMENT" \
    bash -c '[[ "$0" == "error: JWTS_E_INVALID_ARGUMENT: user_id: "*"white space at either end"* ]]' "$err"
done
out=$("$bin" session create --user "$user with spaces")
check "an id with inner spaces is kept as is" test "$(field user_id <<<"$("$bin" session validate "$(field access_token <<<"$out")")")" = "$user with spaces"

# a token naming an audience is refused unless that audience is expected (issue #12 item 7)
tok=$(echo '{"sub":"alice","aud":"api","exp":4000000000}' | "$bin" token sign --key "$JWTSESSION_KEY")
err=$("$bin" token verify --key "$JWTSESSION_KEY" "$tok" 2>&1 >/dev/null)
check "token verify without --aud refuses a token with aud" \
  bash -c '[[ "$0" == "error: JWTS_E_CLAIM_MISMATCH: "*aud*"no audience"* ]]' "$err"
"$bin" token verify --key "$JWTSESSION_KEY" --aud api "$tok" >/dev/null
check "... and accepts it with --aud api" test $? -eq 0
out=$("$bin" session create --user "$user")
"$bin" session validate "$(field access_token <<<"$out")" >/dev/null
check "the manager's own tokens (no audience configured) still validate" test $? -eq 0
out=$("$bin" --audience api session create --user "$user")
err=$("$bin" session validate "$(field access_token <<<"$out")" 2>&1 >/dev/null)
check "a token for audience api is refused where no audience is configured" \
  bash -c '[[ "$0" == "error: JWTS_E_CLAIM_MISMATCH: "* ]]' "$err"
"$bin" --audience api session validate "$(field access_token <<<"$out")" >/dev/null
check "... and validates where it is" test $? -eq 0

# a resource server with only the signer's public JWKS: validates, sees revocations, cannot issue
"$bin" keygen --alg ES256 --out "$work/es.jwk" >/dev/null 2>&1
"$bin" jwks "$work/es.jwk" >"$work/es.jwks"
out=$(JWTSESSION_KEY="$work/es.jwk" "$bin" session create --user "$user")
es_access=$(field access_token <<<"$out")
out=$(JWTSESSION_KEY="$work/es.jwks" "$bin" session validate "$es_access")
check "a public JWKS validates (verify-only)" test "$(field user_id <<<"$out")" = "$user"
err=$(JWTSESSION_KEY="$work/es.jwks" "$bin" session create --user "$user" 2>&1 >/dev/null)
check "... and cannot create: JWTS_E_UNSUPPORTED" bash -c '[[ "$0" == "error: JWTS_E_UNSUPPORTED: "* ]]' "$err"
JWTSESSION_KEY="$work/es.jwk" "$bin" session revoke --user "$user" -- "$(field session_id <<<"$(JWTSESSION_KEY="$work/es.jwks" "$bin" session validate "$es_access")")" >/dev/null
err=$(JWTSESSION_KEY="$work/es.jwks" "$bin" session validate "$es_access" 2>&1 >/dev/null)
check "... and sees the revocation" bash -c '[[ "$0" == "error: JWTS_E_REVOKED: "* ]]' "$err"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
