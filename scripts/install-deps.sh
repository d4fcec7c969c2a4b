#!/usr/bin/env bash
# install-deps.sh - install every Debian package jwtsession needs, when missing.
# Idempotent and quiet when everything is there. Runs apt-get as root (or through sudo).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  # libraries
  libssl-dev libjansson-dev libhiredis-dev libcmocka-dev libcurl4-openssl-dev libsodium-dev liblmdb-dev
  # real servers and tools used by tests and benchmarks
  redis-server redis-tools valgrind procps iproute2 prometheus
  # JOSE: libjwt (benchmark baseline), PyJWT and node (interop tests; npm ships with this nodejs)
  libjwt-dev python3 python3-jwt python3-cryptography nodejs
  # jwtsessiond (libmicrohttpd), its end-to-end tests (nginx, curl) and benchmark (wrk)
  libmicrohttpd-dev nginx wrk curl
  # forward-auth behind other proxies (tests/e2e/test_gateways.py) and a real browser
  # (tests/e2e/test_browser.py: headless Chromium driven by Debian's python3-selenium)
  caddy haproxy chromium chromium-driver python3-selenium
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
