"""test_stall.py - a stalled store blocks nothing (issue #13), and daemons sharing one Redis see
each other's changes through the near cache, including a verify-only resource server (#14).

Stall: Redis is paused (SIGSTOP) while 50 clients ask GET /v1/auth at once. /healthz, /metrics
and the JWKS must answer in under 100 ms throughout, every auth request must be answered (503)
within --request-timeout plus 10%, and everything answers 200 again after SIGCONT.
Run: JWTSESSIOND=build/daemon/jwtsessiond python3 tests/e2e/test_stall.py
"""
import os
import subprocess
import tempfile
import threading
import time
import unittest

from harness import DAEMON, Daemon, Redis, request, wait_until

TIMEOUT_S = 1.0
CLIENTS = 50
CLI = os.path.join(os.path.dirname(os.path.dirname(DAEMON)), "cli", "jwtsession")


class Stall(unittest.TestCase):
    def setUp(self):
        self.redis = Redis()
        self.addCleanup(self.redis.close)
        # --no-cache: every auth goes to the store, so all 50 wait on it
        self.d = Daemon("--store", self.redis.url(), "--request-timeout", "%dms" % (TIMEOUT_S * 1000),
                        "--threads", "2", "--no-cache")
        self.addCleanup(self.d.close)
        self.tokens = self.d.create("stall")

    def test_paused_store_blocks_nothing(self):
        self.assertEqual(self.d.req("GET", "/v1/auth", token=self.tokens["access_token"]).status, 200)
        self.redis.pause()
        results = [None] * CLIENTS
        go = threading.Barrier(CLIENTS + 1)

        def client(i):
            go.wait()
            start = time.monotonic()
            try:
                r = self.d.req("GET", "/v1/auth", token=self.tokens["access_token"], timeout=10)
                results[i] = (r.status, time.monotonic() - start)
            except OSError as e:
                results[i] = (repr(e), time.monotonic() - start)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        try:
            for t in threads:
                t.start()
            go.wait()
            time.sleep(0.2)  # the 50 are now waiting on the store
            slowest = 0.0
            for path in ("/healthz", "/metrics", "/.well-known/jwks.json") * 3:
                start = time.monotonic()
                r = self.d.req("GET", path, timeout=5)
                took = time.monotonic() - start
                slowest = max(slowest, took)
                self.assertEqual(r.status, 200, (path, r))
            self.assertLess(slowest, 0.1, "a request that needs no store waited %.3f s" % slowest)
            for t in threads:
                t.join(15)
        finally:
            self.redis.resume()
        worst = max(took for _, took in results)
        print("stall: %d auth requests, statuses %s, slowest %.3f s (bound %.3f s)"
              % (CLIENTS, sorted({s for s, _ in results}, key=str), worst, TIMEOUT_S * 1.1))
        for status, took in results:
            self.assertEqual(status, 503)
            self.assertLessEqual(took, TIMEOUT_S * 1.1 + 0.05)  # + the client's own scheduling on 2 cores
        self.assertTrue(wait_until(lambda: self.d.req("GET", "/v1/auth", token=self.tokens["access_token"]).status
                                   == 200, timeout=10))


class SharedRedis(unittest.TestCase):
    """A signer and a verify-only daemon on one Redis, both with the near cache (the default)."""

    def setUp(self):
        self.redis = Redis()
        self.addCleanup(self.redis.close)
        self.dir = tempfile.mkdtemp(prefix="jwts-e2e-keys-")
        key, pub = os.path.join(self.dir, "key.jwk"), os.path.join(self.dir, "jwks.json")
        subprocess.run([CLI, "keygen", "--alg", "ES256", "--out", key], check=True, capture_output=True)
        with open(pub, "w") as f:
            subprocess.run([CLI, "jwks", key], check=True, stdout=f)
        self.signer = Daemon("--store", self.redis.url(), "--key", key)
        self.addCleanup(self.signer.close)
        self.verifier = Daemon("--store", self.redis.url(), "--key", pub, "--verify-only")
        self.addCleanup(self.verifier.close)

    def auth(self, d, t):
        return d.req("GET", "/v1/auth", token=t["access_token"]).status

    def test_revocation_reaches_the_other_daemon(self):
        t = self.signer.create("shared")
        for _ in range(3):  # the second and third are answered from the verifier's cache
            self.assertEqual(self.auth(self.verifier, t), 200)
        r = self.signer.req("DELETE", "/v1/sessions/" + t["session_id"], token=t["access_token"])
        self.assertEqual(r.status, 200, r)
        acked = time.monotonic()
        self.assertTrue(wait_until(lambda: self.auth(self.verifier, t) == 401, timeout=2, step=0.001))
        print("revocation seen by the other daemon %.1f ms after the revoke's answer" % (1000 * (time.monotonic() - acked)))
        self.assertEqual(self.auth(self.verifier, t), 401)
        # redis-cli DEL of a session the verifier has cached
        t2 = self.signer.create("shared")
        self.assertEqual(self.auth(self.verifier, t2), 200)
        self.assertEqual(self.auth(self.verifier, t2), 200)
        keys = self.redis.cli("--scan", "--pattern", "*%s*" % t2["session_id"]).split()
        self.assertEqual(len(keys), 1, keys)
        self.redis.cli("DEL", keys[0])
        self.assertTrue(wait_until(lambda: self.auth(self.verifier, t2) == 401, timeout=2, step=0.001))

    def test_verify_only_cannot_issue(self):
        t = self.signer.create("issuer")
        r = self.verifier.admin("POST", "/v1/sessions", json_body={"user_id": "x"})
        self.assertEqual(r.status, 501, r)
        self.assertEqual(r.json()["error"], "JWTS_E_UNSUPPORTED")
        r = self.verifier.req("POST", "/v1/refresh", json_body={"refresh_token": t["refresh_token"]})
        self.assertEqual(r.status, 501, r)
        # the refused refresh changed nothing: the signer still rotates the same token
        r = self.signer.req("POST", "/v1/refresh", json_body={"refresh_token": t["refresh_token"]})
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
