#!/usr/bin/env bash
# run.sh JWTSESSION_BIN - the interop test: the jwtsession CLI against PyJWT (Debian python3-jwt,
# python3-cryptography) and the npm jose package (tests/interop/node_modules, installed here with
# `npm ci` when missing). A missing tool fails the test; nothing is skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: run.sh JWTSESSION_BIN}
py=/usr/bin/python3 # Debian's python, where python3-jwt lives (not a pyenv/venv one)
[ -x "$py" ] || { echo "interop: FAIL: $py not found (apt-get install python3)" >&2; exit 1; }
"$py" -c 'import jwt, cryptography' 2>/dev/null ||
  { echo "interop: FAIL: PyJWT/cryptography missing (apt-get install python3-jwt python3-cryptography)" >&2; exit 1; }
command -v node >/dev/null || { echo "interop: FAIL: node not found (apt-get install nodejs npm)" >&2; exit 1; }
if [ ! -d "$here/node_modules/jose" ]; then
  command -v npm >/dev/null || { echo "interop: FAIL: npm not found" >&2; exit 1; }
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "interop: FAIL: npm ci in $here failed" >&2; exit 1; }
fi
exec "$py" "$here/interop.py" "$bin"
