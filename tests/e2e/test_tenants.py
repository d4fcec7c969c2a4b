#!/usr/bin/env python3
"""test_tenants.py - tenants in one jwtsessiond (docs/tenants.md, issue #18 item 4) over real HTTP.

1. The docs/tenants.md example block (marked `test_tenants: example`) runs as written, in an empty
   directory with this build's programs first on PATH and a free port for 8080.
2. Isolation on the memory store, one daemon with tenant "a" (by host) and "b" (by path): a
   token of one tenant is refused (401) by the other, by host and by path; a's admin key is
   refused on b and accepted on a; revoke-user through a leaves b's user of the same id alone;
   max-sessions is enforced per tenant (a: 1, b: 2); reloading a's key file (new kid) leaves b's
   tokens and JWKS as they were; the JWKS differ; a host no tenant serves gets 404 JSON (but
   /healthz answers); a prefix is matched by whole segments; per-tenant metrics count; with
   --cookies the refresh cookie's Path carries the path tenant's prefix and a cookie-borne token
   is checked by the tenant of the request.
3. A tenants file with a mistake stops the daemon with exit status 2 and names file:line.
4. On a real redis-server: each tenant's keys are under its own prefix (redis-cli --scan), and
   tokens still do not cross.
5. Webhook events name the tenant whose session they are about.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon, Redis, b64url_json, free_port, request  # noqa: E402

CLI = os.environ.get("JWTS_CLI", "build/cli/jwtsession")
KEY_A = "tenant-a-admin-key-" + os.urandom(8).hex()
KEY_B = "tenant-b-admin-key-" + os.urandom(8).hex()


def keygen(path, kid):
    p = subprocess.run([CLI, "keygen", "--alg", "ES256", "--kid", kid, "--out", path, "--force"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def tenants_file(tmp, extra_a="", extra_b=""):
    """Tenant a (host a.test, max 1 session a user) and b (path /t/b, max 2), each with its own key."""
    keygen(os.path.join(tmp, "a.jwk"), "a-1")
    keygen(os.path.join(tmp, "b.jwk"), "b-1")
    write(os.path.join(tmp, "a.admin"), KEY_A + "\n")
    write(os.path.join(tmp, "b.admin"), KEY_B + "\n")
    conf = os.path.join(tmp, "tenants.conf")
    write(conf, """# two tenants
[tenant a]
host = a.test
issuer = https://a.test
key = {tmp}/a.jwk
admin-key-file = {tmp}/a.admin
max-sessions = 1
{extra_a}
[tenant b]
path = /t/b
issuer = https://b.test
key = {tmp}/b.jwk
admin-key-file = {tmp}/b.admin
max-sessions = 2
{extra_b}
""".format(tmp=tmp, extra_a=extra_a, extra_b=extra_b))
    return conf


class Tenant:
    """Requests to one tenant of daemon d: by Host header (host) or path prefix (prefix)."""

    def __init__(self, d, host=None, prefix="", admin_key=None):
        self.d, self.host, self.prefix, self.admin_key = d, host, prefix, admin_key

    def req(self, method, path, token=None, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        if self.host:
            headers["Host"] = self.host
        return request(self.d.port, method, self.prefix + path, token=token, headers=headers, **kw)

    def create(self, user, key=None):
        return self.req("POST", "/v1/sessions", token=key or self.admin_key, json_body={"user_id": user})

    def auth(self, token):
        return self.req("GET", "/v1/auth", token=token).status


class DocExample(unittest.TestCase):
    def test_docs_example_runs(self):
        rc, out, log = harness.run_doc_example("tenants.md", "test_tenants: example", CLI, timeout=60)
        self.assertEqual(rc, 0, out + log[-3000:])
        self.assertFalse([mark for mark in harness.SANITIZER_MARKS if mark in log], log[-8000:])
        for line in ("acme 200", "globex 401", "admin 401"):
            self.assertIn(line + "\n", out)
        jwks = [json.loads(line) for line in out.splitlines() if line.startswith('{"keys"')]
        self.assertEqual([[k["kid"] for k in j["keys"]] for j in jwks], [["acme-1"], ["globex-1"]])
        self.assertRegex(out, r'\{"error":"JWTS_E_NOT_FOUND","message":"[^"]*"\} 404\n')
        self.assertIn('"msg":"stopped"', log)


class Isolation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.conf = tenants_file(cls.tmp.name)
        cls.d = Daemon("--store", "memory", "--tenants", cls.conf, "--cookies", "--allowed-origins", "https://app.test",
                       admin=False)
        cls.a = Tenant(cls.d, host="a.test", admin_key=KEY_A)
        cls.b = Tenant(cls.d, prefix="/t/b", admin_key=KEY_B)

    @classmethod
    def tearDownClass(cls):
        cls.d.close()
        cls.tmp.cleanup()

    def test_token_of_one_tenant_is_refused_by_the_other(self):
        ta = self.a.create("cross-a").json()["access_token"]
        tb = self.b.create("cross-b").json()["access_token"]
        self.assertEqual(self.a.auth(ta), 200)
        self.assertEqual(self.b.auth(tb), 200)
        self.assertEqual(self.b.auth(ta), 401)  # a's token on b, chosen by path
        self.assertEqual(self.a.auth(tb), 401)  # b's token on a, chosen by host
        self.assertEqual(b64url_json(ta.split(".")[1])["iss"], "https://a.test")
        self.assertEqual(b64url_json(ta.split(".")[1])["aud"], "a")  # the audience defaults to the name
        # a user token of a cannot list on b either
        r = self.b.req("GET", "/v1/users/cross-a/sessions", token=ta)
        self.assertEqual(r.status, 401, r)

    def test_admin_key_is_scoped(self):
        self.assertEqual(self.a.create("adm", key=KEY_A).status, 201)
        r = self.b.create("adm", key=KEY_A)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.a.create("adm2", key=KEY_B).status, 401)
        # nor can it revoke, list or reload there
        self.assertEqual(self.b.req("DELETE", "/v1/users/adm/sessions", token=KEY_A).status, 401)
        self.assertEqual(self.b.req("GET", "/v1/users/adm/sessions", token=KEY_A).status, 401)
        self.assertEqual(self.b.req("POST", "/v1/admin/keys/reload", token=KEY_A).status, 401)

    def test_revoke_user_stays_in_its_tenant(self):
        ta = self.a.create("same").json()["access_token"]
        tb = self.b.create("same").json()["access_token"]
        r = self.a.req("DELETE", "/v1/users/same/sessions", token=KEY_A)
        self.assertEqual((r.status, r.json()["revoked"]), (200, 1), r)
        self.assertEqual(self.a.auth(ta), 401)
        self.assertEqual(self.b.auth(tb), 200)
        r = self.b.req("GET", "/v1/users/same/sessions", token=KEY_B)
        self.assertEqual(r.json()["count"], 1, r)

    def test_max_sessions_per_tenant(self):
        self.assertEqual(self.a.create("lim").status, 201)
        self.assertEqual(self.a.create("lim").status, 429)  # a: 1 per user
        self.assertEqual(self.b.create("lim").status, 201)  # b counts its own
        self.assertEqual(self.b.create("lim").status, 201)
        self.assertEqual(self.b.create("lim").status, 429)  # b: 2 per user

    def test_jwks_and_key_reload_per_tenant(self):
        ka = self.a.req("GET", "/.well-known/jwks.json").json()
        kb = self.b.req("GET", "/.well-known/jwks.json").json()
        self.assertEqual([k["kid"] for k in kb["keys"]], ["b-1"])
        self.assertIn("a-1", [k["kid"] for k in ka["keys"]])
        tb = self.b.create("reload-b").json()["access_token"]
        ta = self.a.create("reload-a").json()["access_token"]
        # a gets a new key (its old one kept to verify: a JWKS of both, the new one first)
        new = os.path.join(self.tmp.name, "a2.jwk")
        keygen(new, "a-2")
        with open(new) as f, open(os.path.join(self.tmp.name, "a.jwk")) as g:
            keys = [json.load(f), json.load(g)]
        write(os.path.join(self.tmp.name, "a.jwk"), json.dumps({"keys": keys}))
        self.assertEqual(self.b.req("POST", "/v1/admin/keys/reload", token=KEY_B).status, 200)  # b: unchanged file
        r = self.a.req("POST", "/v1/admin/keys/reload", token=KEY_A)
        self.assertEqual((r.status, r.json()["active_kid"]), (200, "a-2"), r)
        self.assertEqual([k["kid"] for k in self.a.req("GET", "/.well-known/jwks.json").json()["keys"]], ["a-2", "a-1"])
        self.assertEqual(self.b.req("GET", "/.well-known/jwks.json").json(), kb)
        self.assertEqual(self.b.auth(tb), 200)
        self.assertEqual(self.a.auth(ta), 200)
        t2 = self.a.create("reload-a2").json()["access_token"]
        self.assertEqual(b64url_json(t2.split(".")[0])["kid"], "a-2")
        self.assertEqual(self.b.auth(t2), 401)

    def test_unknown_host_and_prefix(self):
        for host, path in (("other.test", "/v1/auth"), ("a.test.evil", "/v1/auth"), ("127.0.0.1", "/v1/auth"),
                           ("127.0.0.1", "/t/bb/v1/auth"), ("127.0.0.1", "/.well-known/jwks.json"),
                           ("other.test", "/t/b")):
            r = request(self.d.port, "GET", path, headers={"Host": host})
            self.assertEqual(r.status, 404, (host, path, r))
            self.assertEqual(r.json()["error"], "JWTS_E_NOT_FOUND")
        self.assertEqual(request(self.d.port, "GET", "/healthz", headers={"Host": "other.test"}).status, 200)
        r = request(self.d.port, "GET", "/readyz", headers={"Host": "other.test"})
        self.assertEqual(r.status, 200, r)
        # any case and a port: still a's
        self.assertEqual(Tenant(self.d, host="A.Test:8080").req("GET", "/.well-known/jwks.json").status, 200)
        # b by path on any host, /healthz under its prefix
        self.assertEqual(request(self.d.port, "GET", "/t/b/healthz", headers={"Host": "x.test"}).status, 200)

    def test_cookies_follow_the_tenant(self):
        ra, rb = self.a.create("cookie"), self.b.create("cookie")
        # the refresh cookie goes where the browser reaches the tenant's /v1/refresh
        self.assertIn("Path=/v1/;", ra.headers["set-cookie"])
        self.assertIn("Path=/t/b/v1/;", rb.headers["set-cookie"])
        ta, tb = ra.json()["access_token"], rb.json()["access_token"]
        # forward-auth with the access cookie: checked by the tenant of the request
        for tenant, token, want in ((self.b, tb, 200), (self.b, ta, 401), (self.a, tb, 401), (self.a, ta, 200)):
            r = tenant.req("GET", "/v1/auth", headers={"Cookie": "jwts_access=" + token})
            self.assertEqual(r.status, want, (tenant.host, tenant.prefix, r))

    def test_metrics_per_tenant(self):
        self.a.create("met")
        text = request(self.d.port, "GET", "/metrics").body.decode()
        m = re.search(r'^jwtsessiond_tenant_requests_total\{tenant="a",op="create",result="ok"\} (\d+)', text, re.M)
        self.assertTrue(m and int(m.group(1)) >= 1, text[-2000:])
        self.assertIn('jwtsessiond_keys{tenant="b",state="unmanaged"} 1', text, "no per-tenant key gauge")
        self.assertNotIn(KEY_A, text)


class Events(unittest.TestCase):
    def test_webhook_events_name_their_tenant(self):
        import http.server
        import threading
        import time
        got = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                got.extend(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        with tempfile.TemporaryDirectory() as tmp:
            secret = os.path.join(tmp, "webhook.key")
            write(secret, "tenant-webhook-key-" + os.urandom(8).hex())
            with Daemon("--store", "memory", "--tenants", tenants_file(tmp), "--events-webhook",
                        "http://127.0.0.1:%d/events" % srv.server_address[1], "--events-webhook-secret-file", secret,
                        admin=False) as d:
                ta = Tenant(d, host="a.test", admin_key=KEY_A).create("ivan").json()
                tb = Tenant(d, prefix="/t/b", admin_key=KEY_B).create("ivan").json()
                deadline = time.monotonic() + 10
                while len(got) < 2 and time.monotonic() < deadline:
                    time.sleep(0.02)
        by_session = {e["session_id"]: e for e in got}
        self.assertEqual(len(got), 2, got)
        self.assertEqual((by_session[ta["session_id"]]["tenant"], by_session[ta["session_id"]]["type"]), ("a", "created"))
        self.assertEqual((by_session[tb["session_id"]]["tenant"], by_session[tb["session_id"]]["type"]), ("b", "created"))


class BadFiles(unittest.TestCase):
    def start(self, conf_text, *args, env=None, links=None):
        with tempfile.TemporaryDirectory() as tmp:
            for target, name in (links or {}).items():
                write(os.path.join(tmp, target), "{}")
                os.symlink(os.path.join(tmp, target), os.path.join(tmp, name))
            conf = os.path.join(tmp, "tenants.conf")
            write(conf, conf_text.replace("{tmp}", tmp))
            e = {k: v for k, v in os.environ.items() if not k.startswith(("JWTSESSION_", "OTEL_"))}
            e.update(env or {})
            p = subprocess.run([harness.DAEMON, "--listen", "127.0.0.1:0", "--tenants", conf] + list(args),
                               capture_output=True, text=True, timeout=30, env=e)
            return p.returncode, p.stderr.replace(tmp, "TMP")

    def test_mistakes_name_file_and_line(self):
        cases = [
            ("[tenant a]\nhost = a.test\ncolour = blue\n", "tenants.conf:3: unknown setting"),
            ("host = a.test\n", "tenants.conf:1: a setting before the first"),
            ("[tenant A]\nhost = a.test\n", "tenants.conf:1: tenant name"),
            ("[tenant a]\nhost = a.test\n[tenant a]\nhost = b.test\n", "tenants.conf:3: tenant a and tenant a"),
            ("[tenant a]\nhost = a.test\n[tenant b]\nhost = A.TEST\n", "tenants.conf:3: tenant b and tenant a"),
            ("[tenant a]\npath = /t\n[tenant b]\npath = /t/b\n", "nested path prefixes"),
            ("[tenant a]\npath = /v1/a\n", "tenants.conf:2: path"),
            ("[tenant a]\nhost = a.test\nmax-sessions = 0\n", "tenants.conf:3: max-sessions"),
            ("[tenant a]\nhost = a.test\nhost = b.test\n", "tenants.conf:3: host given twice"),
            ("[tenant a]\nissuer = x\n", "tenants.conf:1: tenant a: needs host or path"),
            ("[tenant a]\nhost = a.test\nstore = file://{tmp}/s\n[tenant b]\nhost = b.test\nstore = file://{tmp}/s\n",
             "the same file store"),
            ("[tenant a]\nhost = a.test\nkey-prefix = x:\n[tenant b]\nhost = b.test\nkey-prefix = x:y:\n",
             "key prefixes"),
            ("[tenant a]\nhost = a.test\nadmin-key-file = {tmp}/k\n[tenant b]\nhost = b.test\n"
             "admin-key-file = {tmp}/k\n", "the same admin-key-file"),
        ]
        for text, want in cases:
            args = ["--store", "redis://127.0.0.1:1"] if "key-prefix" in text else []
            rc, err = self.start(text, *args)
            self.assertEqual(rc, 2, (text, err))
            self.assertIn(want, err, text)
        # one key file under two names (a symbolic link): refused before any key is read
        rc, err = self.start("[tenant a]\nhost = a.test\nkey = {tmp}/k\n[tenant b]\nhost = b.test\nkey = {tmp}/l\n",
                             links={"k": "l"})
        self.assertEqual(rc, 2, err)
        self.assertIn("one key file for both", err)
        rc, err = self.start("[tenant a]\nhost = a.test\n", env={"JWTSESSION_ADMIN_KEY": "x" * 20})
        self.assertEqual(rc, 2, err)
        self.assertIn("each tenant has its own key", err)


@unittest.skipUnless(os.path.exists(harness.REDIS_SERVER), "no redis-server")
class OnRedis(unittest.TestCase):
    def test_each_tenant_under_its_prefix(self):
        redis = Redis()
        with tempfile.TemporaryDirectory() as tmp:
            conf = tenants_file(tmp, extra_a="key-prefix = acme:\n")
            d = Daemon("--store", "redis://127.0.0.1:%d" % redis.port, "--tenants", conf, admin=False)
            try:
                a, b = Tenant(d, host="a.test", admin_key=KEY_A), Tenant(d, prefix="/t/b", admin_key=KEY_B)
                ta = a.create("u1").json()["access_token"]
                tb = b.create("u1").json()["access_token"]
                self.assertEqual((a.auth(ta), b.auth(tb)), (200, 200))
                self.assertEqual((a.auth(tb), b.auth(ta)), (401, 401))
                keys = redis.cli("--scan").split()
                self.assertTrue(keys)
                self.assertTrue(all(k.startswith(("acme:", "jwts:b:")) for k in keys), keys)
                self.assertTrue(any(k.startswith("acme:") for k in keys), keys)
                self.assertTrue(any(k.startswith("jwts:b:") for k in keys), keys)
                r = a.req("DELETE", "/v1/users/u1/sessions", token=KEY_A)
                self.assertEqual(r.json()["revoked"], 1, r)
                self.assertEqual((a.auth(ta), b.auth(tb)), (401, 200))
            finally:
                d.close()
                redis.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
