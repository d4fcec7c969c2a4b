"""test_gateways.py - forward-auth through every proxy flavour (issue #17, docs/gateways.md).

Real nginx, Caddy and HAProxy (Debian packages) run the shipped files deploy/nginx/jwtsession.conf,
deploy/caddy/Caddyfile and deploy/haproxy/haproxy.cfg + jwtsession.lua, with this test's free
loopback ports substituted, in front of jwtsessiond and a small application that answers with
the headers it received. Through each: a valid token (bearer or cookie) passes and the
application sees the identity headers exactly as created (a client's forged copies replaced); no
token, a bad token and a revoked session are refused with 401 and the challenge; a browser
navigation is redirected to the login page carrying the original URL; an original URL naming a
host outside --redirect-hosts goes to the bare login page (no open redirect); a cross-site POST
with the cookie is refused (403) before the application sees it, and so are a cross-site logout
and refresh made with the cookies.

Traefik, Envoy and ingress-nginx are not in Debian: a client sends jwtsessiond exactly what
ingress-nginx's auth-url (X-Original-URL, X-Original-Method...), Traefik's
ForwardAuth (X-Forwarded-Method/-Proto/-Host/-Uri/-For, GET to the address) and Envoy's ext_authz
HTTP service (the original method, path_prefix + the original path, Host, Content-Length: 0, the
allowed headers) send, and the answers are checked against deploy/traefik/jwtsession.yml and
deploy/envoy/jwtsession.yaml. Every deploy file must appear verbatim in docs/gateways.md.

Connection reuse (issue #15 item 0, docs/gateways.md): Caddy and HAProxy, with the shipped files,
must send their checks on kept-alive connections - 3,000 checks from 4 persistent clients and 2 s
of wrk -c64 may open only a few connections to jwtsessiond (counted with `ss`; nginx's are counted
by test_nginx.py) - and jwtsessiond keeps the connection open after every kind of check answer.
"""
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import unittest
import urllib.parse

from harness import (SOURCE_DIR, WRK, Daemon, Nginx, Response, check_through_proxy, daemon_conns, free_port,
                     wait_until, wrk)

APP_HOST = "app.test"
LOGIN = "http://login.test/login"
ORIGIN = "http://app.test"
DAEMON_ARGS = ["--cookies", "--allowed-origins", ORIGIN, "--login-url", LOGIN, "--redirect-hosts", APP_HOST,
               "--identity-headers", "X-Session-User=user,X-Session-Id=session,X-Session-Device=metadata.device"]
CADDY = shutil.which("caddy") or "/usr/bin/caddy"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def deploy(*parts):
    with open(os.path.join(SOURCE_DIR, "deploy", *parts)) as f:
        return f.read()


def substitute(text, subs, name):
    for old, new in subs:
        assert text.count(old) == 1, "%s no longer has exactly one %r" % (name, old)
        text = text.replace(old, new)
    return text


def req(port, method, path, headers=None, body=None):
    """One request on a fresh connection: a harness Response whose .cookies lists every Set-Cookie."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        out = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        out.cookies = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
        return out
    finally:
        conn.close()


def set_cookies(r):
    return r.cookies


class App(http.server.BaseHTTPRequestHandler):
    """The application: answers any method with the path and headers it received, as JSON."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else 40 ms a request waiting for the proxy's delayed ACK
    seen = []

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        App.seen.append((self.command, self.path))
        body = json.dumps({"method": self.command, "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer

    def log_message(self, *a):
        pass


class AppServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a proxy closing its idle connection with a reset is no failure


class Proc:
    """A proxy child process in a temp dir, up once its port accepts, stopped by pid."""

    def __init__(self, argv, port, tmp, env=None):
        self.port, self.dir = port, tmp
        self.log = open(os.path.join(tmp, "proxy.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
        if not wait_until(self._up, timeout=15):
            self.close()
            raise RuntimeError("%s did not start: %s" % (argv[0], self.errors()))

    def _up(self):
        if self.proc.poll() is not None:
            raise RuntimeError("proxy exited: %s" % self.errors())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def errors(self):
        with open(os.path.join(self.dir, "proxy.log"), errors="replace") as f:
            return f.read()[-4000:]

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_nginx(daemon_port, app_port):
    port = free_port()
    conf = substitute(deploy("nginx", "jwtsession.conf"),
                      [("server 127.0.0.1:8080;", "server 127.0.0.1:%d;" % daemon_port),
                       ("server 127.0.0.1:3000;", "server 127.0.0.1:%d;" % app_port),
                       ("listen 80;", "listen 127.0.0.1:%d;" % port)], "deploy/nginx/jwtsession.conf")
    return Nginx(conf, port)


def start_caddy(daemon_port, app_port):
    port, tmp = free_port(), tempfile.mkdtemp(prefix="jwts-caddy-")
    conf = substitute(deploy("caddy", "Caddyfile"),
                      [("reverse_proxy 127.0.0.1:8080", "reverse_proxy 127.0.0.1:%d" % daemon_port),
                       ("forward_auth 127.0.0.1:8080", "forward_auth 127.0.0.1:%d" % daemon_port),
                       ("reverse_proxy 127.0.0.1:3000", "reverse_proxy 127.0.0.1:%d" % app_port),
                       ("http://:80 {", "http://:%d {\n\tbind 127.0.0.1" % port)], "deploy/caddy/Caddyfile")
    path = os.path.join(tmp, "Caddyfile")
    with open(path, "w") as f:
        f.write(conf)
    env = dict(os.environ, HOME=tmp, XDG_CONFIG_HOME=tmp, XDG_DATA_HOME=tmp)
    return Proc([CADDY, "run", "--config", path, "--adapter", "caddyfile"], port, tmp, env)


def start_haproxy(daemon_port, app_port):
    port, tmp = free_port(), tempfile.mkdtemp(prefix="jwts-haproxy-")
    conf = substitute(deploy("haproxy", "haproxy.cfg"),
                      [("/etc/haproxy/jwtsession.lua", os.path.abspath(os.path.join(SOURCE_DIR, "deploy", "haproxy", "jwtsession.lua"))),
                       ("http://127.0.0.1:8080/v1/auth", "http://127.0.0.1:%d/v1/auth" % daemon_port),
                       ("server jwtsessiond 127.0.0.1:8080", "server jwtsessiond 127.0.0.1:%d" % daemon_port),
                       ("server app 127.0.0.1:3000", "server app 127.0.0.1:%d" % app_port),
                       ("bind :80", "bind 127.0.0.1:%d" % port)], "deploy/haproxy/haproxy.cfg")
    path = os.path.join(tmp, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    return Proc([HAPROXY, "-db", "-f", path], port, tmp)


class ProxyFixture:
    """An application, a jwtsessiond and a proxy (START) in front of both, for one test class."""
    START = None

    @classmethod
    def setUpClass(cls):
        cls.app = AppServer(("127.0.0.1", 0), App)
        threading.Thread(target=cls.app.serve_forever, daemon=True).start()
        cls.d = Daemon(*DAEMON_ARGS)
        try:
            cls.proxy = cls.START(cls.d.port, cls.app.server_address[1])
        except Exception:
            cls.d.close()
            cls.app.shutdown()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.proxy.close()
        cls.d.close()
        cls.app.shutdown()
        cls.app.server_close()


class GatewayCases(ProxyFixture):
    """The same behaviour through every real proxy; subclasses set START."""
    VERBATIM = True  # the proxy passes a refusal's headers on as jwtsessiond sent them

    def get(self, path, method="GET", **headers):
        headers.setdefault("Host", APP_HOST)
        return req(self.proxy.port, method, path, headers=headers)

    def assert_passes(self, t, user, r):
        self.assertEqual(r.status, 200, r)
        seen = r.json()["headers"]
        self.assertEqual(seen["x-session-user"], urllib.parse.quote(user, safe=" !\"#$&'()*+,/:;<=>?@[\\]^`{|}~"))
        self.assertEqual(seen["x-session-id"], t["session_id"])
        return seen

    def test_bearer_token_passes_with_exact_identity(self):
        for user in ["alice", "bob smith", "caf\u00e9 100%"]:
            with self.subTest(user=user):
                t = self.d.create(user)
                r = self.get("/app/page?x=1", Authorization="Bearer " + t["access_token"],
                             **{"X-Session-User": "mallory", "X-Session-Id": "forged"})
                seen = self.assert_passes(t, user, r)
                self.assertEqual(r.json()["path"], "/app/page?x=1")
                self.assertEqual(urllib.parse.unquote(seen["x-session-user"], errors="strict"), user)

    def test_cookie_passes(self):
        t = self.d.create("carol")
        r = self.get("/app/c", Cookie="theme=dark; jwts_access=" + t["access_token"])
        self.assert_passes(t, "carol", r)

    def test_no_or_bad_token_refused(self):
        before = len(App.seen)
        r = self.get("/app/secret")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.headers.get("www-authenticate"), 'Bearer realm="jwtsession"')
        r = self.get("/app/secret", Authorization="Bearer garbage")
        self.assertEqual(r.status, 401, r)
        self.assertIn('error="invalid_token"', r.headers.get("www-authenticate", ""))
        r = self.get("/app/secret", Cookie="jwts_access=garbage")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(len(App.seen), before, "the application saw a refused request")

    def test_revoked_refused(self):
        t = self.d.create("dave")
        self.assertEqual(self.get("/app/x", Authorization="Bearer " + t["access_token"]).status, 200)
        self.assertEqual(self.d.admin("DELETE", "/v1/sessions/%s?user_id=dave" % t["session_id"]).status, 200)
        for h in ({"Authorization": "Bearer " + t["access_token"]}, {"Cookie": "jwts_access=" + t["access_token"]}):
            r = self.get("/app/x", **h)
            self.assertEqual(r.status, 401, r)
            self.assertIn("JWTS_E_REVOKED", r.headers.get("www-authenticate", ""))

    def test_browser_navigation_redirected_to_login(self):
        r = self.get("/app/page?x=1&y=%C3%A9", Accept="text/html,application/xhtml+xml,*/*;q=0.8")
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.headers["location"],
                         LOGIN + "?rd=" + urllib.parse.quote("http://app.test/app/page?x=1&y=%C3%A9", safe=""))
        # a script's request (X-Requested-With) or an API client gets the 401
        r = self.get("/app/page", Accept="text/html", **{"X-Requested-With": "XMLHttpRequest"})
        self.assertEqual((r.status, r.headers.get("location")), (401, None), r)
        r = self.get("/app/page", Accept="application/json")
        self.assertEqual((r.status, r.headers.get("location")), (401, None), r)

    def test_open_redirect_refused(self):
        for host in ["evil.test", "app.test.evil.test", "app.test@evil.test", "evil.test:80"]:
            with self.subTest(host=host):
                r = req(self.proxy.port, "GET", "/app/page", headers={"Host": host, "Accept": "text/html"})
                if r.status == 400:  # the proxy itself refused the Host
                    continue
                self.assertEqual(r.status, 302, r)
                self.assertEqual(r.headers["location"], LOGIN, "an original URL on %s travelled in rd=" % host)

    def test_cross_site_post_with_cookie_refused(self):
        t = self.d.create("erin")
        before = len(App.seen)
        for headers in ({"Origin": "http://evil.test"}, {"Sec-Fetch-Site": "cross-site"}, {}, {"Origin": "null"}):
            with self.subTest(headers=headers):
                r = self.get("/app/transfer", method="POST", Cookie="jwts_access=" + t["access_token"],
                             **{"Content-Type": "application/x-www-form-urlencoded"}, **headers)
                self.assertEqual(r.status, 403, r)
                if self.VERBATIM:  # nginx's auth_request passes the status only
                    self.assertEqual(r.headers.get("x-session-error"), "JWTS_E_CLAIM_MISMATCH")
        # a POST dressed up as a GET with another proxy's method header is still a POST
        for spoof in ("X-Forwarded-Method", "X-Original-Method"):
            with self.subTest(spoof=spoof):
                r = self.get("/app/transfer", method="POST", Cookie="jwts_access=" + t["access_token"],
                             Origin="http://evil.test", **{spoof: "GET"})
                self.assertEqual(r.status, 403, r)
        self.assertEqual(len(App.seen), before, "the application saw a cross-site change")
        # the same post from the application's own pages passes
        r = self.get("/app/transfer", method="POST", Cookie="jwts_access=" + t["access_token"], Origin=ORIGIN)
        self.assertEqual((r.status, r.json()["method"]), (200, "POST"), r)
        # a bearer token is no ambient credential: no Origin needed
        r = self.get("/app/transfer", method="POST", Authorization="Bearer " + t["access_token"])
        self.assertEqual(r.status, 200, r)

    def test_fails_closed_when_jwtsessiond_is_down(self):
        dead = free_port()  # nothing listens there
        proxy = self.START(dead, self.app.server_address[1])
        try:
            t = self.d.create("gina")
            before = len(App.seen)
            r = req(proxy.port, "GET", "/app/x", headers={"Host": APP_HOST, "Authorization": "Bearer " + t["access_token"]})
            self.assertGreaterEqual(r.status, 500, r)
            self.assertEqual(len(App.seen), before, "the application was reached without a check")
        finally:
            proxy.close()

    def test_cross_site_logout_and_refresh_refused(self):
        t = self.d.create("frank")
        cookies = "jwts_access=%s; jwts_refresh=%s" % (t["access_token"], t["refresh_token"])
        evil = {"Cookie": cookies, "Origin": "http://evil.test", "Content-Type": "application/x-www-form-urlencoded"}
        self.assertEqual(req(self.proxy.port, "POST", "/v1/logout", headers=evil).status, 403)
        # SameSite=Lax keeps the cookies off a cross-site POST, but the answer's Set-Cookie would
        # still clear them (a forced logout): refused too
        r = req(self.proxy.port, "POST", "/v1/logout", headers={"Origin": "http://evil.test"})
        self.assertEqual((r.status, r.cookies), (403, []), r)
        evil["Content-Type"] = "application/json"
        self.assertEqual(req(self.proxy.port, "POST", "/v1/refresh", headers=evil, body="{}").status, 403)
        # the session and both tokens still work
        self.assertEqual(self.get("/app/x", Cookie=cookies).status, 200)
        good = {"Cookie": cookies, "Origin": ORIGIN, "Content-Type": "application/json"}
        r = req(self.proxy.port, "POST", "/v1/refresh", headers=good, body="{}")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("access_token", r.json())
        self.assertNotIn("refresh_token", r.json())
        fresh = {c.split("=", 1)[0]: c.split("=", 1)[1].split(";")[0] for c in set_cookies(r)}
        self.assertEqual(sorted(fresh), ["jwts_access", "jwts_refresh"])
        for c in set_cookies(r):
            path = "/v1/" if c.startswith("jwts_refresh=") else "/"
            self.assertEqual(c.split("; ", 1)[1].split("; "),
                             ["Max-Age=%d" % (900 if path == "/" else 2592000), "Path=" + path, "HttpOnly", "Secure",
                              "SameSite=Lax"], c)
        r = req(self.proxy.port, "POST", "/v1/logout", headers={"Cookie": "jwts_access=" + fresh["jwts_access"],
                                                          "Origin": ORIGIN})
        self.assertEqual((r.status, r.json()["revoked"]), (200, 1), r)
        self.assertTrue(all("Max-Age=0" in c for c in set_cookies(r)) and len(set_cookies(r)) == 2, r.headers)
        self.assertEqual(self.get("/app/x", Cookie="jwts_access=" + fresh["jwts_access"]).status, 401)
        # cookie values are tokens: none of them reached the daemon's log
        log = self.d.log_text()
        self.assertIn('"route":"/v1/logout"', log)
        for secret in [t["access_token"], t["refresh_token"], fresh["jwts_access"], fresh["jwts_refresh"]]:
            self.assertNotIn(secret, log)
            self.assertNotIn(secret.split(".")[-1], log)


class TestNginx(GatewayCases, unittest.TestCase):
    START = staticmethod(start_nginx)
    VERBATIM = False


class TestCaddy(GatewayCases, unittest.TestCase):
    START = staticmethod(start_caddy)


class TestHAProxy(GatewayCases, unittest.TestCase):
    START = staticmethod(start_haproxy)


class KeepaliveCases(ProxyFixture):
    """Issue #15 item 0 for Caddy and HAProxy, as TestNginxKeepalive (test_nginx.py) for nginx:
    3,000 requests from 4 persistent clients, good, revoked and garbage tokens mixed, every answer
    checked, and the TCP connections the proxy opened to jwtsessiond meanwhile counted with `ss`."""
    CLIENTS, REQUESTS = 4, 3000
    # At most CLIENTS checks are in flight at once, so a proxy that keeps its connections needs
    # CLIENTS of them; twice that leaves room for a dial racing a connection's return to the idle
    # pool and for the pool trimming an idle one on this loaded machine. A proxy that does not
    # reuse opens one per check (3,000), or hundreds when its idle pool is smaller than CLIENTS.
    BOUND = 2 * CLIENTS

    def test_checks_reuse_connections_to_jwtsessiond(self):
        opened = check_through_proxy(self, self.d, self.proxy.port, self.CLIENTS, self.REQUESTS,
                                     headers={"Host": APP_HOST})
        print("\n%s: %d connections to jwtsessiond for %d checks" % (type(self).__name__, len(opened), self.REQUESTS))
        self.assertLessEqual(len(opened), self.BOUND,
                             "%d connections to jwtsessiond for %d requests" % (len(opened), self.REQUESTS))

    # wrk's connections, each with one check in flight at a time: more than Caddy's default idle
    # pool per host (32), under jwtsessiond's --max-connections-per-ip (256)
    WRK_CONNECTIONS = 64

    @unittest.skipUnless(WRK, "no wrk")
    def test_pool_holds_many_checks_in_flight(self):
        # 64 connections of wrk for 2 s, every check refused by jwtsessiond (the application is not
        # the bottleneck). A proxy whose idle pool is smaller than the checks in flight closes the
        # extra connections after each use and opens new ones (Caddy's default pool of 32: 4,143
        # in 2 s), so at most twice wrk's connections may be opened: one per check in flight, and
        # as many again for dials racing a connection's return to the pool.
        before = daemon_conns(self.d.port)
        f = wrk(self.proxy.port, "garbage", seconds=2, connections=self.WRK_CONNECTIONS)
        opened = daemon_conns(self.d.port) - before
        self.assertGreater(f["requests"], 0, f["text"])
        self.assertEqual((f["non2xx"], f["socket_errors"]), (f["requests"], 0), f["text"])
        print("\n%s: %d connections to jwtsessiond for %d checks from %d connections" % (
            type(self).__name__, len(opened), f["requests"], self.WRK_CONNECTIONS))
        self.assertLessEqual(len(opened), 2 * self.WRK_CONNECTIONS,
                             "%d connections to jwtsessiond for %d checks" % (len(opened), f["requests"]))


class TestCaddyKeepalive(KeepaliveCases, unittest.TestCase):
    START = staticmethod(start_caddy)


class TestHAProxyKeepalive(KeepaliveCases, unittest.TestCase):
    START = staticmethod(start_haproxy)


def yaml_list(text, key):
    """The items of the list under `key:` (a block of "- exact: NAME" or "- NAME" lines)."""
    m = re.search(r"^( *)%s:\n((?:\1 +.*\n)+)" % re.escape(key), text, re.M)
    assert m, "no %s list" % key
    return [re.sub(r"^-\s*(exact:\s*)?", "", line.strip()) for line in m.group(2).splitlines()
            if line.strip().startswith("-")]


class ClientCases:
    """Shared by the Traefik and Envoy cases: a daemon, and requests shaped as the proxy sends them."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(*DAEMON_ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def identity(self, r, t, user, names):
        self.assertEqual((r.status, r.body), (200, b""), r)
        self.assertEqual(r.headers["content-length"], "0")
        got = {n.lower(): r.headers.get(n.lower()) for n in names}
        self.assertEqual(got, {"x-session-user": urllib.parse.quote(user, safe=" "), "x-session-id": t["session_id"]})


class TestTraefik(ClientCases, unittest.TestCase):
    """What Traefik's ForwardAuth middleware sends: GET to its address with the client's headers
    and X-Forwarded-Method/-Proto/-Host/-Uri/-For; it copies authResponseHeaders on a 2xx and
    returns any other answer to the client as it is."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        conf = deploy("traefik", "jwtsession.yml")
        m = re.search(r'address: "http://127\.0\.0\.1:8080(/[^"]*)"', conf)
        assert m, "deploy/traefik/jwtsession.yml has no forwardAuth address on 127.0.0.1:8080"
        cls.path = m.group(1)
        cls.copied = yaml_list(conf, "authResponseHeaders")

    def forward(self, method="GET", uri="/app/page?x=1", host=APP_HOST, **client):
        headers = dict(client)
        headers.update({"X-Forwarded-Method": method, "X-Forwarded-Proto": "http", "X-Forwarded-Host": host,
                        "X-Forwarded-Uri": uri, "X-Forwarded-For": "192.0.2.7", "Host": "127.0.0.1:8080"})
        return req(self.d.port, "GET", self.path, headers=headers)

    def test_allowed_denied_revoked_redirected(self):
        self.assertEqual(self.path, "/v1/auth")
        t = self.d.create("tr\u00e6fik user")
        self.identity(self.forward(Authorization="Bearer " + t["access_token"]), t, "tr\u00e6fik user", self.copied)
        self.identity(self.forward(method="DELETE", Cookie="jwts_access=" + t["access_token"], Origin=ORIGIN), t,
                      "tr\u00e6fik user", self.copied)
        r = self.forward()
        self.assertEqual((r.status, r.headers.get("www-authenticate")), (401, 'Bearer realm="jwtsession"'), r)
        r = self.forward(Accept="text/html")
        self.assertEqual((r.status, r.headers.get("location")),
                         (302, LOGIN + "?rd=" + urllib.parse.quote("http://app.test/app/page?x=1", safe="")), r)
        r = self.forward(host="evil.test", Accept="text/html")
        self.assertEqual((r.status, r.headers.get("location")), (302, LOGIN), r)
        r = self.forward(method="POST", Cookie="jwts_access=" + t["access_token"], Origin="http://evil.test")
        self.assertEqual((r.status, r.headers.get("x-session-error")), (403, "JWTS_E_CLAIM_MISMATCH"), r)
        self.assertEqual(self.d.admin("DELETE", "/v1/users/tr%C3%A6fik%20user/sessions").status, 200)
        r = self.forward(Authorization="Bearer " + t["access_token"])
        self.assertEqual(r.status, 401, r)
        self.assertIn("JWTS_E_REVOKED", r.headers["www-authenticate"])


class TestIngressNginx(ClientCases, unittest.TestCase):
    """What ingress-nginx's auth-url sends: GET to the URL with the client's headers and
    X-Original-URL, X-Original-Method, X-Sent-From, X-Real-IP, X-Forwarded-For, -Host, -Proto,
    X-Auth-Request-Redirect. Like nginx's auth_request it understands 2xx, 401 and 403 only."""

    def ingress(self, method="GET", uri="/app/page?x=1", host=APP_HOST, **client):
        headers = dict(client)
        headers.update({"X-Original-URL": "http://%s%s" % (host, uri), "X-Original-Method": method,
                        "X-Sent-From": "nginx-ingress-controller", "X-Real-IP": "192.0.2.7",
                        "X-Forwarded-For": "192.0.2.7", "X-Forwarded-Host": host, "X-Forwarded-Proto": "http",
                        "X-Auth-Request-Redirect": uri, "Host": "jwtsessiond.auth.svc"})
        return req(self.d.port, "GET", "/v1/auth", headers=headers)

    def test_allowed_denied_redirected(self):
        t = self.d.create("ingress")
        self.identity(self.ingress(Authorization="Bearer " + t["access_token"]), t, "ingress",
                      ["X-Session-User", "X-Session-Id"])
        r = self.ingress(Accept="text/html")
        self.assertEqual((r.status, r.headers.get("location")),
                         (401, LOGIN + "?rd=" + urllib.parse.quote("http://app.test/app/page?x=1", safe="")), r)
        self.assertEqual(r.headers.get("www-authenticate"), 'Bearer realm="jwtsession"')
        r = self.ingress(host="evil.test", Accept="text/html")
        self.assertEqual((r.status, r.headers.get("location")), (401, LOGIN), r)
        r = self.ingress(method="POST", Cookie="jwts_access=" + t["access_token"], Origin="http://evil.test")
        self.assertEqual(r.status, 403, r)
        r = self.ingress(method="POST", Cookie="jwts_access=" + t["access_token"], Origin=ORIGIN)
        self.assertEqual(r.status, 200, r)


class TestEnvoyExtAuthz(ClientCases, unittest.TestCase):
    """What Envoy's ext_authz HTTP service sends: the original method, path_prefix + the original
    path and query, Host (the original authority), Authorization, Content-Length: 0 and the
    allowed_headers, no body; only a 200 allows, allowed_upstream_headers go to the application,
    allowed_client_headers of a denial go to the client."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        conf = deploy("envoy", "jwtsession.yaml")
        cls.prefix = re.search(r"^ *path_prefix: (\S+)$", conf, re.M).group(1)
        cls.allowed = yaml_list(conf, "allowed_headers")
        cls.upstream = yaml_list(conf, "allowed_upstream_headers")
        cls.client = yaml_list(conf, "allowed_client_headers")

    def check(self, method, path, **client):
        sent = {"Host": APP_HOST, "Content-Length": "0"}
        for name, value in client.items():
            name = name.replace("_", "-")
            if name.lower() == "authorization" or name.lower() in self.allowed:
                sent[name] = value
        return req(self.d.port, method, self.prefix + path, headers=sent)

    def test_any_method_allowed_with_identity(self):
        self.assertEqual(self.prefix, "/v1/auth")
        t = self.d.create("envoy")
        for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]:
            with self.subTest(method=method):
                r = self.check(method, "/app/items/7?view=full&a=%2F", Authorization="Bearer " + t["access_token"])
                self.identity(r, t, "envoy", self.upstream)

    def test_only_200_allows_and_denials_reach_the_client(self):
        t = self.d.create("envoy2")
        r = self.check("GET", "/app/x")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.headers.get("www-authenticate"), 'Bearer realm="jwtsession"')
        self.assertTrue(set(h for h in r.headers if h.startswith(("x-session", "www-", "location")))
                        <= set(self.client), r.headers)
        r = self.check("GET", "/app/x?q=1", accept="text/html", x_forwarded_proto="https")
        self.assertEqual((r.status, r.headers.get("location")),
                         (302, LOGIN + "?rd=" + urllib.parse.quote("https://app.test/app/x?q=1", safe="")), r)
        r = self.check("PUT", "/app/x", cookie="jwts_access=" + t["access_token"], origin="http://evil.test")
        self.assertEqual((r.status, r.headers.get("x-session-error")), (403, "JWTS_E_CLAIM_MISMATCH"), r)
        r = self.check("PUT", "/app/x", cookie="jwts_access=" + t["access_token"], origin=ORIGIN)
        self.identity(r, t, "envoy2", self.upstream)
        self.assertEqual(self.d.req("DELETE", "/v1/sessions/" + t["session_id"], token=t["access_token"]).status, 200)
        r = self.check("POST", "/app/x", Authorization="Bearer " + t["access_token"])
        self.assertEqual(r.status, 401, r)
        self.assertIn("JWTS_E_REVOKED", r.headers["www-authenticate"])


class TestAuthAnswersKeepTheConnection(ClientCases, unittest.TestCase):
    """Issue #15 item 0 on jwtsessiond's side: every answer of the check - 200, 401 (no token, a bad
    or a revoked one, with or without Location), 302, 403, to GET, HEAD (HAProxy's Lua action) and
    Envoy's any method - leaves the connection open, so a proxy can send its next check on it."""

    def test_one_connection_for_every_kind_of_answer(self):
        t = self.d.create("keeper")
        gone = self.d.create("keeper")
        self.assertEqual(self.d.admin("DELETE", "/v1/sessions/%s?user_id=keeper" % gone["session_id"]).status, 200)
        fwd = {"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "http", "X-Forwarded-Host": APP_HOST,
               "X-Forwarded-Uri": "/app/x"}
        cases = [("GET", "/v1/auth", {"Authorization": "Bearer " + t["access_token"]}, 200),
                 ("HEAD", "/v1/auth", dict(fwd, Authorization="Bearer " + t["access_token"]), 200),
                 ("GET", "/v1/auth", {}, 401),
                 ("GET", "/v1/auth", {"Authorization": "Bearer garbage"}, 401),
                 ("HEAD", "/v1/auth", dict(fwd, Authorization="Bearer garbage"), 401),
                 ("GET", "/v1/auth", {"Authorization": "Bearer " + gone["access_token"]}, 401),
                 ("HEAD", "/v1/auth", dict(fwd, Accept="text/html"), 302),
                 ("GET", "/v1/auth", {"X-Original-URL": "http://app.test/app/x", "X-Original-Method": "GET",
                                      "Accept": "text/html"}, 401),
                 ("HEAD", "/v1/auth", dict(fwd, Cookie="jwts_access=" + t["access_token"], Origin="http://evil.test",
                                           **{"X-Forwarded-Method": "POST"}), 403),
                 ("PUT", "/v1/auth/app/x", {"Authorization": "Bearer garbage", "Content-Length": "0"}, 401),
                 ("DELETE", "/v1/auth/app/x", {"Authorization": "Bearer " + t["access_token"], "Content-Length": "0"}, 200)]
        before = daemon_conns(self.d.port)
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)
        try:
            conn.connect()
            sock = conn.sock
            for _ in range(3):
                for method, path, headers, want in cases:
                    conn.request(method, path, headers=dict(headers, Host=APP_HOST))
                    r = conn.getresponse()
                    self.assertEqual((r.read(), r.status), (b"", want), (method, path, headers))
                    self.assertIsNone(r.getheader("Connection"), (method, path, want))
                    self.assertFalse(r.will_close, (method, path, want))
                    self.assertIs(conn.sock, sock, "the connection closed after %s %s -> %d" % (method, path, want))
        finally:
            conn.close()
        self.assertEqual(len(daemon_conns(self.d.port) - before), 1)


class TestDocsAreTheTestedConfigs(unittest.TestCase):
    def test_every_deploy_file_is_in_gateways_md(self):
        with open(os.path.join(SOURCE_DIR, "docs", "gateways.md")) as f:
            doc = f.read()
        for parts in [("nginx", "jwtsession.conf"), ("caddy", "Caddyfile"), ("haproxy", "haproxy.cfg"),
                      ("haproxy", "jwtsession.lua"), ("traefik", "jwtsession.yml"), ("envoy", "jwtsession.yaml")]:
            with self.subTest(file="/".join(parts)):
                self.assertIn(deploy(*parts), doc, "docs/gateways.md does not hold deploy/%s verbatim" % "/".join(parts))


if __name__ == "__main__":
    unittest.main(verbosity=2)
