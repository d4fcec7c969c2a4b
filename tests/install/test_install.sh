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
