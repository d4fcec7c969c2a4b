"""test_store_failure.py - a failing Redis makes jwtsessiond refuse (503), never accept (200).

Each test starts its own redis-server and a jwtsessiond on it (--store redis://..., a short
--request-timeout), creates sessions while the store is healthy, then breaks the store:

  paused   SIGSTOP: the port accepts connections but nothing answers (a hung server)
  stopped  the process is gone (connection refused); restarted on the same port with its data
  full     maxmemory 1 byte with noeviction: every write is refused with OOM

and checks that GET /v1/auth answers 503 (within the request timeout plus a margin for a loaded
machine) and never 200, that /readyz says 503, that a revoked session never comes back as 200,
and that everything answers 200 again once the store is back.
Run: JWTSESSIOND=build/daemon/jwtsessiond python3 tests/e2e/test_store_failure.py
"""
import time
import unittest

from harness import Daemon, Redis, wait_until

REQUEST_TIMEOUT_S = 1.0
# A refusal must come within the request timeout; the margin absorbs a loaded 2-core machine
# (and a sanitizer build) without letting a hang of several timeouts pass.
ANSWER_BOUND_S = REQUEST_TIMEOUT_S + 4.0
OUTAGE_PROBES = 5


class Base(unittest.TestCase):
    persist = False

    def setUp(self):
        self.redis = Redis(persist=self.persist)
        self.addCleanup(self.redis.close)
        self.d = Daemon("--store", self.redis.url(), "--request-timeout", "%dms" % (REQUEST_TIMEOUT_S * 1000),
                        "--threads", "4", "--no-cache")  # the store's own answers; tests/e2e/test_stall.py: cache on
        self.addCleanup(self.d.close)
        self.good = self.d.create("alice", {"device": "laptop"})
        self.revoked = self.d.create("alice", {"device": "phone"})
        r = self.d.req("DELETE", "/v1/sessions/" + self.revoked["session_id"], token=self.revoked["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertHealthy()

    # ---- checks ----

    def auth(self, tokens):
        return self.d.req("GET", "/v1/auth", token=tokens["access_token"])

    def assertHealthy(self):
        self.assertEqual(self.auth(self.good).status, 200)
        self.assertEqual(self.auth(self.revoked).status, 401)
        self.assertEqual(self.d.req("GET", "/readyz").status, 200)

    def assertRefused(self, what):
        """Every probe of the good session answers 503 within the bound; the revoked one never 200."""
        for i in range(OUTAGE_PROBES):
            start = time.monotonic()
            r = self.auth(self.good)
            took = time.monotonic() - start
            self.assertEqual(r.status, 503, "%s: probe %d: %r" % (what, i, r))
            # bodiless like every /v1/auth answer: the error is in a header, with a retry hint
            self.assertIn(r.headers.get("x-session-error"), ("JWTS_E_UNAVAILABLE", "JWTS_E_TIMEOUT", "JWTS_E_PROTOCOL"), r)
            self.assertEqual((r.body, r.headers.get("retry-after")), (b"", "1"), r)
            self.assertLess(took, ANSWER_BOUND_S, "%s: probe %d took %.2f s" % (what, i, took))
            self.assertIn(self.auth(self.revoked).status, (401, 503), what)
        start = time.monotonic()
        r = self.d.req("GET", "/readyz")
        self.assertEqual(r.status, 503, "%s: /readyz %r" % (what, r))
        self.assertLess(time.monotonic() - start, ANSWER_BOUND_S)
        self.assertEqual(self.d.req("GET", "/healthz").status, 200, "the process itself still serves")

    def assertRecovers(self, what):
        ok = wait_until(lambda: self.auth(self.good).status == 200 and self.d.req("GET", "/readyz").status == 200,
                        timeout=20, step=0.2)
        self.assertTrue(ok, "%s: no recovery: auth %r readyz %r" % (
            what, self.auth(self.good), self.d.req("GET", "/readyz")))
        self.assertHealthy()
        self.assertTrue(self.d.alive())


class Paused(Base):
    def test_paused_store_refuses_then_recovers(self):
        self.redis.pause()
        try:
            self.assertRefused("paused")
            # A create cannot succeed either: it must not hang or claim a session it did not store.
            r = self.d.admin("POST", "/v1/sessions", json_body={"user_id": "bob"})
            self.assertEqual(r.status, 503, r)
        finally:
            self.redis.resume()
        self.assertRecovers("resumed")


class Stopped(Base):
    persist = True  # the restarted server loads the sessions saved on stop

    def test_stopped_store_refuses_then_recovers(self):
        self.redis.stop()
        self.assertRefused("stopped")
        self.redis.start()  # same port, same data
        self.assertRecovers("restarted")


class Full(Base):
    def fill(self):
        self.assertEqual(self.redis.cli("config", "set", "maxmemory-policy", "noeviction"), "OK")
        self.assertEqual(self.redis.cli("config", "set", "maxmemory", "1"), "OK")
        self.addCleanup(self.redis.cli, "config", "set", "maxmemory", "0")
        self.assertIn("OOM", self.redis.cli("set", "probe", "x"))  # the server really refuses writes

    def test_full_store_never_answers_a_wrong_200(self):
        self.fill()
        # Reads still work: the live session is 200 (or 503), the revoked one never 200.
        for _ in range(OUTAGE_PROBES):
            self.assertIn(self.auth(self.good).status, (200, 503))
            self.assertIn(self.auth(self.revoked).status, (401, 503))
        # A refresh writes: it fails, and must not hand out tokens it could not store.
        r = self.d.req("POST", "/v1/refresh", json_body={"refresh_token": self.good["refresh_token"]})
        self.assertNotEqual(r.status, 200, r)
        # Revoking while full: if the daemon says it revoked, the session is gone.
        r = self.d.req("DELETE", "/v1/sessions/" + self.good["session_id"], token=self.good["access_token"])
        if r.status == 200:
            self.assertIn(self.auth(self.good).status, (401, 503))
        else:
            self.assertIn(r.status, (429, 503), r)
            self.assertIn(self.auth(self.good).status, (200, 503))
        self.redis.cli("config", "set", "maxmemory", "0")
        self.assertEqual(self.d.admin("POST", "/v1/sessions", json_body={"user_id": "carol"}).status, 201)
        self.assertEqual(self.d.req("GET", "/readyz").status, 200)

    def test_full_store_create_is_a_retryable_refusal(self):
        """A create on a full store is refused with 503 and Retry-After: never 201 (a session that
        was not stored), never 429 (the client is not over a limit of its own)."""
        self.fill()
        r = self.d.admin("POST", "/v1/sessions", json_body={"user_id": "bob"})
        self.assertNotEqual(r.status, 201, r)
        self.assertEqual(r.status, 503, r)
        self.assertTrue(r.headers.get("retry-after", "").isdigit(), r.headers)


if __name__ == "__main__":
    unittest.main(verbosity=2)
