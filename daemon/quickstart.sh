#!/bin/sh
# quickstart.sh JWTSESSIOND - `make run`: start jwtsessiond on 127.0.0.1:8080 (JWTSESSION_LISTEN
# overrides) with a fresh admin key, after printing curl commands that work when pasted into
# another terminal. Ctrl-C stops it (SIGINT: graceful shutdown).
# STORE=memory (default): the memory store and a generated signing key, both gone at exit.
# STORE=file (`make run STORE=file`): the file store in $STATE/sessions and a signing key kept in
# $STATE/key.jwk (made once with the CLI), so sessions and their tokens survive a restart;
# STATE defaults to quickstart-state next to the build's daemon/ directory.
set -eu
bin=${1:-build/daemon/jwtsessiond}
listen=${JWTSESSION_LISTEN:-127.0.0.1:8080}
url="http://$listen"
admin_key=${JWTSESSION_ADMIN_KEY:-dev-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')}
tmp=${TMPDIR:-/tmp}/jwtsession-quickstart.json

case ${STORE:-memory} in
memory)
  store=${JWTSESSION_STORE:-memory}
  what="$store store, a generated signing key (tokens die with the process)"
  ;;
file)
  build_dir=$(cd "$(dirname "$bin")/.." && pwd)
  state=${STATE:-$build_dir/quickstart-state}
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  [ -f "$state/key.jwk" ] || "$build_dir/cli/jwtsession" keygen --alg ES256 --out "$state/key.jwk" >/dev/null
  store="file://$state/sessions"
  export JWTSESSION_KEY="$state/key.jwk"
  what="file store $store and signing key $JWTSESSION_KEY (sessions and tokens survive a restart)"
  ;;
*)
  echo "quickstart: STORE must be memory or file" >&2
  exit 2
  ;;
esac

cat <<EOF
jwtsessiond on $url - $what.
Logs (JSON) follow below; Ctrl-C stops it. Paste these into another terminal:

  URL=$url ADMIN_KEY='$admin_key'
  # 1. your login service creates a session for alice (an admin call)
  curl -s -X POST \$URL/v1/sessions -H "Authorization: Bearer \$ADMIN_KEY" -H 'Content-Type: application/json' -d '{"user_id":"alice","metadata":{"device":"laptop"}}' | tee $tmp; echo
  ACCESS=\$(sed -E 's/.*"access_token":"([^"]*)".*/\1/' $tmp); REFRESH=\$(sed -E 's/.*"refresh_token":"([^"]*)".*/\1/' $tmp); SID=\$(sed -E 's/.*"session_id":"([^"]*)".*/\1/' $tmp)
  # 2. check a request's token, as nginx auth_request does: 200 with X-Session-User
  curl -si \$URL/v1/auth -H "Authorization: Bearer \$ACCESS"; echo
  # 3. alice lists her sessions (devices)
  curl -s \$URL/v1/users/alice/sessions -H "Authorization: Bearer \$ACCESS"; echo
  # 4. the client rotates its refresh token for a new pair
  curl -s -X POST \$URL/v1/refresh -H 'Content-Type: application/json' -d "{\"refresh_token\":\"\$REFRESH\"}"; echo
  # 5. sign out: revoke the session, and the same token is refused at once (401)
  curl -s -X DELETE \$URL/v1/sessions/\$SID -H "Authorization: Bearer \$ACCESS"; echo
  curl -si \$URL/v1/auth -H "Authorization: Bearer \$ACCESS"; echo

API reference: docs/daemon.md. Options: $bin --help

EOF
JWTSESSION_ADMIN_KEY=$admin_key JWTSESSION_LISTEN=$listen JWTSESSION_STORE=$store exec "$bin"
