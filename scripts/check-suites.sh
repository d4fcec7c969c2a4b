#!/usr/bin/env bash
# check-suites.sh BUILD_DIR [LABEL...] - compare the CTest tests BUILD_DIR registers with
# tests/suites.list, label by label; fail (listing what is missing or unexpected) when they
# differ. No LABEL: every label in the list or the build, but fuzz only when the build was
# configured with JWTS_FUZZ=ON. A renamed or dropped suite then fails instead of silently not running.
set -euo pipefail
build=${1:?usage: check-suites.sh BUILD_DIR [LABEL...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
ctest --test-dir "$build" --show-only=json-v1 | python3 -c '
import json, re, sys
root, build, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
expected = {}
with open(root + "/tests/suites.list") as f:
    for line in f:
        line = line.split("#", 1)[0].split()
        if line:
            expected[line[0]] = set(line[1].split(","))
registered = {}
for t in json.load(sys.stdin)["tests"]:
    labels = set()
    for p in t.get("properties", []):
        if p["name"] == "LABELS":
            labels |= set(p["value"])
    registered[t["name"]] = labels
try:
    fuzz = re.search(r"^JWTS_FUZZ:BOOL=(ON|TRUE|1)$", open(build + "/CMakeCache.txt").read(), re.M) is not None
except OSError:
    fuzz = False
labels = set(wanted) or ({l for s in expected.values() for l in s} | {l for s in registered.values() for l in s})
if not wanted and not fuzz:
    labels.discard("fuzz")
bad = []
for label in sorted(labels):
    want = {n for n, s in expected.items() if label in s}
    have = {n for n, s in registered.items() if label in s}
    if want == have:
        print("check-suites: %-11s %d tests as listed" % (label, len(have)))
    for n in sorted(want - have):
        bad.append("label %s: %s is in tests/suites.list but %s does not register it" % (label, n, build))
    for n in sorted(have - want):
        bad.append("label %s: %s is registered but not in tests/suites.list" % (label, n))
for n in sorted(registered):
    if not registered[n]:
        bad.append("%s has no label" % n)
for b in bad:
    print("check-suites: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
' "$root" "$build" "$@"
