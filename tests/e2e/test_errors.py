"""test_errors.py - status codes the docs promise for server-side trouble and bad settings
(issue #12 item 8).

Runs on memory and, as test_errors_cluster, with the daemons that name no store on a Redis
Cluster (JWTS_E2E_STORE, harness.py).

A full store (Redis refusing writes with OOM, the memory store at capacity) is the server's
problem, not the client's: 503 with Retry-After, as docs/daemon.md lists; a user at
--max-sessions stays 429. A too-short admin key is a bad setting: exit status 2.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import DAEMON, REDIS_SERVER, SOURCE_DIR, Daemon, Redis, free_port


class StoreFull(unittest.TestCase):
    def assert_store_full(self, r):
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json()["error"], "JWTS_E_LIMIT")
        self.assertTrue(r.headers.get("retry-after", "").isdigit(), r.headers)

    @unittest.skipUnless(shutil.which(REDIS_SERVER) or os.path.exists(REDIS_SERVER), "no redis-server")
    def test_redis_out_of_memory_is_503(self):
        with Redis(args=("--maxmemory-policy", "noeviction")) as redis:
            with Daemon("--store", redis.url()) as d:
                tokens = d.create("oom")
                self.assertEqual(redis.cli("CONFIG", "SET", "maxmemory", "1"), "OK")
                r = d.admin("POST", "/v1/sessions", json_body={"user_id": "oom"})
                self.assert_store_full(r)
                self.assertIn("OOM", r.json()["message"])
                r = d.req("POST", "/v1/refresh", json_body={"refresh_token": tokens["refresh_token"]})
                self.assert_store_full(r)
                # reads still work, and writes again once Redis has room
                self.assertEqual(d.req("GET", "/v1/auth", token=tokens["access_token"]).status, 200)
                self.assertEqual(redis.cli("CONFIG", "SET", "maxmemory", "0"), "OK")
                self.assertEqual(d.admin("POST", "/v1/sessions", json_body={"user_id": "oom"}).status, 201)

    def test_memory_store_full_is_503(self):
        with Daemon("--store", "memory", "--memory-max-sessions", "1") as d:
            d.create("one")
            self.assert_store_full(d.admin("POST", "/v1/sessions", json_body={"user_id": "two"}))

    def test_user_session_limit_stays_429(self):
        with Daemon("--max-sessions", "1") as d:
            d.create("capped")
            r = d.admin("POST", "/v1/sessions", json_body={"user_id": "capped"})
            self.assertEqual(r.status, 429, r)
            self.assertEqual(r.json()["error"], "JWTS_E_LIMIT")
            self.assertNotIn("retry-after", r.headers)  # waiting does not help: sign a session out


class BadSettings(unittest.TestCase):
    def run_daemon(self, *args, env=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith(("JWTSESSION_", "OTEL_"))}
        e.update(env or {})
        return subprocess.run([DAEMON, "--listen", "127.0.0.1:%d" % free_port()] + list(args), env=e,
                              capture_output=True, timeout=10)

    def test_short_admin_key_exits_2(self):
        p = self.run_daemon(env={"JWTSESSION_ADMIN_KEY": "short"})
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"at least 16 bytes", p.stderr)
        with tempfile.NamedTemporaryFile("w", suffix=".key") as f:
            f.write("tooshort\n")
            f.flush()
            p = self.run_daemon("--admin-key-file", f.name)
            self.assertEqual(p.returncode, 2, p.stderr)
        p = self.run_daemon("--admin-key-file", "/nonexistent/admin.key")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_shared_secret_file_is_warned_about(self):
        with tempfile.NamedTemporaryFile("w", suffix=".key") as f:
            f.write("a-long-enough-admin-key-0123456789\n")
            f.flush()
            for mode, warned in ((0o644, True), (0o600, False)):
                os.chmod(f.name, mode)
                with Daemon("--admin-key-file", f.name, admin=False) as d:
                    log = d.log_text()
                self.assertEqual("accessible by group or others" in log, warned, (oct(mode), log))

    def test_help_and_docs_list_the_connection_limits(self):
        out = subprocess.run([DAEMON, "--help"], capture_output=True, timeout=10).stdout.decode()
        with open(os.path.join(SOURCE_DIR, "docs", "daemon.md")) as f:
            docs = f.read()
        for name in ("head-timeout", "max-connections-per-ip", "reserve-connections"):
            env = "JWTSESSION_" + name.upper().replace("-", "_")
            self.assertIn("--" + name, out)
            self.assertIn(env, out)
            self.assertIn("`--%s " % name, docs)
            self.assertIn("`%s`" % env, docs)

    def test_new_limits_are_checked(self):
        for args in (["--head-timeout", "0"], ["--head-timeout", "50ms"], ["--connection-timeout", "0"],
                     ["--reserve-connections", "90"], ["--reserve-connections", "0"],
                     ["--max-connections-per-ip", "x"]):
            p = self.run_daemon(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))


    def test_zero_is_the_default_and_off_turns_off(self):
        # issue #16 item 4: 0 once meant "none" here and "the default" in the library
        for name in ("refresh-grace", "max-connections-per-ip", "store-workers", "jwks-max-age"):
            p = self.run_daemon("--" + name, "0")
            self.assertEqual(p.returncode, 2, (name, p.stderr))
            self.assertIn(b"write off to turn it off", p.stderr)
        for args in (["--refresh-grace", "off", "--idle-timeout", "off", "--max-sessions", "off",
                      "--max-connections-per-ip", "off", "--store-workers", "off", "--idle-timeout", "0",
                      "--max-sessions", "0"],):
            with Daemon(*args) as d:
                self.assertEqual(d.req("GET", "/healthz").status, 200)
                tokens = d.create("zero")
                self.assertEqual(d.req("GET", "/v1/auth", token=tokens["access_token"]).status, 200)
        with Daemon("--jwks-max-age", "off") as d:  # no caching: verifiers revalidate with the ETag
            r = d.req("GET", "/.well-known/jwks.json")
            self.assertEqual(r.headers["cache-control"], "no-cache")
            self.assertEqual(d.req("GET", "/.well-known/jwks.json",
                                   headers={"If-None-Match": r.headers["etag"]}).status, 304)
        with Daemon("--jwks-max-age", "90s") as d:
            self.assertEqual(d.req("GET", "/.well-known/jwks.json").headers["cache-control"], "public, max-age=90")
        p = self.run_daemon("--idle-timeout", "sometimes")
        self.assertEqual(p.returncode, 2, p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
