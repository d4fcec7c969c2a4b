"""harness.py - what the e2e tests share: free loopback ports, a jwtsessiond child process, HTTP.

Everything uses the Python standard library only. A Daemon is started on a free loopback port,
waited for through GET /healthz, and stopped by its pid (SIGTERM, then SIGKILL after a grace
period), so a test never leaves a process behind. Its stderr (JSON log lines) is kept in a file
that tests read back. Closing a Daemon fails the test when its stderr holds a sanitizer report
(ASan, LSan, UBSan, TSan builds) or when it did not exit 0 on the SIGTERM that stopped it.
A Redis is a throwaway redis-server on a free port that tests can pause, stop and restart.
daemon_conns() counts the TCP connections a proxy opens to jwtsessiond while keepalive_load() (a few
persistent clients) or wrk() (Debian's wrk, many connections) send it many requests (issue #15
item 0: test_nginx.py, test_gateways.py; wrk also loads test_deployments.py's nginx).

JWTS_E2E_STORE picks the store of every Daemon that names none itself (no --store argument, no
JWTSESSION_STORE): memory (the default), redis, cluster (3 masters) or sentinel (a master, a
replica, 3 sentinels). The deployment (topologies.py) is started once, on first use, and stopped
at exit; each Daemon gets its own key_prefix on it, so each starts empty as on memory.
JWTS_E2E_CACHE=false runs those daemons with --cache false (the near cache is on by default).
"""
import atexit
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import topologies

DAEMON = os.environ.get("JWTSESSIOND", "build/daemon/jwtsessiond")
ADMIN_KEY = "e2e-admin-key-" + base64.urlsafe_b64encode(os.urandom(18)).decode()


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, step=0.02):
    """Poll pred() until it is true; False when timeout passes first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


STORE = os.environ.get("JWTS_E2E_STORE") or "memory"
CACHE = os.environ.get("JWTS_E2E_CACHE") or "true"
QUERY = os.environ.get("JWTS_E2E_QUERY") or ""  # more URL options, e.g. "&pipeline=true"
STORE_NAME = {"memory": "memory", "redis": "redis", "cluster": "redis-cluster", "sentinel": "redis-sentinel"}[STORE]
_shared = {}


def shared_store_args():
    """The --store (and --cache) arguments of a Daemon on the JWTS_E2E_STORE deployment."""
    if STORE == "memory":
        return []
    if "deployment" not in _shared:
        _shared["deployment"] = topologies.start(STORE)
        _shared["daemons"] = 0
        atexit.register(_shared["deployment"].close)
    _shared["daemons"] += 1
    url = "%s?key_prefix=e2e%d:%s" % (_shared["deployment"].url(), _shared["daemons"], QUERY)
    return ["--store", url, "--cache=" + CACHE]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


def request(port, method, path, body=None, headers=None, token=None, json_body=None, timeout=10.0, source_ip=None):
    """One HTTP/1.1 request on a fresh connection (from source_ip, a loopback address, when given);
    returns a Response."""
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    if json_body is not None:
        body = json.dumps(json_body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source_ip, 0) if source_ip else None)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def daemon_conns(port):
    """The client ports of every TCP connection to 127.0.0.1:port, in any state, seen from either
    end: the side that closes first keeps its socket in TIME-WAIT (60 s), the other's is gone at
    once, so a connection opened and closed between two calls is still seen by the second
    whichever side closed it."""
    out = subprocess.run(["ss", "-tanH", "state", "all", "( dport = :%d or sport = :%d )" % (port, port)],
                         check=True, capture_output=True, text=True).stdout
    ports, end = set(), ":%d" % port
    for line in out.splitlines():
        cols = line.split()
        # State Recv-Q Send-Q Local:Port Peer:Port
        if len(cols) < 5:
            continue
        local, peer = cols[3].rsplit(":", 1), cols[4].rsplit(":", 1)
        if cols[4].endswith(end):  # the client's socket
            ports.add(int(local[1]))
        elif cols[3].endswith(end) and peer[1].isdigit():  # the server's (not the listener, peer *)
            ports.add(int(peer[1]))
    return ports


def keepalive_load(proxy_port, tokens, clients, requests, headers=None):
    """requests GETs to a proxy from `clients` threads, each on one persistent connection, cycling
    through tokens, a list of (access token, the status expected). Returns (statuses, errors):
    statuses lists (expected, got, WWW-Authenticate) per answer; errors the exceptions raised."""
    statuses, errors = [], []

    def client(n):
        conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=10)
        try:
            for i in range(n):
                token, want = tokens[i % len(tokens)]
                h = dict(headers or {}, Authorization="Bearer " + token)
                conn.request("GET", "/app/k%d" % i, headers=h)
                r = conn.getresponse()
                r.read()
                statuses.append((want, r.status, r.getheader("WWW-Authenticate", "")))
        except Exception as e:  # reported by the caller
            errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(requests // clients,)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses, errors


def check_through_proxy(test, daemon, proxy_port, clients, requests, headers=None):
    """keepalive_load through a proxy in front of daemon with a good, a revoked and a garbage token
    mixed; asserts every answer (401s with the invalid_token challenge) and that connections to the
    daemon were seen. Returns the set of connections the proxy opened to the daemon meanwhile."""
    good = daemon.create("kim")
    revoked = daemon.create("kim")
    test.assertEqual(daemon.req("DELETE", "/v1/sessions/" + revoked["session_id"],
                                token=revoked["access_token"]).status, 200)
    tokens = [(good["access_token"], 200)] * 8 + [(revoked["access_token"], 401), ("garbage", 401)]
    before = daemon_conns(daemon.port)
    statuses, errors = keepalive_load(proxy_port, tokens, clients, requests, headers)
    opened = daemon_conns(daemon.port) - before
    test.assertEqual(errors, [])
    test.assertEqual(len(statuses), requests)
    for want, got, www in statuses:
        test.assertEqual(got, want, www)
        if want == 401:
            test.assertIn('error="invalid_token"', www)
    test.assertGreater(len(opened), 0, "no connection to jwtsessiond seen: is ss counting the right port?")
    return opened


WRK = shutil.which("wrk")


def wrk(port, token, seconds=None, connections=8, path="/app/load"):
    """wrk (one thread) against a proxy's protected path with a bearer token: a Popen when seconds
    is None (stop it with wrk_stop), else the parsed figures of a run of that length."""
    cmd = [WRK, "-t1", "-c%d" % connections, "-d%ds" % (seconds or 120), "--timeout", "10s",
           "-H", "Authorization: Bearer " + token, "http://127.0.0.1:%d%s" % (port, path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if seconds is None:
        return proc
    return wrk_stop(proc, wait=seconds + 30)


def wrk_stop(proc, wait=None):
    """SIGINT (wrk then prints its summary) unless wait: the figures as a dict."""
    if wait is None:
        proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=wait or 30)
    figures = {"text": out, "non2xx": 0, "socket_errors": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    assert m, out
    figures["requests"] = int(m.group(1))
    figures["seconds"] = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        figures["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        figures["socket_errors"] = sum(int(g) for g in m.groups())
    return figures


def b64url_json(part):
    pad = "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(part + pad))


class Daemon:
    """A jwtsessiond child on a free loopback port."""

    def __init__(self, *args, env=None, admin=True, port=None):
        self.port = port or free_port()
        self.logfile = tempfile.NamedTemporaryFile(prefix="jwtsessiond-", suffix=".log", delete=False)
        e = {k: v for k, v in os.environ.items() if not k.startswith(("JWTSESSION_", "OTEL_"))}
        if admin:
            e["JWTSESSION_ADMIN_KEY"] = ADMIN_KEY
        e.update(env or {})
        if "--store" not in args and "JWTSESSION_STORE" not in e:
            args = tuple(args) + tuple(shared_store_args())
        cmd = [DAEMON, "--listen", "127.0.0.1:%d" % self.port] + list(args)
        self.proc = subprocess.Popen(cmd, env=e, stdout=subprocess.DEVNULL, stderr=self.logfile)
        if not wait_until(self._up, timeout=15):
            self.stop()
            raise RuntimeError("jwtsessiond did not start: %s" % self.log_text())

    def _up(self):
        if self.proc.poll() is not None:
            raise RuntimeError("jwtsessiond exited with %s: %s" % (self.proc.returncode, self.log_text()))
        try:
            return request(self.port, "GET", "/healthz", timeout=1).status == 200
        except OSError:
            return False

    def alive(self):
        return self.proc.poll() is None

    def req(self, method, path, **kw):
        return request(self.port, method, path, **kw)

    def admin(self, method, path, **kw):
        return request(self.port, method, path, token=ADMIN_KEY, **kw)

    def create(self, user="alice", metadata=None):
        body = {"user_id": user}
        if metadata is not None:
            body["metadata"] = metadata
        r = self.admin("POST", "/v1/sessions", json_body=body)
        if r.status != 201:
            raise AssertionError("create failed: %r" % r)
        return r.json()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop by pid; returns the exit code. An exit before this call counts as a crash."""
        if self.proc.poll() is None:
            self.signalled = sig
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def sanitizer_reports(self):
        """The lines of stderr that a sanitizer wrote (empty in a clean run)."""
        return [line for line in self.log_text().splitlines() if any(m in line for m in SANITIZER_MARKS)]

    def check_exit(self):
        """Raise AssertionError when a sanitizer reported or the daemon did not exit 0 on SIGTERM."""
        reports = self.sanitizer_reports()
        if reports:
            raise AssertionError("jwtsessiond sanitizer report:\n%s" % self.log_text()[-8000:])
        code = self.proc.returncode
        if code != 0 and getattr(self, "signalled", None) in (None, signal.SIGTERM, signal.SIGINT):
            raise AssertionError("jwtsessiond exit status %s%s: %s" % (
                code, "" if getattr(self, "signalled", None) else " before it was stopped", self.log_text()[-4000:]))

    def log_text(self):
        with open(self.logfile.name, "r", errors="replace") as f:
            return f.read()

    def log_lines(self):
        return [json.loads(line) for line in self.log_text().splitlines() if line.strip()]

    def log_bytes(self):
        """The raw log, for checks that it is valid UTF-8."""
        with open(self.logfile.name, "rb") as f:
            return f.read()

    def close(self, check=True):
        """Stop, then (check) fail on a sanitizer report or an unclean exit; the log is removed."""
        self.stop()
        try:
            if check:
                self.check_exit()
        finally:
            self.logfile.close()
            os.unlink(self.logfile.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(check=exc[0] is None)


# What ASan, LSan, UBSan and TSan write on stderr when they find something.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer", "WARNING: ThreadSanitizer", "ThreadSanitizer: ")


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


class Redis(topologies.RedisProcess):
    """A throwaway redis-server on a free loopback port, with its data in a temp dir.

    persist=True saves the data set on a clean stop and loads it on start, so a restart on the
    same port keeps the sessions (stop(), then start()). pause()/resume() send SIGSTOP/SIGCONT:
    the port still accepts connections but nothing answers, like a hung server.
    """

    def __init__(self, persist=False, args=()):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="jwts-redis-")
        self.persist = persist
        self.args = [str(a) for a in args]
        self.proc = None
        self.start()

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--appendonly", "no", "--protected-mode", "yes", "--logfile", os.path.join(self.dir, "redis.log")]
        args += ["--save", "3600 1", "--dbfilename", "dump.rdb"] if self.persist else ["--save", ""]
        args += self.args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: self.proc.poll() is None and self.ping(), timeout=15):
            self.stop()
            raise RuntimeError("redis-server did not start on port %d: %s" % (self.port, self.log_text()))

    def cli(self, *args, timeout=10):
        """Run redis-cli against this server; its stdout, stripped."""
        r = subprocess.run([REDIS_CLI, "-p", str(self.port)] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout)
        return r.stdout.strip()

    def ping(self):
        try:
            return self.cli("ping", timeout=2) == "PONG"
        except subprocess.TimeoutExpired:
            return False

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


NGINX = os.environ.get("JWTS_NGINX") or "/usr/sbin/nginx"
SOURCE_DIR = os.environ.get("JWTS_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run_doc_example(doc, marker, cli, timeout=90, inspect=None):
    """Run the ```sh block that follows `<!-- marker -->` in docs/<doc> as written: in an empty
    directory, with this build's programs (cli's and the daemon's directories) first on PATH, no
    JWTSESSION_/OTEL_ variables, and a free port for 127.0.0.1:8080. Whatever it leaves running is
    stopped by its process group; inspect(directory), if given, runs before the directory is
    removed. Returns (exit status, its output, the daemon.log it wrote)."""
    with open(os.path.join(SOURCE_DIR, "docs", doc)) as f:
        m = re.search(r"<!-- %s -->\n```sh\n(.*?)\n```" % re.escape(marker), f.read(), re.S)
    if not m:
        raise AssertionError("docs/%s has no example block marked %r" % (doc, marker))
    script = m.group(1).replace("127.0.0.1:8080", "127.0.0.1:%d" % free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWTSESSION_", "OTEL_"))}
    env["PATH"] = os.pathsep.join([os.path.dirname(os.path.abspath(cli)), os.path.dirname(os.path.abspath(DAEMON)),
                                   env["PATH"]])
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "out.txt")
        with open(out_path, "w") as out:
            p = subprocess.Popen(["bash", "-e", "-c", script], cwd=tmp, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = p.wait(timeout=timeout)
            finally:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        with open(out_path, errors="replace") as f:
            output = f.read()
        log_path = os.path.join(tmp, "daemon.log")
        log = ""
        if os.path.exists(log_path):
            with open(log_path, errors="replace") as f:
                log = f.read()
        if inspect:
            inspect(tmp)
    return rc, output, log


class Nginx:
    """A non-daemon nginx child serving site_conf (http-context text) from a temp prefix dir."""

    def __init__(self, site_conf, port):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="jwts-nginx-")
        os.chmod(self.dir, 0o755)  # workers run as an unprivileged user when we are root
        os.makedirs(os.path.join(self.dir, "tmp"))
        with open(os.path.join(self.dir, "site.conf"), "w") as f:
            f.write(site_conf)
        main = ("worker_processes 1;\nevents { worker_connections 512; }\nhttp {\n"
                "  access_log %(d)s/access.log;\n"
                "  client_body_temp_path %(d)s/tmp/body;\n  proxy_temp_path %(d)s/tmp/proxy;\n"
                "  fastcgi_temp_path %(d)s/tmp/fastcgi;\n  uwsgi_temp_path %(d)s/tmp/uwsgi;\n"
                "  scgi_temp_path %(d)s/tmp/scgi;\n  include %(d)s/site.conf;\n}\n") % {"d": self.dir}
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(main)
        self.error_log = os.path.join(self.dir, "error.log")
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.dir, "-e", self.error_log, "-c", self.conf, "-g",
             "daemon off; master_process on; pid %s/nginx.pid; error_log %s;" % (self.dir, self.error_log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_until(self._up, timeout=15):
            self.stop()
            raise RuntimeError("nginx did not start: %s" % self.errors())

    def _up(self):
        if self.proc.poll() is not None:
            raise RuntimeError("nginx exited: %s %s" % (self.proc.stderr.read().decode(), self.errors()))
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def errors(self):
        try:
            with open(self.error_log) as f:
                return f.read()
        except OSError:
            return ""

    def req(self, method, path, **kw):
        return request(self.port, method, path, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the master stops its workers
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

