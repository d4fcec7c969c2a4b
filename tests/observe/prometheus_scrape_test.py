#!/usr/bin/env python3
"""prometheus_scrape_test.py JWTSESSIOND ALERTS_YML VERSION_H DASHBOARD_JSON - a real Prometheus server (Debian
package prometheus) scrapes a real jwtsessiond (issue #16 item 9b).

jwtsessiond runs on a Redis store (a redis-server on a free port), Prometheus on another free
loopback port with a 1 s scrape and evaluation interval and the shipped alert rules loaded. Through
Prometheus's HTTP API the test checks: the target is up; every rule of the alerts file is loaded
and evaluates healthy; process_cpu_seconds_total, process_resident_memory_bytes,
process_open_fds and process_start_time_seconds have plausible values; jwtsession_build_info
carries the version of include/jwtsession/version.h with the value 1; and every jwtsession_*
metric the alert rules and the Grafana dashboard read is one jwtsessiond really exports (tracing
on, towards a closed port, so the span families exist): a rule over a metric nothing exports
would stay healthy and silent forever (issue #16 item 14).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

daemon, alerts, version_h, dashboard = sys.argv[1:5]
failures = []
passed = 0


def check(name, ok, detail=""):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(name)
        print(f"FAIL: {name}" + (f": {detail}" if detail else ""), file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)
    except Exception:
        return None


def wait_for(what, fn, seconds=30):
    """Poll fn until it returns a true value (returned) or seconds pass (None)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.25)
    print(f"note: gave up waiting for {what}", file=sys.stderr)
    return None


def wait_port(port):
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    return wait_for(f"port {port}", up, 15)


def main():
    version = re.search(r'#define JWTS_VERSION_STRING "([^"]+)"', open(version_h).read()).group(1)
    rule_names = re.findall(r"^\s*- alert:\s*(\S+)", open(alerts).read(), re.M)
    prom = shutil.which("prometheus")
    if not prom:
        print("prometheus not found (Debian package prometheus; scripts/install-deps.sh)", file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix="jwts-prom-")
    procs = []
    try:
        rport, dport, pport = free_port(), free_port(), free_port()
        procs.append(subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL))
        check("redis-server starts", wait_port(rport))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JWTSESSION_", "OTEL_"))}
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
        procs.append(subprocess.Popen([daemon, "--listen", f"127.0.0.1:{dport}", "--store",
                                       f"redis://127.0.0.1:{rport}"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(work, "daemon.log"), "w")))
        check("jwtsessiond starts", wait_port(dport))
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {os.path.abspath(alerts)}
scrape_configs:
  - job_name: jwtsessiond
    static_configs:
      - targets: ['127.0.0.1:{dport}']
""")
        procs.append(subprocess.Popen([prom, f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/data",
                                       f"--web.listen-address=127.0.0.1:{pport}", "--log.level=warn"],
                                      stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prom.log"), "w")))
        api = f"http://127.0.0.1:{pport}/api/v1"

        def target_up():
            t = get_json(api + "/targets")
            active = (t or {}).get("data", {}).get("activeTargets", [])
            return active if active and all(a.get("health") == "up" for a in active) else None
        targets = wait_for("the target to be up", target_up)
        check("Prometheus scrapes jwtsessiond: the target is up", targets,
              json.dumps(get_json(api + "/targets"))[:500])

        def rules_evaluated():
            r = get_json(api + "/rules")
            rules = [x for g in (r or {}).get("data", {}).get("groups", []) for x in g.get("rules", [])]
            return rules if rules and all(x.get("health") != "unknown" for x in rules) else None
        rules = wait_for("the rules to be evaluated", rules_evaluated) or []
        loaded = sorted(x["name"] for x in rules)
        check("every alert rule of the shipped file is loaded", loaded == sorted(rule_names),
              f"loaded {loaded}, file has {sorted(rule_names)}")
        for x in rules:
            check(f"rule {x['name']} is healthy", x.get("health") == "ok", x.get("lastError", ""))

        def query(expr):
            def one():
                r = get_json(api + "/query?" + urllib.parse.urlencode({"query": expr}))
                res = (r or {}).get("data", {}).get("result", [])
                return res or None
            return wait_for(expr, one, 15) or []

        now = time.time()
        checks = {
            "process_cpu_seconds_total": lambda v: 0 <= v < 3600,
            "process_resident_memory_bytes": lambda v: 1 << 20 < v < 4 << 30,
            "process_open_fds": lambda v: 3 <= v < 10000,
            "process_start_time_seconds": lambda v: now - 600 < v <= now + 5,
        }
        for name, plausible in checks.items():
            res = query(f'{name}{{job="jwtsessiond"}}')
            v = float(res[0]["value"][1]) if res else None
            check(f"{name} is scraped with a plausible value", v is not None and plausible(v), str(v))
        res = query('jwtsession_build_info{job="jwtsessiond"}')
        check("jwtsession_build_info has one series", len(res) == 1, str(res))
        if res:
            check(f"jwtsession_build_info{{version=\"{version}\"}} is 1",
                  res[0]["metric"].get("version") == version and res[0]["value"][1] == "1", str(res))

        # every metric the shipped rules and dashboard read is exported by jwtsessiond
        meta = (get_json(api + "/metadata") or {}).get("data", {})
        exported = set(meta)
        for name, entries in meta.items():
            if any(e.get("type") == "histogram" for e in entries):
                exported |= {name + "_bucket", name + "_sum", name + "_count"}
        exported |= set((get_json(api + "/label/__name__/values") or {}).get("data", []))
        dash = json.load(open(dashboard))
        texts = {"alerts": open(alerts).read(),
                 "dashboard": "\n".join(t["expr"] for p in dash["panels"] for t in p.get("targets", []))}
        for source, text in texts.items():
            used = set(re.findall(r"\bjwtsession_[a-z_]+", text))
            check(f"the {source} read jwtsession metrics", bool(used))
            for n in sorted(used):
                check(f"{source}: {n} is exported by jwtsessiond", n in exported)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if failures:
            for log in ("daemon.log", "prom.log"):
                path = os.path.join(work, log)
                if os.path.exists(path):
                    print(f"--- {log}\n" + open(path).read()[-3000:], file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


sys.exit(main())
