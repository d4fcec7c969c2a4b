#!/usr/bin/env python3
"""check_dashboard.py DASHBOARD ALERTS METRICS - the ops artifacts name only metrics we render.

Every jwtsession_* name in the Grafana dashboard's queries and in the alert rules must be a
family (or a histogram's _bucket/_sum/_count) in METRICS, the real Prometheus text rendered by
the workload. Also checks the dashboard is valid JSON with panels that all have queries.
"""
import json
import re
import sys


def main():
    dash_path, alerts_path, metrics_path = sys.argv[1:4]
    families = {}
    for line in open(metrics_path):
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            families[m.group(1)] = m.group(2)
    names = set(families)
    for f, t in families.items():
        if t == "histogram":
            names |= {f + "_bucket", f + "_sum", f + "_count"}

    dash = json.load(open(dash_path))
    exprs = []
    for p in dash["panels"]:
        targets = p.get("targets", [])
        if not targets:
            sys.exit("check_dashboard: panel %r has no query" % p.get("title"))
        exprs += [t["expr"] for t in targets]
    problems = []
    for source, text in (("dashboard", "\n".join(exprs)), ("alerts", open(alerts_path).read())):
        used = set(re.findall(r"\bjwtsession_[a-z_]+", text))
        if not used:
            problems.append("%s uses no jwtsession metric" % source)
        for n in sorted(used - names):
            problems.append("%s uses %s, which the library does not render" % (source, n))
    if problems:
        sys.exit("check_dashboard: FAILED:\n  " + "\n  ".join(problems))
    print("check_dashboard: %d dashboard queries and the alert rules use only rendered metrics" % len(exprs))


if __name__ == "__main__":
    main()
