#!/usr/bin/env bash
# check-exports.sh LIBRARY INCLUDE_DIR - the shared library exports exactly the functions the
# public headers declare (scripts/public-symbols.py): nothing private, nothing missing.
set -euo pipefail
lib=$1 include=$2
here=$(cd "$(dirname "$0")" && pwd)
declared=$(mktemp) exported=$(mktemp)
trap 'rm -f "$declared" "$exported"' EXIT
"$here/public-symbols.py" "$include" >"$declared"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TWDBRVi]$/ {print $3}' | sed 's/@.*//' | sort -u >"$exported"
extra=$(comm -23 "$exported" "$declared")
missing=$(comm -13 "$exported" "$declared")
[ -z "$extra" ] || { echo "check-exports: exported but in no public header:"; echo "$extra"; }
[ -z "$missing" ] || { echo "check-exports: declared in a public header but not exported:"; echo "$missing"; }
[ -z "$extra$missing" ] || exit 1
echo "check-exports: $(wc -l <"$declared") functions, exactly the public headers' declarations"
