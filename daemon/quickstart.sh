#!/bin/sh
# quickstart.sh JWTSESSIOND - `make run`: start jwtsessiond on 127.0.0.1:8080 (JWTSESSION_LISTEN
# overrides) with the memory store and a fresh admin key, after printing curl commands that work
# when pasted into another terminal. Ctrl-C stops it (SIGINT: graceful shutdown).
set -eu
bin=${1:-build/daemon/jwtsessiond}
listen=${JWTSESSION_LISTEN:-127.0.0.1:8080}
url="http://$listen"
admin_key=${JWTSESSION_ADMIN_KEY:-dev-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')}
tmp=${TMPDIR:-/tmp}/jwtsession-quickstart.json

cat <<EOF
jwtsessiond on $url - memory store, a generated signing key (tokens die with the process).
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
JWTSESSION_ADMIN_KEY=$admin_key JWTSESSION_LISTEN=$listen exec "$bin"
