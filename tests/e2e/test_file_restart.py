"""test_file_restart.py - jwtsessiond on the file store keeps every session across restarts.

A session created before a restart (SIGTERM, then a kill -9) still validates after it, its
refresh token still rotates, and a session revoked before the restart stays revoked. The CLI,
opening the same directory while the daemon runs (two processes on one LMDB environment), sees
the daemon's sessions, and its revoke is seen by the daemon at once. A bad file store URL stops
the daemon at start with the option named.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import ADMIN_KEY, DAEMON, Daemon

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
