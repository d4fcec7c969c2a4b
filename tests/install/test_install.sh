#!/usr/bin/env bash
# test_install.sh BUILD_DIR HERE - install BUILD_DIR into a temp prefix and build consumers of it
# the ways a C developer would (issue #16 item 8), every link with -Wl,--no-undefined:
#   - pkg-config, shared and static (--static, libjwtsession.a), and `--cflags` is only our
#     include directory (no hiredis path, no -D flags);
#   - pkg-config and CMake seeing none of the dependencies' .pc files (PKG_CONFIG_LIBDIR = the
#     prefix only): a shared-library consumer still builds (no hiredis/curl development files);
#   - CMake find_package, shared and static targets, in a project that first does
#     find_package(OpenSSL) and find_package(CURL) and links ${OPENSSL_LIBRARIES} itself: the
#     variables must be unchanged after find_package(jwtsession) and its program must link and run;
# then the man pages, versions, license, and that each installed header compiles alone.
set -euo pipefail
build=$1 here=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
prefix=$work/prefix
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
runs() { # runs NAME BINARY: the binary prints JWTS_OK
  if [ -x "$2" ] && [ "$("$2")" = "JWTS_OK" ]; then ok; else bad "$1"; fi
}
NOUNDEF=-Wl,--no-undefined

# pkg-config: --cflags is our include directory alone
cflags=$(pkg-config --cflags jwtsession)
if [ "$(echo $cflags)" = "-I$prefix/lib/pkgconfig/../../include" ]; then ok; else bad "pkg-config --cflags is '$cflags'"; fi
# shared
cc -std=c11 -o "$work/pc-shared" "$here/consumer.c" $cflags $(pkg-config --libs jwtsession) $NOUNDEF \
  -Wl,-rpath,"$prefix/lib" || true
runs "pkg-config shared consumer" "$work/pc-shared"
# static: --static lists what libjwtsession.a needs
if static_libs=$(pkg-config --static --libs jwtsession); then ok; else bad "pkg-config --static fails"; fi
cc -std=c11 -o "$work/pc-static" "$here/consumer.c" $cflags ${static_libs//-ljwtsession/-l:libjwtsession.a} $NOUNDEF || true
runs "pkg-config --static consumer (libjwtsession.a)" "$work/pc-static"
if ldd "$work/pc-static" 2>/dev/null | grep -q libjwtsession; then bad "the static consumer loads libjwtsession.so"; else ok; fi
# no dependency .pc files visible: a shared consumer still builds
if only=$(PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" PKG_CONFIG_PATH= pkg-config --cflags --libs jwtsession); then
  cc -std=c11 -o "$work/pc-alone" "$here/consumer.c" $only $NOUNDEF -Wl,-rpath,"$prefix/lib" || true
  runs "pkg-config shared consumer without the dependencies' .pc files" "$work/pc-alone"
else
  bad "pkg-config needs the dependencies' .pc files for a shared consumer"
fi

# CMake: a caller that uses OpenSSL and curl itself
mkdir -p "$work/cmake" "$work/alone"
cat > "$work/cmake/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(OpenSSL 3.0 REQUIRED)
find_package(CURL REQUIRED)
set(saved_openssl "\${OPENSSL_LIBRARIES}")
set(saved_curl "\${CURL_LIBRARIES}")
set(saved_openssl_inc "\${OPENSSL_INCLUDE_DIR}")
find_package(jwtsession REQUIRED)
foreach(v openssl curl openssl_inc)
  string(TOUPPER "\${v}" V)
  if(v STREQUAL "openssl_inc")
    set(now "\${OPENSSL_INCLUDE_DIR}")
  else()
    set(now "\${\${V}_LIBRARIES}")
  endif()
  if(NOT "\${now}" STREQUAL "\${saved_\${v}}")
    message(FATAL_ERROR "find_package(jwtsession) changed the caller's \${v} variable: '\${saved_\${v}}' -> '\${now}'")
  endif()
endforeach()
set(CMAKE_EXE_LINKER_FLAGS "\${CMAKE_EXE_LINKER_FLAGS} $NOUNDEF")
add_executable(shared "$here/consumer.c")
target_link_libraries(shared PRIVATE jwtsession::jwtsession)
add_executable(static "$here/consumer.c")
target_link_libraries(static PRIVATE jwtsession::jwtsession_static)
add_executable(openssl_caller "$here/openssl_caller.c")
target_include_directories(openssl_caller PRIVATE \${OPENSSL_INCLUDE_DIR})
target_link_libraries(openssl_caller PRIVATE jwtsession::jwtsession \${OPENSSL_LIBRARIES})
CM
if cmake -S "$work/cmake" -B "$work/cmake/build" -DCMAKE_PREFIX_PATH="$prefix" >"$work/cmake.log" 2>&1 &&
   cmake --build "$work/cmake/build" >>"$work/cmake.log" 2>&1; then
  ok
else
  bad "the CMake consumer (find_package(OpenSSL), then jwtsession)"; cat "$work/cmake.log" >&2
fi
runs "CMake shared consumer" "$work/cmake/build/shared"
runs "CMake static consumer" "$work/cmake/build/static"
runs "CMake caller linking \${OPENSSL_LIBRARIES} itself" "$work/cmake/build/openssl_caller"
# CMake without the dependencies' .pc files: the shared target still works
cat > "$work/alone/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(alone C)
find_package(jwtsession REQUIRED)
set(CMAKE_EXE_LINKER_FLAGS "\${CMAKE_EXE_LINKER_FLAGS} $NOUNDEF")
add_executable(shared "$here/consumer.c")
target_link_libraries(shared PRIVATE jwtsession::jwtsession)
CM
if PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" PKG_CONFIG_PATH= cmake -S "$work/alone" -B "$work/alone/build" \
     -DCMAKE_PREFIX_PATH="$prefix" >"$work/alone.log" 2>&1 && cmake --build "$work/alone/build" >>"$work/alone.log" 2>&1; then
  ok
else
  bad "find_package(jwtsession) without the dependencies' .pc files"; cat "$work/alone.log" >&2
fi
runs "CMake shared consumer without the dependencies' .pc files" "$work/alone/build/shared"

# the manual pages are installed and render without a groff warning; jwtsession(1) names every
# global option `jwtsession --help` lists
for page in man1/jwtsession.1 man8/jwtsessiond.8; do
  f="$prefix/share/man/$page"
  if [ -f "$f" ] && [ -z "$(groff -man -Tutf8 -ww -z "$f" 2>&1)" ] && man -l "$f" 2>/dev/null | grep -q '^NAME'; then
    ok
  else
    bad "man page $page missing or does not render cleanly"
  fi
done
page_text=$(MANWIDTH=250 man -l "$prefix/share/man/man1/jwtsession.1" 2>/dev/null | col -b)
for opt in $("$prefix/bin/jwtsession" --help | grep -oE '^  --[a-z-]+' | tr -d ' '); do
  if grep -qE -- "(^|[^a-z-])$opt([^a-z-]|\$)" <<<"$page_text"; then ok; else bad "jwtsession.1 does not document $opt"; fi
done
# one version everywhere: the header, the library, pkg-config, the programs; and the license
hv=$(sed -n 's/^#define JWTS_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/jwtsession/version.h")
for v in "$(pkg-config --modversion jwtsession)" "$("$prefix/bin/jwtsession" --version | cut -d' ' -f2)"; do
  if [ -n "$hv" ] && [ "$v" = "$hv" ]; then ok; else bad "version $v != header $hv"; fi
done
if grep -q "MIT License" "$prefix/share/doc/jwtsession/LICENSE"; then ok; else bad "LICENSE not installed"; fi
# the installed headers stand alone: each compiles on its own
for h in "$prefix"/include/jwtsession/*.h; do
  if echo "#include <jwtsession/$(basename "$h")>" | cc -std=c11 -fsyntax-only -I"$prefix/include" -x c -; then
    ok
  else
    bad "$(basename "$h") does not compile alone"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
