#!/usr/bin/env python3
"""check-layers.py [SOURCE_DIR] - no lower layer includes a higher one (docs/architecture.md).

Layers, lowest first: core, observe, store, jose, manager; the programs (daemon/, cli/) on top.
A library file may include the public headers (jwtsession/...) and the private headers of its own
layer and the layers below it. The programs (daemon/, cli/) include only the public headers, so
they build against an installed library. Prints each violation as
"file:line: <layer> includes <header>" and exits 1 if there is any.
"""
import os
import re
import sys

LAYERS = ["core", "observe", "store", "jose", "manager"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([^"]+)"')


def violations(root):
    for top in ("src", "daemon", "cli"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            rel = os.path.relpath(dirpath, root).split(os.sep)
            own = rel[1] if top == "src" and len(rel) > 1 else None
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or m.group(1) == "jwtsession":
                            continue
                        layer, header = m.group(1), "%s/%s" % m.groups()
                        if layer not in LAYERS:
                            continue  # a header of the program's own directory
                        ok = own in LAYERS and LAYERS.index(layer) <= LAYERS.index(own)  # programs: never
                        if not ok:
                            yield "%s:%d: %s includes %s" % (os.path.relpath(path, root), n, own or top, header)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    bad = list(violations(root))
    for v in bad:
        print(v)
    if bad:
        print("check-layers: %d include(s) against the layering of docs/architecture.md" % len(bad))
        return 1
    print("check-layers: every include respects the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
