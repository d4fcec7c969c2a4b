#!/usr/bin/env bash
# test_cli_keygen.sh JWTSESSION_BIN - how the CLI writes and reads private key files (issue #12
# item 9): keygen creates its file new with mode 0600 and never follows a symbolic link; an existing
# file is replaced only with --force (and then ends up 0600 too, whatever its old mode); loading a
# private key file that group or others can access warns as ssh does; a key file the user may not
# read says "permission denied" (checked as the user nobody: root ignores file modes).
set -uo pipefail
bin=${1:?usage: test_cli_keygen.sh JWTSESSION_BIN}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # nobody must reach the files below for the permission checks
. "$(dirname "$0")/check.sh"
mode() { stat -c %a "$1"; }
is_jwk() { /usr/bin/python3 -c 'import json,sys; k=json.load(open(sys.argv[1])); sys.exit(0 if k.get("kty") and (k.get("d") or k.get("k")) else 1)' "$1"; }
starts() { [[ "$1" == "$2"* ]]; }
has() { [[ "$1" == *"$2"* ]]; }

umask 022 # what a login shell usually has: keygen must not depend on it

# 1. a new file: created 0600, a private JWK
"$bin" keygen --alg ES256 --out "$work/new.jwk"
check "keygen to a new file exits 0" test $? -eq 0
check "... creates it with mode 0600" test "$(mode "$work/new.jwk")" = 600
check "... holding a private JWK" is_jwk "$work/new.jwk"

# 2. an existing file is not overwritten without --force
printf 'keep me\n' >"$work/existing"
chmod 644 "$work/existing"
err=$("$bin" keygen --alg ES256 --out "$work/existing" 2>&1 >/dev/null)
check "keygen onto an existing file fails with exit 1" test $? -eq 1
check "... saying it exists and naming --force" bash -c '[[ "$0" == "error: JWTS_E_"*exists*--force* ]]' "$err"
check "... leaving it unchanged" test "$(cat "$work/existing")" = "keep me"
check "... and its mode" test "$(mode "$work/existing")" = 644

# 3. --force replaces it, and the key file is 0600 whatever the old mode was
"$bin" keygen --alg HS256 --force --out "$work/existing"
check "keygen --force exits 0" test $? -eq 0
check "... replaces the content" is_jwk "$work/existing"
check "... with mode 0600 (was 0644)" test "$(mode "$work/existing")" = 600
check "... leaving no temporary file" test "$(ls -A "$work" | grep -c 'existing.')" = 0

# 4. a symbolic link is never followed, with or without --force
mkdir "$work/outside"
printf 'not yours\n' >"$work/outside/target"
chmod 644 "$work/outside/target"
ln -s "$work/outside/target" "$work/link"
ln -s "$work/outside/absent" "$work/dangling"
err=$("$bin" keygen --alg ES256 --out "$work/link" 2>&1 >/dev/null)
check "keygen onto a symlink fails with exit 1" test $? -eq 1
check "... saying it is a symbolic link" has "$err" "symbolic link"
err=$("$bin" keygen --alg ES256 --force --out "$work/link" 2>&1 >/dev/null)
check "keygen --force onto a symlink fails with exit 1" test $? -eq 1
check "... saying it is a symbolic link" has "$err" "symbolic link"
check "... the target outside is untouched" test "$(cat "$work/outside/target")" = "not yours"
check "... and keeps its mode" test "$(mode "$work/outside/target")" = 644
check "... the link is still the link" test "$(readlink "$work/link")" = "$work/outside/target"
"$bin" keygen --alg ES256 --out "$work/dangling" 2>/dev/null
check "keygen onto a dangling symlink fails" test $? -eq 1
"$bin" keygen --alg ES256 --force --out "$work/dangling" 2>/dev/null
check "... also with --force" test $? -eq 1
check "... and creates nothing where it points" test ! -e "$work/outside/absent"

# 5. loading a private key file that group or others may read warns, as ssh does; 0600 does not
"$bin" jwks "$work/new.jwk" >/dev/null 2>"$work/stderr"
check "loading a 0600 key file says nothing on stderr" test ! -s "$work/stderr"
chmod 644 "$work/new.jwk"
out=$("$bin" jwks "$work/new.jwk" 2>"$work/stderr")
check "loading a 0644 private key still works" test $? -eq 0
check "... printing the public JWKS" has "$out" '"keys"'
check "... with a warning naming the file, who may read it and the mode" \
  bash -c 'grep -q "^warning: .*new.jwk: .*group or others.*0644" "$0"' "$work/stderr"
check "... and the fix" grep -q "chmod 600" "$work/stderr"
chmod 640 "$work/new.jwk"
"$bin" jwks "$work/new.jwk" >/dev/null 2>"$work/stderr"
check "a group-readable 0640 key file warns too" grep -q "^warning: .*0640" "$work/stderr"
"$bin" jwks "$work/new.jwk" >"$work/public.jwks" 2>/dev/null
chmod 644 "$work/public.jwks"
"$bin" jwks "$work/public.jwks" >/dev/null 2>"$work/stderr"
check "a world-readable public JWKS does not warn" test ! -s "$work/stderr"
chmod 644 "$work/new.jwk"
echo '{"sub":"alice"}' | "$bin" token sign --key "$work/new.jwk" >/dev/null 2>"$work/stderr"
check "token sign warns on a 0644 key file too" grep -q "^warning: " "$work/stderr"

# 6. a missing file and an unreadable file say different things
err=$("$bin" jwks "$work/nope.jwk" 2>&1 >/dev/null)
check "a missing key file is JWTS_E_NOT_FOUND" starts "$err" "error: JWTS_E_NOT_FOUND: $work/nope.jwk: no such file"
chmod 600 "$work/new.jwk"
cp "$bin" "$work/jwtsession" && chmod 755 "$work/jwtsession" # statically linked; nobody can run the copy
as_nobody() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] || chmod 000 "$work/new.jwk"
err=$(as_nobody "$work/jwtsession" jwks "$work/new.jwk" 2>&1 >/dev/null)
check "an unreadable key file fails with exit 1" test $? -eq 1
check "... saying permission denied, not not-found" bash -c '[[ "$0" == "error: JWTS_E_"*"new.jwk: permission denied"* && "$0" != *NOT_FOUND* ]]' "$err"
err=$(JWTSESSION_KEY="$work/new.jwk" as_nobody "$work/jwtsession" session validate x.y.z 2>&1 >/dev/null)
check "... also as --key/JWTSESSION_KEY of a session command" has "$err" "permission denied"
mkdir "$work/closed" && chmod 755 "$work/closed"
[ "$(id -u)" = 0 ] && chown root "$work/closed"
[ "$(id -u)" = 0 ] || chmod 555 "$work/closed"
err=$(as_nobody "$work/jwtsession" keygen --alg ES256 --out "$work/closed/k.jwk" 2>&1 >/dev/null)
check "keygen into a directory it may not write to says permission denied" has "$err" "permission denied"
chmod 600 "$work/new.jwk"

echo "test_cli_keygen: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
