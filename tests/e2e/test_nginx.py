"""test_nginx.py - a real nginx in front of jwtsessiond, using deploy/nginx/jwtsession.conf.

The deploy file is rendered with this test's free ports (jwtsessiond, a small echo application,
nginx itself) into a temp prefix dir; nginx runs as a non-daemon child and is stopped by pid.
A protected location passes with a valid token and the application receives the user header; it
is refused without a token, with a bad token, and after the session is revoked. The user header
reaches the application exactly as the id was created (ASCII, inner spaces) or, for '%' and
non-ASCII ids, percent-encoded so that any percent-decoder gives the id back byte for byte; ids
that a proxy would change (white space at an end, only spaces) are refused at create.

TestNginxKeepalive (issue #15 item 0) sends 3,000 requests through nginx from a few persistent
clients, good and bad tokens mixed, and counts the TCP connections nginx opened to jwtsessiond
(`ss`, by nginx's local port, TIME-WAIT included): the auth subrequests must reuse the upstream
keepalive pool, so no more than the pool's size may be opened.
"""
import http.server
import json
import os
import re
import threading
import unittest
import urllib.parse

from harness import SOURCE_DIR, Daemon, Nginx, check_through_proxy, free_port


class Echo(http.server.BaseHTTPRequestHandler):
    """The application: answers with the headers it received, as JSON."""
    protocol_version = "HTTP/1.1"
    # the body's write goes out without waiting for the ACK of the head's (Nagle's algorithm
    # against nginx's delayed ACK cost 40 ms a request: 27 s for TestNginxKeepalive)
    disable_nagle_algorithm = True

    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def render(daemon_port, app_port, nginx_port):
    with open(os.path.join(SOURCE_DIR, "deploy", "nginx", "jwtsession.conf")) as f:
        text = f.read()
    subs = [("server 127.0.0.1:8080;", "server 127.0.0.1:%d;" % daemon_port),
            ("server 127.0.0.1:3000;", "server 127.0.0.1:%d;" % app_port),
            ("listen 80;", "listen 127.0.0.1:%d;" % nginx_port)]
    for old, new in subs:
        assert text.count(old) == 1, "deploy/nginx/jwtsession.conf no longer has exactly one %r" % old
        text = text.replace(old, new)
    return text


class TestNginxAuthRequest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        threading.Thread(target=cls.app.serve_forever, daemon=True).start()
        cls.d = Daemon()
        port = free_port()
        try:
            cls.nginx = Nginx(render(cls.d.port, cls.app.server_address[1], port), port)
        except Exception:
            cls.d.close()
            cls.app.shutdown()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.nginx.close()
        code = cls.d.stop()
        cls.d.close()
        cls.app.shutdown()
        cls.app.server_close()
        assert code == 0

    def test_valid_token_passes_with_user_header(self):
        t = self.d.create("alice")
        r = self.nginx.req("GET", "/app/profile?x=1", token=t["access_token"],
                           headers={"X-Session-User": "mallory", "X-Session-Id": "forged"})
        self.assertEqual(r.status, 200, r)
        seen = r.json()
        self.assertEqual(seen["path"], "/app/profile?x=1")
        self.assertEqual(seen["headers"]["x-session-user"], "alice")
        self.assertEqual(seen["headers"]["x-session-id"], t["session_id"])
        self.assertEqual(seen["headers"]["authorization"], "Bearer " + t["access_token"])

    def test_no_token_or_bad_token_refused(self):
        r = self.nginx.req("GET", "/app/profile")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.headers.get("www-authenticate"), 'Bearer realm="jwtsession"')
        r = self.nginx.req("GET", "/app/profile", token="garbage")
        self.assertEqual(r.status, 401)
        self.assertIn('error="invalid_token"', r.headers.get("www-authenticate", ""))

    def test_refused_after_revoke(self):
        t = self.d.create("bob")
        self.assertEqual(self.nginx.req("GET", "/app/x", token=t["access_token"]).status, 200)
        r = self.d.req("DELETE", "/v1/sessions/" + t["session_id"], token=t["access_token"])
        self.assertEqual(r.status, 200, r)
        r = self.nginx.req("GET", "/app/x", token=t["access_token"])
        self.assertEqual(r.status, 401)
        self.assertIn("JWTS_E_REVOKED", r.headers.get("www-authenticate", ""))

    def test_refused_after_revoking_all_sessions(self):
        a, b = self.d.create("carol"), self.d.create("carol")
        self.assertEqual(self.d.admin("DELETE", "/v1/users/carol/sessions").json()["revoked"], 2)
        for t in (a, b):
            self.assertEqual(self.nginx.req("GET", "/app/x", token=t["access_token"]).status, 401)

    def app_sees_user(self, user):
        """Create a session for user, pass nginx with its token; the X-Session-User the app got."""
        t = self.d.create(user)
        self.assertEqual(t["user_id"], user)
        r = self.nginx.req("GET", "/app/who", token=t["access_token"])
        self.assertEqual(r.status, 200, r)
        headers = r.json()["headers"]
        self.assertEqual(headers["x-session-id"], t["session_id"])
        self.assertIn("x-session-user", headers, "the app got no user header for %r" % user)
        # the daemon's own answer is bodiless; its header percent-decodes to the exact id
        a = self.d.req("GET", "/v1/auth", token=t["access_token"])
        self.assertEqual((a.status, a.body, a.headers["content-length"]), (200, b"", "0"))
        self.assertEqual(urllib.parse.unquote(a.headers["x-session-user"], errors="strict"), user)
        return headers["x-session-user"]

    def test_user_header_is_exactly_the_created_ascii_id(self):
        for user in ["bob smith", "bob  smith", "a b c", "alice@example.com", "o'brien, \"jr\"; x=y",
                     "~!@#$^&*()[]<>?/\\|+=`"]:
            with self.subTest(user=user):
                self.assertEqual(self.app_sees_user(user), user)

    def test_user_header_percent_encodes_non_ascii_and_percent(self):
        cases = {"caf\u00e9": "caf%C3%A9",
                 "\u5c71\u7530 \u592a\u90ce": "%E5%B1%B1%E7%94%B0 %E5%A4%AA%E9%83%8E",
                 "x\u00a0y": "x%C2%A0y",
                 "100%": "100%25",
                 "caf%C3%A9": "caf%25C3%25A9",  # not confused with the id "caf\u00e9"
                 "\U0001f511 key": "%F0%9F%94%91 key"}
        for user, wire in cases.items():
            with self.subTest(user=user):
                seen = self.app_sees_user(user)
                self.assertEqual(seen, wire)
                self.assertTrue(seen.isascii())
                self.assertEqual(urllib.parse.unquote(seen, errors="strict"), user)

    def test_ids_a_proxy_would_change_are_refused_at_create(self):
        for user in [" bob", "bob ", " ", "   ", "\tbob", "bob\u00a0", "\u3000bob", "a\u2028b", "bob\u200b",
                     "\ufeffbob", "x\u0085y"]:
            with self.subTest(user=user):
                r = self.d.admin("POST", "/v1/sessions", json_body={"user_id": user})
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.json()["error"], "JWTS_E_INVALID_ARGUMENT")
        # such an id cannot be named anywhere else either
        r = self.d.admin("GET", "/v1/users/%20bob/sessions")
        self.assertEqual((r.status, r.json()["error"]), (400, "JWTS_E_INVALID_ARGUMENT"), r)

    def test_public_api_through_nginx(self):
        t = self.d.create("dave")
        r = self.nginx.req("POST", "/v1/refresh", json_body={"refresh_token": t["refresh_token"]})
        self.assertEqual(r.status, 200, r)
        r2 = self.nginx.req("GET", "/app/y", token=r.json()["access_token"])
        self.assertEqual((r2.status, r2.json()["headers"]["x-session-user"]), (200, "dave"))
        self.assertEqual(self.nginx.req("GET", "/.well-known/jwks.json").json(), {"keys": []})
        # the internal check location and the admin API are not reachable through nginx
        self.assertEqual(self.nginx.req("GET", "/_jwtsession_auth", token=t["access_token"]).status, 404)
        self.assertEqual(self.nginx.req("POST", "/v1/sessions", json_body={"user_id": "x"}).status, 404)


class TestNginxKeepalive(unittest.TestCase):
    """The shipped config reuses its upstream connections to jwtsessiond for auth subrequests."""
    CLIENTS, REQUESTS = 4, 3000

    @classmethod
    def setUpClass(cls):
        cls.app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        threading.Thread(target=cls.app.serve_forever, daemon=True).start()
        cls.d = Daemon()
        port = free_port()
        try:
            cls.conf = render(cls.d.port, cls.app.server_address[1], port)
            cls.nginx = Nginx(cls.conf, port)
        except Exception:
            cls.d.close()
            cls.app.shutdown()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.nginx.close()
        code = cls.d.stop()
        cls.d.close()
        cls.app.shutdown()
        cls.app.server_close()
        assert code == 0

    def pool_size(self):
        m = re.search(r"upstream jwtsessiond \{[^}]*?keepalive (\d+);", self.conf)
        self.assertIsNotNone(m, "the shipped jwtsessiond upstream has no keepalive pool")
        return int(m.group(1))

    def test_auth_subrequests_reuse_upstream_connections(self):
        opened = check_through_proxy(self, self.d, self.nginx.port, self.CLIENTS, self.REQUESTS)
        self.assertLessEqual(len(opened), self.pool_size(),
                             "%d connections to jwtsessiond for %d requests" % (len(opened), self.REQUESTS))


if __name__ == "__main__":
    unittest.main(verbosity=2)
