#!/usr/bin/env bash
# test_store_urls_tls.sh JWTSESSIOND JWTSESSION - jwtsessiond and the CLI open their store through
# the library's one opener: every URL form starts the daemon (stores connect lazily), an unknown
# query option stops it with the option named, and both programs run a session over rediss:// to
# a real redis-server --tls-port with a client certificate (mutual TLS), certificates made here
# with openssl. Servers run on free loopback ports and are stopped by pid.
set -uo pipefail
daemon=$(realpath "${1:?usage: test_store_urls_tls.sh JWTSESSIOND JWTSESSION}")
cli=$(realpath "${2:?usage: test_store_urls_tls.sh JWTSESSIOND JWTSESSION}")
work=$(mktemp -d /tmp/jwts-urls-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/check.sh"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for FILE PATTERN: up to 10 s
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# ---- every URL form starts the daemon; an unknown option is named --------------------------
forms=("memory" "redis://127.0.0.1:1?pool_size=2" "unix:///tmp/none.sock?pipeline=true"
       "rediss://127.0.0.1:1?tls_insecure=true"
       "redis-cluster://127.0.0.1:1,127.0.0.1:2?wait_replicas=1&wait_timeout=100ms"
       "rediss-cluster://127.0.0.1:1?tls_insecure=true"
       "redis-sentinel://127.0.0.1:1/mymaster?wait_replicas=1"
       "rediss-sentinel://127.0.0.1:1/mymaster?tls_insecure=true&sentinel_password=x")
names=(memory redis redis redis redis-cluster redis-cluster redis-sentinel redis-sentinel)
for i in "${!forms[@]}"; do
  log=$work/d$i.log
  "$daemon" --listen 127.0.0.1:0 --store "${forms[$i]}" >"$log" 2>&1 &
  pid=$!
  check "daemon starts on ${forms[$i]}" wait_for "$log" "\"store\":\"${names[$i]}\""
  kill "$pid"; wait "$pid" 2>/dev/null
done
out=$("$daemon" --listen 127.0.0.1:0 --store "redis-cluster://127.0.0.1:1?colour=red" 2>&1)
check "daemon refuses an unknown option" test $? -ne 0
check "... and names it" grep -q 'unknown option \\"colour\\"' <<<"$out"
out=$("$cli" --store "redis://127.0.0.1:1?colour=red" session list --user u 2>&1)
check "cli refuses an unknown option" test $? -ne 0
check "... and names it" grep -q 'unknown option "colour"' <<<"$out"

# ---- a real TLS server: certificates, redis-server --tls-port ------------------------------
cd "$work" || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=jwts urls CA" 2>/dev/null
for n in server client; do
  openssl req -new -newkey rsa:2048 -nodes -keyout $n.key -subj "/CN=$n" -out $n.csr 2>/dev/null
  if [ $n = server ]; then echo "subjectAltName=DNS:localhost,IP:127.0.0.1" >$n.ext; else echo "extendedKeyUsage=clientAuth" >$n.ext; fi
  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile $n.ext -out $n.pem 2>/dev/null
done
port=$(free_port) tls=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save "" --dir "$work" --tls-port "$tls" --tls-cert-file server.pem \
  --tls-key-file server.key --tls-ca-cert-file ca.pem --tls-auth-clients yes >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
store="rediss://localhost:$tls/4?tls_ca=$work/ca.pem&tls_cert=$work/client.pem&tls_key=$work/client.key"

# the daemon over rediss://
admin=admin-key-for-the-tls-test-0123456789
hport=$(free_port)
JWTSESSION_ADMIN_KEY=$admin "$daemon" --listen "127.0.0.1:$hport" --store "$store" >"$work/daemon.log" 2>&1 &
pids+=($!)
check "daemon starts on rediss://" wait_for "$work/daemon.log" '"store":"redis"'
body=$(curl -s -X POST "http://127.0.0.1:$hport/v1/sessions" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d '{"user_id":"tls-daemon-user","metadata":{"via":"tls"}}')
access=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <<<"$body" 2>/dev/null)
check "daemon creates a session over TLS" test -n "$access"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/v1/auth" -H "Authorization: Bearer $access")
check "daemon validates it over TLS" test "$code" = 200
# the user's tag (docs/redis.md): the first 36 bits of SHA-256 of the user id, base64url
tag=$(python3 -c 'import base64,hashlib,sys; print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()[:5]).decode()[:6])' tls-daemon-user)
check "the session is in Redis (read over the plain port)" \
  test "$(redis-cli -p "$port" -n 4 --scan --pattern "jwts:{$tag}:s:*" | wc -l)" -eq 1
check "no key material in the daemon's log" bash -c "! grep -q 'PRIVATE KEY\|BEGIN' '$work/daemon.log'"

# the CLI over rediss://, on the same data
"$cli" keygen --alg HS256 --out "$work/key.jwk" >/dev/null
out=$("$cli" --store "$store" --key "$work/key.jwk" session create --user tls-cli-user)
check "cli creates a session over TLS" test $? -eq 0
out=$("$cli" --store "$store" --key "$work/key.jwk" session list --user tls-cli-user)
check "cli lists it over TLS" grep -q '"user_id":"tls-cli-user"' <<<"$out"
# a wrong CA: a named verification failure
out=$("$cli" --store "rediss://localhost:$tls?tls_ca=$work/client.pem&tls_cert=$work/client.pem&tls_key=$work/client.key" \
  --key "$work/key.jwk" session list --user tls-cli-user 2>&1)
check "cli: wrong CA fails" grep -q 'JWTS_E_UNAVAILABLE: redis tls localhost:[0-9]*: certificate verify failed' <<<"$out"

echo "$passed passed, $failed failed"
test "$failed" -eq 0
