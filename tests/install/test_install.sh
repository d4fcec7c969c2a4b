#!/usr/bin/env bash
# test_install.sh BUILD_DIR HERE - install BUILD_DIR into a temp prefix; build consumer.c against
# it with pkg-config (shared) and with find_package (shared and static targets); run all three.
set -euo pipefail
build=$1 here=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
cc -std=c11 -o "$work/by-pkgconfig" "$here/consumer.c" $(pkg-config --cflags --libs jwtsession) \
  -Wl,-rpath,"$work/prefix/lib"
mkdir -p "$work/cmake"
cat > "$work/cmake/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(jwtsession REQUIRED)
add_executable(shared "$here/consumer.c")
target_link_libraries(shared PRIVATE jwtsession::jwtsession)
add_executable(static "$here/consumer.c")
target_link_libraries(static PRIVATE jwtsession::jwtsession_static)
CM
cmake -S "$work/cmake" -B "$work/cmake/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake/build" >/dev/null
passed=0 failed=0
for bin in "$work/by-pkgconfig" "$work/cmake/build/shared" "$work/cmake/build/static"; do
  if [ "$("$bin")" = "JWTS_OK" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $bin" >&2; fi
done
# the manual pages are installed and render without a groff warning; jwtsession(1) names every
# global option `jwtsession --help` lists
for page in man1/jwtsession.1 man8/jwtsessiond.8; do
  f="$work/prefix/share/man/$page"
  if [ -f "$f" ] && [ -z "$(groff -man -Tutf8 -ww -z "$f" 2>&1)" ] && man -l "$f" 2>/dev/null | grep -q '^NAME'; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: man page $page missing or does not render cleanly" >&2
  fi
done
page_text=$(MANWIDTH=250 man -l "$work/prefix/share/man/man1/jwtsession.1" 2>/dev/null | col -b)
for opt in $("$work/prefix/bin/jwtsession" --help | grep -oE '^  --[a-z-]+' | tr -d ' '); do
  if grep -qE -- "(^|[^a-z-])$opt([^a-z-]|\$)" <<<"$page_text"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: jwtsession.1 does not document $opt" >&2
  fi
done
# one version everywhere: the header, the library, pkg-config, the programs; and the license
hv=$(sed -n 's/^#define JWTS_VERSION_STRING "\(.*\)"/\1/p' "$work/prefix/include/jwtsession/version.h")
for v in "$(pkg-config --modversion jwtsession)" "$("$work/prefix/bin/jwtsession" --version | cut -d' ' -f2)"; do
  if [ -n "$hv" ] && [ "$v" = "$hv" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: version $v != header $hv" >&2; fi
done
if grep -q "MIT License" "$work/prefix/share/doc/jwtsession/LICENSE"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: LICENSE not installed" >&2; fi
# the installed headers stand alone: each compiles on its own
for h in "$work"/prefix/include/jwtsession/*.h; do
  if echo "#include <jwtsession/$(basename "$h")>" | cc -std=c11 -fsyntax-only -I"$work/prefix/include" -x c -; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: $(basename "$h") does not compile alone" >&2
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
