"""test_deployments.py - jwtsessiond behind a real nginx on each deployment docs/scaling.md shows.

For every block marked `test_deployments: NAME` in docs/scaling.md, the test starts that
deployment's Redis side (tests/e2e/topologies.py: a 3-master Cluster, a Sentinel set, TLS Redis,
TLS Cluster, TLS Sentinel), runs the block's jwtsessiond command line with only its ports and
/etc/jwtsession/ paths replaced, and puts nginx with deploy/nginx/jwtsession.conf (auth_request)
in front. Each deployment must create, validate through nginx, refresh through nginx and revoke
(nginx then refuses the token). On Sentinel, the master is killed (SIGKILL) during a wrk run
against the nginx-protected location while a prober sends one timestamped request at a time:
every failed request must fall inside the failover window (kill .. sentinels name the new master,
plus MARGIN_S for the daemon to reach it), the load must be served again after it, and the
window, the error counts and wrk's figures are printed. A CA that did not sign the servers'
certificates must give 503 with the TLS cause on every runner. Servers are on free loopback ports,
stopped by pid.
"""
import http.server
import os
import re
import shlex
import subprocess
import tempfile
import threading
import time
import unittest

import topologies
from harness import SOURCE_DIR, WRK, Daemon, Nginx, free_port, request, wait_until, wrk, wrk_stop
from test_nginx import Echo, render

CLI = os.environ.get("JWTS_CLI") or os.path.join(os.path.dirname(os.environ.get("JWTSESSIOND", "build/daemon/x")),
                                                 "..", "cli", "jwtsession")
# After the sentinels name the new master, how long the daemon may still fail: the +switch-master
# message or the next failed call's lookup, a new pool, and requests sent just before the switch
# that wait for a master. Generous for a loaded 2-core machine.
MARGIN_S = 3.0

# The ports the command lines in docs/scaling.md use, by role.
DOC_DAEMON = 8080
DOC_CLUSTER = (7000, 7001, 7002)
DOC_SENTINELS = (26379, 26380, 26381)
DOC_TLS = 6380


def doc_command(name):
    """The argv of the docs/scaling.md block marked `test_deployments: name`."""
    with open(os.path.join(SOURCE_DIR, "docs", "scaling.md")) as f:
        text = f.read()
    m = re.search(r"<!-- test_deployments: %s -->\n```sh\n(.*?)\n```" % re.escape(name), text, re.S)
    assert m, "docs/scaling.md has no command line for %s" % name
    return shlex.split(m.group(1).replace("\\\n", " "))


def doc_ports(deployment):
    """docs port -> this run's port, for the deployment's nodes."""
    if isinstance(deployment, topologies.Cluster):
        return dict(zip(DOC_CLUSTER, (n.port for n in deployment.nodes)))
    if isinstance(deployment, topologies.Sentinel):
        return dict(zip(DOC_SENTINELS, (s.port for s in deployment.sentinels)))
    return {DOC_TLS: deployment.node.port}


class App(Echo):
    """The echo application, answering without Nagle's delay (its head and body are two writes,
    which with delayed ACKs cost 40 ms a request and would bound wrk's figures, not ours)."""
    disable_nagle_algorithm = True


class AppServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # nginx dropping a kept-alive upstream connection at shutdown is no test failure


class Stack:
    """A deployment, jwtsessiond run from its docs command line, the echo app, nginx in front."""

    def __init__(self, name, deployment, workdir, extra_args=(), replace=()):
        self.deployment = deployment
        port = free_port()
        ports = doc_ports(deployment)
        ports[DOC_DAEMON] = port
        argv = doc_command(name)
        assert argv[0] == "jwtsessiond", argv

        def subst(arg):
            arg = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: "127.0.0.1:%d" % ports[int(m.group(1))], arg)
            arg = arg.replace("/etc/jwtsession/", workdir + "/")
            for old, new in replace:
                arg = arg.replace(old, new)
            return arg
        self.argv = [subst(a) for a in argv[1:]] + list(extra_args)
        self.store_url = self.argv[self.argv.index("--store") + 1]
        self.app = AppServer(("127.0.0.1", 0), App)
        threading.Thread(target=self.app.serve_forever, daemon=True).start()
        self.daemon = self.nginx = None
        try:
            self.daemon = Daemon(*self.argv, port=port)
            nport = free_port()
            self.nginx = Nginx(render(port, self.app.server_address[1], nport), nport)
        except Exception:
            self.close()
            raise

    def close(self):
        if self.nginx:
            self.nginx.close()
        if self.daemon:
            self.daemon.close()
        self.app.shutdown()
        self.app.server_close()


def make_workdir():
    """A temp dir with the certificates (topologies.Certs layout) and key.jwk made by the CLI."""
    certs = topologies.Certs()
    p = subprocess.run([CLI, "keygen", "--alg", "ES256", "--out", certs.path("key.jwk")], capture_output=True,
                       timeout=20)
    assert p.returncode == 0, p.stderr
    return certs


class Prober(threading.Thread):
    """One request at a time to the protected location: (sent, answered, status) on the monotonic
    clock; status 0 when the connection failed."""

    def __init__(self, port, token):
        super().__init__(daemon=True)
        self.port, self.token = port, token
        self.results = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            t0 = time.monotonic()
            try:
                status = request(self.port, "GET", "/app/probe", token=self.token, timeout=15).status
            except OSError:
                status = 0
            self.results.append((t0, time.monotonic(), status))
            time.sleep(0.005)

    def stop(self):
        self.halt.set()
        self.join(timeout=30)


class Base(unittest.TestCase):
    def round_through_nginx(self, stack, user):
        """Create (the login service, straight to jwtsessiond), validate and refresh through nginx,
        revoke: nginx then refuses the token."""
        d, nginx = stack.daemon, stack.nginx
        t = d.create(user)
        r = nginx.req("GET", "/app/x", token=t["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["headers"]["x-session-user"], r.json()["headers"]["x-session-id"]),
                         (user, t["session_id"]))
        r = nginx.req("POST", "/v1/refresh", json_body={"refresh_token": t["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        access = r.json()["access_token"]
        self.assertEqual(nginx.req("GET", "/app/y", token=access).status, 200)
        r = d.req("DELETE", "/v1/sessions/" + t["session_id"], token=access)
        self.assertEqual(r.status, 200, r)
        r = nginx.req("GET", "/app/z", token=access)
        self.assertEqual(r.status, 401, r)
        self.assertIn("JWTS_E_REVOKED", r.headers.get("www-authenticate", ""))
        return t

    def check_ready(self, stack, name):
        r = stack.daemon.req("GET", "/readyz")
        self.assertEqual((r.status, r.json().get("store")), (200, name), r)


class TestCluster(Base):
    """(a) a 3-master Cluster."""

    def test_cluster_behind_nginx(self):
        work = make_workdir()
        try:
            with topologies.Cluster() as cluster:
                stack = Stack("cluster", cluster, work.dir)
                try:
                    self.check_ready(stack, "redis-cluster")
                    self.round_through_nginx(stack, "alice")
                    # users spread over every master, each validated through nginx
                    tokens = [stack.daemon.create("user-%d" % i)["access_token"] for i in range(30)]
                    for tok in tokens:
                        self.assertEqual(stack.nginx.req("GET", "/app/u", token=tok).status, 200)
                    sizes = [int(n.cli("DBSIZE") or 0) for n in cluster.nodes]
                    self.assertTrue(all(s > 0 for s in sizes), sizes)
                    if WRK:
                        f = wrk(stack.nginx.port, tokens[0], seconds=2)
                        print("\ncluster: wrk through nginx: %d requests in %.2f s (%.0f/s), %d non-2xx, "
                              "%d socket errors" % (f["requests"], f["seconds"], f["requests"] / f["seconds"],
                                                    f["non2xx"], f["socket_errors"]))
                        self.assertGreater(f["requests"], 0)
                        self.assertEqual((f["non2xx"], f["socket_errors"]), (0, 0), f["text"])
                finally:
                    stack.close()
        finally:
            work.close()


@unittest.skipUnless(WRK, "no wrk")
class TestSentinelFailover(Base):
    """(b) Sentinel: the master killed during a wrk run through nginx."""

    def test_failover_during_wrk(self):
        work = make_workdir()
        try:
            with topologies.Sentinel() as sentinel:
                # JWTS_FAILOVER_ARGS: extra daemon flags for a manual run, e.g. "--request-timeout 1s"
                # (shorter than the window, so requests fail inside it instead of waiting it out)
                stack = Stack("sentinel", sentinel, work.dir, extra_args=shlex.split(os.environ.get(
                    "JWTS_FAILOVER_ARGS", "")))
                try:
                    self.failover(sentinel, stack)
                finally:
                    stack.close()
        finally:
            work.close()

    def failover(self, sentinel, stack):
        self.check_ready(stack, "redis-sentinel")
        self.round_through_nginx(stack, "alice")
        token = stack.daemon.create("load")["access_token"]
        old = sentinel.master()
        self.assertIsNotNone(old)
        prober = Prober(stack.nginx.port, token)
        load = wrk(stack.nginx.port, token)
        prober.start()
        try:
            time.sleep(1.5)
            t_kill = time.monotonic()
            old.kill()
            switched = wait_until(lambda: sentinel.master_port() not in (None, old.port), timeout=30, step=0.02)
            t_switch = time.monotonic()
            self.assertTrue(switched, "no new master in 30 s")
            # the load is served again: the prober's answers are all 200 for 2 s, after the margin
            end = time.monotonic() + 30
            while time.monotonic() < end:
                time.sleep(0.2)
                after = [p for p in prober.results if p[0] >= max(t_switch + MARGIN_S, time.monotonic() - 2)]
                if time.monotonic() > t_switch + MARGIN_S + 2 and after and all(p[2] == 200 for p in after):
                    break
        finally:
            prober.stop()
            during = wrk_stop(load)
        results = prober.results
        errors = [p for p in results if p[2] != 200]
        window_ms = (t_switch - t_kill) * 1000
        slowest = max(((answered - sent) * 1000 for sent, answered, _ in results if answered >= t_kill), default=0)
        span = ("%.0f..%.0f ms after the kill" % ((errors[0][1] - t_kill) * 1000, (errors[-1][1] - t_kill) * 1000)
                if errors else "none")
        print("\nsentinel failover: window %.0f ms (kill -9 of the master .. sentinels name the new one); "
              "prober: %d requests, %d failed (%s), slowest answer after the kill %.0f ms; wrk through nginx: "
              "%d requests in %.1f s, %d non-2xx, %d socket errors" % (
                  window_ms, len(results), len(errors), span, slowest, during["requests"],
                                    during["seconds"], during["non2xx"], during["socket_errors"]))
        for sent, answered, status in errors:
            self.assertGreaterEqual(answered, t_kill, "a request failed (%d) before the kill" % status)
            self.assertLessEqual(sent, t_switch + MARGIN_S,
                                 "a request sent %.0f ms after the switch failed (%d)" %
                                 ((sent - t_switch) * 1000, status))
        served = [p for p in results if p[0] > t_switch + MARGIN_S]
        self.assertGreater(len(served), 10, "the prober sent too few requests after the window")
        self.assertTrue(all(p[2] == 200 for p in served))
        self.assertGreater(during["requests"], 0)
        # the load is served in full after the failover, and the whole lifecycle works on the new master
        f = wrk(stack.nginx.port, token, seconds=2)
        print("sentinel after the failover: wrk %d requests in %.2f s, %d non-2xx, %d socket errors"
              % (f["requests"], f["seconds"], f["non2xx"], f["socket_errors"]))
        self.assertGreater(f["requests"], 0)
        self.assertEqual((f["non2xx"], f["socket_errors"]), (0, 0), f["text"])
        self.round_through_nginx(stack, "bob")
        self.assertNotEqual(sentinel.master_port(), old.port)


class TestTLS(Base):
    """(c) TLS Redis: server verified, mutual TLS; TLS on every Cluster node and on Sentinel and
    its sentinels; a wrong CA named in the error on each runner."""

    @classmethod
    def setUpClass(cls):
        cls.work = make_workdir()

    @classmethod
    def tearDownClass(cls):
        cls.work.close()

    def run_tls(self, name, deployment, store_name):
        stack = Stack(name, deployment, self.work.dir)
        try:
            self.assertTrue(stack.store_url.startswith(store_name.replace("redis", "rediss") + "://"),
                            stack.store_url)
            self.check_ready(stack, store_name)
            self.round_through_nginx(stack, "tls-" + name)
        finally:
            stack.close()
        # the same command line with a CA that did not sign the servers' certificates
        stack = Stack(name, deployment, self.work.dir, extra_args=("--request-timeout", "1s"),
                      replace=(("/ca.pem", "/wrong-ca.pem"),))
        try:
            self.assertIn("wrong-ca.pem", stack.store_url)
            r = stack.daemon.admin("POST", "/v1/sessions", json_body={"user_id": "x"})
            self.assertEqual(r.status, 503, r)
            self.assertIn("certificate verify failed", r.json()["message"], r)
            self.assertEqual(stack.daemon.req("GET", "/readyz").status, 503)
        finally:
            stack.close()

    def test_tls_server_verified(self):
        with topologies.Single(certs=self.work, auth_clients="no") as single:
            self.run_tls("tls", single, "redis")

    def test_mutual_tls(self):
        with topologies.Single(certs=self.work, auth_clients="yes") as single:
            self.run_tls("mtls", single, "redis")
            # the server requires a client certificate: the store URL without one is refused, named
            url = single.url() + "?tls_ca=" + self.work.path("ca.pem")
            with Daemon("--store", url, "--request-timeout", "1s") as d:
                r = d.admin("POST", "/v1/sessions", json_body={"user_id": "x"})
                self.assertEqual(r.status, 503, r)
                self.assertIn("tls_cert", r.json()["message"], r)

    def test_tls_cluster(self):
        with topologies.Cluster(certs=self.work) as cluster:
            self.run_tls("tls-cluster", cluster, "redis-cluster")

    def test_tls_sentinel(self):
        with topologies.Sentinel(certs=self.work) as sentinel:
            self.run_tls("tls-sentinel", sentinel, "redis-sentinel")


if __name__ == "__main__":
    unittest.main(verbosity=2)
