"""test_file_restart.py - jwtsessiond on the file store keeps every session across restarts.

A session created before a restart (SIGTERM, then a kill -9) still validates after it, its
refresh token still rotates, and a session revoked before the restart stays revoked. The CLI,
opening the same directory while the daemon runs (two processes on one LMDB environment), sees
the daemon's sessions, and its revoke is seen by the daemon at once. A full store answers 503
and keeps serving what it has. `make run STORE=file` (daemon/quickstart.sh) keeps sessions and
its signing key across a restart. A bad file store URL or a foreign file stops the daemon at
start with the cause named.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import ADMIN_KEY, DAEMON, SOURCE_DIR, Daemon, free_port, request, wait_until

CLI = os.environ.get("JWTS_CLI") or os.path.join(os.path.dirname(DAEMON), "..", "cli", "jwtsession")


class TestFileRestart(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="jwts-file-e2e-")
        self.key = os.path.join(self.tmp, "key.jwk")
        subprocess.run([CLI, "keygen", "--alg", "ES256", "--out", self.key], check=True, capture_output=True,
                       timeout=30)
        self.url = "file://%s/sessions" % self.tmp

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def daemon(self, query=""):
        return Daemon("--store", self.url + query, "--key", self.key)

    def auth(self, d, token):
        return d.req("GET", "/v1/auth", token=token)

    def cli(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("JWTSESSION_")}
        return subprocess.run([CLI, "--store", self.url, "--key", self.key] + list(args), capture_output=True,
                              timeout=30, env=env)

    def test_sessions_survive_restarts(self):
        with self.daemon() as d:
            self.assertEqual(d.req("GET", "/readyz").json()["store"], "file")
            kept = d.create("alice", {"device": "laptop"})
            revoked = d.create("alice", {"device": "phone"})
            self.assertEqual(self.auth(d, kept["access_token"]).status, 200)
            r = d.req("DELETE", "/v1/sessions/" + revoked["session_id"], token=revoked["access_token"])
            self.assertEqual(r.status, 200, r)
        # a clean restart
        with self.daemon() as d:
            r = self.auth(d, kept["access_token"])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.headers["x-session-user"], "alice")
            self.assertEqual(self.auth(d, revoked["access_token"]).status, 401)
            r = d.req("GET", "/v1/users/alice/sessions", token=kept["access_token"])
            self.assertEqual(r.json()["count"], 1, r)
            self.assertEqual(r.json()["sessions"][0]["metadata"], {"device": "laptop"})
            r = d.req("POST", "/v1/refresh", json_body={"refresh_token": kept["refresh_token"]})
            self.assertEqual(r.status, 200, r)
            rotated = r.json()
            late = d.create("bob")
            # a crash: nothing acknowledged is lost (sync=full by default)
            d.stop(signal.SIGKILL)
        with self.daemon("?sync=group&sync_window_ms=50") as d:
            self.assertEqual(self.auth(d, rotated["access_token"]).status, 200)
            self.assertEqual(self.auth(d, late["access_token"]).status, 200)
            # the refresh token issued before the crash still rotates
            r = d.req("POST", "/v1/refresh", json_body={"refresh_token": rotated["refresh_token"]})
            self.assertEqual(r.status, 200, r)

    def test_cli_next_to_the_running_daemon(self):
        with self.daemon() as d:
            s = d.create("carol", {"device": "tablet"})
            r = self.cli("session", "list", "--user", "carol")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(s["session_id"], r.stdout.decode())
            r = self.cli("session", "revoke", "--user", "carol", "--", s["session_id"])  # ids may start with -
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.auth(d, s["access_token"]).status, 401)
            r = self.cli("session", "create", "--user", "dave")
            self.assertEqual(r.returncode, 0, r.stderr)
            r = d.admin("GET", "/v1/users/dave/sessions")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["count"], 1, r)

    def test_a_full_store_is_503_and_keeps_what_it_has(self):
        with self.daemon("?max_sessions=2") as d:
            first = d.create("erin")
            d.create("frank")
            r = d.admin("POST", "/v1/sessions", json_body={"user_id": "grace"})
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.json()["error"], "JWTS_E_LIMIT")
            self.assertIn("max_sessions", r.json()["message"])
            self.assertEqual(self.auth(d, first["access_token"]).status, 200)

    def quickstart(self, port, state):
        """daemon/quickstart.sh as `make run STORE=file` runs it; returns (process, admin key)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("JWTSESSION_")}
        env.update({"JWTSESSION_LISTEN": "127.0.0.1:%d" % port, "STORE": "file", "STATE": state,
                    "TMPDIR": self.tmp})
        out = open(os.path.join(self.tmp, "quickstart-%d.txt" % port), "w+")
        proc = subprocess.Popen([os.path.join(SOURCE_DIR, "daemon", "quickstart.sh"), DAEMON], env=env,
                                stdout=out, stderr=subprocess.DEVNULL)

        def up():
            try:
                return request(port, "GET", "/healthz", timeout=1).status == 200
            except OSError:
                return False
        self.assertTrue(wait_until(up, timeout=15))
        out.seek(0)
        text = out.read()
        out.close()
        self.assertIn("file store file://%s/sessions" % state, text)
        return proc, re.search(r"ADMIN_KEY='([^']+)'", text).group(1)

    def stop_quickstart(self, proc):
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=15), 0)

    def test_make_run_store_file_keeps_sessions(self):
        state = os.path.join(self.tmp, "state")
        port = free_port()
        proc, admin = self.quickstart(port, state)
        try:
            r = request(port, "POST", "/v1/sessions", token=admin, json_body={"user_id": "alice"})
            self.assertEqual(r.status, 201, r)
            access = r.json()["access_token"]
        finally:
            self.stop_quickstart(proc)
        proc, _ = self.quickstart(port, state)  # a new admin key, the same signing key and sessions
        try:
            r = request(port, "GET", "/v1/auth", token=access)
            self.assertEqual(r.status, 200, r)
        finally:
            self.stop_quickstart(proc)

    def test_bad_url_stops_the_daemon(self):
        p = subprocess.run([DAEMON, "--listen", "127.0.0.1:0", "--store", self.url + "?sync=sometimes"],
                           capture_output=True, timeout=30, env={"JWTSESSION_ADMIN_KEY": ADMIN_KEY})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"sync", p.stderr)
        foreign = os.path.join(self.tmp, "foreign")
        os.mkdir(foreign)
        with open(os.path.join(foreign, "data.mdb"), "wb") as f:
            f.write(b"not a database at all\n" * 400)
        p = subprocess.run([DAEMON, "--listen", "127.0.0.1:0", "--store", "file://" + foreign],
                           capture_output=True, timeout=30, env={"JWTSESSION_ADMIN_KEY": ADMIN_KEY})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"JWTS_E_MALFORMED", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
