#!/usr/bin/env python3
"""test_readme.py README JWTSESSION JWTSESSIOND INCLUDE_DIR LIBDIR [SANITIZE_FLAGS] - the README's examples run as
written (issue #16 item 12).

Every ```sh block (except one whose info string says "norun", e.g. `make run`) runs command by
command in one scratch directory, in order, with `jwtsession` on PATH and build/daemon/jwtsessiond
beside it; each command must exit 0 and print no "error:". Two things differ from a reader's
machine, both without touching the text: redis://127.0.0.1:6379 is a redis-server the test starts
on a free port, and jwtsessiond listens on a free port (JWTSESSION_LISTEN). The README's
placeholders (TOKEN, ACCESS_TOKEN, REFRESH_TOKEN, SESSION_ID) get the values the earlier commands
printed. A command starting jwtsessiond runs in the background until /healthz and /readyz answer
200, then gets SIGTERM and must exit 0.

Every ```c block is compiled as the body of main() (its #include lines at the top) with
-Wall -Wextra -Werror against the library and run; under valgrind when installed, where a leak or
an invalid access fails. In a sanitizer build (SANITIZE_FLAGS, e.g. -fsanitize=address,undefined)
it is compiled with the same flags and the sanitizer checks it instead of valgrind.
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
import urllib.request

readme, cli, daemon, include_dir, libdir = sys.argv[1:6]
sanitize = sys.argv[6].split() if len(sys.argv) > 6 and sys.argv[6].strip() else []
failures = []
passed = 0


def check(name, ok, detail=""):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(name)
        print(f"FAIL: {name}" + (f"\n{detail}" if detail else ""), file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def blocks(text):
    """(language, info, body) of every fenced block."""
    for m in re.finditer(r"^```(\w*)([^\n]*)\n(.*?)^```", text, re.S | re.M):
        yield m.group(1), m.group(2).strip(), m.group(3)


def commands(body):
    """Shell commands of a block: backslash continuations joined, blank and comment lines dropped."""
    out, cur = [], ""
    for line in body.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        if cur.strip() and not cur.strip().startswith("#"):
            out.append(cur.strip())
        cur = ""
    return out


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except Exception:
        return None


def run_sh_block(body, env, work, values, redis_url):
    for cmd in commands(body):
        cmd = cmd.replace("redis://127.0.0.1:6379", redis_url)
        missing = []
        for name in ("ACCESS_TOKEN", "REFRESH_TOKEN", "SESSION_ID", "TOKEN"):
            if re.search(rf"\b{name}\b", cmd):
                if name not in values:
                    missing.append(name)
                else:
                    cmd = re.sub(rf"\b{name}\b", values[name], cmd)
        if missing:
            check(f"placeholder {missing} has a value from an earlier command: {cmd}", False)
            continue
        if re.search(r"(^|\s)(\S*/)?jwtsessiond(\s|$)", cmd.split(" #")[0]):
            run_daemon(cmd, env, work)
            continue
        envfile = os.path.join(work, ".env")
        p = subprocess.run(["bash", "-c", f"set -eo pipefail\n{cmd}\nenv -0 > {envfile}"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=60)
        shown = cmd if len(cmd) < 120 else cmd[:117] + "..."
        check(f"README: {shown} exits 0", p.returncode == 0, p.stdout + p.stderr)
        check(f"README: {shown} prints no error", "error:" not in p.stderr, p.stderr)
        if p.returncode != 0:
            continue
        with open(envfile) as f:
            env.clear()
            env.update(kv.split("=", 1) for kv in f.read().split("\0") if "=" in kv)
        out = p.stdout.strip()
        if re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]*", out):
            values["TOKEN"] = out
        try:
            doc = json.loads(out)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            for key, name in (("access_token", "ACCESS_TOKEN"), ("refresh_token", "REFRESH_TOKEN"),
                              ("session_id", "SESSION_ID")):
                if isinstance(doc.get(key), str) and name not in values:
                    values[name] = doc[key]
            if "valid" in doc:
                check(f"README: {shown} says valid", doc["valid"] is True, out)


def run_daemon(cmd, env, work):
    port = free_port()
    denv = dict(env, JWTSESSION_LISTEN=f"127.0.0.1:{port}")
    proc = subprocess.Popen(["bash", "-c", f"exec {cmd}" if not cmd.startswith("JWTSESSION_") else cmd],
                            cwd=work, env=denv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    health = None
    while time.monotonic() < deadline and proc.poll() is None:
        health = http_status(base + "/healthz")
        if health == 200:
            break
        time.sleep(0.1)
    check("README: jwtsessiond answers /healthz 200", health == 200)
    check("README: jwtsessiond answers /readyz 200 (its store is reachable)", http_status(base + "/readyz") == 200)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        rc = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = proc.wait()
    err = proc.stderr.read().decode(errors="replace")
    check("README: jwtsessiond exits 0 on SIGTERM", rc == 0, err[-2000:])


def run_c_block(body, work, n):
    lines = body.splitlines()
    includes = [ln for ln in lines if ln.startswith("#include")]
    rest = [ln for ln in lines if not ln.startswith("#include")]
    src = os.path.join(work, f"readme_{n}.c")
    with open(src, "w") as f:
        f.write("#include <stdio.h>\n#include <string.h>\n" + "\n".join(includes) + "\n")
        f.write("int main(void)\n{\n" + "\n".join(rest) + "\n    return 0;\n}\n")
    exe = src[:-2]
    p = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", *sanitize, "-I", include_dir, "-o", exe, src,
                        "-L", libdir, "-ljwtsession", f"-Wl,-rpath,{libdir}"], capture_output=True, text=True)
    check(f"README C example {n} compiles with -Wall -Wextra -Werror", p.returncode == 0, p.stderr)
    if p.returncode != 0:
        return
    argv = [exe]
    if shutil.which("valgrind") and not sanitize:
        argv = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
                exe]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    check(f"README C example {n} runs cleanly{' under valgrind' if len(argv) > 1 else ''}", p.returncode == 0,
          p.stdout + p.stderr)
    check(f"README C example {n} prints no error", p.stderr.strip() == "", p.stderr)


def main():
    text = open(readme).read()
    work = tempfile.mkdtemp(prefix="jwts-readme-")
    redis = None
    try:
        os.makedirs(os.path.join(work, "bin"))
        os.symlink(os.path.abspath(cli), os.path.join(work, "bin", "jwtsession"))
        os.makedirs(os.path.join(work, "build", "daemon"))
        os.symlink(os.path.abspath(daemon), os.path.join(work, "build", "daemon", "jwtsessiond"))
        rport = free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", rport), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        env = {k: v for k, v in os.environ.items() if not k.startswith("JWTSESSION_")}
        env["PATH"] = os.path.join(work, "bin") + ":" + env["PATH"]
        values = {}
        n_sh = n_c = 0
        for lang, info, body in blocks(text):
            if lang == "sh" and "norun" not in info.split():
                n_sh += 1
                run_sh_block(body, env, work, values, f"redis://127.0.0.1:{rport}")
            elif lang == "c":
                n_c += 1
                run_c_block(body, work, n_c)
        check("the README has shell examples to run", n_sh >= 2)
        check("the README has a C example to run", n_c >= 1)
    finally:
        if redis:
            redis.terminate()
            redis.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


sys.exit(main())
